"""The RL loop shared by GRPO and PPO: setup and update (`common`), the step tail (`step`), reporting, faults."""
