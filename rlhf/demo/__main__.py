from rlhf.demo.pipeline import main

raise SystemExit(main())
