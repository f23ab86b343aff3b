"""The recipe schema: one YAML file describes one run.

Every field is documented here, once. `rlhf.config` turns YAML into these frozen
dataclasses strictly; `cotrl train` picks the trainer named by `trainer`.
Sections a trainer does not use keep their defaults and are ignored by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class RunSection:
    output_dir: str = "runs/default"  # everything the run writes lives here
    seed: int = 0  # seeds torch, python and numpy; per-item data seeds are hashed from it
    log_every: int = 1  # steps between progress lines
    save_every: int = 0  # steps between checkpoints (0: only at the end)
    keep_checkpoints: int = 2  # older complete checkpoints are pruned
    device: str = "auto"  # auto | cpu | cuda
    report_to: tuple[str, ...] = ()  # extra sinks: tensorboard, wandb


@dataclass(frozen=True)
class ModelSection:
    path: str = ""  # a local HF directory, a hub id, or "tiny" to build the tiny local model
    tokenizer: str | None = None  # defaults to `path`
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False


@dataclass(frozen=True)
class LoraSection:
    enabled: bool = False  # false: full finetune
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    adapter_path: str | None = None  # continue from an existing adapter (e.g. an SFT run's)

    def __post_init__(self) -> None:
        if self.enabled and self.r <= 0:
            raise ValueError(f"lora.r must be positive, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TinyModelSection:
    """Used when `model.path: tiny`: a small Qwen2-style LM and a locally trained tokenizer."""

    hidden_size: int = 128
    num_layers: int = 2
    num_heads: int = 2  # head_dim = hidden_size / num_heads; vLLM's CPU kernels need 64
    intermediate_size: int = 256
    vocab_size: int = 512
    max_position_embeddings: int = 512


@dataclass(frozen=True)
class RewardSpec:
    """One reward in a weighted combination: `{name, weight, params}`."""

    name: str
    weight: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SftGenerateSpec:
    """Generate data_gen items in-process (so a recipe runs as written, with no files to prepare)."""

    task: str  # a data_gen generator name (data_gen.registry.GENERATORS)
    n: int = 1000  # items to generate (the held-out split comes out of these unless sft.eval_path is set)
    seed: int = 0  # item i is rebuilt from (task, seed, i)
    params: dict[str, Any] = field(default_factory=dict)  # the generator's own config (difficulty knobs)

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError(f"sft.generate.n must be positive, got {self.n}")


@dataclass(frozen=True)
class SftSection:
    """Supervised finetuning (trainer: sft): data, mixing, schedule, evaluation and outputs."""

    train_path: str | None = None  # domain data: JSONL, CSV, Parquet file or `datasets` dir (chat, prompt/completion or data_gen rows)
    generate: SftGenerateSpec | None = None  # domain data generated in-process instead of (or besides) train_path
    general_path: str | None = None  # general data mixed into the domain data (same formats)
    general_generate: SftGenerateSpec | None = None  # general data generated in-process
    domain_ratio: float = 1.0  # fraction of training examples that are domain data, in (0, 1]
    eval_path: str | None = None  # held-out domain data; unset: split off `eval_fraction` of the domain data
    eval_fraction: float = 0.1  # share of domain data held out when eval_path is unset
    eval_max_items: int = 64  # held-out items scored by generation (task metric)
    eval_every: int = 0  # optimizer steps between held-out evaluations during training (0: only before and after)
    eval_metric: str = "exact_match"  # exact_match (on <answer>, else the whole completion) or a rewards.registry.REWARDS name
    eval_max_new_tokens: int = 96  # generation budget per held-out item
    max_steps: int = 100  # optimizer steps (each = batch_size * grad_accum examples)
    batch_size: int = 8  # examples per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 3e-5  # peak learning rate
    lr_scheduler: str = "cosine"  # any transformers scheduler name (cosine, linear, constant_with_warmup, ...)
    warmup_ratio: float = 0.05  # share of steps spent warming up
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    max_length: int = 512  # tokens per example (prompt + completion); longer ones are truncated
    completion_only_loss: bool = True  # loss on completion tokens only (the prompt is context)
    save: Literal["adapter", "merged", "both"] = "adapter"  # LoRA outputs: adapter dir, merged HF dir, or both
    qlora: bool = False  # 4-bit base (bitsandbytes, CUDA only) under the LoRA adapter
    tokenizer_corpus_size: int = 4000  # examples whose text trains the tokenizer when model.path is "tiny"

    def __post_init__(self) -> None:
        if not 0.0 < self.domain_ratio <= 1.0:
            raise ValueError(f"sft.domain_ratio must be in (0, 1], got {self.domain_ratio}")
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"sft.eval_fraction must be in [0, 1), got {self.eval_fraction}")
        for name in ("max_steps", "batch_size", "grad_accum", "max_length"):
            if getattr(self, name) <= 0:
                raise ValueError(f"sft.{name} must be positive, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"sft.lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class RunConfig:
    """The top level of a recipe."""

    trainer: str  # sft | grpo | ppo | prm | distill (registered trainer name)
    run: RunSection = field(default_factory=RunSection)
    model: ModelSection = field(default_factory=ModelSection)
    tiny: TinyModelSection = field(default_factory=TinyModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    rewards: tuple[RewardSpec, ...] = ()
    sft: SftSection = field(default_factory=SftSection)  # used by trainer: sft
