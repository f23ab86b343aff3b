"""The run directory: everything one run writes lives under `run.output_dir`, in one layout.

Every trainer writes through `RunDir` and every reader (`cotrl export`, `cotrl eval`,
`--resume`, `lora.adapter_path`, `distill.teacher`) finds things through it, so the names
below are the only place the layout is spelled:

    config.resolved.yaml   the recipe as run (with --resume it must match)
    base_model.json        where a local `model.path` was when the run started: relative to the
                           run directory and absolute, so the run can be moved and read from any
                           working directory
    metrics.jsonl          one JSON line per logged step
    samples.jsonl          a few completions per step (RL) or per evaluation (SFT)
    plots/                 PNG curves
    checkpoints/           mid-run state for --resume (RL and PRM: step-N/, SFT: TRL's checkpoint-N/)
    tiny_model/            the base model a `model.path: tiny` run built for itself
    adapter/               final policy of a LoRA run (peft adapter + tokenizer)      } one of the two,
    model/                 final policy of a full finetune (a plain HF directory)     } every policy trainer
    merged/                LoRA runs with sft.save merged|both: base + adapter, plain HF
    critic.pt              PPO: the critic's final weights
    prm/                   PRM runs: the process reward model (LoRA always merged in; a token
                           classifier with prm_config.json, not a policy)
    result.json, data_stats.json (sft, distill), distill_stats.json, traces.jsonl,
    heldout.jsonl (distill), eval.json (prm), vllm_sync.jsonl (vLLM rollouts)

Why `adapter/` vs `model/` and not one name: an adapter is useless without its base and a
full model needs none, so the name says which; `merged/` is the optional base-plus-adapter
copy. A GRPO/PPO run written before this layout kept its adapter in `model/`; readers still
accept that (`FinalModel.legacy`).

A directory that holds another run is refused unless the user asks to resume or
overwrite, so a typo in a command line never clobbers a finished run.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_gen.writers import atomic_write_text
from rlhf.config.loader import save_resolved, to_dict

CONFIG_NAME = "config.resolved.yaml"
BASE_NAME = "base_model.json"
METRICS_NAME = "metrics.jsonl"
SAMPLES_NAME = "samples.jsonl"
CHECKPOINTS_DIR = "checkpoints"
PLOTS_DIR = "plots"
TINY_DIR = "tiny_model"
ADAPTER_DIR = "adapter"
FULL_DIR = "model"
MERGED_DIR = "merged"
PRM_DIR = "prm"
CRITIC_NAME = "critic.pt"


@dataclass(frozen=True)
class FinalModel:
    """What a finished run left behind to load.

    kind: `adapter` (LoRA: needs the run's base), `full` (a plain HF causal LM) or `prm`
    (a process reward model, not a policy). `merged` is the run's `merged/` when it wrote one.
    """

    kind: Literal["adapter", "full", "prm"]
    path: Path
    merged: Path | None = None
    legacy: bool = False  # an adapter found in model/ (GRPO/PPO runs from before adapter/)


@dataclass(frozen=True)
class RunDir:
    root: Path
    resume: bool = False  # True: continue from the latest complete checkpoint

    # ------------------------------------------------------------------ where things go

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def metrics_path(self) -> Path:
        return self.root / METRICS_NAME

    @property
    def samples_path(self) -> Path:
        return self.root / SAMPLES_NAME

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    @property
    def tiny_model_dir(self) -> Path:
        return self.root / TINY_DIR

    @property
    def adapter_dir(self) -> Path:
        return self.root / ADAPTER_DIR

    @property
    def model_dir(self) -> Path:
        return self.root / FULL_DIR

    @property
    def merged_dir(self) -> Path:
        return self.root / MERGED_DIR

    @property
    def prm_dir(self) -> Path:
        return self.root / PRM_DIR

    @property
    def critic_path(self) -> Path:
        return self.root / CRITIC_NAME

    def final_dir(self, lora: bool) -> Path:
        """Where a trainer writes its final policy: `adapter/` under LoRA, else `model/`."""
        return self.adapter_dir if lora else self.model_dir

    # ------------------------------------------------------------------ writing

    def append_jsonl(self, path: Path, record: dict[str, Any]) -> None:
        """Append one JSON line and flush it (a killed run keeps every complete line)."""
        with path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()

    def write_json(self, name: str, data: Any) -> Path:
        return atomic_write_text(self.root / name, json.dumps(data, indent=2, default=_jsonable))

    # ------------------------------------------------------------------ reading

    def config(self) -> dict[str, Any]:
        """The resolved recipe this run was started with."""
        import yaml

        if not self.config_path.is_file():
            raise ValueError(f"{self.root} is not a run directory (no {CONFIG_NAME})")
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8")) or {}

    def base_model(self) -> tuple[str, str]:
        """(base model path, dtype) the run trained on: its own `tiny_model/`, or `model.path`.

        A local `model.path` is found through `base_model.json`, first relative to this run
        directory (the run and its base moved together, or a cwd other than the one the run was
        started from), then where it was when the run started (only the run moved). A run
        without that record (older, or a hub id) gives `model.path` as written."""
        model = self.config().get("model") or {}
        path = str(model.get("path") or "")
        dtype = str(model.get("dtype") or "float32")
        if path == "tiny":
            return str(self.tiny_model_dir), dtype
        if not path:
            raise ValueError(f"{self.config_path}: model.path is empty")
        record = self.root / BASE_NAME
        if not record.is_file():
            return path, dtype
        where = json.loads(record.read_text(encoding="utf-8"))
        tried = [Path(os.path.normpath(self.root / where["relative_to_run"])), Path(where["absolute"])]
        for candidate in tried:
            if candidate.exists():
                return str(candidate), dtype
        raise FileNotFoundError(
            f"base model of run {self.root} not found: model.path {path!r} is neither at "
            f"{tried[0]} (where it was relative to the run) nor at {tried[1]} (where it was when "
            "the run started); pass --base BASE_DIR"
        )

    def record_base(self, model_path: str) -> None:
        """Write `base_model.json` for a local `model.path` (nothing for `tiny` or a hub id)."""
        local = Path(model_path).expanduser()
        if model_path in ("", "tiny") or not local.exists():
            return
        absolute = local.resolve()
        self.write_json(
            BASE_NAME,
            {
                "path": model_path,
                "relative_to_run": os.path.relpath(absolute, self.root.resolve()),
                "absolute": str(absolute),
                "fingerprint": model_fingerprint(absolute),
            },
        )

    def check_base(self, base: str) -> None:
        """Refuse a base whose weights are not the ones this run trained on (an adapter merged into
        another model gives a model nobody trained, silently); runs recorded without a fingerprint pass."""
        record = self.root / BASE_NAME
        if not record.is_file() or not Path(base).is_dir():
            return
        want = json.loads(record.read_text(encoding="utf-8")).get("fingerprint")
        if want and model_fingerprint(Path(base)) != want:
            raise ValueError(
                f"base model {base} is not the model run {self.root} trained its adapter on (its config or "
                "weights changed since the run started); merge onto the original base"
            )

    def final_model(self) -> FinalModel:
        """The run's final artefact, or a ValueError saying what the directory holds instead."""
        merged = self.merged_dir if _is_hf_model(self.merged_dir) else None
        if _is_adapter(self.adapter_dir):
            return FinalModel("adapter", self.adapter_dir, merged)
        if _is_adapter(self.model_dir):
            return FinalModel("adapter", self.model_dir, merged, legacy=True)
        if _is_hf_model(self.model_dir):
            return FinalModel("full", self.model_dir)
        if self.prm_dir.is_dir():
            return FinalModel("prm", self.prm_dir)
        if merged is not None:  # the adapter was removed by hand; the merged copy still loads
            return FinalModel("full", merged)
        raise ValueError(self._no_final_model())

    def _no_final_model(self) -> str:
        names = (ADAPTER_DIR, FULL_DIR, MERGED_DIR, PRM_DIR)
        msg = f"{self.root} holds no final model ({', '.join(n + '/' for n in names)}: none found"
        broken = [n for n in names if (self.root / n).is_dir()]
        if broken:
            msg += f"; {', '.join(n + '/' for n in broken)} lacks config.json / adapter_config.json"
        msg += ")"
        if not self.config_path.is_file():
            return msg + f" and is not a run directory (no {CONFIG_NAME})"
        ckpts = sorted(
            (p.name for p in self.checkpoints.glob("*") if p.is_dir()) if self.checkpoints.is_dir() else (),
            key=lambda name: (int(digits) if (digits := name.rpartition("-")[2]).isdigit() else -1, name),
        )  # numerically: TRL's checkpoint-9 comes before checkpoint-10
        if ckpts:
            return (
                msg + f": the run has not finished; its last checkpoint is {CHECKPOINTS_DIR}/{ckpts[-1]} "
                "(`cotrl train RECIPE --resume` finishes it)"
            )
        return msg + ": the run has not finished (no checkpoint either)"


def model_fingerprint(model_dir: Path, sample: int = 1 << 20) -> str:
    """A cheap identity of an HF model dir: its config.json and, for each weight file, its size and
    first and last MiB (a retrained or different model differs there; reading stays fast at any size)."""
    import hashlib

    h = hashlib.sha256()
    config = model_dir / "config.json"
    h.update(config.read_bytes() if config.is_file() else b"")
    for f in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            h.update(fh.read(sample))
            fh.seek(max(0, size - sample))
            h.update(fh.read(sample))
    return h.hexdigest()[:32]


def find_adapter(path: str | Path, key: str = "lora.adapter_path") -> Path:
    """A LoRA adapter directory given as itself or as a LoRA run's directory (any trainer's)."""
    p = Path(path)
    if _is_adapter(p):
        return p
    if not p.is_dir():
        raise FileNotFoundError(f"{key} {str(path)!r}: no such adapter or run directory")
    try:
        final = RunDir(p).final_model()
    except ValueError as exc:
        raise ValueError(f"{key} {str(path)!r} holds no LoRA adapter: {exc}") from None
    if final.kind != "adapter":
        raise ValueError(
            f"{key} {str(path)!r} holds no LoRA adapter (no adapter_config.json there or in "
            f"{ADAPTER_DIR}/); the run's final model {final.path} is a {final.kind} model"
        )
    return final.path


def _is_adapter(path: Path) -> bool:
    return (path / "adapter_config.json").is_file()


def _is_hf_model(path: Path) -> bool:
    return (path / "config.json").is_file()


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
    run = RunDir(root=root, resume=resume)
    if resume and not run.config_path.is_file():
        raise ValueError(f"--resume: {root} holds no run to resume (no {CONFIG_NAME})")
    extended = False
    if resume and run.config() != to_dict(cfg):
        extended = check_extension(run.config(), to_dict(cfg), run.config_path)
    if overwrite and has_run:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in (run.checkpoints, run.plots):
        sub.mkdir(exist_ok=True)
    if not resume:
        save_resolved(cfg, run.config_path)
        run.record_base(cfg.model.path)
    elif extended:
        save_resolved(cfg, run.config_path)  # the new budget is the recipe a later --resume must match
    return run


# Keys a resumed run may raise: the step budget, and with it the LR schedule's length
# (`rlhf.runtime.optim.Schedule`; a resumed run stretches its schedule to the new total):
# RL's `train.steps`, SFT's `sft.max_steps` (its run keeps a checkpoint at the end for this).
EXTENDABLE_KEYS = ("train.steps", "sft.max_steps")


def check_extension(old: dict[str, Any], new: dict[str, Any], where: Path) -> bool:
    """True when `new` only raises the step budget of `old` (the run is extended); otherwise a
    ValueError naming every key that differs."""
    changed = config_diff(old, new)
    keys = [c.partition(":")[0] for c in changed]
    if len(keys) == 1 and keys[0] in EXTENDABLE_KEYS:
        section, _, name = keys[0].partition(".")
        before, after = old[section][name], new[section][name]
        if isinstance(before, int) and isinstance(after, int) and after > before:
            import sys

            print(
                f"cotrl: --resume extends the run from {keys[0]}={before} to {after}; the LR schedule "
                f"is stretched to the new total (as if the run had started with {keys[0]}={after}), "
                "so the LR rises from the end of the old curve to the new curve's value and decays to "
                "train.min_lr_ratio * lr at the last step",
                file=sys.stderr,
            )
            return True
    hint = (
        "; only the step budget (train.steps, sft.max_steps) may change on --resume, and only upward "
        "(it extends the run)"
        if keys
        else ""
    )
    raise ValueError(
        f"--resume: the recipe differs from the one {where.parent} was started with ({where}): "
        + "; ".join(changed)
        + hint
    )


def config_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """`key: old -> new` for every dotted key whose value differs (lists compared whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in new:
                out.append(f"{path}: {old[key]!r} -> (absent)")
            elif key not in old:
                out.append(f"{path}: (absent) -> {new[key]!r}")
            else:
                out += config_diff(old[key], new[key], path)
        return out
    return [] if old == new else [f"{prefix}: {old!r} -> {new!r}"]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
