"""Step segmentation (`segment`) and the rule-based step verifier: parse the claims of each step and check them
with exact arithmetic and sympy against the problem, and, in code tasks, run their execution facts
(`execution`). Entry points: `first_error(problem, steps)` and `verify_steps(problem, steps)` (one
`StepVerdict` per step)."""

from rewards.steps.context import Context, build_context
from rewards.steps.parse import Claim, extract_claims
from rewards.steps.verify import StepVerdict, Verdict, first_error, verify_steps

__all__ = [
    "Claim",
    "Context",
    "StepVerdict",
    "Verdict",
    "build_context",
    "extract_claims",
    "first_error",
    "verify_steps",
]
