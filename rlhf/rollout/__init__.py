"""Rollout engines behind one `Sampler` protocol (see `rlhf.rollout.base`), plus what
works on rollouts: the weight-sync parity probe (`parity`), scoring with rewards (`scoring`) and
Math-Shepherd Monte Carlo step labels (`mc_labels`).

Backends are registered lazily so that choosing `transformers` never imports vllm.
A factory has the signature `make_sampler(model, tokenizer, cfg: RunConfig) -> Sampler`.
"""

import importlib.util
from typing import Any

from rewards.registry import Registry

SAMPLERS: Registry = Registry("rollout backend")
SAMPLERS.register_lazy("transformers", "rlhf.rollout.hf:make_sampler")
SAMPLERS.register_lazy("vllm", "rlhf.rollout.vllm_backend:make_sampler")


def choose_backend(cfg: Any) -> str:
    """`rollout.backend: auto` -> vllm when both vllm and our vllm backend import, else transformers."""
    if cfg.rollout.backend != "auto":
        return cfg.rollout.backend
    has_vllm = importlib.util.find_spec("vllm") is not None
    has_backend = importlib.util.find_spec("rlhf.rollout.vllm_backend") is not None
    return "vllm" if has_vllm and has_backend else "transformers"
