"""The run directory: everything one run writes lives under `run.output_dir`.

Layout: config.resolved.yaml, metrics.jsonl, checkpoints/, plots/, samples.jsonl.
A directory that holds another run is refused unless the user asks to resume or
overwrite, so a typo in a command line never clobbers a finished run.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_gen.writers import atomic_write_text
from rlhf.config.loader import save_resolved, to_dict

CONFIG_NAME = "config.resolved.yaml"


@dataclass(frozen=True)
class RunDir:
    root: Path
    resume: bool = False  # True: continue from the latest complete checkpoint

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def samples_path(self) -> Path:
        return self.root / "samples.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    def append_jsonl(self, path: Path, record: dict[str, Any]) -> None:
        """Append one JSON line and flush it (a killed run keeps every complete line)."""
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_text(self.root / name, json.dumps(data, indent=2, default=_jsonable))


def prepare_run_dir(
    cfg: Any, output_dir: str | Path, *, resume: bool = False, overwrite: bool = False
) -> RunDir:
    """Create (or reopen for resume) a run directory and save the resolved config."""
    if resume and overwrite:
        raise ValueError("--resume and --overwrite are mutually exclusive")
    root = Path(output_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"run.output_dir {root} exists and is not a directory")
    has_run = root.is_dir() and any(root.iterdir())
    if has_run and not (resume or overwrite):
        raise ValueError(
            f"run.output_dir {root} already holds a run; pass --resume to continue it or --overwrite"
        )
    if resume and not (root / CONFIG_NAME).is_file():
        raise ValueError(f"--resume: {root} holds no run to resume (no {CONFIG_NAME})")
    if resume:
        old = (root / CONFIG_NAME).read_text(encoding="utf-8")
        import yaml

        if yaml.safe_load(old) != to_dict(cfg):
            raise ValueError(
                f"--resume: the recipe differs from the one {root} was started with ({root / CONFIG_NAME})"
            )
    if overwrite and has_run:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("checkpoints", "plots"):
        (root / sub).mkdir(exist_ok=True)
    if not resume:
        save_resolved(cfg, root / CONFIG_NAME)
    return RunDir(root=root, resume=resume)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
