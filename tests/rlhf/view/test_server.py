"""The panel's server over real HTTP (uvicorn on a free port): JSON routes, offline assets, path safety."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest
import uvicorn

from rlhf.view.runs import find_runs
from rlhf.view.server import create_app


@pytest.fixture
def server(tmp_path):
    run = tmp_path / "runs" / "grpo"
    run.mkdir(parents=True)
    (run / "config.resolved.yaml").write_text("trainer: grpo\ntrain:\n  max_grad_norm: 1.0\n")
    (run / "metrics.jsonl").write_text(json.dumps({"step": 0, "reward_mean": 0.5}) + "\n")
    (run / "samples.jsonl").write_text(
        json.dumps(
            {"step": 0, "completion": "a b", "steps": [{"text": "a", "score": 0.0, "verdict": "wrong"}]}
        )
        + "\n"
    )
    (tmp_path / "runs" / "outside.txt").write_text("not served")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(create_app(find_runs([str(run)])), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    yield sock.getsockname()[1], run
    srv.should_exit = True
    thread.join(timeout=10)


def _get(port: int, path: str) -> tuple[int, bytes]:
    """A raw request: the path goes out exactly as written (no client-side `..` folding)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_routes_answer_with_the_runs_data(server):
    port, run = server
    status, body = _get(port, "/api/runs")
    assert status == 200
    [info] = json.loads(body)
    assert info["name"] == "grpo" and info["thresholds"]["grad_norm"]["value"] == 1.0
    status, body = _get(port, "/api/runs/0/metrics?offset=0")
    data = json.loads(body)
    assert data["records"] == [{"step": 0, "reward_mean": 0.5}]
    with (run / "metrics.jsonl").open("a") as fh:
        fh.write(json.dumps({"step": 1, "reward_mean": 0.7}) + "\n")
    data = json.loads(_get(port, f"/api/runs/0/metrics?offset={data['offset']}")[1])
    assert [r["step"] for r in data["records"]] == [1]
    assert json.loads(_get(port, "/api/runs/0/samples")[1])["records"][0]["steps"][0]["verdict"] == "wrong"


def test_the_page_and_its_charts_need_no_network(server):
    port, _ = server
    status, page = _get(port, "/")
    assert status == 200
    srcs = [s.split('"')[1] for s in page.decode().split("src=")[1:]]
    assert srcs and all(s.startswith("/static/") for s in srcs)  # nothing from a CDN
    status, js = _get(port, "/static/plotly.min.js")
    assert status == 200 and len(js) > 1_000_000 and b"plotly" in js[:2000].lower()


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/0/files/../../etc/passwd",
        "/api/runs/0/files/../../../../../../etc/passwd",
        "/api/runs/0/files/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/runs/0/files/%2Fetc%2Fpasswd",
        "/api/runs/0/files/../outside.txt",
        "/api/runs/0/files/..%2Foutside.txt",
        "/api/runs/1/files/metrics.jsonl",
        "/static/../../etc/passwd",
        "/static/runs.py",
        "/../../etc/passwd",
    ],
)
def test_nothing_outside_the_runs_is_served(server, path):
    port, _ = server
    status, body = _get(port, path)
    assert status == 404, (path, body[:200])
    assert b"root:" not in body and b"not served" not in body


def test_files_inside_the_run_are_served(server):
    port, _ = server
    status, body = _get(port, "/api/runs/0/files/metrics.jsonl")
    assert status == 200 and b"reward_mean" in body
