"""Training loops, chosen by the recipe's `trainer:` name.

  rl/        the loop GRPO and PPO share (common, step, report, faults) and the two trainers
  sft.py     supervised finetuning on TRL's SFTTrainer (sft_callbacks.py: evaluation, metrics;
             sft_runtime.py: the shared optimizer, schedule, clipping and NaN policy in its loop)
  prm.py     process reward model training (prm_data.py: its data and evaluation)
  distill.py rejection-sampled distillation
  checks.py  `load_recipe` / `check_recipe`: what a recipe is checked for before anything runs

A trainer is `run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]` (final metrics), and its
module declares `READS` (rlhf.config.reads): the recipe settings it reads; any other setting a
recipe makes is refused. Every trainer optimises through `rlhf.runtime.optim` from `train:`.
`cotrl train` validates the recipe and prepares the run directory before calling it.
"""

from rewards.registry import Registry

TRAINERS: Registry = Registry("trainer")
TRAINERS.register_lazy("sft", "rlhf.trainers.sft:run")
TRAINERS.register_lazy("grpo", "rlhf.trainers.rl.grpo:run")
TRAINERS.register_lazy("ppo", "rlhf.trainers.rl.ppo:run")
TRAINERS.register_lazy("prm", "rlhf.trainers.prm:run")
TRAINERS.register_lazy("distill", "rlhf.trainers.distill:run")
