"""Difficulty curriculum: keep each task's group pass rate inside a target band.

A group whose completions are all right or all wrong carries zero GRPO advantage, so the
signal lives where the pass rate is in the middle. After every step the observed pass
rates of each task's groups are pooled over a short window; above `high` the task's level
goes up by one, below `low` it goes down. The state is a plain dict (levels and the
pending window) so it is checkpointed and restored exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rlhf.config.recipe import CurriculumSection


@dataclass
class Curriculum:
    cfg: CurriculumSection
    levels: dict[str, int] = field(default_factory=dict)
    window: dict[str, list[float]] = field(default_factory=dict)  # recent group pass rates per task

    @classmethod
    def start(cls, cfg: CurriculumSection, tasks: Sequence[str]) -> Curriculum:
        return cls(cfg, {t: cfg.start_level for t in tasks}, {t: [] for t in tasks})

    def current(self) -> dict[str, int] | None:
        """Levels to pass to the generators, or None when the curriculum is off."""
        return dict(self.levels) if self.cfg.enabled else None

    def update(self, group_pass_rates: Sequence[tuple[str, float]]) -> dict[str, int]:
        """Feed (task, pass rate) per group of this step; returns the moves made {task: +1/-1}."""
        if not self.cfg.enabled:
            return {}
        for task, rate in group_pass_rates:
            self.window.setdefault(task, []).append(rate)
            self.levels.setdefault(task, self.cfg.start_level)
        moves: dict[str, int] = {}
        for task, rates in self.window.items():
            if len(rates) < self.cfg.window:
                continue
            mean = sum(rates) / len(rates)
            self.window[task] = []
            move = 1 if mean > self.cfg.high else -1 if mean < self.cfg.low else 0
            new = min(self.cfg.max_level, max(self.cfg.min_level, self.levels[task] + move))
            if new != self.levels[task]:
                moves[task] = new - self.levels[task]
                self.levels[task] = new
        return moves

    def state_dict(self) -> dict:
        return {"levels": dict(self.levels), "window": {k: list(v) for k, v in self.window.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.levels = {k: int(v) for k, v in state["levels"].items()}
        self.window = {k: [float(x) for x in v] for k, v in state["window"].items()}
