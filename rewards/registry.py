"""Name -> reward factory. A recipe lists rewards as `{name, weight, params}`; the factory
is called with `**params` and returns an object implementing `rewards.base.Reward`
(outcome rewards) or `rewards.base.StepReward` (step-level rewards)."""

from rlhf.registry import Registry

REWARDS: Registry = Registry("reward")
STEP_REWARDS: Registry = Registry("step reward")

# Outcome rewards, imported on first use so `import rewards.registry` stays light.
REWARDS.register_lazy("code_tests", "rewards.code.verify:CodeTestsReward")
REWARDS.register_lazy("math_answer", "rewards.math.verify:MathAnswerReward")

# Step-level rewards (rewards/step_rewards.py); `step_aggregate` makes any of them an outcome reward.
STEP_REWARDS.register_lazy("rule", "rewards.step_rewards:make_rule")
STEP_REWARDS.register_lazy("prm", "rewards.step_rewards:make_prm")
STEP_REWARDS.register_lazy("function", "rewards.step_rewards:make_function")
REWARDS.register_lazy("step_aggregate", "rewards.step_rewards:make_step_aggregate")
REWARDS.register_lazy("format", "rewards.format:FormatReward")
REWARDS.register_lazy("length_penalty", "rewards.format:LengthPenalty")
REWARDS.register_lazy("repetition_penalty", "rewards.format:RepetitionPenalty")
