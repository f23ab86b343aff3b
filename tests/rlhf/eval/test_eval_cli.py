"""`cotrl eval`: metrics computed right on known completions, the CLI end to end, and bad input."""

from __future__ import annotations

import json

import pytest

from data_gen.render import gold_completion
from rewards.types import Problem
from rlhf.cli.main import main
from rlhf.eval import evaluator as ev
from rlhf.rollout.base import Completion


class ScriptedSampler:
    """Implements the Sampler protocol by replaying given texts (to check the metric arithmetic)."""

    def __init__(self, tokenizer, greedy: list[str], sampled: list[list[str]]) -> None:
        self.tok, self.greedy, self.sampled = tokenizer, greedy, sampled

    def _c(self, text: str, finish: str = "stop") -> Completion:
        ids = tuple(self.tok(text, add_special_tokens=False).input_ids)
        return Completion(ids, (0.0,) * len(ids), text, finish)

    def generate(self, prompts, params):
        if params.temperature == 0:
            return [[self._c(t)] for t in self.greedy]
        return [[self._c(t) for t in row] for row in self.sampled]

    def sync_weights(self, model):  # pragma: no cover - not used
        raise NotImplementedError


def test_metrics_on_gold_and_wrong_completions(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = ev.generated_problems("integer_arithmetic", 4, "test", params={"max_operands": 3})
    gold = [gold_completion(p) for p in problems]
    bad = "<think>\n1 + 1 = 3\n</think>\n<answer>-99999</answer>"
    greedy = gold[:2] + [bad, bad]
    # problem 0: 2 of 3 right; others: none right except problem 1 which is all right
    sampled = [[gold[0], gold[0], bad], [gold[1]] * 3, [bad] * 3, [bad] * 3]
    res = ev.evaluate(
        None, tok, problems, ev.EvalSettings(k=3), sampler=ScriptedSampler(tok, greedy, sampled)
    )
    assert res["accuracy"] == pytest.approx(0.5)
    n_gold_steps = sum(len(p.solution_steps) + 1 for p in problems[:2])  # the <answer> line is a step too
    assert (
        res["verifiable_steps"] == n_gold_steps + 2 * 2
    )  # each wrong trace: one false claim, one wrong answer
    assert res["step_accuracy"] == pytest.approx(n_gold_steps / (n_gold_steps + 4))
    assert res["trace_accuracy"] == pytest.approx(0.5)
    assert res["pass@3"] == pytest.approx(0.5)
    assert res["pass@1_sampled"] == pytest.approx((2 / 3 + 1) / 4)
    assert res["maj@3"] == pytest.approx(0.5)
    assert res["pass@3_greedy_wrong"] == 0.0  # greedy misses problems 2 and 3; no sample solves them
    assert res["truncation_rate"] == 0.0
    # a sample solving one of greedy's two misses: half of them are within reach of sampling
    sampled[2] = [bad, bad, gold[2]]
    res = ev.evaluate(
        None, tok, problems, ev.EvalSettings(k=3), sampler=ScriptedSampler(tok, greedy, sampled)
    )
    assert res["pass@3_greedy_wrong"] == pytest.approx(0.5) and res["pass@3"] == pytest.approx(0.75)


def test_metric_chooses_the_scorer_and_step_metrics_can_be_skipped(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    problems = [Problem(id="a", task="t", prompt="Half of 1?", answer="0.5")] * 2
    greedy = ["<think>\nhalve\n</think>\n<answer>\\frac{1}{2}</answer>", "<answer>0.50</answer> trailing"]

    def run(**kw):
        return ev.evaluate(
            None, tok, problems, ev.EvalSettings(**kw), sampler=ScriptedSampler(tok, greedy, [])
        )

    verified = run()  # math_answer: \frac{1}{2} is 0.5
    assert verified["metric"] == "math_answer" and verified["accuracy"] == 1.0
    exact = run(metric="exact_match", step_metrics=False)  # exact match reads "\frac{1}{2}" as text
    assert exact["accuracy"] == 0.5 and exact["format_rate"] == 0.5
    assert "step_accuracy" in verified and "step_accuracy" not in exact
    with pytest.raises(
        ValueError, match="--metric 'exact': unknown reward 'exact'.*did you mean 'exact_match'"
    ):
        run(metric="exact")


def test_cli_on_tiny_model_and_jsonl(tiny_model_dir, tmp_path, capsys):
    rows = [p.to_dict() for p in ev.generated_problems("integer_arithmetic", 3, "test")]
    data = tmp_path / "items.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "eval.json"
    rc = main(
        [
            "eval",
            str(tiny_model_dir),
            "--data",
            str(data),
            "--k",
            "2",
            "--max-new-tokens",
            "8",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["n_problems"] == 3 and res["backend"] == "transformers"
    assert 0.0 <= res["accuracy"] <= 1.0 and "pass@2" in res and "maj@2" in res
    assert res["mean_length"] <= 8 and 0.0 <= res["truncation_rate"] <= 1.0


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["eval", "/nonexistent/ckpt", "--task", "integer_arithmetic"], "checkpoint not found"),
        (["eval", "{model}", "--data", "/nonexistent/items.jsonl"], "dataset not found"),
        (["eval", "{model}", "--task", "no_such_task"], "unknown"),
        (
            ["eval", "{model}", "--task", "integer_arithmetic", "--metric", "exact"],
            "did you mean 'exact_match'",
        ),
    ],
)
def test_bad_input_is_one_line(tiny_model_dir, capsys, argv, needle):
    argv = [a.replace("{model}", str(tiny_model_dir)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_adapter_dir_resolves_to_its_base(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"),
    )
    model.save_pretrained(tmp_path / "adapter")
    base, adapter = ev.resolve_checkpoint(tmp_path / "adapter")
    assert base == str(tiny_model_dir) and adapter == str(tmp_path / "adapter")
    net, _ = ev.load_model(base, adapter)
    assert not hasattr(net, "peft_config")  # merged: plain weights for every backend


@pytest.mark.slow
@pytest.mark.vllm
def test_vllm_backend_matches_transformers_greedy(tiny_model_dir):
    pytest.importorskip("vllm")
    problems = ev.generated_problems("integer_arithmetic", 4, "test")
    model, tok = ev.load_model(str(tiny_model_dir))
    res = {
        b: ev.evaluate(
            model,
            tok,
            problems,
            ev.EvalSettings(k=2, max_new_tokens=12, backend=b),
            model_dir=str(tiny_model_dir),
        )
        for b in ("transformers", "vllm")
    }
    assert res["vllm"]["backend"] == "vllm"
    assert [s["completion"] for s in res["vllm"]["samples"]] == [
        s["completion"] for s in res["transformers"]["samples"]
    ]
    assert res["vllm"]["mean_length"] == res["transformers"]["mean_length"]
    assert "pass@2" in res["vllm"]
