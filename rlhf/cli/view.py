"""`cotrl view RUN [RUN ...] [--port N] [--host H]`: the monitoring panel (`rlhf.view`) in a browser."""

from __future__ import annotations

import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "view", help="a live web panel over run directories: curves, hardware, stability, samples"
    )
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help="run directories (or a directory of runs, e.g. runs/demo)"
    )
    p.add_argument("--port", type=int, default=8765, help="port to listen on (0: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--poll-ms", type=int, default=2000, help="how often the page asks for new records")
    p.set_defaults(func=run)


def run(args) -> int:
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in 0..65535, got {args.port}")
    if args.poll_ms < 100:
        raise ValueError(f"--poll-ms must be >= 100, got {args.poll_ms}")
    from rlhf.view.runs import find_runs

    runs = find_runs(args.runs)  # a path that is not a run: one line, exit 2 (rlhf.cli.main)
    import socket

    import uvicorn

    from rlhf.view.server import create_app

    app = create_app(runs, poll_ms=args.poll_ms)
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        raise ValueError(f"--host {args.host} --port {args.port}: cannot listen ({exc.strerror})") from None
    host, port = sock.getsockname()[:2]
    names = ", ".join(f"{r.name} ({r.root})" for r in runs)
    print(f"cotrl view: http://{host}:{port}/ following {names}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
