from rlhf.demo.pipeline import main

if __name__ == "__main__":  # the async GRPO stage's sampler process re-imports this module
    raise SystemExit(main())
