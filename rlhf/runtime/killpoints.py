"""Named points where a test can SIGKILL the run from inside: `COTRL_KILL_AT=phase:step`.

A kill from outside lands wherever the process happens to be; to prove that a run survives
a kill in each phase (rollout, reward, update, checkpoint writing) the fault tests name the
phase and step, and the process sends itself SIGKILL there: a real kill -9, no cleanup, no
`finally` blocks, exactly what an OOM killer or a preempted node does. Unset (always, outside
those tests) it costs one environment lookup per point.
"""

from __future__ import annotations

import os
import signal

ENV = "COTRL_KILL_AT"
POINTS = ("rollout", "reward", "update", "checkpoint")


def reached(point: str, step: int) -> None:
    """SIGKILL this process when `COTRL_KILL_AT` names this point and step (e.g. `update:3`)."""
    spec = os.environ.get(ENV)
    if spec and spec == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)
