"""Our rewards inside a real TRL GRPOTrainer step (tiny local model, CPU)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_grpo_trainer_calls_our_rewards_with_dataset_columns(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from rewards.trl import trl_reward_funcs

    ds = Dataset.from_list(
        [{"prompt": "What is 7 * 3?", "answer": "21"}, {"prompt": "What is 2 + 2?", "answer": "4"}]
    )
    funcs, weights = trl_reward_funcs(
        [{"name": "math_answer", "weight": 1.0}, {"name": "format", "weight": 0.5}]
    )
    seen = []
    build = funcs[0].problems
    funcs[0].problems = lambda prompts, n, columns: seen.extend(build(prompts, n, columns)) or seen[-n:]
    cfg = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        report_to=[],
        logging_steps=1,
        use_cpu=True,
        reward_weights=weights,
        save_strategy="no",
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        reward_funcs=funcs,
        args=cfg,
        train_dataset=ds,
        processing_class=AutoTokenizer.from_pretrained(tiny_model_dir),
    )
    trainer.train()
    logs = trainer.state.log_history[0]
    assert "rewards/math_answer/mean" in logs and "rewards/format/mean" in logs
    assert logs["math_answer/unverifiable_frac"] == 0.0
    expected = {"What is 7 * 3?": "21", "What is 2 + 2?": "4"}
    assert len(seen) == 2 and all(
        expected[p.prompt] == p.answer for p in seen
    )  # each row's own answer column
