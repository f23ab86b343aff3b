"""`GENERATORS`: task name -> generator (see `data_gen.core.Generator`).

Families register lazily so `cotrl gen --list` and a single task import only what they use.
User code plugs in as ``package.module:ATTR`` (an object with the Generator attributes).
"""

from __future__ import annotations

from rlhf.registry import Registry

GENERATORS: Registry = Registry("generator")

# name -> module under data_gen.tasks exposing TASK
_BUILTIN = {
    "integer_arithmetic": "arithmetic",
}

for _name, _module in _BUILTIN.items():
    GENERATORS.register_lazy(_name, f"data_gen.tasks.{_module}:TASK")
