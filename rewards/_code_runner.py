"""In-sandbox runner, started by `rewards.code_sandbox` as `python -I -S -B _code_runner.py`.

Standard library only (it runs without site-packages). The host sends two length-prefixed
JSON frames on stdin: the job (mode, program, limits, ...) and then the tests. The runner
confines itself (rlimits, new network + mount namespaces where the kernel allows, dropped
capabilities, an audit hook that refuses sockets, process creation, ctypes and file writes
outside the work dir) before any untrusted code runs.

Function mode runs the program in a forked child ("A") and the tests in this process ("B").
Tests reach the program's functions through proxies that carry only plain data (ints,
strings, lists, ...) across a pipe, so nothing the program does can make a test pass: an
object with a rigged ``__eq__`` never leaves A, ``sys.exit(0)``/``os._exit(0)`` in A only ends
A, and A never holds the tests (they are read after the fork) nor the result pipe (fd 3).
Stdio mode runs the program here; the host compares its stdout, so there is nothing to forge.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import resource
import signal
import sys
import traceback

RESULT_FD = 3
MAX_FRAME = 64 << 20
_BUILTIN_EXC = {n: e for n, e in vars(builtins).items() if isinstance(e, type) and issubclass(e, BaseException)}

# ----------------------------------------------------------------------------- framing


def _read_exact(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            raise EOFError("pipe closed")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def read_frame(fd: int) -> object:
    size = int.from_bytes(_read_exact(fd, 8), "little")
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes exceeds {MAX_FRAME}")
    return json.loads(_read_exact(fd, size))


def write_frame(fd: int, obj: object) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_FRAME:
        raise ValueError(f"value of {len(data)} bytes is too large to return")
    data = len(data).to_bytes(8, "little") + data
    while data:
        data = data[os.write(fd, data):]


# ----------------------------------------------------------------------------- plain-data codec
# Only exact builtin types cross the pipe; anything else (a subclass, a custom object) stays in
# A and is represented by a reference whose comparisons raise.

_SCALARS = (type(None), bool, int, float, str)


def encode(x: object, refs: list | None = None, depth: int = 0) -> object:
    if depth > 200:
        raise ValueError("value nested too deeply")
    t = type(x)
    if t in _SCALARS:
        return x
    if t is list or t is tuple or t is set or t is frozenset:
        items = sorted(x, key=repr) if t in (set, frozenset) else x
        return ["LTSF"[(list, tuple, set, frozenset).index(t)], [encode(v, refs, depth + 1) for v in items]]
    if t is dict:
        return ["D", [[encode(k, refs, depth + 1), encode(v, refs, depth + 1)] for k, v in x.items()]]
    if t is bytes:
        return ["B", x.hex()]
    if t is complex:
        return ["C", x.real, x.imag]
    if t is Remote:
        return ["R", x._rid]
    if refs is None:
        raise TypeError(f"cannot pass a {t.__name__} to the program (only plain data)")
    refs.append(x)
    return ["R", len(refs) - 1]


def decode(x: object, make_ref) -> object:
    if not isinstance(x, list):
        return x
    tag, body = x[0], x[1] if len(x) > 1 else None
    if tag == "L":
        return [decode(v, make_ref) for v in body]
    if tag == "T":
        return tuple(decode(v, make_ref) for v in body)
    if tag == "S":
        return {decode(v, make_ref) for v in body}
    if tag == "F":
        return frozenset(decode(v, make_ref) for v in body)
    if tag == "D":
        return {decode(k, make_ref): decode(v, make_ref) for k, v in body}
    if tag == "B":
        return bytes.fromhex(body)
    if tag == "C":
        return complex(x[1], x[2])
    if tag == "R":
        return make_ref(int(body))
    raise ValueError(f"bad tag {tag!r}")


# ----------------------------------------------------------------------------- confinement


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def confine(job: dict, libc) -> dict:
    """Limits and namespaces; returns which layers took effect (reported to the host)."""
    lim = job["limits"]
    cpu = max(1, int(-(-float(lim["cpu_s"]) // 1)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for name, value in (("RLIMIT_AS", lim["mem_bytes"]), ("RLIMIT_FSIZE", lim["fsize_bytes"]),
                        ("RLIMIT_NOFILE", lim["nofile"]), ("RLIMIT_CORE", 0)):
        if value:
            resource.setrlimit(getattr(resource, name), (value, value))
    layers = {"netns": False, "readonly_fs": False, "caps_dropped": False}
    if job.get("namespaces", True) and libc is not None:
        layers.update(_namespaces(libc, job["workdir"]))
    return layers


CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1, 2, 4, 8, 32, 4096, 16384, 1 << 18)


def _namespaces(libc, workdir: str) -> dict:
    out = {"netns": False, "readonly_fs": False, "caps_dropped": False}
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET | CLONE_NEWNS | (0 if uid == 0 else CLONE_NEWUSER)
    if libc.unshare(flags) != 0:
        if libc.unshare(CLONE_NEWNET | (0 if uid == 0 else CLONE_NEWUSER)) != 0:
            return out
        flags &= ~CLONE_NEWNS
    out["netns"] = True
    if uid != 0:  # map ourselves so file ownership looks unchanged inside the namespace
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                           ("/proc/self/gid_map", f"{gid} {gid} 1")):
            try:
                with open(path, "w") as fh:
                    fh.write(text)
            except OSError:
                pass
    if flags & CLONE_NEWNS:
        out["readonly_fs"] = _readonly_mounts(libc, workdir)
    out["caps_dropped"] = _drop_caps(libc)
    return out


def _readonly_mounts(libc, workdir: str) -> bool:
    """Every mount read-only except the work dir (bind-mounted onto itself first)."""
    if libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    wd = workdir.encode()
    if libc.mount(wd, wd, None, MS_BIND, None) != 0:
        return False
    ok = True
    with open("/proc/self/mountinfo") as fh:
        rows = [line.split() for line in fh]
    for row in rows:
        point = row[4].encode().decode("unicode_escape").encode()
        if point == wd:
            continue
        opts = set(row[5].split(","))
        extra = (MS_NOSUID if "nosuid" in opts else 0) | (MS_NODEV if "nodev" in opts else 0) | (
            MS_NOEXEC if "noexec" in opts else 0)
        if libc.mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | extra, None) != 0:
            ok = ok and row[4] not in ("/", "/tmp", "/home", "/work", "/root")
    return ok


def _drop_caps(libc) -> bool:
    import ctypes

    PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 38, 24
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    for cap in range(64):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    return libc.capset(header, data) == 0


_PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.replace": (0, 1),
                "os.chmod": (0,), "os.chown": (0,), "os.symlink": (0, 1), "os.link": (0, 1), "os.truncate": (0,),
                "os.utime": (0,), "shutil.rmtree": (0,), "os.mkfifo": (0,), "os.mknod": (0,), "os.chroot": (0,)}
_BLOCKED_PREFIX = ("socket.", "ctypes.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
                   "subprocess.", "os.system", "os.kill", "os.killpg", "signal.pthread_kill", "os.setsid",
                   "os.setpgid", "sys.remote_exec", "winreg", "mmap.")
_BLOCKED_IMPORTS = {"_posixsubprocess", "_ctypes", "ctypes", "_xxsubinterpreters", "_socket", "socket", "mmap"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_audit_hook(workdir: str, nproc: int | None = None) -> None:
    """Refuse what a test program never needs; writes only inside `workdir`. Cannot be removed.

    Also caps the process count (RLIMIT_NPROC) just before untrusted code: set earlier it
    could stop the runner's own fork when the user already runs many processes.
    """
    if nproc:
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        except (ValueError, OSError):
            pass
    wd = os.path.realpath(workdir)
    allowed_write = (wd + os.sep, "/dev/null")

    def inside(path: object) -> bool:
        if isinstance(path, int) or path is None:
            return True
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        real = os.path.realpath(str(path))
        return real == wd or real.startswith(allowed_write)

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_BLOCKED_PREFIX):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "import" and args and args[0] in _BLOCKED_IMPORTS:
            raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
        if event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} is outside the work dir")
        elif event in _PATH_EVENTS:
            for i in _PATH_EVENTS[event]:
                if i < len(args) and not inside(args[i]):
                    raise PermissionError(f"sandbox: {event} on {args[i]!r} is outside the work dir")

    for name in list(sys.modules):
        if name in _BLOCKED_IMPORTS:
            del sys.modules[name]
    sys.addaudithook(hook)


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


class RemoteDied(Exception):
    """The program's process ended while a test was talking to it."""


class Remote:
    """A handle on an object that lives in the program's process."""

    __slots__ = ("_rid", "_chan")

    def __init__(self, rid: int, chan) -> None:
        object.__setattr__(self, "_rid", rid)
        object.__setattr__(self, "_chan", chan)

    def __call__(self, *args, **kwargs):
        return self._chan.ask("call", self._rid, encode(list(args)), encode(kwargs))

    def __getattr__(self, name: str):
        return self._chan.ask("getattr", self._rid, name)

    def __iter__(self):
        return iter(self._chan.ask("list", self._rid))

    def __len__(self) -> int:
        return self._chan.ask("len", self._rid)

    def __getitem__(self, key):
        return self._chan.ask("getitem", self._rid, encode(key))

    def __repr__(self) -> str:
        return f"<program object {self._chan.ask('repr', self._rid)}>"

    def _no_compare(self, other):
        raise TypeError("a test compared a non-data object returned by the program")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __hash__ = _no_compare


class Channel:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd

    def ask(self, op: str, *args):
        try:
            write_frame(self.wfd, [op, *args])
            reply = read_frame(self.rfd)
        except (EOFError, BrokenPipeError, OSError) as exc:
            raise RemoteDied(str(exc)) from None
        if not isinstance(reply, list) or len(reply) != 2:
            raise RemoteDied("malformed reply")
        if reply[0] == "ok":
            return decode(reply[1], lambda rid: Remote(rid, self))
        etype, msg = (list(reply[1]) + ["", ""])[:2]
        exc_type = _BUILTIN_EXC.get(str(etype), Exception)
        if not issubclass(exc_type, Exception) or exc_type is AssertionError:
            exc_type = RuntimeError  # the program cannot fail a test "on purpose" in a way that counts as a pass
        raise exc_type(f"{etype}: {str(msg)[:500]}")


def serve_program(job: dict, rfd: int, wfd: int, libc) -> None:
    """Process A: run the program, then answer calls from the tests until the pipe closes."""
    if libc is not None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the test process
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


def run_function_tests(job: dict, libc) -> dict:
    """Process B: fork the program's process, then read and run the tests against it."""
    to_a_r, to_a_w = os.pipe()
    to_b_r, to_b_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(RESULT_FD)
        os.close(to_a_w)
        os.close(to_b_r)
        try:
            serve_program(job, to_a_r, to_b_w, libc)
        finally:
            os._exit(1)
    os.close(to_a_r)
    os.close(to_b_w)
    tests = read_frame(0)  # only now: A never holds the tests
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
    if entry:
        if entry not in ns:
            return _finish(pid, {"status": "failed", "n_passed": 0, "n_total": 1,
                                 "detail": f"the program does not define {entry!r}"}, fds)
        ns["candidate"] = ns[entry]
    return _finish(pid, _run_statements(str(tests), ns, entry), fds)


def _run_statements(tests: str, ns: dict, entry: str | None) -> dict:
    """Each top-level assert is one test; a HumanEval `check(candidate)` is one test."""
    tree = ast.parse(tests)
    n_pass = n_total = 0
    first_failure = ""
    calls = list(tree.body)
    for node in calls:
        is_test = isinstance(node, ast.Assert)
        n_total += is_test
        try:
            exec(compile(ast.Module([node], []), "<tests>", "exec"), ns)  # noqa: S102
            n_pass += is_test
        except RemoteDied as exc:
            return {"status": "program_died", "n_passed": n_pass, "n_total": max(n_total, 1),
                    "detail": f"the program's process ended during the tests ({exc})"}
        except Exception as exc:  # noqa: BLE001 - a failing or erroring statement fails the run
            n_total += not is_test
            first_failure = first_failure or f"line {node.lineno}: {_describe(exc)}"
    if entry and callable(ns.get("check")):
        n_total += 1
        try:
            ns["check"](ns["candidate"])
            n_pass += 1
        except RemoteDied as exc:
            return {"status": "program_died", "n_passed": n_pass, "n_total": n_total,
                    "detail": f"the program's process ended during the tests ({exc})"}
        except Exception as exc:  # noqa: BLE001
            first_failure = first_failure or f"check({entry}): {_describe(exc)}"
    if n_total == 0:
        return {"status": "no_tests", "n_passed": 0, "n_total": 0, "detail": "the tests contain no assert or check()"}
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


def main() -> None:
    global RESULT_FD
    RESULT_FD = int(sys.argv[1])
    sys.set_int_max_str_digits(0)
    job = read_frame(0)
    assert isinstance(job, dict)
    os.chdir(job["workdir"])
    try:
        libc = _libc()
    except OSError:
        libc = None
    layers = confine(job, libc)
    os.chdir(job["workdir"])  # again: the old cwd points into the now read-only parent mount
    os.write(RESULT_FD, (json.dumps({"ready": layers}) + "\n").encode())
    if job["mode"] == "stdio":
        run_stdio(job, RESULT_FD)
        return
    result = run_function_tests(job, libc)
    os.write(RESULT_FD, (json.dumps({"result": result}) + "\n").encode())
    os._exit(0)


if __name__ == "__main__":
    main()
