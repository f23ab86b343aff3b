"""Supervised data readers: files a user has -> `SftExample`s the SFT trainer can use.

Users bring JSONL, CSV, Parquet or a `datasets` directory (saved with
`save_to_disk`), in one of three row forms, detected from the columns:

- data_gen items (`id, task, prompt, answer, solution_steps, ...`): the completion is
  the gold completion rendered by `data_gen.render.gold_completion`, and the item
  travels along so verifiers can score generations on it;
- chat rows (`messages`: a list of `{role, content}` ending with the assistant turn);
- prompt/completion rows (`prompt` and `completion`, strings or message lists).

Bad input is reported before any model is loaded, naming the file, the rows and
the columns, because a typo found after an hour of training is an hour lost.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_gen.datasets.files import read_rows
from rlhf.data.qa import is_qa, qa_item, qa_items

if TYPE_CHECKING:
    from rlhf.config.recipe import SftGenerateSpec

Message = dict[str, str]

DATAGEN_COLUMNS = ("id", "task", "prompt", "answer", "solution_steps")
_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_MAX_LISTED = 8


@dataclass(frozen=True)
class SftExample:
    """One supervised example: the chat prompt, the assistant text to learn, what to check."""

    prompt: tuple[Message, ...]  # messages before the assistant turn
    completion: str  # the assistant turn the loss is taken on
    answer: str | None = None  # reference for exact-match evaluation
    problem: dict[str, Any] | None = None  # the data_gen row, for verifiers
    source: str = "domain"  # domain | general

    def to_record(self) -> dict[str, Any]:
        """TRL's conversational prompt/completion form."""
        return {
            "prompt": [dict(m) for m in self.prompt],
            "completion": [{"role": "assistant", "content": self.completion}],
        }

    def text(self) -> str:
        return "\n".join(m["content"] for m in self.prompt) + "\n" + self.completion


# ----------------------------------------------------------------------------- reading rows

# ----------------------------------------------------------------------------- rows -> examples


def row_form(columns: Iterable[str]) -> str:
    """Which row form a file uses, from the union of its columns."""
    cols = set(columns)
    if "solution_steps" in cols:
        return "datagen"
    if is_qa(cols):
        return "qa"
    if "messages" in cols and "completion" not in cols:
        return "chat"
    if "prompt" in cols or "completion" in cols:
        return "prompt_completion"
    raise ValueError(
        f"no usable columns (found: {', '.join(sorted(map(str, cols))) or 'none'}); expected 'messages' (chat), "
        f"'prompt' + 'completion', 'question' + 'answer' (your domain items), or data_gen items "
        f"({', '.join(DATAGEN_COLUMNS)})"
    )


def examples_from_rows(
    rows: Sequence[dict[str, Any]], where: str, source: str = "domain"
) -> list[SftExample]:
    """Convert rows of one file; every bad row is collected and reported in one error."""
    columns = {k for r in rows for k in r}
    try:
        form = row_form(columns)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    convert = {
        "datagen": _from_datagen,
        "chat": _from_chat,
        "prompt_completion": _from_prompt_completion,
        "qa": _from_qa,
    }[form]
    problems: dict[str, list[int]] = {}
    out = []
    for i, row in enumerate(rows, start=1):
        try:
            out.append(convert(row, source) if form != "qa" else _from_qa(row, source, i))
        except _RowError as exc:
            problems.setdefault(str(exc), []).append(i)
    if problems:
        parts = []
        for reason, idx in problems.items():
            listed = ", ".join(map(str, idx[:_MAX_LISTED])) + (
                f" (+{len(idx) - _MAX_LISTED} more)" if len(idx) > _MAX_LISTED else ""
            )
            parts.append(f"row{'s' if len(idx) > 1 else ''} {listed} of {len(rows)}: {reason}")
        raise ValueError(f"{where} ({form} form): " + "; ".join(parts))
    return out


class _RowError(Exception):
    pass


def _missing(row: dict[str, Any], cols: Sequence[str]) -> None:
    gone = [c for c in cols if row.get(c) is None or row.get(c) == ""]
    if gone:
        raise _RowError(f"missing column{'s' if len(gone) > 1 else ''} {', '.join(repr(c) for c in gone)}")


def _messages(value: Any, column: str) -> tuple[Message, ...]:
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if not isinstance(value, (list, tuple)) or not value:
        raise _RowError(f"column {column!r} must be a string or a non-empty list of messages")
    out = []
    for m in value:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            raise _RowError(f"column {column!r}: every message needs string 'role' and 'content'")
        out.append({"role": m["role"], "content": m["content"]})
    return tuple(out)


def _from_datagen(row: dict[str, Any], source: str) -> SftExample:
    _missing(row, DATAGEN_COLUMNS[:4])
    if not isinstance(row.get("solution_steps"), (list, tuple)) or not row["solution_steps"]:
        raise _RowError("column 'solution_steps' must be a non-empty list of steps")
    prompt = _messages(row.get("messages") or row["prompt"], "messages" if row.get("messages") else "prompt")
    return SftExample(prompt, gold_completion(row), str(row["answer"]), dict(row), source)


def _from_qa(row: dict[str, Any], source: str, index: int = 0) -> SftExample:
    """A user's question/answer row (rlhf.data.qa): trained on as its steps, then the answer."""
    try:
        item = qa_item(row, index)
    except ValueError as exc:
        raise _RowError(str(exc)) from None
    return _from_datagen(item, source) if item["solution_steps"] else _qa_example(item, source)


def _qa_example(item: dict[str, Any], source: str) -> SftExample:
    from data_gen.render import ANSWER_CLOSE, ANSWER_OPEN

    completion = f"{ANSWER_OPEN}{item['answer']}{ANSWER_CLOSE}"
    return SftExample(
        ({"role": "user", "content": item["prompt"]},), completion, item["answer"], item, source
    )


def domain_items(path: str | Path) -> list[dict[str, Any]]:
    """A user's domain file (JSONL/CSV/Parquet, question/answer rows) as data_gen item rows."""
    rows = read_rows(path)
    if not is_qa({k for r in rows for k in r}):
        raise ValueError(
            f"{path}: a domain file needs 'question' and 'answer' columns (found: {', '.join(sorted({k for r in rows for k in r}))})"
        )
    return qa_items(rows, str(path))


def split_heldout_rows(
    rows: Sequence[dict[str, Any]], n_val: int, n_heldout: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Seeded (train, validation, held-out) split of a user's items; at least one training row."""
    if len(rows) < n_val + n_heldout + 1:
        raise ValueError(
            f"{len(rows)} domain rows cannot give {n_heldout} held-out and {n_val} validation rows "
            "and still leave one to train on"
        )
    order = list(range(len(rows)))
    random.Random(f"domain-split:{seed}").shuffle(order)
    held, val, train = order[:n_heldout], order[n_heldout : n_heldout + n_val], order[n_heldout + n_val :]
    return ([rows[i] for i in sorted(train)], [rows[i] for i in sorted(val)], [rows[i] for i in sorted(held)])


def _from_chat(row: dict[str, Any], source: str) -> SftExample:
    _missing(row, ("messages",))
    msgs = _messages(row["messages"], "messages")
    if msgs[-1]["role"] != "assistant" or len(msgs) < 2:
        raise _RowError(
            "column 'messages' must end with an assistant message after at least one prompt message"
        )
    completion = msgs[-1]["content"]
    return SftExample(msgs[:-1], completion, _reference(row, completion), None, source)


def _from_prompt_completion(row: dict[str, Any], source: str) -> SftExample:
    _missing(row, ("prompt", "completion"))
    prompt = _messages(row["prompt"], "prompt")
    comp = row["completion"]
    if isinstance(comp, (list, tuple)):
        msgs = _messages(comp, "completion")
        if len(msgs) != 1 or msgs[0]["role"] != "assistant":
            raise _RowError("column 'completion' as messages must be exactly one assistant message")
        comp = msgs[0]["content"]
    if not isinstance(comp, str):
        raise _RowError("column 'completion' must be a string or one assistant message")
    return SftExample(prompt, comp, _reference(row, comp), None, source)


def _reference(row: dict[str, Any], completion: str) -> str:
    if row.get("answer") not in (None, ""):
        return str(row["answer"])
    return extract_answer(completion)


def extract_answer(text: str) -> str:
    """The last <answer>...</answer> span, else the whole text; stripped."""
    found = _ANSWER_RE.findall(text)
    return (found[-1] if found else text).strip()


def gold_completion(item: dict[str, Any]) -> str:
    """The gold completion of a data_gen item (the shared contract lives in data_gen.render)."""
    from data_gen.render import gold_completion as render

    return render(item)


# ----------------------------------------------------------------------------- splitting and mixing


def load_examples(path: str | Path, source: str = "domain") -> list[SftExample]:
    return examples_from_rows(read_rows(path), str(path), source)


def split_heldout(
    examples: Sequence[SftExample], fraction: float, seed: int
) -> tuple[list[SftExample], list[SftExample]]:
    """Seeded (train, held-out) split; at least one example on each side when fraction > 0."""
    if fraction <= 0:
        return list(examples), []
    if len(examples) < 2:
        raise ValueError(
            f"cannot hold out sft.eval_fraction={fraction} of {len(examples)} example(s); "
            "add data or set sft.eval_path"
        )
    order = list(range(len(examples)))
    random.Random(f"heldout:{seed}").shuffle(order)
    n_eval = min(len(examples) - 1, max(1, round(len(examples) * fraction)))
    held = sorted(order[:n_eval])
    keep = sorted(order[n_eval:])
    return [examples[i] for i in keep], [examples[i] for i in held]


def mix(
    domain: Sequence[SftExample], general: Sequence[SftExample], ratio: float, seed: int
) -> tuple[list[SftExample], dict[str, Any]]:
    """All domain examples plus enough general ones that domain makes up `ratio` of the mix.

    General examples are drawn without replacement while they last, then cycled, so a
    small general set still yields the requested ratio. Returns the shuffled mix and
    its counts (so the run records what it actually trained on).
    """
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"sft.domain_ratio must be in (0, 1], got {ratio}")
    if not domain:
        raise ValueError("no domain training examples (check sft.train_path / sft.generate)")
    rng = random.Random(f"mix:{seed}")
    n_general = 0 if ratio == 1.0 or not general else round(len(domain) * (1.0 - ratio) / ratio)
    if ratio < 1.0 and not general:
        raise ValueError(
            f"sft.domain_ratio={ratio} asks for general data but none was given "
            "(set sft.general_path or sft.general_generate, or domain_ratio: 1.0)"
        )
    picked: list[SftExample] = []
    while len(picked) < n_general:
        pool = list(general)
        rng.shuffle(pool)
        picked.extend(pool[: n_general - len(picked)])
    mixed = list(domain) + picked
    rng.shuffle(mixed)
    stats = {
        "domain_examples": len(domain),
        "general_examples": len(picked),
        "general_available": len(general),
        "domain_fraction": len(domain) / len(mixed),
    }
    return mixed, stats


def generated_examples(
    spec: SftGenerateSpec, source: str, split: str = "train", n: int | None = None
) -> list[SftExample]:
    """data_gen items for `spec` from `split` (train and test never share a problem), as gold completions."""
    from data_gen.generate import iter_items, make_config

    cfg = make_config(spec.task, spec.level, spec.params)
    rows = list(iter_items([spec.task], n or spec.n, seed=spec.seed, configs={spec.task: cfg}, split=split))
    return examples_from_rows(rows, f"generated {spec.task!r} ({split})", source)
