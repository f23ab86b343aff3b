"""cotrl: RL post-training for chain-of-thought reasoning. This package is the training side.

Sub-packages, each importing only those below it (import-linter contracts in pyproject.toml):
  cli/        `cotrl` and its sub-commands          demo/     `python -m rlhf.demo`, its report
  trainers/   rl/ (GRPO, PPO), sft, prm, distill; checks.py validates recipes (registries, READS)
  eval/       held-out evaluation (`cotrl eval`)    rollout/  samplers, sync probe, reward scoring
  models/     policy, LoRA, export, tiny model       data/     problem sources, readers, batching
  runtime/    optimizer, checkpoints, run dir        algos/    advantage estimators and losses
  config/     recipe schema and strict loader
Below rlhf: data_gen (generators), then rewards (verifiers and the shared item types).
"""

__version__ = "0.1.0"
