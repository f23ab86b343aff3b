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
class AlgoSection:
    """The RL algorithm: which advantage estimator and policy loss, and their knobs.

    Names resolve in `rlhf.algos.ADVANTAGES` / `rlhf.algos.LOSSES` (or `package.module:fn`).
    """

    advantage: str = "grpo"  # grpo | dr_grpo | rloo | reinforce_pp | reinforce_pp_baseline | gae | process_grpo | mixed
    loss: str = "ppo_clip"  # ppo_clip (token ratio) | gspo (sequence ratio)
    scale_std: bool = True  # grpo/process_grpo: divide by the group std (false: Dr.GRPO-style mean-centring only)
    adv_eps: float = 1e-6  # added to the std before dividing
    gamma: float = 1.0  # discount for reinforce_pp and gae
    gae_lambda: float = 0.95  # GAE lambda
    gae_whiten: bool = True  # gae: whiten advantages over the batch's response tokens
    outcome_weight: float = 1.0  # mixed: weight of the outcome (grpo) advantage
    process_weight: float = 1.0  # mixed: weight of the process (process_grpo) advantage
    clip_low: float = 0.2  # ratio lower bound is 1 - clip_low
    clip_high: float = 0.2  # ratio upper bound is 1 + clip_high (DAPO clip-higher: 0.28)
    dual_clip: float | None = None  # dual-clip c > 1 bounds the loss for negative advantages (e.g. 3.0); null: off
    agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "constant"] = "token-mean"
    norm_constant: float | None = None  # agg=constant (Dr.GRPO): divide the token sum by N * this; null: padded width T
    kl_coef: float = 0.0  # weight of KL(policy || reference); 0 needs no reference model
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"  # Schulman's estimators of the per-token KL
    kl_in_reward: bool = False  # fold -kl_coef * KL into token rewards (token-level estimators) instead of the loss
    entropy_coef: float = 0.0  # entropy bonus weight (needs the trainer to pass per-token entropy)
    tis_cap: float | None = None  # truncated importance sampling: weight min(pi_old / pi_sampler, cap); null: off
    value_clip: float = 0.2  # PPO value loss: clip new values to old +- this
    value_coef: float = 0.5  # PPO value loss weight (used by the ppo trainer)

    def __post_init__(self) -> None:
        for key in ("clip_low", "clip_high", "adv_eps", "kl_coef", "entropy_coef", "value_clip", "value_coef"):
            if getattr(self, key) < 0:
                raise ValueError(f"algo.{key} must be >= 0, got {getattr(self, key)}")
        if self.clip_low >= 1.0:
            raise ValueError(f"algo.clip_low must be < 1 (the ratio floor is 1 - clip_low), got {self.clip_low}")
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"algo.gamma must be in [0, 1], got {self.gamma}")
        if not 0.0 <= self.gae_lambda <= 1.0:
            raise ValueError(f"algo.gae_lambda must be in [0, 1], got {self.gae_lambda}")
        if self.dual_clip is not None and self.dual_clip <= 1.0:
            raise ValueError(f"algo.dual_clip must be > 1 (or null), got {self.dual_clip}")
        if self.norm_constant is not None and self.norm_constant <= 0:
            raise ValueError(f"algo.norm_constant must be > 0 (or null), got {self.norm_constant}")
        if self.tis_cap is not None and self.tis_cap <= 0:
            raise ValueError(f"algo.tis_cap must be > 0 (or null), got {self.tis_cap}")
        from rlhf.algos import validate_algo_names  # local: rlhf.algos imports this module

        validate_algo_names(self)


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
    algo: AlgoSection = field(default_factory=AlgoSection)
    reward_options: RewardOptionsSection = field(default_factory=RewardOptionsSection)
