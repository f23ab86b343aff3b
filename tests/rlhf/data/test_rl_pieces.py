"""Rollout batching, checkpoints, curriculum and the problem source (no model needed)."""

from __future__ import annotations

import json

import pytest
import torch

from rewards.types import Rollout, StepSpan
from rlhf.config.recipe import CurriculumSection, DataSection
from rlhf.data.batch import build_batch
from rlhf.data.curriculum import Curriculum
from rlhf.data.problems import ProblemSource
from rlhf.runtime import checkpoint as ckpt


def _rollout(prompt, completion, outcome, steps=(), group=0):
    return Rollout(
        problem_id="p",
        group=group,
        prompt_ids=tuple(prompt),
        completion_ids=tuple(completion),
        sampler_logprobs=tuple(-0.5 for _ in completion),
        text="",
        finish_reason="stop",
        outcome=outcome,
        steps=tuple(steps),
    )


def test_build_batch_places_rewards_on_tokens_and_masks_none():
    a = _rollout([1, 2], [3, 4, 5], 1.0, [StepSpan(0, 2, "s1", 0.5), StepSpan(2, 3, "s2", None)])
    b = _rollout([1, 2, 3], [4], None, group=1)
    batch = build_batch([a, b], pad_id=0)
    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5], [1, 2, 3, 4, 0]]
    assert batch.response_mask.tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 1, 0]]
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    # step 1 ends at completion token 1 -> column 3; step 2 has no score; outcome on the last token
    assert batch.step_rewards.tolist()[0] == [0, 0, 0, 0.5, 0]
    assert batch.step_mask.tolist()[0] == [0, 0, 0, 1, 0]
    assert batch.token_rewards.tolist() == [[0, 0, 0, 0.5, 1.0], [0, 0, 0, 0, 0]]
    assert batch.outcome_mask.tolist() == [1, 0] and batch.group_index.tolist() == [0, 1]
    assert batch.old_logprobs[0, 2:].tolist() == [-0.5] * 3 and batch.old_logprobs[0, :2].abs().sum() == 0


def test_checkpoint_atomic_keep_k_and_rng(tmp_path):
    root = tmp_path / "ck"
    torch.manual_seed(3)
    for step in range(4):
        ckpt.save_checkpoint(
            root, step, {"w": torch.tensor([float(step)])}, {"data_cursor": step + 1}, keep=2
        )
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000002", "step-000003"]
    (root / ".step-000009.tmp").mkdir()  # a half-written checkpoint of a killed run
    (root / "step-000010").mkdir()  # no state.json: incomplete, ignored
    latest = ckpt.latest_checkpoint(root)
    objects, state = ckpt.load_checkpoint(latest, ["w", "missing"])
    assert objects["w"].item() == 3.0 and "missing" not in objects and state == {"step": 3, "data_cursor": 4}
    expected = torch.rand(3)
    torch.manual_seed(99)
    ckpt.restore_rng(latest)  # rng saved after manual_seed(3) and no draws
    torch.testing.assert_close(torch.rand(3), expected)


def test_curriculum_keeps_pass_rate_in_band():
    cur = Curriculum.start(
        CurriculumSection(enabled=True, low=0.2, high=0.8, window=2, start_level=2, min_level=1, max_level=3),
        ["add", "mul"],
    )
    assert cur.update([("add", 1.0)]) == {}  # window not full yet
    assert cur.update([("add", 0.9), ("mul", 0.0), ("mul", 0.1)]) == {"add": 1, "mul": -1}
    assert cur.current() == {"add": 3, "mul": 1}
    assert cur.update([("add", 1.0), ("add", 1.0), ("mul", 0.0), ("mul", 0.0)]) == {}  # clamped at the bounds
    assert cur.update([("add", 0.5), ("add", 0.5)]) == {}  # inside the band: stays
    state = json.loads(json.dumps(cur.state_dict()))
    other = Curriculum.start(cur.cfg, ["add", "mul"])
    other.load_state_dict(state)
    assert other.levels == cur.levels and other.window == cur.window
    off = Curriculum.start(CurriculumSection(enabled=False), ["add"])
    assert off.current() is None and off.update([("add", 1.0), ("add", 1.0)]) == {}
    with pytest.raises(ValueError, match="curriculum.low/high"):
        CurriculumSection(low=0.9, high=0.1)


def test_jsonl_source_is_a_pure_function_of_step(tmp_path):
    from tests.rlhf.trainers.rl_helpers import write_problems

    path = write_problems(tmp_path / "p.jsonl", n=5)
    src = ProblemSource(DataSection(source="jsonl", path=str(path), prompts_per_step=2), seed=4)
    ids = [[p.id for p in src.problems(s)] for s in range(5)]
    assert ids == [[p.id for p in src.problems(s)] for s in range(5)]
    flat = [i for row in ids for i in row]
    assert sorted(flat[:5]) == sorted(f"add-{i}" for i in range(5))  # first epoch covers every item once
    assert [p.id for p in src.problems(1, round=1)] == [p.id for p in src.problems(1, round=1)]
    with pytest.raises(ValueError, match="data.path"):
        ProblemSource(DataSection(source="jsonl", path=str(tmp_path / "nope.jsonl")), seed=0)
