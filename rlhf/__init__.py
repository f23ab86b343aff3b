"""cotrl: RL post-training for chain-of-thought reasoning (the training side)."""

__version__ = "0.1.0"
