"""Prompt sources for RL: data_gen generators (endless, seeded), a JSONL file of problems, or
a published dataset on disk (`data.source: file`, converted by `data_gen.datasets`).

The problems of step `s` are a pure function of (run seed, s, curriculum levels), so a
resumed run draws exactly the prompts the unkilled run would have drawn: the data cursor
is just the step number, and the curriculum state is checkpointed next to it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_gen.core import hashed_seed
from rewards.types import Problem
from rlhf.config.recipe import DataSection, TaskSpec
from rlhf.data.qa import is_qa, qa_item


class ProblemSource:
    """`problems(step, levels)` -> the step's problems; deterministic, no hidden cursor."""

    def __init__(self, cfg: DataSection, seed: int) -> None:
        self.cfg = cfg
        self.seed = seed
        if cfg.source == "jsonl":
            if not cfg.path:
                raise ValueError("data.path must name a JSONL file when data.source is 'jsonl'")
            self._rows = load_jsonl_problems(cfg.path)
        elif cfg.source == "file":
            self._rows = load_file_problems(cfg)
        else:
            if not cfg.tasks:
                raise ValueError(
                    "data.tasks must list at least one generator when data.source is 'generators'"
                )
            from data_gen.generate import make_config

            self._rows = []
            for t in cfg.tasks:  # unknown names and bad knobs fail here, before the run starts
                params = dict(t.params)
                try:
                    make_config(t.name, params.pop("level", None), params)
                except ValueError as exc:
                    raise ValueError(f"data.tasks[{t.name!r}]: {exc}") from None

    @property
    def task_names(self) -> list[str]:
        if self.cfg.source in ("jsonl", "file"):
            return sorted({p.task for p in self._rows})
        return [t.name for t in self.cfg.tasks]

    def problems(self, step: int, levels: dict[str, int] | None = None, round: int = 0) -> list[Problem]:
        """The step's problems; `round` > 0 draws extra ones (dynamic sampling refills)."""
        k = self.cfg.prompts_per_step
        if self.cfg.source in ("jsonl", "file"):
            if round:
                rng = random.Random(hashed_seed(self.seed, "refill", step, round))
                return [self._rows[rng.randrange(len(self._rows))] for _ in range(k)]
            return [self._rows[i] for i in self._jsonl_indices(step, k)]
        rng = random.Random(hashed_seed(self.seed, "tasks", step, round))
        weights = [t.weight for t in self.cfg.tasks]
        chosen = rng.choices(self.cfg.tasks, weights=weights, k=k)
        out = []
        for i, task in enumerate(chosen):
            level = (levels or {}).get(task.name)
            out.append(self._generate(task, level, hashed_seed(self.seed, "item", step, round, i)))
        return out

    def sample_texts(self, limit: int = 200) -> list[str]:
        """Prompts and gold solutions, for training the tiny model's tokenizer on the run's own data."""
        texts: list[str] = []
        step = 0
        while len(texts) < limit and step < limit:
            for p in self.problems(step):
                texts.append(p.prompt)
                texts.append(gold_text(p))
            step += 1
        return texts[:limit]

    def _jsonl_indices(self, step: int, k: int) -> list[int]:
        """Epochs of seeded permutations laid end to end; step s takes items [s*k, (s+1)*k)."""
        n = len(self._rows)
        out = []
        for pos in range(step * k, (step + 1) * k):
            epoch, offset = divmod(pos, n)
            order = list(range(n))
            random.Random(hashed_seed(self.seed, "epoch", epoch)).shuffle(order)
            out.append(order[offset])
        return out

    def _generate(self, task: TaskSpec, level: int | None, index: int) -> Problem:
        """Item `index` of the task's stream under the run seed, skipping held-out (test split) items.

        `params` are the generator's knob overrides; `params.level` fixes a level when the
        curriculum is off (the curriculum's level wins when it is on).
        """
        from data_gen.generate import build_item, make_config

        params = dict(task.params)
        fixed = params.pop("level", None)
        chosen = level if level is not None else fixed
        cfg = make_config(task.name, chosen, params)
        for attempt in range(64):
            item = build_item(task.name, self.seed, index + attempt, cfg)
            if item["meta"].get("split", "train") == "train":
                if chosen is not None:
                    item["difficulty"].setdefault("level", chosen)  # samples.jsonl shows the curriculum level
                return Problem.from_dict(item)
        raise ValueError(f"data.tasks {task.name!r}: no training-split item in 64 draws")


def gold_text(problem: Problem) -> str:
    """The gold completion (what SFT trains on), for tokenizer corpora."""
    from data_gen.render import gold_completion

    return gold_completion(problem)


def load_jsonl_problems(path: str | Path) -> list[Problem]:
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"data.path: file not found: {p}")
    if p.suffix in (".csv", ".parquet"):  # a user's question/answer file (rlhf.data.qa)
        from rlhf.data.readers import domain_items

        try:
            return [Problem.from_dict(r) for r in domain_items(p)]
        except ValueError as exc:
            raise ValueError(f"data.path {exc}") from None
    rows = []
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"data.path {p} is not UTF-8 text ({exc})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"expected a JSON object, got {type(row).__name__}")
            if is_qa(row) and "prompt" not in row:  # a user's question/answer row
                row = qa_item(row, lineno)
            rows.append(Problem.from_dict(row))
        except (ValueError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
            raise ValueError(f"data.path {p} line {lineno}: {exc}") from None
    if not rows:
        raise ValueError(f"data.path {p} holds no problems")
    return rows


def load_file_problems(cfg: DataSection) -> list[Problem]:
    """`data.path` read as `data.format`; skipped rows (with `data.skip_bad_rows`) are reported."""
    import sys

    from data_gen.datasets.load import ITEM_FORMATS, load_items

    if not cfg.path:
        raise ValueError("data.path must name a file or `datasets` directory when data.source is 'file'")
    if cfg.format not in ITEM_FORMATS:
        raise ValueError(f"data.format {cfg.format!r} is not one of {', '.join(ITEM_FORMATS)}")
    loaded = load_items(cfg.format, cfg.path, cfg.split, cfg.skip_bad_rows)
    if loaded.skipped:
        print(f"cotrl: data.path {loaded.summary(cfg.path)}", file=sys.stderr)
    return [Problem.from_dict(r) for r in loaded.rows]


def chat_messages(problem: Problem, system_prompt: str | None) -> list[dict[str, str]]:
    messages = [dict(m) for m in problem.messages] or [{"role": "user", "content": problem.prompt}]
    if system_prompt and messages[0].get("role") != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def encode_prompts(tokenizer: Any, problems: Iterable[Problem], system_prompt: str | None) -> list[list[int]]:
    """Chat-template each problem with an open assistant turn and tokenize it."""
    out = []
    for p in problems:
        text = tokenizer.apply_chat_template(
            chat_messages(p, system_prompt), tokenize=False, add_generation_prompt=True
        )
        out.append(list(tokenizer(text, add_special_tokens=False).input_ids))
    return out
