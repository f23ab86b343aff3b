"""FSDP2 for the supervised trainers: sft (transformers' Trainer, promoted to FSDP2 on CPU processes),
distill (sft on the teacher's kept traces) and prm (its own loop, prepared by accelerate).

Each 2-process sharded run (recipes/accelerate/fsdp2_cpu_2proc.yaml) is compared with one process
doing the same arithmetic: for sft and distill, Trainer splits each optimizer step's batch across the
processes, so the one-process run takes the same two half-batches by gradient accumulation; prm runs
the whole batch on every process. The checkpoints are the sharded ones (one DCP file per process),
and a run killed with SIGKILL between backward and optimizer step resumes to the unkilled weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.faults.common import launch, metrics, train

pytestmark = pytest.mark.slow

TOL = 1e-5  # float32: the sharded update sums the gradient pieces in another order
SHARDS = [".metadata", "__0_0.distcp", "__1_0.distcp"]  # one file per process: the state was sharded


@pytest.fixture()
def fsdp_config(repo_root):
    return repo_root / "recipes" / "accelerate" / "fsdp2_cpu_2proc.yaml"


def _ok(res) -> None:
    assert res.returncode == 0, res.stderr[-4000:]


def _max_diff(a: dict, b: dict) -> float:
    assert sorted(a) == sorted(b)
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _sft_recipe(tmp_path: Path, model: Path) -> Path:
    rows = [
        {
            "prompt": f"What is {a} + {b}?",
            "completion": f"<think>\n{a} + {b} = {a + b}\n</think>\n<answer>{a + b}</answer>",
        }
        for a in range(6)
        for b in range(4)
    ]  # 24 rows: three full global batches of 8, so no process ever gets a padded batch
    data, held = tmp_path / "train.jsonl", tmp_path / "heldout.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    held.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    r = tmp_path / "sft.yaml"
    r.write_text(f"""trainer: sft
run: {{device: cpu, save_every: 1, keep_checkpoints: 5}}
model: {{path: {model}}}
train: {{cpu_threads: 1, lr: 1.0e-2}}
sft: {{train_path: {data}, eval_path: {held}, max_steps: 3, batch_size: 4, eval_max_items: 2,
      eval_max_new_tokens: 4, max_length: 48}}
""")
    return r


def test_sft_sharded_equals_one_process_and_a_killed_run_resumes(
    tmp_path, repo_root, fsdp_config, tiny_model_dir
):
    r = _sft_recipe(tmp_path, tiny_model_dir)
    one, fsdp, cut = tmp_path / "one", tmp_path / "fsdp", tmp_path / "cut"
    _ok(train(repo_root, [str(r), "sft.grad_accum=2", f"run.output_dir={one}"]))  # 2 x 4 rows per step
    _ok(launch(repo_root, fsdp_config, [str(r), f"run.output_dir={fsdp}"]))  # 4 rows per process
    a, b = (load_file(p / "model" / "model.safetensors") for p in (one, fsdp))
    assert _max_diff(a, load_file(tiny_model_dir / "model.safetensors")) > 1e-3  # it trained ...
    assert _max_diff(a, b) < TOL  # ... and the sharded run equals one process (measured 7.4e-7)
    loss = lambda run: [m["loss"] for m in metrics(run) if "loss" in m]  # noqa: E731
    assert loss(fsdp) == pytest.approx(loss(one), rel=1e-5) and len(loss(fsdp)) == 3
    ckpt = fsdp / "checkpoints" / "checkpoint-3"
    assert sorted(p.name for p in (ckpt / "pytorch_model_fsdp_0").iterdir()) == SHARDS
    assert sorted(p.name for p in (ckpt / "optimizer_0").iterdir()) == SHARDS

    killed = launch(repo_root, fsdp_config, [str(r), f"run.output_dir={cut}"], COTRL_KILL_AT="update:3")
    assert killed.returncode != 0 and not (cut / "model").exists()
    assert sorted(p.name for p in (cut / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-1",
        "checkpoint-2",
    ]
    _ok(launch(repo_root, fsdp_config, [str(r), f"run.output_dir={cut}", "--resume"]))
    assert _max_diff(b, load_file(cut / "model" / "model.safetensors")) == 0.0


def test_distill_student_sharded_equals_ddp(tmp_path, repo_root, fsdp_config, tiny_model_dir):
    """distill is sft on the kept traces, so it shards the same way. Compared with the DDP run of the
    same launch (measured 2.2e-7): with 16 traces the second step's rows are grouped differently by
    a one-process run with gradient accumulation than by two processes (its loss differs at step 2
    under DDP as under FSDP), which is the data split, not the sharding."""
    args = [
        str(repo_root / "recipes" / "distill.yaml"),
        f"distill.teacher={tiny_model_dir}",
        f"model.path={tiny_model_dir}",
        "distill.verifier=tests.e2e.helpers:accept_all",
        "distill.require_correct_steps=false",
        "distill.generate.n=8",
        "distill.heldout=0",
        "distill.samples_per_problem=2",
        "distill.keep_per_problem=2",
        "distill.max_new_tokens=8",
        "sft.batch_size=4",
        "sft.eval_max_items=0",
        "sft.max_steps=2",
        "train.cpu_threads=1",
        "run.device=cpu",
    ]
    ddp_config = fsdp_config.parent / "ddp_cpu_2proc.yaml"
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    _ok(launch(repo_root, ddp_config, [*args, f"run.output_dir={ddp}"]))
    _ok(launch(repo_root, fsdp_config, [*args, f"run.output_dir={fsdp}"]))
    traces = (fsdp / "traces.jsonl").read_text()
    assert traces == (ddp / "traces.jsonl").read_text() and len(traces.splitlines()) == 16  # one writer
    a, b = (load_file(p / "model" / "model.safetensors") for p in (ddp, fsdp))
    assert _max_diff(a, load_file(tiny_model_dir / "model.safetensors")) > 1e-3
    assert _max_diff(a, b) < TOL
    ckpt = fsdp / "checkpoints" / "checkpoint-2"
    assert sorted(p.name for p in (ckpt / "pytorch_model_fsdp_0").iterdir()) == SHARDS


PRM = [
    "prm.num_train=16",
    "prm.num_eval=4",
    "prm.epochs=1",
    "prm.batch_size=8",
    "prm.lm_coef=0.5",  # the auxiliary loss reads the (gathered) embedding outside the forward
    "run.log_every=1",
    "run.device=cpu",
    "train.cpu_threads=1",
    "train.lr=1.0e-2",
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=2",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=300",
]


def _prm_weights(run: Path) -> dict:
    return load_file(run / "prm" / "model.safetensors")


def _logged(run: Path) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "seconds" and not k.startswith("hw/")} for m in metrics(run)]


def test_prm_sharded_equals_one_process_and_a_killed_run_resumes(tmp_path, repo_root, fsdp_config):
    args = [str(repo_root / "recipes" / "prm_train.yaml"), *PRM, "run.save_every=1"]
    one, fsdp, cut = tmp_path / "one", tmp_path / "fsdp", tmp_path / "cut"
    _ok(train(repo_root, [*args, f"run.output_dir={one}"]))
    _ok(launch(repo_root, fsdp_config, [*args, f"run.output_dir={fsdp}"]))
    a, b = _prm_weights(one), _prm_weights(fsdp)
    start = load_file(one / "tiny_model" / "model.safetensors")
    assert max(float((a[k] - v).abs().max()) for k, v in start.items() if k in a) > 1e-3
    assert _max_diff(a, b) < TOL  # measured: 0.0
    assert _logged(fsdp) == _logged(one)  # losses, grad norms, LRs and the final evaluation
    assert (
        json.loads((fsdp / "eval.json").read_text())["f1"]
        == json.loads((one / "eval.json").read_text())["f1"]
    )
    last = sorted((fsdp / "checkpoints").glob("step-*"))[-1]
    assert sorted(p.name for p in (last / "dcp").iterdir()) == SHARDS
    assert json.loads((last / "state.json").read_text())["layout"] == {"sharding": "fsdp2", "world_size": 2}

    killed = launch(repo_root, fsdp_config, [*args, f"run.output_dir={cut}"], COTRL_KILL_AT="update:2")
    assert killed.returncode != 0 and not (cut / "prm").exists()
    assert [p.name for p in sorted((cut / "checkpoints").glob("step-*"))] == ["step-000001", "step-000002"]
    resumed = launch(repo_root, fsdp_config, [*args, f"run.output_dir={cut}", "--resume"])
    _ok(resumed)
    assert resumed.stderr.count("(next step 3)") == 2  # both processes loaded their shards
    assert _max_diff(b, _prm_weights(cut)) == 0.0 and _logged(cut) == _logged(fsdp)


def test_lora_prm_sharded_equals_one_process(tmp_path, repo_root, fsdp_config):
    args = [str(repo_root / "recipes" / "prm_train.yaml"), *PRM, "lora.enabled=true", "lora.r=4"]
    one, fsdp = tmp_path / "one", tmp_path / "fsdp"
    _ok(train(repo_root, [*args, f"run.output_dir={one}"]))
    _ok(launch(repo_root, fsdp_config, [*args, f"run.output_dir={fsdp}"]))
    assert _max_diff(_prm_weights(one), _prm_weights(fsdp)) < TOL  # LoRA merged in; measured 7.5e-9
