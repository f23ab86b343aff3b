"""Rollout engines behind one `Sampler` protocol (transformers here, vLLM in rollout/vllm*)."""
