"""Recipe sections of the supervised trainers: sft, prm and distill (part of the schema in
`rlhf.config.recipe`, which composes them into `RunConfig`). Every field is documented here, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal


@dataclass(frozen=True)
class PRMSection:
    """The `prm` trainer: a process reward model's data, batches and held-out evaluation (its
    learning rate, schedule, clipping and non-finite-loss policy are the shared `train:` knobs)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "lr": "train.lr",
        "warmup_ratio": "train.warmup_ratio",
        "weight_decay": "train.weight_decay",
    }

    data: Literal["generate", "file"] = (
        "generate"  # generate: data_gen tasks with injected errors; file: train_file
    )
    tasks: tuple[str, ...] = ("integer_arithmetic",)  # data_gen generators (data: generate)
    level: float | None = None  # generators' difficulty level (null: each task's level-0 defaults)
    knobs: dict[str, Any] = field(default_factory=dict)  # generator knob overrides, e.g. {max_digits: 1}
    num_train: int = 2000  # training items; each gives its gold trace and one corrupted trace
    corruptions: int = 1  # corrupted traces per training item (distinct draws of the wrong step and value)
    num_eval: int = 200  # held-out items (data_gen's test split), each gold + corrupted, for evaluation
    train_file: str = ""  # data: file -> rows in `format` (JSONL/JSON, CSV, Parquet or a `datasets` dir)
    eval_file: str = ""  # held-out rows in `format`, any layout train_file takes (data: file); empty: the last eval_fraction of train_file
    eval_fraction: float = 0.1  # share of train_file held out when eval_file is empty
    format: Literal["stepwise", "prm800k", "math_shepherd", "processbench"] = (
        "stepwise"  # layout of the files
    )
    neutral: Literal["positive", "negative", "drop"] = (
        "positive"  # PRM800K rating 0 -> good, bad, or drop the trace
    )
    separator: str = "\n"  # appended to every step; the step's label sits on its last token
    max_length: int = 512  # tokens per row (prompt + steps); steps past it are dropped
    epochs: int = 1  # passes over the training rows
    batch_size: int = 16  # rows per optimiser step
    lm_coef: float = (
        0.0  # weight of an auxiliary next-token loss on prompts and good steps (helps tiny backbones)
    )
    threshold: float = 0.5  # evaluation calls a step wrong when P(good) is below this (unless num_val > 0)
    num_val: int = 0  # validation traces held out of training (generate: training-split items; file: the last
    #                   rows of train_file); > 0: the threshold is the one with the best F1 on them
    eval_every: int = 0  # optimiser steps between held-out evaluations (0: only at the end)
    eval_batch_size: int = 64  # rows per forward when scoring

    def __post_init__(self) -> None:
        for key in (
            "num_train",
            "corruptions",
            "num_eval",
            "epochs",
            "batch_size",
            "max_length",
            "eval_batch_size",
        ):
            if getattr(self, key) < 1:
                raise ValueError(f"prm.{key} must be >= 1, got {getattr(self, key)}")
        if self.lm_coef < 0:
            raise ValueError(f"prm.lm_coef must be >= 0, got {self.lm_coef}")
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"prm.eval_fraction must be in (0, 1), got {self.eval_fraction}")
        if self.num_val < 0:
            raise ValueError(f"prm.num_val must be >= 0, got {self.num_val}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"prm.threshold must be in (0, 1), got {self.threshold}")
        if self.data == "file" and not self.train_file:
            raise ValueError("prm.train_file must be set when prm.data is 'file'")
        if self.data == "generate" and not self.tasks:
            raise ValueError(
                "prm.tasks must list at least one data_gen generator when prm.data is 'generate'"
            )
        if self.eval_every < 0:
            raise ValueError(f"prm.eval_every must be >= 0, got {self.eval_every}")


@dataclass(frozen=True)
class SftGenerateSpec:
    """Generate data_gen items in-process (so a recipe runs as written, with no files to prepare)."""

    task: str  # a data_gen generator name (data_gen.registry.GENERATORS)
    n: int = 1000  # training items; held-out items come from the generator's disjoint test split
    seed: int = 0  # item i is rebuilt from (task, seed, i)
    level: float | None = None  # difficulty level mapped onto every knob (None: the task's level-0 defaults)
    params: dict[str, Any] = field(default_factory=dict)  # explicit knob overrides (applied after `level`)
    # more train-split items after the `n` trained on, held out of training: the in-training
    # evaluation and sft.stop_at_accuracy use them, so no stopping decision reads the test split
    val_n: int = 0

    def __post_init__(self) -> None:
        if self.n <= 0:
            raise ValueError(f"sft.generate.n must be positive, got {self.n}")
        if self.val_n < 0:
            raise ValueError(f"sft.generate.val_n must be >= 0, got {self.val_n}")


@dataclass(frozen=True)
class SftSection:
    """Supervised finetuning (trainer: sft): data, mixing, steps and batches, evaluation and outputs
    (the learning rate, schedule, clipping and non-finite-loss policy are the shared `train:` knobs)."""

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "lr": "train.lr",
        "lr_scheduler": "train.lr_scheduler",
        "warmup_ratio": "train.warmup_ratio",
        "weight_decay": "train.weight_decay",
        "max_grad_norm": "train.max_grad_norm",
    }

    train_path: str | None = (
        None  # domain data: JSONL, CSV, Parquet file or `datasets` dir (chat, prompt/completion or data_gen rows)
    )
    generate: SftGenerateSpec | None = (
        None  # domain data generated in-process instead of (or besides) train_path
    )
    general_path: str | None = None  # general data mixed into the domain data (same formats)
    general_generate: SftGenerateSpec | None = None  # general data generated in-process
    domain_ratio: float = 1.0  # fraction of training examples that are domain data, in (0, 1]
    eval_path: str | None = (
        None  # held-out domain data; unset: the generator's test split and `eval_fraction` of train_path
    )
    eval_fraction: float = 0.1  # share of train_path rows held out when eval_path is unset
    eval_max_items: int = (
        64  # held-out items scored by generation (task metric); also how many test items to generate
    )
    eval_every: int = (
        0  # optimizer steps between held-out evaluations during training (0: only before and after)
    )
    stop_at_accuracy: float | None = (
        None  # stop once an in-training held-out evaluation reaches this (a warm start that leaves RL headroom); null: never
    )
    eval_metric: str = "exact_match"  # exact_match (on <answer>, else the whole completion) or a rewards.registry.REWARDS name
    eval_max_new_tokens: int = 96  # generation budget per held-out item
    max_steps: int = 100  # optimizer steps (each = batch_size * grad_accum examples)
    batch_size: int = 8  # examples per micro-batch
    grad_accum: int = 1  # micro-batches per optimizer step
    max_length: int = 512  # tokens per example (prompt + completion); longer ones are truncated
    completion_only_loss: bool = True  # loss on completion tokens only (the prompt is context)
    save: Literal["adapter", "merged", "both"] = (
        "adapter"  # LoRA: adapter/ is always written; merged/both also write merged/ (base + adapter)
    )
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
        if (
            self.stop_at_accuracy is not None
            and self.generate is not None
            and not self.generate.val_n
            and not self.eval_path
        ):
            raise ValueError(
                "sft.stop_at_accuracy with sft.generate would stop on the generator's test split "
                "(the held-out items); set sft.generate.val_n (train-split items held out of "
                "training) or sft.eval_path to stop on validation items"
            )


@dataclass(frozen=True)
class DistillSection:
    """R1-style distillation (trainer: distill): a teacher samples traces, a verifier keeps the correct
    ones (rejection sampling), and the student (`model.path`) is finetuned on them by the sft trainer
    with the `sft:` section's steps, batches and evaluation and the shared `train:` knobs."""

    teacher: str = ""  # teacher checkpoint: HF model dir, LoRA adapter dir, or a run dir (see `cotrl eval`)
    teacher_base: str | None = None  # base model dir when `teacher` is an adapter that does not record one
    generate: SftGenerateSpec | None = None  # problems to solve: a data_gen task's training split
    problems_path: str | None = None  # or a file of data_gen items (JSONL/CSV/Parquet/datasets dir)
    samples_per_problem: int = 4  # teacher samples drawn per problem
    keep_per_problem: int = 1  # correct traces kept per problem (distinct texts; first ones sampled)
    temperature: float = 0.8  # teacher sampling temperature
    max_new_tokens: int = 96
    verifier: str = (
        "math_answer"  # outcome reward (rewards.registry.REWARDS) a kept trace must score >= 0.5 on
    )
    require_correct_steps: bool = False  # also reject traces whose steps the rule verifier finds wrong
    backend: Literal["auto", "transformers", "vllm"] = "transformers"  # the teacher's sampler
    heldout: int = 64  # held-out test-split items scored before/after finetuning (with `generate`)

    def __post_init__(self) -> None:
        for name in ("samples_per_problem", "keep_per_problem", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"distill.{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"distill.temperature must be > 0, got {self.temperature}")
        if self.heldout < 0:
            raise ValueError(f"distill.heldout must be >= 0, got {self.heldout}")
