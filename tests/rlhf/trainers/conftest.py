"""Fixtures of the trainer tests: a model whose every loss is NaN, for the non-finite-loss policy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def nan_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with one NaN in its final norm: a real model whose every loss is NaN, so a
    trainer meets a genuine non-finite loss (causal-LM and PRM heads alike) on every step."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")
    out = tmp_path_factory.mktemp("nan") / "model"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out
