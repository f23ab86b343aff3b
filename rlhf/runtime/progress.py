"""The progress bar every hand-written training loop shows (RL and PRM; SFT has transformers' own)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def progress(total: int, start: int, label: str) -> Iterator[Any]:
    """A rich progress bar; `bar.update(steps_done, text)` after each step."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns, transient=False) as prog:
        task = prog.add_task(label, total=total, completed=start, info="")

        class _Bar:
            def update(self, done: int, info: str) -> None:
                prog.update(task, completed=done, info=info)

        yield _Bar()
