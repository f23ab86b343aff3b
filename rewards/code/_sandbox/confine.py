"""Confinement a sandbox process applies to itself before untrusted code runs: rlimits, new
network and mount namespaces (every mount read-only except the work dir), dropped
capabilities and no-new-privs, and an audit hook refusing sockets, process creation, ctypes,
signals to other processes and file writes outside the work dir. Standard library only.
"""

from __future__ import annotations

import os
import resource
import sys


def _libc():
    """The C library, when it has what confinement needs (Linux); OSError elsewhere."""
    import ctypes

    lib = ctypes.CDLL(None, use_errno=True)
    if not all(hasattr(lib, f) for f in ("unshare", "prctl", "mount", "capset")):
        raise OSError("no unshare/prctl/mount/capset in this C library")
    return lib


def confine(job: dict, libc) -> dict:
    """Limits and namespaces; returns which layers took effect (reported to the host)."""
    lim = job["limits"]
    cpu = max(1, int(-(-float(lim["cpu_s"]) // 1)))
    layers = {"netns": False, "readonly_fs": False, "caps_dropped": False, "rlimits": True}
    for name, soft, hard in (
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_AS", lim["mem_bytes"], lim["mem_bytes"]),
        ("RLIMIT_FSIZE", lim["fsize_bytes"], lim["fsize_bytes"]),
        ("RLIMIT_NOFILE", lim["nofile"], lim["nofile"]),
        ("RLIMIT_CORE", 0, 0),
    ):
        if soft is None or not hasattr(resource, name):
            continue
        kind = getattr(resource, name)
        try:
            _, cur_hard = resource.getrlimit(kind)
            cap = hard if cur_hard == resource.RLIM_INFINITY else min(hard, cur_hard)
            resource.setrlimit(kind, (min(soft, cap), cap))
        except (ValueError, OSError):
            layers["rlimits"] = False
    if job.get("namespaces", True) and libc is not None:
        layers.update(_namespaces(libc, job["workdir"]))
    return layers


CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    8,
    32,
    4096,
    16384,
    1 << 18,
)


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
        for path, text in (
            ("/proc/self/setgroups", "deny"),
            ("/proc/self/uid_map", f"{uid} {uid} 1"),
            ("/proc/self/gid_map", f"{gid} {gid} 1"),
        ):
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
        extra = (
            (MS_NOSUID if "nosuid" in opts else 0)
            | (MS_NODEV if "nodev" in opts else 0)
            | (MS_NOEXEC if "noexec" in opts else 0)
        )
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


_PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.symlink": (0, 1),
    "os.link": (0, 1),
    "os.truncate": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
    "os.chroot": (0,),
}
_BLOCKED_PREFIX = (
    "socket.",
    "ctypes.",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "subprocess.",
    "os.system",
    "os.kill",
    "os.killpg",
    "signal.pthread_kill",
    "os.setsid",
    "os.setpgid",
    "sys.remote_exec",
    "winreg",
    "mmap.",
)
_BLOCKED_IMPORTS = {
    "_posixsubprocess",
    "_ctypes",
    "ctypes",
    "_xxsubinterpreters",
    "_socket",
    "socket",
    "mmap",
}
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
                mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS
            )
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
