"""Evaluation: the held-out evaluator behind `cotrl eval` (`evaluator`), answer scoring (`scoring`),
pass@k / maj@k (`metrics`), and SFT's held-out evaluation through the same evaluator (`sft`)."""
