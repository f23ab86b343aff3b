"""Hostile programs: never an exception into the caller, never past the timeout, never a pass,
and the host untouched. Each case runs with a small CPU budget so the suite stays bounded."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from rewards.code.verify import SandboxLimits, run_stdio, run_tests

FAST = SandboxLimits(cpu_s=1.0, wall_s=4.0, mem_bytes=512 << 20, fsize_bytes=1 << 20)
SHORT_WALL = SandboxLimits(cpu_s=1.0, wall_s=1.0)
TEST_ADD = "assert add(1, 2) == 3\n"
CHECK_ADD = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"


def run(program: str, tests: str = TEST_ADD, entry_point: str | None = None):
    t0 = time.perf_counter()
    res = run_tests(program, tests, entry_point, limits=FAST)
    assert time.perf_counter() - t0 < FAST.wall + 2.0
    assert not res.passed and res.status != "passed"
    return res


def test_fork_bomb_is_refused():
    res = run("import os\nwhile True:\n    os.fork()\n")
    assert res.status == "crashed" and "fork" in res.detail


def test_subprocess_and_posixsubprocess_are_refused():
    run("import subprocess\nsubprocess.run(['true'])\ndef add(a, b):\n    return a + b\n")
    run("import _posixsubprocess\ndef add(a, b):\n    return a + b\n")
    run("import os\nos.system('true')\ndef add(a, b):\n    return a + b\n")


@pytest.mark.slow
def test_infinite_loop_is_a_timeout():
    assert run("def add(a, b):\n    while True:\n        pass\n").status == "timeout"
    assert run("while True:\n    pass\n").status == "timeout"


def test_sleeping_program_hits_the_wall_clock():
    t0 = time.perf_counter()
    res = run_tests("import time\ndef add(a, b):\n    time.sleep(60)\n", TEST_ADD, limits=SHORT_WALL)
    assert res.status == "timeout" and "wall-clock" in res.detail and time.perf_counter() - t0 < 4.0


def test_huge_allocation_fails_without_hurting_the_host():
    res = run("def add(a, b):\n    x = bytearray(1 << 40)\n    return a + b\n")
    assert res.status == "failed" and "MemoryError" in res.detail
    run("x = [0] * (1 << 40)\ndef add(a, b):\n    return a + b\n")


def test_writes_outside_the_work_dir_are_refused(tmp_path):
    target = tmp_path / "pwned.txt"
    for code in (
        f"open({str(target)!r}, 'w').write('x')",
        f"import os\nos.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)",
        f"import pathlib\npathlib.Path({str(target)!r}).touch()",
    ):
        run(code + "\ndef add(a, b):\n    return a + b\n")
        assert not target.exists()
    keep = tmp_path / "keep.txt"
    keep.write_text("data")
    run(f"import os\nos.remove({str(keep)!r})\ndef add(a, b):\n    return a + b\n")
    assert keep.read_text() == "data"


def test_writes_inside_the_work_dir_are_fine():
    prog = "open('scratch.txt', 'w').write('ok')\ndef add(a, b):\n    return a + b if open('scratch.txt').read() == 'ok' else 0\n"
    assert run_tests(prog, TEST_ADD, limits=FAST).passed


def test_sockets_are_refused():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    got = []
    threading.Thread(target=lambda: got.append(_accept(srv)), daemon=True).start()
    prog = (
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'leak')\n"
    )
    run(prog + "def add(a, b):\n    return a + b\n")
    time.sleep(0.2)
    srv.close()
    assert not [g for g in got if g]


def _accept(srv: socket.socket) -> bytes:
    try:
        srv.settimeout(3)
        conn, _ = srv.accept()
        return conn.recv(10)
    except OSError:
        return b""


def test_environment_secrets_are_not_visible(monkeypatch):
    monkeypatch.setenv("COTRL_SECRET_TOKEN", "hunter2")
    prog = "import os\ndef add(a, b):\n    return a + b if 'hunter2' in str(os.environ) else -1\n"
    assert run_tests(prog, TEST_ADD, limits=FAST).status == "failed"
    stdio = run_stdio(
        "import os\nprint(os.environ.get('COTRL_SECRET_TOKEN'))\n", [("", "hunter2")], limits=FAST
    )
    assert stdio.status == "failed" and "hunter2" not in stdio.stdout


@pytest.mark.parametrize(
    "exit_call", ["import sys\nsys.exit(0)", "import os\nos._exit(0)", "raise SystemExit(0)"]
)
def test_exit_before_the_asserts_is_not_a_pass(exit_call):
    run(exit_call + "\ndef add(a, b):\n    return 0\n")
    run("def add(a, b):\n    " + exit_call.replace("\n", "\n    ") + "\n")
    run(exit_call + "\ndef add(a, b):\n    return 0\n", CHECK_ADD, entry_point="add")


def test_exit_in_stdio_mode_without_output_fails():
    assert not run_stdio("import os\nos._exit(0)\nprint(3)\n", [("1 2\n", "3\n")], limits=FAST).passed


def test_eq_override_cannot_pass_asserts():
    rigged = "class Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
    run(rigged + "def add(a, b):\n    return Any()\n")
    run(rigged + "def add(a, b):\n    return Any()\n", CHECK_ADD, entry_point="add")
    sub = "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
    run(sub + "def add(a, b):\n    return I(0)\n")


def test_builtins_tampering_does_not_reach_the_tests():
    prog = "import builtins\nbuiltins.abs = lambda x: 0\ndef add(a, b):\n    return 0\n"
    run(prog, "assert abs(add(1, 2) - 3) < 1e-9\n")


def test_megabytes_of_output_are_capped():
    res = run("print('x' * 50_000_000)\ndef add(a, b):\n    return a + b\n")
    assert res.status in ("failed", "crashed") and len(res.stdout) <= FAST.keep_output_bytes and res.truncated
    res = run("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n")
    assert len(res.stdout) <= FAST.keep_output_bytes


def test_binary_garbage_and_odd_unicode_are_handled():
    garbage = os.urandom(2000).decode("latin-1")
    for prog in (garbage, "\x00\x01\x02", "def add(a, b):\n    return '\u202e\U0001f600'\n", ""):
        res = run_tests(prog, TEST_ADD, limits=FAST)
        assert not res.passed and res.status in ("crashed", "failed")
    res = run_stdio("import sys\nsys.stdout.buffer.write(bytes(range(256)))\n", [("", "x")], limits=FAST)
    assert res.status == "failed"


def test_killing_the_test_process_is_refused():
    run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef add(a, b):\n    return a + b\n")


def test_ctypes_is_refused():
    run("import ctypes\ndef add(a, b):\n    return a + b\n")


def test_no_processes_left_behind():
    from rewards.code import sandbox as code_sandbox

    assert (
        run_tests("import time\ndef add(a, b):\n    time.sleep(30)\n", TEST_ADD, limits=SHORT_WALL).status
        == "timeout"
    )
    time.sleep(0.2)
    server = code_sandbox._server.proc.pid if code_sandbox._server is not None else -1
    leftovers = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != server:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    # this checkout's runner only: other checkouts on the machine may be testing too
                    if str(code_sandbox.RUNNER).encode() in fh.read() and _ours_or_orphaned(int(pid)):
                        leftovers.append(pid)
            except OSError:
                pass
    assert leftovers == []


def _ours_or_orphaned(pid: int) -> bool:
    """A runner started under this test process, or one whose parent is gone (reparented to init:
    what an escaped child looks like). A runner under another live process, such as the sandbox
    server of a parallel pytest worker, belongs to that process's tests."""

    def parent(p: int) -> int:
        with open(f"/proc/{p}/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])

    ppid = parent(pid)
    if ppid <= 1:
        return True
    while ppid > 1:
        if ppid == os.getpid():
            return True
        ppid = parent(ppid)
    return False


@pytest.mark.parametrize("namespaces", [True, False])
def test_fresh_interpreter_mode_and_audit_hook_alone(tmp_path, namespaces):
    """Without the fork server, and with the namespaces off (audit hook and rlimits only)."""
    lim = SandboxLimits(cpu_s=1.0, wall_s=4.0, fork_server=False, namespaces=namespaces)
    add = "def add(a, b):\n    return a + b\n"
    assert run_tests(add, TEST_ADD, limits=lim).passed
    assert run_tests("import os\nos._exit(0)\n" + add, TEST_ADD, limits=lim).status == "crashed"
    assert run_tests("import os\ndef add(a, b):\n    os._exit(0)\n", TEST_ADD, limits=lim).status == "failed"
    assert run_tests("while True:\n    pass\n", TEST_ADD, limits=lim).status == "timeout"
    target = tmp_path / "out.txt"
    res = run_tests(f"open({str(target)!r}, 'w').write('x')\n" + add, TEST_ADD, limits=lim)
    assert res.status == "crashed" and "PermissionError" in res.detail and not target.exists()
    res = run_tests("import socket\nsocket.socket()\n" + add, TEST_ADD, limits=lim)
    assert res.status == "crashed"
    assert run_stdio("print(input())", [("hi\n", "hi\n")], limits=lim).passed
    if namespaces:
        assert res.isolation["netns"] and res.isolation["readonly_fs"]
    else:
        assert not res.isolation["netns"]


def test_redefining_a_prompt_helper_cannot_rig_the_tests():
    """HumanEval/32 style: the tests call `poly` from the prompt; a completion that redefines
    it to return 0 must still fail, because the helper comes from the dataset's prompt."""
    prompt = (
        "def poly(xs, x):\n    return sum(c * x ** i for i, c in enumerate(xs))\n\n"
        'def find_zero(xs):\n    """A zero of the polynomial xs."""\n'
    )
    tests = "def check(candidate):\n    assert abs(poly([1, 2], candidate([1, 2]))) < 1e-6\n"
    honest = prompt + "    return -xs[0] / xs[1]\n"
    rigged = prompt + "    return 12345.0\n\ndef poly(xs, x):\n    return 0.0\n"
    assert run_tests(honest, tests, "find_zero", limits=FAST, trusted_prefix=prompt).passed
    res = run_tests(rigged, tests, "find_zero", limits=FAST, trusted_prefix=prompt)
    assert res.status == "failed"


def test_mount_and_network_layers_hold_on_their_own():
    """Check the namespace layers directly (not through the audit hook): inside, every mount
    but the work dir is read-only and the only network interface is a down loopback."""
    prog = (
        "import os\n"
        "mounts = {l.split()[4]: l.split()[5] for l in open('/proc/self/mountinfo')}\n"
        "print('root', mounts['/'].split(',')[0])\n"
        "print('work', mounts.get(os.getcwd(), '?').split(',')[0])\n"
        "print('ifaces', sorted(l.split(':')[0].strip() for l in open('/proc/self/net/dev').readlines()[2:]))\n"
    )
    res = run_stdio(prog, [("", "")], limits=FAST)
    if not (res.isolation.get("netns") and res.isolation.get("readonly_fs")):
        pytest.skip(f"the kernel refused the namespaces here: {res.isolation}")
    assert "root ro" in res.stdout and "work rw" in res.stdout
    assert "ifaces ['lo']" in res.stdout
