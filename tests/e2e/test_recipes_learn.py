"""The RL recipes learn: from a warm start built here, `recipes/grpo_outcome.yaml` as written
(full finetune, lr 5e-5, temperature 0.7, no curriculum, `math_answer`) raises held-out accuracy.

Sized for the suite (about 1.5-2 minutes on one busy core), so it checks the direction, not the
README's numbers: the warm start is `recipes/sft_warmstart.yaml` cut to SFT_STEPS (held-out
accuracy about 0.05, the demo's regime of a weak start with room to learn) and the RL run is the
recipe cut to RL_STEPS by override (200 as written). Held-out: every test-split problem of the
family (654, never trained on), greedy. Measured: 0.054 -> 0.067 (+9 problems) as written; with
the recipe's earlier settings (LoRA r=16, lr 2e-5, temperature 1.0, curriculum) it went to 0.052
(-1 problem) and this test failed. From the full 1500-step warm start the recipes do not raise held-out
accuracy (README "Do the RL recipes learn as written?").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlhf.cli.main import main

REPO = Path(__file__).resolve().parents[2]
FAMILY = {"min_operands": 2, "max_operands": 3, "max_digits": 1}  # the recipes' problems
SFT_STEPS = 300
RL_STEPS = 60
HELDOUT = 654  # every problem of the family's test split


def _accuracy(run_or_model: Path) -> float:
    """Greedy `math_answer` accuracy on the held-out problems (the final model of a run dir)."""
    from rlhf.eval import evaluator as ev

    model_dir, adapter = ev.resolve_checkpoint(run_or_model)
    model, tok = ev.load_model(model_dir, adapter)
    problems = ev.generated_problems("integer_arithmetic", HELDOUT, "test", 0, None, FAMILY)
    settings = ev.EvalSettings(max_new_tokens=48, step_metrics=False)
    return ev.evaluate(model, tok, problems, settings)["accuracy"]


@pytest.mark.slow
def test_grpo_outcome_recipe_raises_heldout_accuracy(tmp_path):
    family = "{min_operands: 2, max_operands: 3, max_digits: 1}"
    sft = tmp_path / "sft"
    sft_argv = [
        "train",
        str(REPO / "recipes/sft_warmstart.yaml"),
        f"run.output_dir={sft}",
        "run.device=cpu",
        f"sft.generate.params={family}",
        f"sft.max_steps={SFT_STEPS}",
        "sft.eval_every=0",
        "sft.eval_max_items=8",  # the trainer's own before/after check; the test scores its own set
        "sft.eval_max_new_tokens=48",
    ]
    assert main(sft_argv) == 0
    before = _accuracy(sft / "model")
    rl = tmp_path / "grpo"
    rl_argv = [
        "train",
        str(REPO / "recipes/grpo_outcome.yaml"),
        f"run.output_dir={rl}",
        f"model.path={sft / 'model'}",
        "run.device=cpu",
        "run.save_every=0",
        f"train.steps={RL_STEPS}",
    ]
    assert main(rl_argv) == 0
    after = _accuracy(rl)
    assert 0.02 <= before <= 0.5, before  # a warm start that answers some, with room to improve
    assert after >= before + 4 / HELDOUT, (before, after)  # at least 4 more problems right
