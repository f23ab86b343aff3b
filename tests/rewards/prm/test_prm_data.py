"""PRM data: stepwise encoding, converters from public formats, ProcessBench F1."""

from __future__ import annotations

import pytest
import torch

from rewards.prm.convert import convert, from_math_shepherd, from_prm800k, from_processbench
from rewards.prm.data import IGNORE, check_row, collate, encode_row, step_loss
from rewards.prm.evaluate import predicted_first_error, processbench_f1


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_labels_sit_on_the_last_token_of_each_step(tok):
    enc = encode_row(tok, "Compute 2 + 3 * 4.", ["3 * 4 = 12", "2 + 12 = 15"], [True, False])
    labelled = [i for i, t in enumerate(enc.targets) if t != IGNORE]
    assert labelled == enc.step_positions and len(labelled) == 2
    assert [enc.targets[i] for i in labelled] == [1.0, 0.0]
    assert all(tok.decode([enc.input_ids[i]]) == "\n" for i in labelled)  # the separator token
    # the text up to each label position ends with that step
    assert tok.decode(enc.input_ids[: labelled[0] + 1]).endswith("3 * 4 = 12\n")
    assert tok.decode(enc.input_ids[: labelled[1] + 1]).endswith("2 + 12 = 15\n")


def test_truncation_drops_whole_steps(tok):
    steps = [f"{i} + 1 = {i + 1}" for i in range(100)]
    enc = encode_row(tok, "Count.", steps, [True] * 100, max_length=64)
    assert len(enc.input_ids) <= 64 and 0 < len(enc.step_positions) < 100
    assert enc.targets[enc.step_positions[-1]] == 1.0


def test_soft_labels_and_loss():
    logits = torch.zeros(1, 3, 2)
    targets = torch.tensor([[IGNORE, 0.25, 1.0]])
    loss = step_loss(logits, targets)
    assert loss.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())  # uniform prediction
    logits[0, 2, 1] = 10.0
    assert step_loss(logits, targets).item() < loss.item()
    assert step_loss(logits, torch.full((1, 3), IGNORE)).item() == 0.0


def test_collate_pads_right(tok):
    a = encode_row(tok, "p", ["1 = 1"], [True])
    b = encode_row(tok, "a longer prompt", ["1 = 1", "2 = 2"], [True, True])
    out = collate([a, b], pad_id=tok.pad_token_id)
    assert out["input_ids"].shape[1] == len(b.input_ids)
    assert out["attention_mask"][0].sum() == len(a.input_ids)
    assert (out["targets"][0, len(a.input_ids) :] == IGNORE).all()


def test_check_row_errors_are_clear():
    with pytest.raises(ValueError, match="missing 'labels'"):
        check_row({"prompt": "p", "completions": ["a"]})
    with pytest.raises(ValueError, match="equal length"):
        check_row({"prompt": "p", "completions": ["a", "b"], "labels": [True]})
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        check_row({"prompt": "p", "completions": ["a"], "labels": [3]})


PRM800K = {
    "question": {"problem": "What is 2 + 2 * 3?"},
    "label": {
        "steps": [
            {
                "completions": [{"text": "2 * 3 = 6", "rating": 1}, {"text": "2 * 3 = 5", "rating": -1}],
                "chosen_completion": 0,
            },
            {"completions": [{"text": "So we add.", "rating": 0}], "chosen_completion": 0},
            {
                "completions": [{"text": "2 + 6 = 9", "rating": -1}, {"text": "2 + 6 = 8", "rating": 1}],
                "chosen_completion": None,
            },
            {"completions": [{"text": "never reached", "rating": 1}], "chosen_completion": 0},
        ]
    },
}


def test_prm800k_neutral_rule_is_explicit():
    pos = from_prm800k(PRM800K, neutral="positive")
    assert pos == {
        "prompt": "What is 2 + 2 * 3?",
        "completions": ["2 * 3 = 6", "So we add.", "2 + 6 = 9"],
        "labels": [True, True, False],
    }
    assert from_prm800k(PRM800K, neutral="negative")["labels"] == [True, False, False]
    assert from_prm800k(PRM800K, neutral="drop") is None
    with pytest.raises(ValueError, match="neutral rule"):
        from_prm800k(PRM800K, neutral="maybe")
    with pytest.raises(ValueError, match="question.problem"):
        from_prm800k({"label": {}})


def test_math_shepherd_tags():
    row = {
        "input": "Janet has 3 eggs. Step 1: 3 * 2 = 6 ки\nStep 2: 6 + 1 = 8 ки",
        "label": "Janet has 3 eggs. Step 1: 3 * 2 = 6 +\nStep 2: 6 + 1 = 8 -",
    }
    out = from_math_shepherd(row)
    assert out == {
        "prompt": "Janet has 3 eggs.",
        "completions": ["Step 1: 3 * 2 = 6", "Step 2: 6 + 1 = 8"],
        "labels": [True, False],
    }
    with pytest.raises(ValueError, match="no 'ки'"):
        from_math_shepherd({"input": "no tags", "label": "no tags"})


def test_processbench_rows_stop_at_the_first_error():
    row = {"problem": "q", "steps": ["a", "b", "c"], "label": 1}
    assert from_processbench(row) == {"prompt": "q", "completions": ["a", "b"], "labels": [True, False]}
    assert from_processbench({**row, "label": -1})["labels"] == [True, True, True]
    with pytest.raises(ValueError, match="past the last"):
        from_processbench({**row, "label": 3})
    assert len(list(convert([row, row], "processbench"))) == 2
    with pytest.raises(ValueError, match="prm.format"):
        list(convert([row], "csv"))


def test_processbench_f1():
    assert predicted_first_error([0.9, 0.2, 0.1]) == 1
    assert predicted_first_error([0.9, None, 0.8]) == -1
    m = processbench_f1([1, -1, 2, -1], [1, 0, -1, -1])
    assert m["error_acc"] == 0.5 and m["correct_acc"] == 0.5 and m["f1"] == pytest.approx(0.5)
    assert processbench_f1([0], [0])["f1"] == 0.0  # no clean traces: no F1


def test_threshold_calibration_maximises_f1_and_breaks_ties_towards_half():
    from rewards.prm.evaluate import calibrate_threshold

    # a PRM whose scores are shifted up: 0.5 misses every error, a threshold near 0.8 separates them
    scores = [[0.9, 0.75], [0.95, 0.9], [0.7], [0.92]]
    labels = [1, -1, 0, -1]
    assert processbench_f1([predicted_first_error(s) for s in scores], labels)["f1"] == 0.0
    t, f1 = calibrate_threshold(scores, labels)
    assert 0.76 <= t <= 0.9 and f1 == 1.0
    assert (
        calibrate_threshold([[0.1], [0.9]], [0, -1])[0] == 0.5
    )  # every t in (0.1, 0.9] is perfect: 0.5 wins
    with pytest.raises(ValueError, match="calibration needs"):
        calibrate_threshold([], [])


def test_lm_mask_covers_prompt_and_leading_good_steps_only(tok):
    from rewards.prm.data import lm_loss

    enc = encode_row(
        tok, "Compute 2 + 3 * 4.", ["3 * 4 = 12", "2 + 12 = 15", "15 = 15"], [True, False, False]
    )
    assert enc.good_upto == enc.step_positions[0] + 1  # the wrong step is never imitated
    batch = collate([enc], pad_id=tok.pad_token_id)
    assert batch["lm_mask"][0].sum() == enc.good_upto - 1
    hidden = torch.zeros(1, len(enc.input_ids), 8)
    emb = torch.zeros(len(tok), 8)
    loss = lm_loss(hidden, emb, batch["input_ids"], batch["lm_mask"])
    assert loss.item() == pytest.approx(torch.log(torch.tensor(float(len(tok)))).item(), rel=1e-4)  # uniform
