"""Rewards that fail on purpose, for the fault tests (used from recipes as
`tests.faults.faulty_rewards:flaky`).

`flaky(plan=...)` scores like `digit_share` except on the calls its plan names, where it
fails in the named way. The plan is `call:mode` pairs, e.g. "1:crash,2:hang,3:nan_half";
`always:<mode>` fails every call. Modes:
- crash: a real worker subprocess is started and dies of SIGKILL; the reward then raises
  (what a reward whose worker was OOM-killed does);
- hang: sleeps far past any deadline;
- nan_half: NaN for every other completion;
- bad_type: returns a string; bad_length: one score too few; bad_items: strings and lists.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time


class Flaky:
    name = "flaky"

    def __init__(self, plan: str = "") -> None:
        self.plan: dict[str, str] = {}
        for part in filter(None, plan.split(",")):
            key, mode = part.split(":")
            self.plan[key.strip()] = mode.strip()
        self.calls = 0

    def __call__(self, problems, completions):
        mode = self.plan.get(str(self.calls), self.plan.get("always"))
        self.calls += 1
        good = [
            sum(ch.isdigit() for ch in c) / max(len(c), 1) + 0.01 * (i % 3) for i, c in enumerate(completions)
        ]
        if mode is None:
            return good
        if mode == "crash":
            worker = subprocess.run(
                [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
            )
            assert worker.returncode == -signal.SIGKILL
            raise RuntimeError(f"reward worker died (exit {worker.returncode})")
        if mode == "hang":
            time.sleep(3600)
        if mode == "nan_half":
            return [float("nan") if i % 2 else g for i, g in enumerate(good)]
        if mode == "bad_type":
            return "all good"
        if mode == "bad_length":
            return good[:-1]
        if mode == "bad_items":
            return ["0.5" if i % 2 else [g] for i, g in enumerate(good)]
        raise ValueError(f"unknown mode {mode!r}")


def flaky(**params):
    return Flaky(**params)
