"""Framing and the plain-data codec between the sandbox's processes, and the proxy objects
the tests use to call into the program's process.

Only exact builtin types cross the pipe (ints, strings, lists, dicts, ...); anything else (a
subclass, an object with a rigged ``__eq__``) stays in the program's process and is seen by the
tests as a `Remote` whose comparisons raise. Standard library only.
"""

from __future__ import annotations

import builtins
import json
import os

MAX_FRAME = 64 << 20
_BUILTIN_EXC = {
    n: e for n, e in vars(builtins).items() if isinstance(e, type) and issubclass(e, BaseException)
}

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
        data = data[os.write(fd, data) :]


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
            exc_type = (
                RuntimeError  # the program cannot fail a test "on purpose" in a way that counts as a pass
            )
        raise exc_type(f"{etype}: {str(msg)[:500]}")
