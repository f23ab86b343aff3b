"""`accelerate launch` on two CPU processes (gloo): GRPO, PPO and SFT train, the processes'
weights are identical after every step, and each file is written once (by the main process)."""

from __future__ import annotations

import json

import pytest

from tests.faults.common import launch, metrics
from tests.rlhf.trainers.rl_helpers import recipe

pytestmark = pytest.mark.slow


@pytest.fixture()
def ddp_config(repo_root):
    return repo_root / "recipes" / "accelerate" / "ddp_cpu_2proc.yaml"


def _check_rl_run(run, steps: int) -> None:
    recs = metrics(run)
    assert [m["step"] for m in recs] == list(range(steps))  # one line per step: only rank 0 logs
    sums = [m["weights_checksums"] for m in recs]
    assert all(len(s) == 2 and s[0] == s[1] for s in sums)  # both processes hold the same weights ...
    assert len({s[0] for s in sums}) == steps  # ... and they changed every step
    digests = [m["rollout_digests"] for m in recs]
    assert all(len(d) == 2 and d[0] != d[1] for d in digests)  # ... although each sampled its own rollouts
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"step-{steps - 1:06d}"
    ]  # one, complete
    assert (run / "model" / "model.safetensors").is_file()
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert sorted({s["step"] for s in samples}) == list(range(steps))
    assert len(samples) == steps * len([s for s in samples if s["step"] == 0])  # not doubled by rank 1


@pytest.mark.parametrize("trainer", ["grpo", "ppo"])
def test_rl_on_two_processes(tmp_path, repo_root, ddp_config, trainer):
    extra = "  cpu_threads: 1\n" + ("algo:\n  advantage: gae\n" if trainer == "ppo" else "")
    r = recipe(tmp_path, trainer, extra)
    # grpo runs with run.device=auto: on a machine without CUDA that must still form a gloo group
    res = launch(repo_root, ddp_config, [str(r)] + (["run.device=auto"] if trainer == "grpo" else []))
    assert res.returncode == 0, res.stderr[-4000:]
    _check_rl_run(tmp_path / "run", 3)
    if trainer == "ppo":
        assert (tmp_path / "run" / "critic.pt").is_file()  # beside the policy, not inside model/


def test_two_processes_killed_then_resumed_equal_the_unkilled_run(tmp_path, repo_root, ddp_config):
    """Both processes SIGKILL themselves in step 1's update; the 2-process --resume run then
    matches a 2-process run that was never killed (weights checksums and rollouts, per step)."""
    r = recipe(tmp_path, "grpo", "  cpu_threads: 1\n")
    full = launch(repo_root, ddp_config, [str(r), "run.save_every=1", f"run.output_dir={tmp_path / 'full'}"])
    assert full.returncode == 0, full.stderr[-4000:]
    args = [str(r), "run.save_every=1", f"run.output_dir={tmp_path / 'killed'}"]
    killed = launch(repo_root, ddp_config, args, COTRL_KILL_AT="update:1")
    assert killed.returncode != 0 and [m["step"] for m in metrics(tmp_path / "killed")] == [0]
    resumed = launch(repo_root, ddp_config, [*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert resumed.stderr.count("(next step 1)") == 2  # both processes loaded the checkpoint
    a, b = metrics(tmp_path / "full"), metrics(tmp_path / "killed")
    for key in ("step", "weights_checksums", "rollout_digests", "pg_loss", "reward_mean"):
        assert [m[key] for m in a] == [m[key] for m in b], key


def test_sft_on_two_processes(tmp_path, repo_root, ddp_config, tiny_model_dir):
    rows = [
        {
            "prompt": f"What is {a} + {b}?",
            "completion": f"<think>\n{a} + {b} = {a + b}\n</think>\n<answer>{a + b}</answer>",
        }
        for a in range(6)
        for b in range(4)
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = tmp_path / "sft.yaml"
    r.write_text(f"""trainer: sft
run: {{output_dir: {tmp_path / "run"}, device: cpu}}
model: {{path: {tiny_model_dir}}}
train: {{cpu_threads: 1, lr: 1.0e-2}}
sft: {{train_path: {data}, max_steps: 3, batch_size: 4, eval_max_items: 2, eval_max_new_tokens: 4,
      max_length: 48}}
""")
    res = launch(repo_root, ddp_config, [str(r)])
    assert res.returncode == 0, res.stderr[-4000:]
    run = tmp_path / "run"
    sums = [m["weights_checksums"] for m in metrics(run) if "weights_checksums" in m]
    assert [len(s) for s in sums] == [2, 2, 2] and all(s[0] == s[1] for s in sums)
    assert len({s[0] for s in sums}) == 3
    assert (run / "model" / "model.safetensors").is_file()
    losses = [m for m in metrics(run) if "loss" in m]
    assert len(losses) == 3  # logged once per step, not once per process
