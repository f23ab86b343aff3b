"""SFT's held-out evaluation is `cotrl eval`'s: item conversion, metric checks, and equal numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_gen.generate import iter_items
from rewards.types import Problem
from rlhf.data.readers import examples_from_rows, extract_answer
from rlhf.eval import evaluator as ev
from rlhf.eval.sft import check_metric, heldout_problems


def test_datagen_rows_stay_problems_and_chat_rows_get_their_reference():
    rows = list(iter_items(["integer_arithmetic"], 2, seed=0, split="test"))
    gen = heldout_problems(examples_from_rows(rows, "gen"))
    for p, row in zip(gen, rows):
        assert p == Problem.from_dict(row)  # id, answer, meta for verifiers; messages as trained on
    chat = examples_from_rows(
        [
            {
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Capital of France?"},
                    {"role": "assistant", "content": "<think>known</think><answer>Paris</answer>"},
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": "Say hi"},
                    {"role": "assistant", "content": " hi there "},
                ]
            },
        ],
        "chat",
    )
    a, b = heldout_problems(chat)
    assert a.answer == "Paris" and a.prompt == "Capital of France?" and a.task == "sft"
    assert [m["role"] for m in a.messages] == ["system", "user"]  # the system turn is encoded as in training
    assert b.answer == "hi there" and a.id != b.id
    pc = examples_from_rows([{"prompt": "2+2?", "completion": "<answer>4</answer>", "answer": "four"}], "pc")
    assert heldout_problems(pc)[0].answer == "four"  # an explicit answer column wins


def test_metric_checked_against_the_heldout_items():
    rows = examples_from_rows([{"prompt": "q", "completion": "<answer>1</answer>"}], "pc")
    check_metric("exact_match", rows)
    with pytest.raises(ValueError, match=r"sft.eval_metric='math_answer' needs data_gen items.*1 held-out"):
        check_metric("math_answer", rows)
    with pytest.raises(ValueError, match=r"sft.eval_metric='exact_macth'.*did you mean 'exact_match'"):
        check_metric("exact_macth", rows)


def test_a_model_in_memory_is_not_sent_to_vllm(tiny_model_dir):
    with pytest.raises(ValueError, match="backend 'vllm' loads weights from a directory"):
        ev.make_sampler(None, None, "", ev.EvalSettings(backend="vllm"))


ROWS = [
    {
        "prompt": f"What is {a} + {b}?",
        "completion": f"<think>\n{a} + {b} = {a + b}\n</think>\n<answer>{a + b}</answer>",
    }
    for a in range(6)
    for b in range(4)
]


def _cotrl_eval(checkpoint: Path, items: Path, out: Path, metric: str, max_new: int) -> dict:
    from rlhf.cli.main import main

    argv = ["eval", str(checkpoint), "--data", str(items), "--metric", metric]
    argv += ["--max-new-tokens", str(max_new), "--batch-size", "16", "--out", str(out)]
    assert main(argv) == 0
    return json.loads(out.read_text())


def _sft(out: Path, model: Path, train: Path, **sft) -> dict:
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig
    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.sft import run

    raw = {
        "trainer": "sft",
        "run": {"output_dir": str(out), "device": "cpu", "log_every": 1},
        "model": {"path": str(model)},
        "train": {"lr": 3e-3},
        "sft": {"train_path": str(train), "batch_size": 4, "max_length": 64, **sft},
    }
    cfg = config.from_dict(RunConfig, raw)
    return run(cfg, prepare_run_dir(cfg, cfg.run.output_dir))


@pytest.mark.slow
def test_sft_heldout_accuracy_equals_cotrl_eval(tmp_path, tiny_model_dir):
    """Before (step 0) and after training, the trainer's numbers are `cotrl eval`'s on the same items.

    The run starts from a briefly trained model (it answers `<think>..</think><answer>..</answer>`),
    and half the held-out references are what that model answers, so the step-0 accuracy is
    0.5 rather than a trivially shared 0.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlhf.data.problems import encode_prompts
    from rlhf.rollout.base import SamplingParams
    from rlhf.rollout.hf import HFSampler

    max_new = 24
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    first = _sft(tmp_path / "start", tiny_model_dir, train, max_steps=40, eval_fraction=0.0)
    start = first["outputs"]["model"]  # a model that answers in format
    tok = AutoTokenizer.from_pretrained(start)
    held = [
        {"prompt": f"What is {a} + {a + 1}?", "completion": f"<answer>{2 * a + 1}</answer>"} for a in range(6)
    ]
    probe = heldout_problems(examples_from_rows(held, "held"))
    texts = HFSampler(AutoModelForCausalLM.from_pretrained(start), tok).generate(
        encode_prompts(tok, probe, None),
        SamplingParams(max_new_tokens=max_new, temperature=0.0, stop=("</answer>",)),
    )
    for i, row in enumerate(held):
        row["answer"] = extract_answer(texts[i][0].text) if i < 3 else "not what it says"
        assert row["answer"].strip() and texts[i][0].text.endswith("</answer>")
    (tmp_path / "held.jsonl").write_text("".join(json.dumps(r) + "\n" for r in held))
    items = tmp_path / "items.jsonl"  # the evaluator items SFT builds from those rows, for cotrl eval
    problems = heldout_problems(examples_from_rows(held, "held"))
    items.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in problems))

    result = _sft(
        tmp_path / "run",
        Path(start),
        train,
        eval_path=str(tmp_path / "held.jsonl"),
        eval_every=2,
        stop_at_accuracy=0.0,  # any in-training evaluation stops the run: step 2 of 4
        eval_max_new_tokens=max_new,
        max_steps=4,
    )
    assert result["steps"] == 2 and result["heldout_items"] == 6
    logged = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["heldout_accuracy"]) for r in logged if "heldout_accuracy" in r]
    assert [s for s, _ in curve] == [0, 2, 2]  # before, during (then stopped), after

    before = _cotrl_eval(Path(start), items, tmp_path / "before.json", "exact_match", max_new)
    assert curve[0][1] == before["accuracy"] == 0.5 == result["heldout_accuracy_before"]
    assert result["heldout_format_rate_before"] == before["format_rate"]

    after = _cotrl_eval(tmp_path / "run", items, tmp_path / "after.json", "exact_match", max_new)
    assert result["heldout_accuracy_after"] == after["accuracy"] == curve[-1][1]
    assert result["heldout_format_rate_after"] == after["format_rate"]
    samples = [json.loads(x) for x in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [0, 2, 2]
    assert [s["completion"] for s in samples[0]["samples"]] == [s["completion"] for s in before["samples"]]
    assert [s["completion"] for s in samples[-1]["samples"]] == [s["completion"] for s in after["samples"]]
