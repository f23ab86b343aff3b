"""Atomic, resumable checkpoints: everything needed so a resumed run continues bit for bit.

A checkpoint is a directory `checkpoints/step-NNNNNN/` holding the trainable weights (the
adapter under LoRA, the whole model under full finetuning), optimizer and scheduler states,
every RNG state (python, numpy, torch CPU and CUDA) and a `state.json` with the data cursor,
curriculum levels and counters. It is written into a temporary sibling directory and
renamed into place, so a run killed mid-write leaves either the old set or the new one,
never a half checkpoint. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from data_gen.writers import honour_umask, make_temp_dir
from rlhf.runtime import killpoints

PREFIX = "step-"
STATE = "state.json"


def rng_state() -> dict[str, Any]:
    import numpy as np

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import numpy as np

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TorchWriteError(Exception):
    """torch.save's file writer failed: it reports a short write (a full disk) as a RuntimeError."""


def _save(obj: Any, path: Path) -> None:
    try:
        torch.save(obj, path)
    except RuntimeError as exc:
        raise TorchWriteError(str(path)) from exc


def _kept(root: Path) -> str:
    return (
        f"the unfinished copy was removed and the previous checkpoint {latest_checkpoint(root) or '(none)'} "
        "is intact: free space, then continue with --resume"
    )


def save_checkpoint(root: Path, step: int, objects: dict[str, Any], state: dict[str, Any], keep: int) -> Path:
    """Write `objects` (each torch-saved as NAME.pt) and `state` (JSON) as checkpoint `step`."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    tmp = make_temp_dir(final)
    try:
        for i, (name, obj) in enumerate(objects.items()):
            _save(obj, tmp / f"{name}.pt")
            if i == 0:
                killpoints.reached("checkpoint", step)  # fault tests: die with the checkpoint half written
        _save(rng_state(), tmp / "rng.pt")
        (tmp / STATE).write_text(json.dumps({"step": step, **state}, indent=2))
        honour_umask(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(
                exc.errno, f"disk full while writing checkpoint {final.name} ({exc}); {_kept(root)}"
            ) from exc
        if isinstance(exc, TorchWriteError):
            raise OSError(
                errno.EIO,
                f"writing checkpoint {final.name} failed ({exc.__cause__}), most likely a "
                f"full disk; {_kept(root)}",
            ) from exc
        raise
    prune(root, keep)
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first (temp dirs and dirs without state.json are ignored)."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / STATE).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(path: Path, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(objects by name, state). RNG states are restored by the caller via `restore_rng`."""
    objects = {
        n: torch.load(path / f"{n}.pt", weights_only=False) for n in names if (path / f"{n}.pt").is_file()
    }
    state = json.loads((path / STATE).read_text())
    return objects, state


def rng_file(rank: int) -> str:
    """Process `rank`'s RNG file in a sharded checkpoint (each process samples with its own)."""
    return f"rng-{rank}.pt"


def restore_rng(path: Path) -> None:
    """This process's RNG states: its own file in a sharded checkpoint, else the one `rng.pt`."""
    own = path / rng_file(int(os.environ.get("RANK", "0") or 0))
    set_rng_state(torch.load(own if own.is_file() else path / "rng.pt", weights_only=False))


def prune(root: Path, keep: int) -> None:
    for old in list_checkpoints(root)[: -max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(f".{PREFIX}*"):  # temp dirs of a run killed mid-write
        shutil.rmtree(stale, ignore_errors=True)
