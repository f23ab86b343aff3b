"""`GENERATORS`: task name -> generator (see `data_gen.core.Generator`).

Families register lazily so `cotrl gen --list` and a single task import only what they use.
User code plugs in as ``package.module:ATTR`` (an object with the Generator attributes).
"""

from __future__ import annotations

from rewards.registry import Registry

GENERATORS: Registry = Registry("generator")

# name -> module under data_gen.tasks exposing TASK
_BUILTIN = {
    "integer_arithmetic": "arithmetic",
    "fractions": "fractions",
    "percentages": "percentages",
    "sequences": "sequences",
    "word_problems": "word_problems",
    "linear_equation": "linear_equation",
    "linear_system": "linear_system",
    "polynomials": "polynomials",
    "quadratic": "quadratic",
    "derivative": "derivative",
    "integral": "integral",
    "finance": "finance",
    "dosage": "dosage",
    "unit_conversion": "unit_conversion",
    "code_function": "code_function",
    "code_fix": "code_fix",
    "code_output": "code_output",
    "code_stdio": "code_stdio",
}

for _name, _module in _BUILTIN.items():
    GENERATORS.register_lazy(_name, f"data_gen.tasks.{_module}:TASK")
