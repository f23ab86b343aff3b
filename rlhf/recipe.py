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
class RewardOptionsSection:
    """How the weighted `rewards` list is combined and verified."""

    mask: Literal["any", "all"] = "any"  # any: None if any weighted reward is None; all: None only if all are
    math_workers: int = 0  # processes verifying math answers with sympy (0: min(4, cores))

    def __post_init__(self) -> None:
        if self.math_workers < 0:
            raise ValueError(f"reward_options.math_workers must be >= 0, got {self.math_workers}")


@dataclass(frozen=True)
class RunConfig:
    """The top level of a recipe."""

    trainer: str  # sft | grpo | ppo | prm | distill (registered trainer name)
    run: RunSection = field(default_factory=RunSection)
    model: ModelSection = field(default_factory=ModelSection)
    tiny: TinyModelSection = field(default_factory=TinyModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    rewards: tuple[RewardSpec, ...] = ()
    reward_options: RewardOptionsSection = field(default_factory=RewardOptionsSection)
