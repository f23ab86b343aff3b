"""Two training processes, one vLLM server: only the leader pushes weights, the other waits for it.

The processes are real (a gloo group over 127.0.0.1, the trainer's own `ServerSampler`); the
server is a small recording HTTP endpoint on 127.0.0.1 that speaks the vLLM endpoints the
sampler uses (`/v1/models`, `/pause`, `/collective_rpc`, ...), so the test can count pushes and
see when each process went on. Its weight reload takes a fixed time, so a process that did not
wait would return before the reload ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.faults.common import env, free_port

RELOAD_S = 1.0

WORKER = r"""
import json, sys, time
from pathlib import Path
from accelerate import PartialState
state = PartialState(cpu=True)
from transformers import AutoModelForCausalLM, AutoTokenizer
from rlhf.config.loader import from_dict
from rlhf.config.recipe import RunConfig
from rlhf.rollout.vllm_server import make_server_sampler
model_dir, url, out = sys.argv[1:4]
cfg = from_dict(RunConfig, {
    "trainer": "grpo", "run": {"output_dir": str(Path(out).parent / "run")}, "model": {"path": model_dir},
    "rollout": {"backend": "vllm"},
    "vllm": {"mode": "server", "server_url": url, "probe_interval": 0, "server_timeout_s": 60},
})
model, tok = AutoModelForCausalLM.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
(Path(out).parent / "run").mkdir(exist_ok=True)  # where vllm_sync.jsonl goes
sampler = make_server_sampler(model, tok, cfg)  # the first push
returned = [time.time()]
sampler.sync_weights(model)  # the second
returned.append(time.time())
Path(out).write_text(json.dumps({"rank": state.process_index, "returned": returned}))
"""


class Recorder(BaseHTTPRequestHandler):
    calls: list[tuple[str, float, float]] = []  # (path, start, end)
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({"data": [{"id": "tiny", "max_model_len": 512}]})

    def do_POST(self) -> None:
        start = time.time()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/collective_rpc":
            time.sleep(RELOAD_S)
        with self.lock:
            self.calls.append((self.path, start, time.time()))
        self._answer({})


@pytest.mark.slow
def test_only_the_leader_pushes_and_the_other_process_waits(tiny_model_dir, tmp_path, repo_root):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Recorder.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    port = str(free_port())
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(tiny_model_dir), url, str(tmp_path / f"rank{r}.json")],
                cwd=repo_root,
                env=env(
                    repo_root,
                    WORLD_SIZE="2",
                    RANK=str(r),
                    LOCAL_RANK=str(r),
                    MASTER_ADDR="127.0.0.1",
                    MASTER_PORT=port,
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for r in range(2)
        ]
        for p in procs:
            _, err = p.communicate(timeout=240)
            assert p.returncode == 0, err[-2000:]
    finally:
        server.shutdown()
    reloads = [c for c in Recorder.calls if c[0] == "/collective_rpc"]
    assert len(reloads) == 2  # two syncs, each pushed once (not once per process)
    assert [c[0] for c in Recorder.calls].count("/pause?mode=wait") == 2
    assert len((tmp_path / "run" / "vllm_sync.jsonl").read_text().splitlines()) == 2  # one line per sync
    for r in range(2):
        returned = json.loads((tmp_path / f"rank{r}.json").read_text())["returned"]
        for done, (_, _, reload_end) in zip(returned, reloads):
            assert done >= reload_end  # nobody went on before the server held the new weights
