"""In-sandbox runner. Two ways in, the same job inside:

- `python -I -S -B runner.py RESULT_FD`: one job; the host sends two length-prefixed JSON
  frames on stdin, the job and then the tests.
- `python -I -S -B runner.py --zygote`: a fork server. It imports everything once, then for
  each job directory named on stdin forks a child that becomes the job's process (its own
  session), and reports the child's pid, then its wait status and CPU time. Forking this
  small process costs far less than starting an interpreter per execution.

The job confines itself (`confine.py`) before any untrusted code runs. Function mode runs the
program in a forked child ("A") and the tests in this process ("B"); tests reach the
program's functions through plain-data proxies (`wire.py`), so nothing the program does can
make a test pass: a rigged ``__eq__`` never leaves A, ``sys.exit(0)``/``os._exit(0)`` in A only
ends A, and A never holds the tests (read after the fork) nor the result channel.
Stdio mode runs the program here; the host compares its stdout, so there is nothing to forge.
Standard library only (it runs without site-packages).
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import json
import os
import select
import signal
import sys
import traceback


def _sibling(name: str):
    """Load a sibling file by path: this directory is never put on sys.path, so the
    program's imports cannot pick up our modules."""
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location(f"_cotrl_sandbox_{name}", os.path.join(here, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


_wire = _sibling("wire")
_confine = _sibling("confine")
Channel, Remote, RemoteDied = _wire.Channel, _wire.Remote, _wire.RemoteDied
encode, decode, read_frame, write_frame = _wire.encode, _wire.decode, _wire.read_frame, _wire.write_frame
confine, install_audit_hook = _confine.confine, _confine.install_audit_hook
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4

# ----------------------------------------------------------------------------- the two modes


def run_stdio(job: dict, result_fd: int) -> None:
    path = os.path.join(job["workdir"], ".stdin")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(job.get("stdin") or "")
    fd = os.open(path, os.O_RDONLY)
    os.unlink(path)
    os.dup2(fd, 0)
    os.close(fd)
    os.close(result_fd)
    install_audit_hook(job["workdir"], job["limits"].get("nproc"))
    code = compile(job["program"], "<program>", "exec")
    exec(code, {"__name__": "__main__", "__builtins__": builtins})  # noqa: S102 - this is the sandbox


def serve_program(job: dict, rfd: int, wfd: int, libc) -> None:
    """Process A: run the program, then answer calls from the tests until the pipe closes."""
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the test process
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    install_audit_hook(job["workdir"], job["limits"].get("nproc"))
    objects: list = []
    try:
        ns: dict = {"__name__": "solution", "__builtins__": builtins}
        exec(compile(job["program"], "<program>", "exec"), ns)  # noqa: S102
        names = {}
        for k, v in ns.items():
            if k.startswith("__"):
                continue
            try:
                names[k] = encode(v, objects)
            except (TypeError, ValueError):
                continue
        write_frame(wfd, ["ready", names])
    except BaseException as exc:  # noqa: BLE001 - report any failure of the program at import
        write_frame(wfd, ["crashed", f"{type(exc).__name__}: {exc}"[:2000]])
        os._exit(1)
    while True:
        try:
            op, rid, *rest = read_frame(rfd)
        except EOFError:
            os._exit(0)
        try:
            target = objects[rid]
            if op == "call":
                value = target(*decode(rest[0], objects.__getitem__), **decode(rest[1], objects.__getitem__))
            elif op == "getattr":
                value = getattr(target, rest[0])
            elif op == "list":
                value = list(target)
            elif op == "len":
                value = len(target)
            elif op == "getitem":
                value = target[decode(rest[0], objects.__getitem__)]
            else:
                value = repr(target)[:200]
            reply = ["ok", encode(value, objects)]
        except BaseException as exc:  # noqa: BLE001 - every failure is a failed call, never a crash of A
            reply = ["err", [type(exc).__name__, str(exc)[:500]]]
        write_frame(wfd, reply)


def run_function_tests(job: dict, libc, result_fd: int, tests_fd: int) -> dict:
    """Process B: fork the program's process, then read and run the tests against it."""
    to_a_r, to_a_w = os.pipe()
    to_b_r, to_b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(result_fd)
        if tests_fd > 0:
            os.close(tests_fd)
        os.close(to_a_w)
        os.close(to_b_r)
        try:
            serve_program(job, to_a_r, to_b_w, libc)
        finally:
            os._exit(1)
    os.close(to_a_r)
    os.close(to_b_w)
    tests = read_frame(tests_fd)  # only now: A never holds the tests
    chan = Channel(to_b_r, to_a_w)
    fds = (to_b_r, to_a_w)
    try:
        first = read_frame(to_b_r)
    except (EOFError, ValueError):
        first = ["crashed", "the program's process ended before it was ready"]
    if first[0] != "ready":
        return _finish(pid, {"status": "crashed", "n_passed": 0, "n_total": 0, "detail": str(first[1])}, fds)
    install_audit_hook(job["workdir"], job["limits"].get("nproc"))
    ns: dict = {"__name__": "__tests__", "__builtins__": builtins}
    ns.update({k: decode(v, lambda rid: Remote(rid, chan)) for k, v in first[1].items()})
    entry = job.get("entry_point")
    if job.get("trusted_prefix"):
        # The problem's own code (e.g. a HumanEval prompt's helpers) comes from the dataset,
        # not from the program: a program that redefines a helper the tests call cannot rig it.
        trusted: dict = {"__name__": "__tests__", "__builtins__": builtins}
        try:
            exec(compile(job["trusted_prefix"], "<prefix>", "exec"), trusted)  # noqa: S102
        except Exception as exc:  # noqa: BLE001 - a prefix that does not run on its own is skipped
            trusted = {"__prefix_error__": repr(exc)}
        ns.update({k: v for k, v in trusted.items() if not k.startswith("__") and k != entry})
    if entry:
        if entry not in ns:
            return _finish(
                pid,
                {
                    "status": "failed",
                    "n_passed": 0,
                    "n_total": 1,
                    "detail": f"the program does not define {entry!r}",
                },
                fds,
            )
        ns["candidate"] = ns[entry]

    def report(k: int, outcome: str) -> None:
        os.write(result_fd, (json.dumps({"outcome": [k, outcome]}) + "\n").encode())

    return _finish(pid, _run_statements(str(tests), ns, entry, report), fds)


def _run_statements(tests: str, ns: dict, entry: str | None, report=None) -> dict:
    """Each top-level assert is one test; a HumanEval `check(candidate)` is one test.

    `report(k, outcome)` is called as the k-th assert ends ("passed", or the name of the
    exception it raised): the host keeps these even when a later test times out, so the
    tests that ran still count."""
    tree = ast.parse(tests)
    n_pass = n_total = 0
    first_failure = ""
    calls = list(tree.body)
    k = -1  # index of the current assert, for `report`
    for node in calls:
        is_test = isinstance(node, ast.Assert)
        n_total += is_test
        k += is_test
        try:
            exec(compile(ast.Module([node], []), "<tests>", "exec"), ns)  # noqa: S102
            n_pass += is_test
            if is_test and report is not None:
                report(k, "passed")
        except RemoteDied as exc:
            if is_test and report is not None:
                report(k, "RemoteDied")
            return {
                "status": "program_died",
                "n_passed": n_pass,
                "n_total": max(n_total, 1),
                "detail": f"the program's process ended during the tests ({exc})",
            }
        except Exception as exc:  # noqa: BLE001 - a failing or erroring statement fails the run
            if is_test and report is not None:
                report(k, type(exc).__name__)
            n_total += not is_test
            first_failure = first_failure or f"line {node.lineno}: {_describe(exc)}"
    if entry and callable(ns.get("check")):
        n_total += 1
        try:
            ns["check"](ns["candidate"])
            n_pass += 1
        except RemoteDied as exc:
            return {
                "status": "program_died",
                "n_passed": n_pass,
                "n_total": n_total,
                "detail": f"the program's process ended during the tests ({exc})",
            }
        except Exception as exc:  # noqa: BLE001
            first_failure = first_failure or f"check({entry}): {_describe(exc)}"
    if n_total == 0:
        return {
            "status": "no_tests",
            "n_passed": 0,
            "n_total": 0,
            "detail": "the tests contain no assert or check()",
        }
    status = "passed" if n_pass == n_total else "failed"
    return {"status": status, "n_passed": n_pass, "n_total": n_total, "detail": first_failure}


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = next((f" (tests line {f.lineno})" for f in reversed(tb) if f.filename == "<tests>"), "")
    return (text + where)[:500]


def _finish(pid: int, result: dict, fds: tuple[int, ...]) -> dict:
    """Close the channel, then learn how A ended (a CPU-limit kill turns a death into a timeout)."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    if result["status"] in ("program_died", "crashed"):
        _, wstatus = os.waitpid(pid, 0)
        if os.WIFSIGNALED(wstatus) and os.WTERMSIG(wstatus) in (signal.SIGXCPU, signal.SIGKILL):
            result["status"] = "timeout"
            result["detail"] = "the program exceeded its CPU time limit"
        elif os.WIFSIGNALED(wstatus) and os.WTERMSIG(wstatus) == signal.SIGXFSZ:
            result["status"] = "failed"
            result["detail"] = "the program exceeded the output/file size limit"
        elif result["status"] == "program_died":
            result["status"] = "failed"
    result["a_pid"] = pid
    return result


def run_job(job: dict, libc, result_fd: int, tests_fd: int) -> None:
    """Confine, then run the job; function mode writes its verdict to `result_fd`."""
    os.chdir(job["workdir"])
    layers = confine(job, libc)
    os.chdir(job["workdir"])  # again: the old cwd points into the now read-only parent mount
    if libc is not None:
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # A cannot reach our fds through /proc
    os.write(result_fd, (json.dumps({"ready": layers}) + "\n").encode())
    if job["mode"] == "stdio":
        os.close(tests_fd) if tests_fd > 2 else None
        run_stdio(job, result_fd)
        return
    result = run_function_tests(job, libc, result_fd, tests_fd)
    os.write(result_fd, (json.dumps({"result": result}) + "\n").encode())


def _libc_or_none():
    try:
        return _confine._libc()
    except OSError:
        return None


def main_single(result_fd: int) -> None:
    sys.set_int_max_str_digits(0)
    job = read_frame(0)
    assert isinstance(job, dict)
    run_job(job, _libc_or_none(), result_fd, 0)
    if job["mode"] != "stdio":
        os._exit(0)


def main_zygote() -> None:
    """Serve jobs: one JSON line in ({"id", "root"}), forks out; replies are JSON lines."""
    libc = _libc_or_none()
    if libc is not None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # never outlive the host
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    jobs: dict[int, object] = {}
    buf = b""

    def reply(obj: dict) -> None:
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(1, data) :]

    while True:
        try:
            ready = select.select([0, wake_r], [], [])[0]
        except InterruptedError:
            continue
        if wake_r in ready:
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
            while True:
                try:
                    pid, status, usage = os.wait4(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                reply(
                    {
                        "id": jobs.pop(pid, None),
                        "pid": pid,
                        "status": status,
                        "cpu": usage.ru_utime + usage.ru_stime,
                    }
                )
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:
                for pid in jobs:
                    _killpg(pid)
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _zygote_child(cmd["root"], libc, (0, 1, wake_r, wake_w))
                jobs[pid] = cmd["id"]
                reply({"id": cmd["id"], "started": pid})


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def _zygote_child(root: str, libc, zygote_fds: tuple[int, ...]) -> None:
    """Become the job's process: own session, files as stdio, then the same job as main_single."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        for fd in zygote_fds:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(os.path.join(root, "stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(os.path.join(root, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for src, dst in ((null, 0), (out, 1), (err, 2)):
            if src != dst:
                os.dup2(src, dst)
                os.close(src)
        result_fd = os.open(os.path.join(root, "result"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(os.path.join(root, "job.json"), encoding="utf-8") as fh:
            job = json.load(fh)
        tests_fd = -1
        tests_path = os.path.join(root, "tests.json")
        if os.path.exists(tests_path):
            tests_fd = os.open(tests_path, os.O_RDONLY)
            os.unlink(tests_path)  # the program can never open it by name
        sys.set_int_max_str_digits(0)
        code = 0
        run_job(job, libc, result_fd, tests_fd)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the program's uncaught error, as Python would print it
        traceback.print_exc()
        code = 1
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except BaseException:  # noqa: BLE001
                pass
        os._exit(code)


if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        main_zygote()
    else:
        main_single(int(sys.argv[1]))
