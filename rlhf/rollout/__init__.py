"""Rollout engines behind one `Sampler` protocol (see `rlhf.rollout.base`).

Backends are registered lazily so that choosing `transformers` never imports vllm.
A factory has the signature `make_sampler(model, tokenizer, cfg: RunConfig) -> Sampler`.
"""

from rlhf.registry import Registry

SAMPLERS: Registry = Registry("rollout backend")
SAMPLERS.register_lazy("transformers", "rlhf.rollout.hf:make_sampler")
SAMPLERS.register_lazy("vllm", "rlhf.rollout.vllm_backend:make_sampler")
