"""Models: the policy and its tokenizer (`policy`), LoRA adapters (`adapters`), LoRA targets per
architecture (`lora_targets`), chat templates and end-of-turn tokens (`chat`), the tiny local model
(`tiny`) and tiny models of the architectures the tests cover (`tiny_archs`)."""
