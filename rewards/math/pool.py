"""A pool of persistent `rewards.math.worker` processes with hard, per-request timeouts.

Why processes and not threads: sympy cannot be interrupted, and a thread that timed out keeps
burning a core. Here a request that runs past its deadline gets its worker SIGKILLed and a
fresh one started in its place; the caller gets a timeout verdict at the deadline. Callers may
use one pool from many threads: each request holds one worker for its duration.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

_ROOT = str(Path(__file__).resolve().parents[2])
START_TIMEOUT_S = 120.0


class _Worker:
    def __init__(self, mem_bytes: int) -> None:  # RLIMIT_AS of the worker
        env = dict(os.environ)
        env["PYTHONPATH"] = _ROOT + os.pathsep + env.get("PYTHONPATH", "")
        env["COTRL_MATH_WORKER_MEM"] = str(mem_bytes)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rewards.math.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=_ROOT,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.wfd, self.rfd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        self.ready = False

    def _recv(self, deadline: float) -> Any:
        head = self._read(8, deadline)
        return json.loads(self._read(int.from_bytes(head, "little"), deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self.rfd, n - len(buf))
            if not chunk:
                raise EOFError("worker exited")
            buf += chunk
        return buf

    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if not self.ready:  # start-up (importing sympy) is not charged to the request
            msg = self._recv(time.monotonic() + START_TIMEOUT_S)
            self.ready = bool(msg.get("ready"))
        data = json.dumps(payload).encode()
        os.write(self.wfd, len(data).to_bytes(8, "little") + data)
        return self._recv(time.monotonic() + timeout_s)

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except OSError:
                pass


class WorkerPool:
    """`size` workers; `run(payload, timeout_s)` returns the worker's dict, or a timeout/error dict."""

    def __init__(self, size: int | None = None, mem_bytes: int = 2 << 30) -> None:
        self.size = max(1, size or min(4, os.cpu_count() or 1))
        self.mem_bytes = mem_bytes
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._closed = False
        self.restarts = 0
        self.owner = os.getpid()  # a forked copy of the host must not share these workers' pipes
        for _ in range(self.size):
            self._idle.put(_Worker(mem_bytes))

    def run(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("the math worker pool is closed")
        worker = self._idle.get()
        try:
            result = worker.request(payload, timeout_s)
        except TimeoutError:
            self._replace(worker)
            return {"status": "timeout", "correct": False, "detail": f"verification exceeded {timeout_s:g}s"}
        except (EOFError, OSError, ValueError) as exc:
            self._replace(worker)
            return {"status": "error", "correct": False, "detail": f"worker died: {type(exc).__name__} {exc}"}
        self._idle.put(worker)
        return result

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self.restarts += 1
        self._idle.put(_Worker(self.mem_bytes))

    def close(self) -> None:
        self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return


_default: WorkerPool | None = None
_default_lock = threading.Lock()
_default_size: int | None = None


def configure_default_pool(size: int | None) -> None:
    """Set the size of the process-wide pool (restarting it if it is running with another size)."""
    global _default_size, _default
    with _default_lock:
        _default_size = size or None
        if _default is not None and _default.size != (size or _default.size):
            _default.close()
            _default = None


def default_pool() -> WorkerPool:
    """The process-wide pool, started on first use and closed at exit."""
    global _default
    with _default_lock:
        if _default is None or _default._closed or _default.owner != os.getpid():
            _default = WorkerPool(_default_size)
            atexit.register(_default.close)
        return _default
