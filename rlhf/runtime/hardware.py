"""Hardware status of the training process, one reading per step, for metrics.jsonl and every sink.

Keys start with ``hw/`` so tests that compare runs bit for bit can leave them out with the
timings: they describe the machine, not the run. CPU is the process's (and its children's)
share since the previous reading, in percent of one core, as `top` shows it; memory is resident
set size in MiB; GPU memory comes from torch's allocator and is present only where CUDA is.
"""

from __future__ import annotations

import time

import psutil
import torch

_MIB = 1024.0 * 1024.0


class HardwareMonitor:
    """Readings since the previous call; the first call's CPU share covers the process's life so far."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._first = True

    def read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            children = self._proc.children(recursive=True)
            rss = self._proc.memory_info().rss + sum(_rss(c) for c in children)
            out["hw/cpu_percent"] = self._cpu_percent()
            out["hw/rss_mib"] = rss / _MIB
            out["hw/children"] = float(len(children))
        except psutil.Error:  # the process table changed under us: skip this reading
            pass
        out["hw/system_mem_percent"] = float(psutil.virtual_memory().percent)
        out.update(gpu_memory())
        return out

    def _cpu_percent(self) -> float:
        now = self._proc.cpu_percent(None)  # since the previous call (psutil keeps the interval)
        if not self._first:
            return float(now)
        self._first = False
        t = self._proc.cpu_times()
        alive = max(time.time() - self._proc.create_time(), 1e-6)
        return 100.0 * (t.user + t.system) / alive


def gpu_memory() -> dict[str, float]:
    """Allocated, reserved and peak memory of the current CUDA device (MiB); {} without CUDA."""
    if not torch.cuda.is_available():
        return {}
    dev = torch.cuda.current_device()
    out = {
        "hw/gpu_mem_allocated_mib": torch.cuda.memory_allocated(dev) / _MIB,
        "hw/gpu_mem_reserved_mib": torch.cuda.memory_reserved(dev) / _MIB,
        "hw/gpu_mem_peak_mib": torch.cuda.max_memory_allocated(dev) / _MIB,
    }
    try:
        out["hw/gpu_util_percent"] = float(torch.cuda.utilization(dev))
    except Exception:  # needs NVML (pynvml); memory alone is still worth logging
        pass
    return out


def _rss(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:  # a child that exited between listing and reading
        return 0
