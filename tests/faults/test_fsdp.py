"""FSDP2 for real: `accelerate launch` with recipes/accelerate/fsdp2_cpu_2proc.yaml shards the tiny
model across two CPU processes (gloo). With `faults.same_rollouts` every process samples the same
completions, so the sharded run must equal the one-process run (and the DDP run) step for step:
the final weights within float tolerance, the rollouts exactly. Checkpoints are DCP shards; a run
killed mid-update or mid-checkpoint resumes bit for bit; a mismatched resume is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.faults.common import launch, metrics, train
from tests.rlhf.trainers.rl_helpers import recipe

pytestmark = pytest.mark.slow

SAME = "faults.same_rollouts=true"
TOL = 1e-5  # float32 reduction order differs between a sharded and an unsharded update


@pytest.fixture()
def fsdp_config(repo_root):
    return repo_root / "recipes" / "accelerate" / "fsdp2_cpu_2proc.yaml"


@pytest.fixture()
def ddp_config(repo_root):
    return repo_root / "recipes" / "accelerate" / "ddp_cpu_2proc.yaml"


def _ok(res) -> None:
    assert res.returncode == 0, res.stderr[-4000:]


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert sorted(a) == sorted(b)
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def _rollouts(run: Path) -> list:
    return [(m["step"], m["reward_mean"], m["response_len_mean"]) for m in metrics(run)]


def test_grpo_full_finetune_sharded_equals_one_process_and_ddp(tmp_path, repo_root, fsdp_config, ddp_config):
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    runs = {name: tmp_path / name for name in ("one", "ddp", "fsdp")}
    _ok(train(repo_root, [str(r), SAME, f"run.output_dir={runs['one']}"]))
    _ok(launch(repo_root, ddp_config, [str(r), SAME, f"run.output_dir={runs['ddp']}"]))
    _ok(launch(repo_root, fsdp_config, [str(r), SAME, f"run.output_dir={runs['fsdp']}"]))
    weights = {n: load_file(p / "model" / "model.safetensors") for n, p in runs.items()}
    start = load_file(runs["one"] / "tiny_model" / "model.safetensors")
    assert _max_diff(weights["one"], start) > 1e-3  # the runs trained ...
    assert _max_diff(weights["fsdp"], weights["one"]) < TOL  # ... and the sharded one equals one process
    assert _max_diff(weights["fsdp"], weights["ddp"]) < TOL
    assert _rollouts(runs["fsdp"]) == _rollouts(runs["one"]) == _rollouts(runs["ddp"])
    sums = [m["weights_checksums"] for m in metrics(runs["fsdp"])]  # full weights, gathered on each process
    assert all(len(s) == 2 and s[0] == s[1] for s in sums) and len({s[0] for s in sums}) == 3
    ddp_sums = [m["weights_checksum"] for m in metrics(runs["ddp"])]
    assert sums[-1][0] == pytest.approx(ddp_sums[-1], rel=1e-7)
    ckpt = next((runs["fsdp"] / "checkpoints").iterdir())
    assert sorted(p.name for p in (ckpt / "dcp").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert json.loads((ckpt / "state.json").read_text())["layout"] == {"sharding": "fsdp2", "world_size": 2}
    config = json.loads((runs["fsdp"] / "model" / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]  # a plain HF directory


def test_lora_grpo_sharded_reference_and_adapter_equal_one_process(tmp_path, repo_root, fsdp_config):
    """The LoRA reference (adapter disabled on the sharded model) gives the same KL as on one process."""
    r = recipe(
        tmp_path, "grpo", "  cpu_threads: 1\n  lr: 1.0e-2\nlora:\n  enabled: true\nalgo:\n  kl_coef: 0.05\n"
    )
    one, fsdp = tmp_path / "one", tmp_path / "fsdp"
    _ok(train(repo_root, [str(r), SAME, f"run.output_dir={one}"]))
    _ok(launch(repo_root, fsdp_config, [str(r), SAME, f"run.output_dir={fsdp}"]))
    a = load_file(one / "adapter" / "adapter_model.safetensors")
    b = load_file(fsdp / "adapter" / "adapter_model.safetensors")
    assert max(float(v.abs().max()) for k, v in a.items() if "lora_B" in k) > 1e-3  # the adapter trained
    assert _max_diff(a, b) < TOL
    kl_one, kl_fsdp = [m["kl"] for m in metrics(one)], [m["kl"] for m in metrics(fsdp)]
    assert kl_one[-1] > 0 and kl_fsdp == pytest.approx(kl_one, rel=1e-4, abs=1e-9)
    assert (fsdp / "adapter" / "adapter_config.json").is_file() and not (fsdp / "model").exists()


def test_ppo_sharded_policy_and_critic_equal_one_process(tmp_path, repo_root, fsdp_config):
    r = recipe(tmp_path, "ppo", "  cpu_threads: 1\nalgo:\n  advantage: gae\n")
    one, fsdp = tmp_path / "one", tmp_path / "fsdp"
    _ok(train(repo_root, [str(r), SAME, f"run.output_dir={one}"]))
    _ok(launch(repo_root, fsdp_config, [str(r), SAME, f"run.output_dir={fsdp}"]))
    pol = [load_file(p / "model" / "model.safetensors") for p in (one, fsdp)]
    assert _max_diff(*pol) < TOL
    critics = [torch.load(p / "critic.pt") for p in (one, fsdp)]  # full tensors, not one process's shard
    assert _max_diff(*critics) < TOL
    assert [m["value_loss"] for m in metrics(fsdp)] == pytest.approx(
        [m["value_loss"] for m in metrics(one)], rel=1e-4
    )


def test_sharded_run_killed_then_resumed_equals_the_unkilled_run(tmp_path, repo_root, fsdp_config):
    """kill -9 on both processes half-way through step 1's checkpoint (the shards written, state.json
    not): step 0's checkpoint stays the newest complete one, and the resumed run matches the unkilled
    run bit for bit (weights checksums, rollouts, losses, learning rates). (A kill in the update is
    the same resume from step 0's checkpoint; the DDP test covers that point.)"""
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    full = tmp_path / "full"
    _ok(launch(repo_root, fsdp_config, [str(r), "run.save_every=1", f"run.output_dir={full}"]))
    for where in ("checkpoint:1",):
        run = tmp_path / where.replace(":", "-")
        args = [str(r), "run.save_every=1", f"run.output_dir={run}"]
        killed = launch(repo_root, fsdp_config, args, COTRL_KILL_AT=where)
        assert killed.returncode != 0
        assert [p.name for p in (run / "checkpoints").iterdir() if not p.name.startswith(".")] == [
            "step-000000"
        ]
        resumed = launch(repo_root, fsdp_config, [*args, "--resume"])
        _ok(resumed)
        assert resumed.stderr.count("(next step 1)") == 2  # both processes loaded their shards
        a, b = metrics(full), metrics(run)
        for key in ("step", "weights_checksums", "rollout_digests", "pg_loss", "reward_mean", "lr"):
            assert [m[key] for m in a] == [m[key] for m in b], (where, key)
        assert not list((run / "checkpoints").glob(".*"))  # the half-written checkpoint was pruned


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_mismatched_resumes_are_refused_and_change_nothing(tmp_path, repo_root, fsdp_config, ddp_config):
    """A sharded checkpoint resumed on another world size or without FSDP, and a DDP checkpoint
    resumed under FSDP2: one
    line naming the mismatch, a non-zero exit, the run directory byte for byte as it was."""
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n  steps: 1\n")
    sharded, replicated = tmp_path / "sharded", tmp_path / "ddp"
    _ok(launch(repo_root, fsdp_config, [str(r), f"run.output_dir={sharded}"]))
    _ok(launch(repo_root, ddp_config, [str(r), f"run.output_dir={replicated}"]))
    one_proc = tmp_path / "fsdp2_cpu_1proc.yaml"  # the same FSDP2 config on another world size
    one_proc.write_text(fsdp_config.read_text().replace("num_processes: 2", "num_processes: 1"))
    cases = [
        (sharded, lambda a: launch(repo_root, one_proc, a), "written by 2 processes but this launch has 1"),
        (sharded, lambda a: train(repo_root, a), "written by a fsdp2 run but this launch is replicated"),
        (
            replicated,
            lambda a: launch(repo_root, fsdp_config, a),
            "written by a replicated run but this launch is fsdp2",
        ),
    ]
    for run, start, line in cases:
        before = _tree(run)
        res = start([str(r), f"run.output_dir={run}", "train.steps=2", "--resume"])
        assert res.returncode != 0
        assert line in res.stderr, res.stderr[-2000:]
        assert "rlhf/" not in res.stderr  # one line from cotrl (torchrun adds its own report), no traceback
        assert _tree(run) == before


def test_sharded_checkpoint_loads_on_one_process_and_final_model_exports(tmp_path, repo_root, fsdp_config):
    """2 -> 1: the model weights of a 2-process sharded checkpoint load on one process (DCP reshards)
    and equal the gathered final model; `cotrl export` reads the run's plain model/."""
    import subprocess
    import sys

    from transformers import AutoModelForCausalLM

    from rlhf.runtime import sharded_checkpoint

    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n  steps: 2\n")
    run = tmp_path / "run"
    _ok(launch(repo_root, fsdp_config, [str(r), f"run.output_dir={run}"]))
    model = AutoModelForCausalLM.from_pretrained(run / "tiny_model")
    sharded_checkpoint.load_model_weights(run / "checkpoints" / "step-000001", model)
    final = load_file(run / "model" / "model.safetensors")
    state = model.state_dict()
    assert max(float((state[k] - v).abs().max()) for k, v in final.items()) == 0.0
    out = tmp_path / "exported"
    res = subprocess.run(
        [sys.executable, "-m", "rlhf.cli.main", "export", str(run), str(out)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert load_file(out / "model.safetensors").keys() == final.keys()


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_vllm_sync_weights_gathered_from_shards_equal_the_unsharded_merge(repo_root, kind):
    """What `VLLMSampler.sync_weights` pushes from a sharded model (`merged_state_dict`: gathered on
    every process, LoRA merged with peft's formula) equals the unsharded model's, bit for bit; the
    final-model gather puts every full tensor on rank 0 and nothing on rank 1. (Two vLLM engines, one
    per process, are not started here: the engine-side probe runs in tests/rlhf/rollout on one.)"""
    import subprocess
    import sys

    from tests.faults.common import env, free_port, rows_by_rank

    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
    ]
    res = subprocess.run(
        [*cmd, str(repo_root / "tests" / "faults" / "fsdp_sync_worker.py"), kind],
        cwd=repo_root,
        env=env(repo_root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rows = rows_by_rank(res.stdout)
    assert [r["rank"] for r in rows] == [0, 1] and all(r["sharded"] and r["merged_equal"] for r in rows)
    assert (
        rows[0]["full_keys"] == rows[0]["plain_keys"] and rows[0]["full_equal"] and rows[1]["full_keys"] == 0
    )


@pytest.mark.vllm
def test_vllm_engine_on_rank_0_of_a_sharded_run_passes_the_parity_probe(repo_root, tiny_model_dir):
    """One in-process vLLM engine (KV cache 16 MiB, the tiny model's head_dim 64) on rank 0 of two
    FSDP2 processes: it starts (vLLM forms a world of its own beside the launcher's group:
    `vllm_backend._world_of_its_own`), takes the weights gathered from the shards, and its logprobs
    match the sharded model's forward within the probe's tolerance, at the first sync and the next.
    Rank 1 joins the gathers and forwards; the launcher's group is back afterwards (size 2)."""
    import subprocess
    import sys

    pytest.importorskip("vllm")
    from tests.faults.common import env, free_port, rows_by_rank

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port"]
    res = subprocess.run(
        [
            *cmd,
            str(free_port()),
            str(repo_root / "tests" / "faults" / "fsdp_vllm_worker.py"),
            str(tiny_model_dir),
        ],
        cwd=repo_root,
        env=env(repo_root, VLLM_ENABLE_V1_MULTIPROCESSING="0", COTRL_STALL_DUMP_S="240"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    rows = rows_by_rank(res.stdout)
    assert [r["rank"] for r in rows] == [0, 1] and all(r["default_group_size"] == 2 for r in rows)
    assert rows[0]["probe_max_abs_diff"] is not None
    assert rows[0]["probe_max_abs_diff"] <= rows[0]["probe_tolerance"]  # measured 9.5e-7 (tolerance 1e-3)
    assert rows[1]["gathered_mib"] > 0  # every process held the full weights for the sync
