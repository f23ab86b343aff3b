"""Evaluation: the held-out evaluator behind `cotrl eval` (`evaluator`), its metrics, SFT evaluation."""
