"""Per-step hardware readings: this process's CPU share and memory, measured, not assumed."""

from __future__ import annotations

import time

import torch

from rlhf.runtime.hardware import HardwareMonitor, gpu_memory


def test_readings_follow_what_the_process_does():
    mon = HardwareMonitor()
    first = mon.read()
    assert first["hw/rss_mib"] > 10 and 0 < first["hw/system_mem_percent"] < 100
    mon.read()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    end = wall0 + 0.5
    while time.perf_counter() < end:  # busy, as much as this shared machine lets one thread be
        sum(range(1000))
    busy = mon.read()["hw/cpu_percent"]
    truth = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    assert abs(busy - truth) < 15, (busy, truth)  # the process's own CPU time over the step's wall time
    time.sleep(0.5)
    assert mon.read()["hw/cpu_percent"] < truth / 2  # asleep: a small share
    blob = bytearray(200 * 1024 * 1024)  # 200 MiB more resident memory
    blob[::4096] = b"x" * len(blob[::4096])
    assert mon.read()["hw/rss_mib"] > first["hw/rss_mib"] + 150
    del blob


def test_gpu_memory_only_where_cuda_is():
    got = gpu_memory()
    if torch.cuda.is_available():
        assert "hw/gpu_mem_allocated_mib" in got
    else:
        assert got == {}
