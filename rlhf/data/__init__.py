"""Training data: RL problem sources (`problems`), SFT file readers (`readers`), rollout batching (`batch`), the curriculum."""
