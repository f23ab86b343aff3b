"""A persistent verification worker: `python -m rewards.math.worker`.

Reads length-prefixed JSON requests on stdin and answers on the original stdout; anything
sympy or the parser prints goes to stderr instead. Imports sympy once, then serves many
requests, so a verification costs a pipe round trip rather than a process start. The host
(`rewards.math.pool`) kills it when a request runs past its timeout.
"""

from __future__ import annotations

import json
import os
import resource
import sys


def _read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def main() -> None:
    mem = int(os.environ.get("COTRL_MATH_WORKER_MEM", str(2 << 30)))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints cannot corrupt the protocol
    sys.set_int_max_str_digits(100_000)
    from rewards.math.equiv import check

    def send(obj: object) -> None:
        data = json.dumps(obj).encode()
        data = len(data).to_bytes(8, "little") + data
        while data:
            data = data[os.write(out_fd, data) :]

    send({"ready": True})
    while True:
        try:
            size = int.from_bytes(_read_exact(0, 8), "little")
            req = json.loads(_read_exact(0, size))
        except EOFError:
            return
        try:
            res = check(
                req["gold"],
                req["pred"],
                float(req.get("rel_tol", 1e-9)),
                tuple(req.get("question_spans", ())),
                float(req.get("abs_tol", 0.0)),
            )
        except MemoryError:  # the gold is trusted data: blame the prediction
            res = {"status": "unparsable", "correct": False, "detail": "out of memory"}
        except RecursionError:
            res = {"status": "unparsable", "correct": False, "detail": "expression nested too deeply"}
        except Exception as exc:  # noqa: BLE001 - one bad case never ends the worker
            res = {"status": "error", "correct": False, "detail": f"{type(exc).__name__}: {str(exc)[:200]}"}
        send(res)


if __name__ == "__main__":
    main()
