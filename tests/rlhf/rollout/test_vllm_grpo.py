"""A GRPO recipe with `rollout.backend: vllm` trains on CPU, launched from a script with no `__main__` guard.

The script prints a marker before anything else: had vLLM spawned a process that re-imports the
caller's `__main__`, the marker would print twice (or the run would crash on the re-import).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")
pytestmark = [pytest.mark.vllm, pytest.mark.slow]

from tests.rlhf.trainers.rl_helpers import recipe  # noqa: E402

SCRIPT = """\
print("SCRIPT-START", flush=True)
import sys
from rlhf.cli.main import main
code = main(["train", *sys.argv[1:]])
print("SCRIPT-END", code, flush=True)
sys.exit(code)
"""


def test_grpo_trains_with_vllm_rollouts_lora(tmp_path: Path, repo_root: Path):
    r = recipe(tmp_path, "grpo", "lora:\n  enabled: true\n  r: 4\n  dropout: 0.0\nalgo:\n  kl_coef: 0.02\n")
    r.write_text(r.read_text().replace("backend: transformers", "backend: vllm"))
    script = tmp_path / "train_no_guard.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(repo_root), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the backend must keep the engine in-process by itself
    proc = subprocess.run(
        [sys.executable, str(script), str(r), "train.steps=3"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("SCRIPT-START") == 1 and "SCRIPT-END 0" in proc.stdout
    assert "rollout backend vllm" in proc.stderr
    run = tmp_path / "run"
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    assert [m["step"] for m in recs] == [0, 1, 2]
    assert all(m["time_sync"] >= 0 and m["rollout_tokens"] > 0 for m in recs)
    syncs = [json.loads(x) for x in (run / "vllm_sync.jsonl").read_text().splitlines()]
    assert len(syncs) >= 4  # the initial sync, then one per step
    assert all(s["how"] == "lora adapter" and s["probe_max_abs_diff"] < 1e-3 for s in syncs)
    assert (run / "adapter" / "adapter_model.safetensors").is_file()  # LoRA: the adapter/ of the layout
