"""PRM model: load on a causal LM backbone, LoRA, save/load, batched scoring, MC labels with the real sampler."""

from __future__ import annotations

import json

import pytest
import torch

from rewards.prm.model import PRMScorer, load_backbone, save_prm
from rewards.types import Problem, StepSpan
from rlhf.rollout.mc_labels import mc_labels, mc_rows, prefix_prompt

PROBLEM = Problem.from_dict(
    {"id": "p", "task": "integer_arithmetic", "prompt": "Compute 2 + 3 * 4.", "answer": "14"}
)


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def prm_dir(tiny_model_dir, tok, tmp_path_factory):
    model = load_backbone(tiny_model_dir)
    return save_prm(model, tok, tmp_path_factory.mktemp("prm") / "prm", sep="\n", max_length=128)


def test_backbone_gets_a_two_label_head(tiny_model_dir):
    model = load_backbone(tiny_model_dir)
    assert model.config.num_labels == 2
    out = model(input_ids=torch.tensor([[5, 6, 7]])).logits
    assert out.shape == (1, 3, 2)


def test_scoring_round_trip_and_batching(prm_dir):
    scorer = PRMScorer.from_pretrained(prm_dir, batch_size=2)
    prompts = [PROBLEM.prompt] * 3
    steps = [["3 * 4 = 12", "2 + 12 = 14"], ["3 * 4 = 13"], []]
    scores = scorer.score(prompts, steps)
    assert [len(s) for s in scores] == [2, 1, 0]
    assert all(0.0 <= x <= 1.0 for row in scores for x in row)
    # batching and padding do not change a row's scores
    alone = PRMScorer.from_pretrained(prm_dir, batch_size=1).score(prompts[:1], steps[:1])
    assert alone[0] == pytest.approx(scores[0], abs=1e-5)
    # the score of a step depends only on the text before it (causal backbone)
    prefix = scorer.score(prompts[:1], [steps[0][:1]])
    assert prefix[0][0] == pytest.approx(scores[0][0], abs=1e-5)


def test_steps_past_max_length_score_none(prm_dir):
    scorer = PRMScorer.from_pretrained(prm_dir)
    scorer.max_length = 40
    out = scorer.score(["q"], [[f"{i} + 1 = {i + 1}" for i in range(50)]])
    assert out[0][0] is not None and out[0][-1] is None and len(out[0]) == 50


def test_wrong_architecture_is_a_clear_error(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="not a 2-label token-classification PRM"):
        PRMScorer.from_pretrained(tiny_model_dir)  # a causal LM, not a PRM
    with pytest.raises(ValueError, match="no config.json"):
        PRMScorer.from_pretrained(tmp_path)


def test_prm_step_reward_from_registry(prm_dir):
    from rewards.registry import STEP_REWARDS

    reward = STEP_REWARDS.get("prm")(path=str(prm_dir))
    spans = [[StepSpan(0, 3, "3 * 4 = 12"), StepSpan(3, 6, "2 + 12 = 14")], [StepSpan(0, 2, "%%%% @@ ~~")]]
    out = reward.score_steps([PROBLEM, PROBLEM], spans)
    assert [len(r) for r in out] == [2, 1] and all(isinstance(x, float) for r in out for x in r)
    with pytest.raises(ValueError, match="params.path"):
        STEP_REWARDS.get("prm")(path="")


def test_mc_labels_with_the_transformers_sampler(tiny_model_dir, tok):
    from transformers import AutoModelForCausalLM

    from rlhf.rollout.hf import HFSampler

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    sampler = HFSampler(model, tok)
    traces = [["3 * 4 = 12", "2 + 12 = 14"], ["3 * 4 = 13"]]
    seen: list[str] = []

    def finishes_right(problem, text):  # stands in for the answer check: the prefix decides
        seen.append(text)
        return "= 13" not in text

    hard = mc_labels(
        sampler, tok, [PROBLEM, PROBLEM], traces, n=3, max_new_tokens=4, is_correct=finishes_right
    )
    assert hard == [[1.0, 1.0], [0.0]]
    assert len(seen) == 3 * 3  # n completions for each of the 3 step prefixes
    assert all(t.startswith("<think>\n3 * 4 = 1") for t in seen)
    soft = mc_labels(sampler, tok, [PROBLEM], traces[:1], n=2, max_new_tokens=4, mode="soft")
    assert all(0.0 <= x <= 1.0 for x in soft[0])  # random weights: the real answer check, rarely right
    rows = mc_rows([PROBLEM, PROBLEM], traces, hard)
    assert rows[1] == {"prompt": PROBLEM.prompt, "completions": ["3 * 4 = 13"], "labels": [False]}
    assert prefix_prompt(tok, PROBLEM, traces[0][:1]).endswith("<|im_start|>assistant\n<think>\n3 * 4 = 12\n")
    with pytest.raises(ValueError, match="mc mode"):
        mc_labels(sampler, tok, [PROBLEM], traces[:1], mode="avg")


def test_saved_prm_config(prm_dir):
    meta = json.loads((prm_dir / "prm_config.json").read_text())
    assert meta == {"separator": "\n", "max_length": 128, "good_label": 1, "threshold": 0.5}
    assert PRMScorer.from_pretrained(prm_dir).threshold == 0.5
