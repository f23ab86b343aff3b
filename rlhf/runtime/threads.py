"""How many torch intra-op threads a run uses (`train.cpu_threads`, `cotrl eval --threads`).

Intra-op parallelism splits one matrix product across cores. For the tiny models this
project trains on CPU a product is too small to split: the threads only synchronise, and on
a machine shared with other work (a verifier pool, another run) they wait on each other; a
step measured 0.15 s with one thread took 4 s with all cores under load, and the README's
`cotrl eval` example took 17.5 s instead of 0.6 s. For models with tens of millions of
parameters and more, the products are large enough that every core pays.

`auto` (the default) therefore chooses by the model actually loaded:

- on CPU, fewer than `AUTO_ONE_THREAD_BELOW` parameters: 1 thread;
- on CPU, larger models: every core this process may run on (`os.sched_getaffinity`), shared
  out among the processes of one `accelerate launch`;
- an explicit `OMP_NUM_THREADS` in the environment wins over `auto` (the user chose);
- a model on a GPU: torch's default is left alone (the CPU only feeds the device).

An integer sets the count; 0 leaves torch's default. The choice is printed on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

import torch

Threads = int | Literal["auto"]

AUTO_ONE_THREAD_BELOW = 20_000_000  # parameters; the tiny models are well under 1M


def parse_threads(text: str) -> Threads:
    """`--threads` on a command line: `auto` or a count >= 0."""
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--threads must be 'auto' or a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"--threads must be 'auto' or a whole number >= 0, got {value}")
    return value


def choose_threads(setting: Threads, n_params: int, device: str) -> tuple[int | None, str]:
    """(threads to set, or None to leave torch's default; the reason in words)."""
    if setting != "auto":
        if setting == 0:
            return None, "torch's default"
        return setting, "set"
    if device != "cpu":
        return None, f"auto: model on {device}, torch's default"
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None, f"auto: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']} in the environment"
    size = f"{n_params / 1e6:.2f}M parameters"
    if n_params < AUTO_ONE_THREAD_BELOW:
        return 1, f"auto: {size} < {AUTO_ONE_THREAD_BELOW / 1e6:.0f}M on CPU, too small to split"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local_procs = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))  # accelerate launch on CPU
    if local_procs > 1:
        return max(
            1, cores // local_procs
        ), f"auto: {size} on CPU, the cores shared by {local_procs} processes"
    return cores, f"auto: {size} on CPU, every core"


def apply_threads(setting: Threads, model: Any, key: str = "train.cpu_threads") -> int:
    """Set torch's intra-op threads for `model` as `setting` says, print the choice, return the count."""
    params = list(model.parameters())
    n_params = sum(p.numel() for p in params)
    device = params[0].device.type if params else "cpu"
    threads, why = choose_threads(setting, n_params, device)
    if threads is not None:
        torch.set_num_threads(threads)
    count = torch.get_num_threads()
    plural = "s" if count != 1 else ""
    print(f"cotrl: {key}={setting}: {count} thread{plural} ({why})", file=sys.stderr)
    return count
