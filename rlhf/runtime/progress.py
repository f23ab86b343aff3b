"""The one progress display of a run: every trainer (RL, PRM, and SFT through a callback) shows it.

On a terminal it is a rich bar. When stdout is not a terminal (`cotrl train ... > log`, a CI
log, `make demo | tee`) a live bar cannot be drawn, and rich would print it only once, at the
end, so a killed run left an empty log; there it prints plain lines instead, flushed as they
happen, every `every` steps (`run.log_every`, or every step) and at the last one, with the
same fields as the bar: `LABEL DONE/TOTAL ELAPSED INFO`.

Hugging Face libraries draw their own tqdm bars (weight loading and saving, dataset maps,
the Trainer's loop) and print the Trainer's log dicts; `quiet_libraries` turns those off so
this display is the only one (the SFT trainer folds the Trainer's logs into it).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any, Protocol, TextIO


class Bar(Protocol):
    def update(self, done: int, info: str) -> None:
        """`done` steps of the total are finished; `info` is the step's one-line summary."""

    def tick(self, done: int) -> None:
        """Move the bar without a new summary (a plain log prints nothing for it)."""


def is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


@contextlib.contextmanager
def progress(
    total: int, start: int, label: str, every: int = 1, stream: TextIO | None = None
) -> Iterator[Bar]:
    """A rich bar on a terminal, else plain flushed lines every `every` steps (and at `total`)."""
    out = stream if stream is not None else sys.stdout
    if is_terminal(out):
        with _rich_bar(total, start, label, out) as bar:
            yield bar
    else:
        yield PlainBar(total, label, max(every, 1), out)


class PlainBar:
    """Progress for a log file: one line per `every` steps, flushed so `tail -f` and a killed run see it."""

    def __init__(self, total: int, label: str, every: int, stream: TextIO) -> None:
        self.total = total
        self.label = label
        self.every = every
        self.stream = stream
        self.t0 = time.perf_counter()
        self.last_printed: int | None = None

    def update(self, done: int, info: str) -> None:
        due = done % self.every == 0 or done >= self.total
        if not due or done == self.last_printed:
            return
        self.last_printed = done
        line = f"{self.label} {done}/{self.total} {_elapsed(time.perf_counter() - self.t0)}"
        self.stream.write(f"{line} {info}".rstrip() + "\n")
        self.stream.flush()

    def tick(self, done: int) -> None:
        pass


def _elapsed(seconds: float) -> str:
    """h:mm:ss, as rich's TimeElapsedColumn shows it."""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@contextlib.contextmanager
def _rich_bar(total: int, start: int, label: str, stream: TextIO) -> Iterator[Bar]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False, console=Console(file=stream)) as prog:
        task = prog.add_task(label, total=total, completed=start, info="")

        class _Bar:
            def update(self, done: int, info: str) -> None:
                prog.update(task, completed=done, info=info)

            def tick(self, done: int) -> None:
                prog.update(task, completed=done)

        yield _Bar()


def quiet_libraries() -> None:
    """Turn off the tqdm bars of transformers, huggingface_hub and datasets (process-wide)."""
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    with contextlib.suppress(ImportError):
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    with contextlib.suppress(ImportError):
        import datasets

        datasets.disable_progress_bars()


def format_logs(logs: dict[str, Any], keys: tuple[tuple[str, str], ...]) -> str:
    """A step summary from a log dict: `name=value` for the keys present, numbers as numbers."""
    parts = []
    for key, fmt in keys:
        v = logs.get(key)
        if isinstance(v, (int, float)):
            parts.append(fmt.format(v))
    return " ".join(parts)
