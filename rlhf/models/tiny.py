"""Tiny local models: a Qwen2-style causal LM and a tokenizer trained here.

No model hub is reachable from CI or a laptop demo, so the project builds its own
small models. The result is an ordinary HF directory (config, safetensors weights,
tokenizer.json, chat template) that transformers, peft and vLLM all load by path.
head_dim is 64 because vLLM's CPU attention rejects smaller heads.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch

from data_gen.writers import honour_umask, make_temp_dir

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|pad|>"

# Qwen-style ChatML; the generation prompt opens an assistant turn.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

DEFAULT_CORPUS = (
    "Compute 12 + 7 * 3. Step 1: 7 * 3 = 21. Step 2: 12 + 21 = 33. The answer is 33.",
    "Solve 2x + 3 = 11 for x. 2x = 11 - 3 = 8, so x = 8 / 2 = 4. <answer>4</answer>",
    "<think>First multiply, then add.</think><answer>42</answer>",
    "The interest on 1000 at 5% for 2 years is 1000 * 0.05 * 2 = 100.",
    "def add(a, b):\n    return a + b\nassert add(2, 3) == 5",
)


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 512):
    """Train a byte-level BPE tokenizer whose digits are single tokens (arithmetic stays learnable)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        bos_token=None,
        unk_token=None,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_qwen2_config(
    vocab_size: int,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 256,
    max_position_embeddings: int = 512,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
):
    from transformers import Qwen2Config

    if hidden_size % num_heads:
        raise ValueError(
            f"tiny.hidden_size ({hidden_size}) must be divisible by tiny.num_heads ({num_heads})"
        )
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        head_dim=hidden_size // num_heads,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=eos_token_id,
        dtype="float32",
    )


def build_tiny_model(
    out_dir: str | os.PathLike[str],
    corpus: Iterable[str] = DEFAULT_CORPUS,
    *,
    vocab_size: int = 512,
    hidden_size: int = 128,
    num_layers: int = 2,
    num_heads: int = 2,
    intermediate_size: int = 256,
    max_position_embeddings: int = 512,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Train a tokenizer on `corpus`, initialise a tiny Qwen2 LM, save both to `out_dir` atomically."""
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    if out.exists() and not overwrite:
        if (out / "config.json").is_file():
            return out
        raise ValueError(f"tiny model directory {out} exists and is not a model; pass overwrite=True")
    tokenizer = train_tokenizer(corpus, vocab_size=vocab_size)
    config = tiny_qwen2_config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "cotrl_tiny.json").write_text(json.dumps({"seed": seed, "vocab_size": len(tokenizer)}))
        honour_umask(tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tiny-model", help="build a tiny local Qwen2-style model and tokenizer")
    p.add_argument("out", help="output directory (an HF model directory)")
    p.add_argument("--corpus", help="text file (one document per line) to train the tokenizer on")
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--hidden-size", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_run_cli)


def _run_cli(args) -> int:
    corpus: Iterable[str] = DEFAULT_CORPUS
    if args.corpus:
        path = Path(args.corpus)
        if not path.is_file():
            raise FileNotFoundError(f"--corpus file not found: {path}")
        corpus = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    build_tiny_model(
        out,
        corpus,
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        num_heads=args.heads,
        seed=args.seed,
        overwrite=args.overwrite,
    )
    print(f"tiny model written to {out}")
    return 0
