"""Training loops, one module each, chosen by the recipe's `trainer:` name.

A trainer is `run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]` (final metrics);
`cotrl train` validates the recipe and prepares the run directory before calling it.
"""

from rlhf.registry import Registry

TRAINERS: Registry = Registry("trainer")
TRAINERS.register_lazy("sft", "rlhf.trainers.sft:run")
TRAINERS.register_lazy("grpo", "rlhf.trainers.rl.grpo:run")
TRAINERS.register_lazy("ppo", "rlhf.trainers.rl.ppo:run")
TRAINERS.register_lazy("prm", "rlhf.trainers.prm:run")
TRAINERS.register_lazy("distill", "rlhf.trainers.distill:run")
