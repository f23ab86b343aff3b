"""The recipe schema: one YAML file describes one run.

Every field is documented here, once (the sections of the supervised trainers, sft, prm
and distill, in `rlhf.config.supervised`; every name is importable from here). `rlhf.config.loader`
turns YAML into these frozen dataclasses strictly; `cotrl train` picks the trainer named by `trainer`.
Each trainer declares what it reads (`rlhf.config.reads.Reads`); a recipe that sets a section or key its trainer
does not read is refused before anything runs (`rlhf.trainers.checks`), and a key that moved
(`sft.lr`) says where it lives now (`MOVED_KEYS` on a section).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rewards.combine import RewardSpec
from rlhf.config.supervised import DistillSection, PRMSection, SftSection


@dataclass(frozen=True)
class RunSection:
    output_dir: str = "runs/default"  # everything the run writes lives here
    seed: int = 0  # seeds torch, python and numpy; per-item data seeds are hashed from it
    log_every: int = 1  # steps between progress lines
    save_every: int = 0  # steps between checkpoints (0: only at the end)
    keep_checkpoints: int = 2  # older complete checkpoints are pruned
    device: str = "auto"  # auto | cpu | cuda
    report_to: tuple[str, ...] = ()  # trackers besides metrics.jsonl: tensorboard, trackio, wandb, mlflow


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
    # LoRA targets: module names, `all-linear` (every linear layer but the output head, peft's
    # option), or empty for the architecture's default (rlhf.models.lora_targets: q_proj, v_proj on
    # Llama-style attention, qkv_proj and o_proj on Phi-3, the latent projections on DeepSeek)
    target_modules: tuple[str, ...] | Literal["all-linear"] = ()
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
class TaskSpec:
    """One data_gen generator in the mix: `{name, weight, params}`."""

    name: str
    weight: float = 1.0  # relative share of prompts drawn from this task
    params: dict[str, Any] = field(
        default_factory=dict
    )  # knob overrides; `level` (0-10) fixes the difficulty


@dataclass(frozen=True)
class CurriculumSection:
    """Moves each task's difficulty level so group pass rates stay inside [low, high]."""

    enabled: bool = False
    low: float = 0.2  # below this mean pass rate the level goes down
    high: float = 0.8  # above this mean pass rate the level goes up
    window: int = 4  # group pass rates of a task pooled before its level may move
    start_level: int = 0  # data_gen levels run 0 (easiest) to 10
    min_level: int = 0
    max_level: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.low < self.high <= 1.0:
            raise ValueError(
                f"curriculum.low/high must satisfy 0 <= low < high <= 1, got {self.low}, {self.high}"
            )
        if self.window < 1:
            raise ValueError(f"curriculum.window must be >= 1, got {self.window}")
        if not self.min_level <= self.start_level <= self.max_level:
            raise ValueError(
                f"curriculum.start_level must be in [min_level, max_level], got {self.start_level}"
            )


@dataclass(frozen=True)
class DataSection:
    """Where RL prompts come from: data_gen generators (endless, seeded), a JSONL file of problems,
    or a published dataset on disk (`source: file`, read by `data_gen.datasets`)."""

    source: Literal["generators", "jsonl", "file"] = "generators"
    path: str = ""  # jsonl: JSONL of data_gen items; file: a JSONL/Parquet file or a `datasets` dir (cycled in a seeded order)
    format: str = "items"  # source file: gsm8k | math | numina | aime | mbpp | humaneval | stdio | items
    split: str = "train"  # source file: the split of a saved DatasetDict
    skip_bad_rows: bool = (
        False  # source file: skip (and count) rows whose answer cannot be read, instead of stopping
    )
    tasks: tuple[TaskSpec, ...] = ()  # generators to mix when source is generators
    prompts_per_step: int = 4  # distinct problems per RL step (each sampled rollout.n times)
    system_prompt: str | None = None  # prepended as a system message when set
    curriculum: CurriculumSection = field(default_factory=CurriculumSection)

    def __post_init__(self) -> None:
        if self.prompts_per_step < 1:
            raise ValueError(f"data.prompts_per_step must be >= 1, got {self.prompts_per_step}")
        if self.source == "file" and self.tasks:
            raise ValueError(
                "data.tasks is read only when data.source is 'generators' (data.source is 'file')"
            )
        if self.source != "file":
            unread = [
                k
                for k, default in (("format", "items"), ("split", "train"), ("skip_bad_rows", False))
                if getattr(self, k) != default
            ]
            if unread:
                raise ValueError(
                    f"data.{unread[0]} is read only when data.source is 'file' (data.source is {self.source!r})"
                )


@dataclass(frozen=True)
class RolloutSection:
    """Sampling for RL: which engine and how."""

    backend: Literal["auto", "transformers", "vllm"] = "auto"  # auto: vllm when importable, else transformers
    n: int = 4  # samples per prompt (the GRPO group size)
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ("</answer>",)  # stop strings (kept in the text)
    batch_size: int = (
        0  # max sequences generated at once by the transformers backend, in whole prompts (0: all)
    )

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"rollout.n must be >= 1, got {self.n}")
        if self.max_new_tokens < 1:
            raise ValueError(f"rollout.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature <= 0:
            raise ValueError(f"rollout.temperature must be > 0 for RL sampling, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"rollout.top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class AsyncSection:
    """`train.async`: generate step k+1's rollouts in a sampler process (or thread) while step k's update runs.

    The sampler holds its own copy of the policy and loads the weights of one published
    version per step, so the samples a step trains on come from the policy of `max_staleness`
    steps before (0 right after a start or resume). The loss corrects for that with the
    sampler's logprobs (`algo.tis_cap`, `algo.tis_mode`); samples older than `max_staleness`
    versions are dropped, counted and regenerated. GRPO, one process, transformers backend.
    """

    enabled: bool = False  # false: the synchronous loop, unchanged
    max_staleness: int = 1  # how many policy versions a sample may lag; also how far the sampler runs ahead
    sampler: Literal["process", "thread"] = (
        "process"  # process: no GIL shared with the trainer (small models); thread: no start-up, shares the GIL
    )

    def __post_init__(self) -> None:
        if self.max_staleness < 1:
            raise ValueError(f"train.async.max_staleness must be >= 1, got {self.max_staleness}")


@dataclass(frozen=True)
class TrainSection:
    """Optimisation. The first group is read by every trainer (grpo, ppo, sft, distill, prm) through
    `rlhf.runtime.optim`; the rest by the RL trainers only. Step counts and batch sizes stay in each
    trainer's section, because they count different things: RL steps here (a rollout batch and its
    updates each), optimizer steps in `sft.max_steps`, passes over a fixed dataset in `prm.epochs`."""

    # shared by every trainer (rlhf.config.reads.SHARED_TRAIN_KEYS)
    lr: float = 1e-5  # peak learning rate
    weight_decay: float = 0.0  # AdamW's decoupled weight decay, on every trainable parameter
    optimizer: Literal["adamw", "adamw_fused"] = (
        "adamw"  # torch AdamW; adamw_fused: its fused kernel (transformers' choice for SFT; equal up to rounding)
    )
    lr_scheduler: Literal["cosine", "linear", "constant"] = (
        "cosine"  # after warmup: cosine or linear decay to min_lr_ratio * lr, or constant
    )
    warmup_steps: int = 0  # linear warmup over this many optimizer updates...
    warmup_ratio: float = 0.0  # ...or over this share of all updates (rounded down); set at most one
    warmup_offset: int = (
        0  # warmup LR of update s is lr * (s + offset) / warmup: 0 starts at 0, 1 at lr / warmup
    )
    min_lr_ratio: float = 0.1  # the decay ends at min_lr_ratio * lr
    max_grad_norm: float = 1.0  # clip the gradient norm to this before each update (0 disables clipping)
    max_bad_steps: int = 3  # steps in a row whose update was skipped for a NaN/inf loss before the run stops
    cpu_threads: int | Literal["auto"] = (
        "auto"  # torch intra-op threads; auto: 1 for a model under 20M parameters on CPU, else every core (rlhf.runtime.threads); 0: torch's default
    )
    # RL only (grpo, ppo)
    steps: int = 10  # RL steps (one rollout batch and its updates each)
    micro_batch_size: int = 0  # rollouts per forward/backward; gradients accumulate over them (0: all)
    ppo_epochs: int = 1  # passes over each rollout batch
    mini_batches: int = 1  # optimizer steps per pass (each over 1/mini_batches of the rollouts)
    mixed_precision: Literal["no", "bf16", "fp16"] = "no"  # autocast through accelerate
    value_lr: float = 1e-4  # PPO critic learning rate (ppo only)
    samples_per_step: int = 4  # completions written to samples.jsonl per step
    dynamic_sampling: bool = False  # DAPO: drop zero-variance groups and draw more prompts to refill
    max_resample_rounds: int = 2  # extra draws per step when dynamic_sampling refills
    async_: AsyncSection = field(  # the YAML key is `async` (a Python keyword): train.async.enabled
        default_factory=AsyncSection, metadata={"key": "async"}
    )

    def __post_init__(self) -> None:
        for name in ("steps", "ppo_epochs", "mini_batches", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")
        for name in ("micro_batch_size", "warmup_steps", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ValueError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if self.cpu_threads != "auto" and self.cpu_threads < 0:
            raise ValueError(f"train.cpu_threads must be auto or >= 0, got {self.cpu_threads}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.warmup_ratio > 0 and self.warmup_steps > 0:
            raise ValueError("train.warmup_steps and train.warmup_ratio are both set; set one of them")
        if self.warmup_offset not in (0, 1):
            raise ValueError(f"train.warmup_offset must be 0 or 1, got {self.warmup_offset}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"train.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


@dataclass(frozen=True)
class AlgoSection:
    """The RL algorithm: which advantage estimator and policy loss, and their knobs.

    Names resolve in `rlhf.algos.ADVANTAGES` / `rlhf.algos.LOSSES` (or `package.module:fn`).
    """

    advantage: str = "grpo"  # a registered estimator: rlhf.algos.ADVANTAGES.infos() (README's table)
    loss: str = "ppo_clip"  # ppo_clip (token ratio) | gspo (sequence ratio)
    scale_std: bool = (
        True  # grpo/process_grpo: divide by the group std (false: Dr.GRPO-style mean-centring only)
    )
    adv_eps: float = 1e-6  # added to the std before dividing
    gamma: float = 1.0  # discount for reinforce_pp and gae
    gae_lambda: float = 0.95  # GAE lambda
    gae_whiten: bool = True  # gae: whiten advantages over the batch's response tokens
    outcome_weight: float = 1.0  # mixed: weight of the outcome (grpo) advantage
    process_weight: float = 1.0  # mixed: weight of the process (process_grpo) advantage
    step_norm: Literal["sum", "count"] = (
        "sum"  # process_grpo: count divides a completion's step terms by its scored steps (no credit for length)
    )
    clip_low: float = 0.2  # ratio lower bound is 1 - clip_low
    clip_high: float = 0.2  # ratio upper bound is 1 + clip_high (DAPO clip-higher: 0.28)
    dual_clip: float | None = (
        None  # dual-clip c > 1 bounds the loss for negative advantages (e.g. 3.0); null: off
    )
    agg: Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "constant"] = "token-mean"
    norm_constant: float | None = (
        None  # agg=constant (Dr.GRPO): divide the token sum by N * this; null: padded width T
    )
    kl_coef: float = 0.0  # weight of KL(policy || reference); 0 needs no reference model
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"  # Schulman's estimators of the per-token KL
    kl_in_reward: bool = (
        False  # fold -kl_coef * KL into token rewards (token-level estimators) instead of the loss
    )
    entropy_coef: float = 0.0  # entropy bonus weight (needs the trainer to pass per-token entropy)
    tis_cap: float | None = (
        None  # truncated importance sampling: weight min(pi_old / pi_sampler, cap); null: off
    )
    tis_mode: Literal["truncate", "mask"] = (
        "truncate"  # truncate: min(ratio, tis_cap); mask: ratio, or 0 where it exceeds tis_cap (token left out)
    )
    value_clip: float = 0.2  # PPO value loss: clip new values to old +- this
    value_coef: float = 0.5  # PPO value loss weight (used by the ppo trainer)

    def __post_init__(self) -> None:
        for key in (
            "clip_low",
            "clip_high",
            "adv_eps",
            "kl_coef",
            "entropy_coef",
            "value_clip",
            "value_coef",
        ):
            if getattr(self, key) < 0:
                raise ValueError(f"algo.{key} must be >= 0, got {getattr(self, key)}")
        if self.clip_low >= 1.0:
            raise ValueError(
                f"algo.clip_low must be < 1 (the ratio floor is 1 - clip_low), got {self.clip_low}"
            )
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


@dataclass(frozen=True)
class RewardOptionsSection:
    """How the weighted `rewards` list is combined and verified."""

    mask: Literal["any", "all"] = "any"  # any: None if any weighted reward is None; all: None only if all are
    math_workers: int = 0  # processes verifying math answers with sympy (0: min(4, cores))

    def __post_init__(self) -> None:
        if self.math_workers < 0:
            raise ValueError(f"reward_options.math_workers must be >= 0, got {self.math_workers}")


@dataclass(frozen=True)
class VLLMSection:
    """The vLLM rollout engine (`rollout.backend: vllm`): engine knobs, weight sync, parity probe, server.

    `colocate` runs the engine inside the training process (the default; no child process,
    so a caller's `__main__` is never re-imported). `server` talks to `vllm serve` over HTTP.
    """

    mode: Literal["colocate", "server"] = "colocate"
    kv_cache_mib: int | None = 256  # KV cache size; null: vLLM sizes it from gpu_memory_utilization
    gpu_memory_utilization: float = (
        0.3  # fraction of device memory (of RAM on CPU) vLLM may use when kv_cache_mib is null
    )
    max_model_len: int | None = None  # longest prompt + completion; null: the model's max positions
    enforce_eager: bool = True  # false: let vLLM compile graphs (faster decode on GPU, slow first start)
    enable_prefix_caching: bool = (
        True  # reuse prompt KV across the n samples (the cache is reset after every sync)
    )
    sleep: bool = (
        True  # free engine memory between rollouts with vLLM sleep mode, where the platform supports it
    )
    logprobs_mode: Literal["processed_logprobs", "raw_logprobs"] = (
        "processed_logprobs"  # sampler logprobs after temperature/top-p, or of the raw model
    )
    lora_sync: Literal["auto", "adapter", "merge"] = (
        "auto"  # LoRA: push the adapter only, or merge it into full weights; auto: adapter where vLLM supports the targets
    )
    probe_interval: int = 1  # check vLLM-vs-trainer logprob parity after every Nth sync (0: never)
    probe_tolerance: float | None = (
        None  # max |logprob difference| on probe tokens; null: 1e-3 (float32) or 5e-2 (bf16/fp16)
    )
    probe_size: int = 4  # sequences in the fixed probe batch (taken from the first rollout)
    server_url: str = (
        "http://127.0.0.1:8000"  # mode=server: base URL of `vllm serve` (started with VLLM_SERVER_DEV_MODE=1)
    )
    server_timeout_s: float = 600.0  # mode=server: per-request timeout
    sync_dir: str | None = (
        None  # mode=server: a directory the server can read, for pushed weights/adapters; null: <output_dir>/vllm_sync
    )

    def __post_init__(self) -> None:
        if self.kv_cache_mib is not None and self.kv_cache_mib < 1:
            raise ValueError(f"vllm.kv_cache_mib must be >= 1 (or null), got {self.kv_cache_mib}")
        if not 0.0 < self.gpu_memory_utilization <= 1.0:
            raise ValueError(
                f"vllm.gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}"
            )
        if self.probe_interval < 0:
            raise ValueError(f"vllm.probe_interval must be >= 0, got {self.probe_interval}")
        if self.probe_tolerance is not None and self.probe_tolerance <= 0:
            raise ValueError(f"vllm.probe_tolerance must be > 0 (or null), got {self.probe_tolerance}")
        if self.probe_size < 1:
            raise ValueError(f"vllm.probe_size must be >= 1, got {self.probe_size}")
        if not self.server_url.startswith(("http://", "https://")):
            raise ValueError(f"vllm.server_url must start with http:// or https://, got {self.server_url!r}")


@dataclass(frozen=True)
class FaultsSection:
    """How an RL run (grpo, ppo) survives faulty rewards and checks multi-process training."""

    reward_timeout_s: float = (
        300.0  # one reward's call on one batch running longer is abandoned; its samples are masked
    )
    reward_fail_frac: float = (
        0.5  # a step where more than this share of samples lost a reward to a fault counts as failed
    )
    max_reward_fail_steps: int = 3  # failed steps in a row before the run stops with a checkpoint
    rollout_timeout_s: float = 600.0  # train.async: a sampler thread that dies or yields no step for this long stops the run with a checkpoint
    sync_check_every: int = 1  # several processes: steps between cross-process weight checksums (0: never)
    # several processes: every process samples the same completions (seeded alike), so the run must
    # equal the one-process run step for step: a check of data-parallel and sharded training
    # (the extra processes add no data), not a way to train
    same_rollouts: bool = False

    def __post_init__(self) -> None:
        if self.reward_timeout_s <= 0:
            raise ValueError(f"faults.reward_timeout_s must be > 0, got {self.reward_timeout_s}")
        if self.rollout_timeout_s <= 0:
            raise ValueError(f"faults.rollout_timeout_s must be > 0, got {self.rollout_timeout_s}")
        if not 0.0 <= self.reward_fail_frac < 1.0:
            raise ValueError(f"faults.reward_fail_frac must be in [0, 1), got {self.reward_fail_frac}")
        if self.max_reward_fail_steps < 1:
            raise ValueError(f"faults.max_reward_fail_steps must be >= 1, got {self.max_reward_fail_steps}")
        if self.sync_check_every < 0:
            raise ValueError(f"faults.sync_check_every must be >= 0, got {self.sync_check_every}")


@dataclass(frozen=True)
class RunConfig:
    """The top level of a recipe."""

    trainer: str  # sft | grpo | ppo | prm | distill (registered trainer name)
    run: RunSection = field(default_factory=RunSection)
    model: ModelSection = field(default_factory=ModelSection)
    tiny: TinyModelSection = field(default_factory=TinyModelSection)
    lora: LoraSection = field(default_factory=LoraSection)
    rewards: tuple[RewardSpec, ...] = ()
    data: DataSection = field(default_factory=DataSection)
    rollout: RolloutSection = field(default_factory=RolloutSection)
    train: TrainSection = field(default_factory=TrainSection)
    algo: AlgoSection = field(default_factory=AlgoSection)
    reward_options: RewardOptionsSection = field(default_factory=RewardOptionsSection)
    prm: PRMSection = field(default_factory=PRMSection)
    vllm: VLLMSection = field(default_factory=VLLMSection)
    sft: SftSection = field(default_factory=SftSection)  # used by trainer: sft (and distill's finetune)
    faults: FaultsSection = field(default_factory=FaultsSection)  # grpo, ppo (sft, distill: sync_check_every)
    distill: DistillSection = field(default_factory=DistillSection)  # used by trainer: distill
