"""Host side of the local code sandbox: launch, limit, kill, classify.

Every execution is its own process in its own session (process group), in a fresh temp
dir, with a clean environment, running `rewards/_sandbox/runner.py`, which confines itself
before any untrusted code runs (see its docstring). By default executions are forked from a
pre-started runner (`--zygote`, a small fork server with no site-packages), which costs a
fork instead of an interpreter start; `SandboxLimits(fork_server=False)` starts a fresh
`python -I -S -B` per execution instead. The host adds what a process cannot do to itself:
a wall-clock backstop that kills the whole group, stdout/stderr written to files so their
size is capped by RLIMIT_FSIZE instead of by a reader thread, and the verdict.

`timeout_s` is CPU seconds (RLIMIT_CPU), so a loaded machine does not fail good code; the
wall backstop (default 3x + 2 s) only catches programs that sleep or block.
Infrastructure failures are `sandbox_error` (the RL loop masks them), never a score of 0.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNER = Path(__file__).with_name("_sandbox") / "runner.py"
STATUSES = ("passed", "failed", "timeout", "crashed", "sandbox_error")
_CPU_SIGNALS = (signal.SIGXCPU, signal.SIGKILL)


@dataclass(frozen=True)
class SandboxLimits:
    """Per-execution limits; each applies to every process of the execution."""

    cpu_s: float = 5.0  # RLIMIT_CPU (rounded up to whole seconds by the kernel)
    wall_s: float | None = None  # backstop for sleeping/blocked programs; None: 3 * cpu_s + 2
    mem_bytes: int = 1 << 30  # RLIMIT_AS
    fsize_bytes: int = 8 << 20  # RLIMIT_FSIZE: caps files written and stdout/stderr
    nofile: int = 64  # RLIMIT_NOFILE
    nproc: int = 16  # RLIMIT_NPROC, applied just before untrusted code
    keep_output_bytes: int = 4096  # stdout/stderr kept in ExecResult
    namespaces: bool = True  # new network + mount namespaces where the kernel allows
    fork_server: bool = True  # fork from a pre-started runner (fast); False: a fresh interpreter per run

    @property
    def wall(self) -> float:
        return self.wall_s if self.wall_s is not None else 3.0 * self.cpu_s + 2.0


@dataclass(frozen=True)
class ExecResult:
    passed: bool
    status: str  # one of STATUSES
    n_passed: int = 0
    n_total: int = 0
    stdout: str = ""  # first keep_output_bytes of stdout
    stderr: str = ""
    truncated: bool = False  # stdout or stderr was longer than what is kept
    detail: str = ""
    wall_s: float = 0.0
    isolation: dict[str, bool] = field(default_factory=dict)  # which confinement layers took effect
    # how each test ended, in order, as far as the run got: for `run_tests` one per top-level
    # assert ("passed" or the exception's name), for `run_stdio` one status per case
    outcomes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Raw:
    ready: dict[str, bool] | None
    result: dict[str, Any] | None
    wait_status: int | None
    cpu_s: float
    wall_s: float
    timed_out: bool
    stdout: bytes
    stderr: bytes
    truncated: bool
    full_stdout: bytes
    outcomes: tuple[str, ...] = ()  # one per assert that ended, in order (function mode)


def _clean_env(work: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": work,
        "TMPDIR": work,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }


def _frame(obj: Any) -> bytes:
    data = json.dumps(obj).encode()
    return len(data).to_bytes(8, "little") + data


def execute(job: dict[str, Any], tests: str | None, limits: SandboxLimits, want_stdout: bool = False) -> _Raw:
    """Run one job in the sandbox and collect what happened (no interpretation here)."""
    root = tempfile.mkdtemp(prefix="cotrl-sbx-")
    try:
        work = os.path.join(root, "work")
        os.mkdir(work, 0o700)
        job = {
            **job,
            "workdir": work,
            "namespaces": limits.namespaces,
            "limits": {
                "cpu_s": limits.cpu_s,
                "mem_bytes": limits.mem_bytes,
                "fsize_bytes": limits.fsize_bytes,
                "nofile": limits.nofile,
                "nproc": limits.nproc,
            },
        }
        server = _fork_server() if limits.fork_server else None
        ended = None
        if server is not None:
            try:
                ended = _run_forked(server, root, job, tests, limits)
            except RuntimeError:  # the fork server died: run this one in a fresh interpreter instead
                shutil.rmtree(work, ignore_errors=True)
                os.mkdir(work, 0o700)
        if ended is None:
            ended = _run_fresh(root, job, tests, limits)
        wait_status, cpu, wall, timed_out, result_text = ended
        msgs = _messages(result_text)
        ready = next((m["ready"] for m in msgs if "ready" in m), None)
        result = next((m["result"] for m in msgs if "result" in m), None)
        outcomes = _outcomes(msgs)
        keep = limits.keep_output_bytes
        so, so_trunc = _head(
            os.path.join(root, "stdout"), keep if not want_stdout else limits.fsize_bytes + 1
        )
        se, se_trunc = _head(os.path.join(root, "stderr"), keep)
        return _Raw(
            ready,
            result,
            wait_status,
            cpu,
            wall,
            timed_out,
            so[:keep],
            se,
            so_trunc or se_trunc or len(so) > keep,
            so,
            outcomes,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _messages(text: str) -> list[dict[str, Any]]:
    """The runner's JSON lines; a line cut short by a kill is skipped."""
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict):
                out.append(msg)
    return out


def _outcomes(msgs: list[dict[str, Any]]) -> tuple[str, ...]:
    """Per-assert outcomes streamed by the runner, in order, up to the first gap."""
    got: dict[int, str] = {}
    for m in msgs:
        o = m.get("outcome")
        if isinstance(o, list) and len(o) == 2 and isinstance(o[0], int) and isinstance(o[1], str):
            got.setdefault(o[0], o[1])
    out: list[str] = []
    while len(out) in got:
        out.append(got[len(out)])
    return tuple(out)


def _run_fresh(root: str, job: dict[str, Any], tests: str | None, limits: SandboxLimits):
    """One `python -I -S -B runner.py` per execution; job and tests arrive on stdin."""
    rfd, wfd = os.pipe()
    with open(os.path.join(root, "stdout"), "wb") as out, open(os.path.join(root, "stderr"), "wb") as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", str(RUNNER), str(wfd)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                cwd=job["workdir"],
                env=_clean_env(job["workdir"]),
                start_new_session=True,
                pass_fds=(wfd,),
                close_fds=True,
            )
        finally:
            os.close(wfd)
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        _killpg(proc.pid)

    timer = threading.Timer(limits.wall, _kill)
    timer.daemon = True
    timer.start()
    try:
        try:
            assert proc.stdin is not None
            proc.stdin.write(_frame(job) + (_frame(tests) if tests is not None else b""))
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        _, wait_status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
    finally:
        timer.cancel()
        _killpg(proc.pid)  # anything the program left behind in its group
    wall = time.perf_counter() - t0
    text = _read_nonblocking(rfd).decode("utf-8", "replace")
    os.close(rfd)
    return wait_status, usage.ru_utime + usage.ru_stime, wall, timed_out.is_set(), text


def _run_forked(
    server: _ForkServer, root: str, job: dict[str, Any], tests: str | None, limits: SandboxLimits
):
    """Fork the execution from the fork server; job and tests are files the child reads and
    unlinks before any untrusted code runs."""
    with open(os.path.join(root, "job.json"), "w", encoding="utf-8") as fh:
        json.dump(job, fh)
    if tests is not None:
        with open(os.path.join(root, "tests.json"), "wb") as fh:
            fh.write(_frame(tests))
    pending = server.submit(root)
    if not pending.started.wait(60.0) or pending.pid is None:
        raise RuntimeError("the sandbox fork server did not start the job")
    t0 = time.perf_counter()
    timed_out = not pending.done.wait(limits.wall)
    if timed_out:
        _killpg(pending.pid)
        if not pending.done.wait(10.0):
            raise RuntimeError("the sandbox fork server did not report a killed job")
    _killpg(pending.pid)
    wall = time.perf_counter() - t0
    if pending.status is None:
        raise RuntimeError("the sandbox fork server exited")
    try:
        with open(os.path.join(root, "result"), "rb") as fh:
            text = fh.read(1 << 20).decode("utf-8", "replace")
    except FileNotFoundError:
        text = ""
    return pending.status, pending.cpu, wall, timed_out, text


class _Pending:
    def __init__(self) -> None:
        self.started, self.done = threading.Event(), threading.Event()
        self.pid: int | None = None
        self.status: int | None = None
        self.cpu = 0.0


class _ForkServer:
    """The `runner.py --zygote` process and a reader thread that routes its replies."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(RUNNER), "--zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=_clean_env("/"),
            start_new_session=True,
            close_fds=True,
        )
        self.lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.next_id = 0
        self.alive = True
        self.owner = os.getpid()  # a forked copy of the host must not share this server's pipes
        threading.Thread(target=self._read, name="cotrl-sandbox-fork-server", daemon=True).start()

    def submit(self, root: str) -> _Pending:
        p = _Pending()
        with self.lock:
            if not self.alive:
                raise RuntimeError("the sandbox fork server exited")
            self.next_id += 1
            self.pending[self.next_id] = p
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({"id": self.next_id, "root": root}) + "\n").encode())
            self.proc.stdin.flush()
        return p

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.lock:
                p = self.pending.get(msg.get("id"))
                if p is None:
                    continue
                if "started" in msg:
                    p.pid = int(msg["started"])
                    p.started.set()
                else:
                    p.status, p.cpu = int(msg["status"]), float(msg["cpu"])
                    self.pending.pop(msg["id"], None)
                    p.done.set()
        with self.lock:
            self.alive = False
            for p in self.pending.values():
                p.started.set()
                p.done.set()
            self.pending.clear()

    def close(self) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer | None:
    """The process-wide fork server, (re)started on demand; None if it cannot start."""
    global _server
    with _server_lock:
        if (
            _server is None
            or not _server.alive
            or _server.owner != os.getpid()
            or _server.proc.poll() is not None
        ):
            try:
                inherited = _server is not None and _server.owner != os.getpid()
                if _server is not None and not inherited:
                    _server.close()
                _server = _ForkServer()
                atexit.register(_server.close)
            except OSError:
                _server = None
        return _server


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_nonblocking(fd: int, cap: int = 1 << 20) -> bytes:
    os.set_blocking(fd, False)
    chunks, total = [], 0
    while total < cap:
        try:
            b = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not b:
            break
        chunks.append(b)
        total += len(b)
    return b"".join(chunks)


def _head(path: str, n: int) -> tuple[bytes, bool]:
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            return fh.read(n), size > n
    except FileNotFoundError:
        return b"", False


def _signal_of(raw: _Raw) -> int | None:
    st = raw.wait_status
    return os.WTERMSIG(st) if st is not None and os.WIFSIGNALED(st) else None


def classify_process_end(raw: _Raw, limits: SandboxLimits) -> tuple[str, str] | None:
    """A verdict from how the process ended, or None when it ended normally."""
    if raw.ready is None and not raw.timed_out:
        return (
            "sandbox_error",
            f"the sandbox did not start (wait status {raw.wait_status}): {raw.stderr[-500:]!r}",
        )
    if raw.timed_out:
        return "timeout", f"wall-clock limit of {limits.wall:.1f}s exceeded"
    sig = _signal_of(raw)
    if sig in _CPU_SIGNALS:
        return "timeout", f"CPU time limit of {limits.cpu_s:g}s exceeded ({raw.cpu_s:.2f}s used)"
    if sig == signal.SIGXFSZ:
        return "failed", f"output/file size limit of {limits.fsize_bytes} bytes exceeded"
    if sig is not None:
        return "crashed", f"killed by signal {signal.Signals(sig).name}"
    return None


def to_result(
    raw: _Raw,
    status: str,
    detail: str,
    n_passed: int = 0,
    n_total: int = 0,
    outcomes: tuple[str, ...] | None = None,
) -> ExecResult:
    """`outcomes` defaults to the per-assert outcomes the runner streamed."""
    assert status in STATUSES, status
    return ExecResult(
        passed=status == "passed",
        status=status,
        n_passed=n_passed,
        n_total=n_total,
        stdout=raw.stdout.decode("utf-8", "replace"),
        stderr=raw.stderr.decode("utf-8", "replace"),
        truncated=raw.truncated,
        detail=detail[:1000],
        wall_s=raw.wall_s,
        isolation=dict(raw.ready or {}),
        outcomes=raw.outcomes if outcomes is None else outcomes,
    )


def sandbox_error(detail: str) -> ExecResult:
    return ExecResult(passed=False, status="sandbox_error", detail=detail[:1000])
