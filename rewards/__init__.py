"""Outcome verifiers, step-level rewards, process reward models and their combination.

The bottom layer: it imports nothing from data_gen or rlhf, and holds what every layer shares.
  types.py      Problem, Rollout, StepSpan        registry.py  Registry, REWARDS, STEP_REWARDS
  math/         answer extraction and equivalence (sympy, math-verify) in a worker pool
  code/         tests and stdio cases in the hardened local sandbox (code/_sandbox/ runs inside it)
  steps/        step segmentation and the rule step verifier
  prm/          process reward models: data, model, converters, evaluation
  base, format, guard, combine, step_rewards, trl   reward protocols, shaping, weighted combination,
                fault guard, step rewards (rule, PRM, function), TRL reward functions
"""
