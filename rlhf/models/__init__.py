"""Models: the policy and its tokenizer (`policy`), LoRA adapters (`adapters`), the tiny local model (`tiny`)."""
