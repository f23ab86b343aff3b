"""Supervised finetuning (trainer: sft): LoRA or full finetune with TRL's SFTTrainer.

One loop serves two jobs: a warm start (full finetune of the tiny model on generated
gold solutions, so RL starts from a model that already answers in format) and
domain adaptation (a LoRA adapter on the user's data, mixed with general data).

Read top to bottom:
1. data: domain rows (files or generated items) -> a held-out split -> mixed with
   general rows at `sft.domain_ratio`; all input problems surface here, before a
   model is touched;
2. model: resolved (a dir, a hub id, or a tiny model whose tokenizer is trained on
   this data), LoRA targets checked against the model's linear layers;
3. TRL's SFTTrainer on conversational prompt/completion records, loss on completion
   tokens only, gradient accumulation and checkpointing, on the shared runtime
   (`sft_runtime`: the optimizer, LR schedule, clipping and non-finite-loss policy every
   trainer uses, from `train:`);
4. held-out accuracy by greedy generation before, during (`sft.eval_every`) and after,
   through `cotrl eval`'s evaluator on the model in memory (`rlhf.eval.sft`);
5. outputs, in the run-dir layout every trainer shares (`rlhf.runtime.rundir`): `adapter/`
   (LoRA), `merged/` (base with the adapter folded in, with `sft.save: merged|both`) or
   `model/` (full finetune).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from rlhf.config.reads import SHARED_TRAIN_KEYS, Reads
from rlhf.config.recipe import RunConfig
from rlhf.data.readers import SftExample, generated_examples, load_examples, mix, split_heldout
from rlhf.eval.sft import check_metric
from rlhf.models import adapters
from rlhf.models.policy import (
    DTYPES,
    check_tokenizer,
    load_adapter,
    load_tokenizer,
    lora_config,
    resolve_model_path,
)
from rlhf.runtime import distributed as dist
from rlhf.runtime import sharding
from rlhf.runtime.rundir import RunDir, find_adapter
from rlhf.runtime.threads import apply_threads

READS = Reads(  # what an sft recipe may set; anything else is refused before the run starts
    sections=("run", "model", "tiny", "lora", "sft"),
    keys={"train": SHARED_TRAIN_KEYS, "faults": ("sync_check_every",)},
    instead={
        "train.steps": "sft.max_steps",
        "train.micro_batch_size": "sft.batch_size",
        "train.mini_batches": "sft.grad_accum",
        "train.mixed_precision": "model.dtype",
    },
)


@dataclass(frozen=True)
class SftData:
    train: list[SftExample]
    heldout: list[SftExample]
    stats: dict[str, Any]
    val: list[SftExample] = field(default_factory=list)  # in-training evaluation / stopping set


def prepare_data(cfg: RunConfig) -> SftData:
    """Read, split and mix the data; every data error is raised here, before any model loads."""
    s = cfg.sft
    if not (s.train_path or s.generate):
        raise ValueError("sft: set sft.train_path (a data file or datasets dir) or sft.generate")
    train: list[SftExample] = []
    heldout: list[SftExample] = []
    if s.train_path:
        rows = load_examples(s.train_path, "domain")
        file_train, file_held = (
            (rows, []) if s.eval_path else split_heldout(rows, s.eval_fraction, cfg.run.seed)
        )
        train += file_train
        heldout += file_held
    val: list[SftExample] = []
    if s.generate:
        g = s.generate  # the first n items are the same with or without val_n (one sequence)
        items = generated_examples(g, "domain", n=g.n + g.val_n)
        train += items[: g.n]
        val = items[g.n :]
        if not s.eval_path and s.eval_max_items > 0:
            heldout += generated_examples(s.generate, "domain", split="test", n=s.eval_max_items)
    if s.eval_path:
        heldout = load_examples(s.eval_path, "domain")
    general: list[SftExample] = []
    if s.general_path:
        general += load_examples(s.general_path, "general")
    if s.general_generate:
        general += generated_examples(s.general_generate, "general")
    mixed, stats = mix(train, general, s.domain_ratio, cfg.run.seed)
    heldout = heldout[: s.eval_max_items]
    if heldout:
        check_metric(s.eval_metric, heldout)  # a metric the held-out items cannot support fails now
    stats = {**stats, "heldout_examples": len(heldout), **({"val_examples": len(val)} if val else {})}
    return SftData(mixed, heldout, stats, val)


def load_model(cfg: RunConfig, path: str) -> Any:
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {
        "dtype": DTYPES[cfg.model.dtype],
        "trust_remote_code": cfg.model.trust_remote_code,
    }
    if cfg.sft.qlora:
        kwargs["quantization_config"] = _qlora_config(cfg)
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)


def _qlora_config(cfg: RunConfig) -> Any:
    """4-bit NF4 base for QLoRA: CUDA and bitsandbytes only, refused clearly elsewhere."""
    if not cfg.lora.enabled:
        raise ValueError("sft.qlora=true needs lora.enabled=true (a 4-bit base cannot be finetuned fully)")
    if cfg.run.device == "cpu" or not torch.cuda.is_available():
        raise ValueError(
            "sft.qlora=true needs a CUDA GPU (bitsandbytes 4-bit kernels); this machine has none. "
            "Set sft.qlora=false to train the LoRA adapter on a full-precision base"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ValueError("sft.qlora=true needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )


def sft_args(cfg: RunConfig, run_dir: RunDir, has_eval: bool) -> Any:
    from trl import SFTConfig

    s = cfg.sft
    return SFTConfig(
        output_dir=str(run_dir.checkpoints),
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.grad_accum,
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        learning_rate=cfg.train.lr,  # the optimizer and schedule themselves come from rlhf.runtime.optim
        max_grad_norm=0.0,  # transformers only measures the norm; sft_runtime.UpdateGuard clips
        max_length=s.max_length,
        completion_only_loss=s.completion_only_loss,
        eval_strategy="steps" if has_eval and s.eval_every else "no",
        eval_steps=s.eval_every or None,
        logging_steps=cfg.run.log_every,
        save_strategy="steps",  # run.save_every 0: one checkpoint at the end, so --resume can extend the run
        save_steps=cfg.run.save_every or s.max_steps,
        save_total_limit=cfg.run.keep_checkpoints,
        seed=cfg.run.seed,
        data_seed=cfg.run.seed,
        use_cpu=cfg.run.device == "cpu" or not torch.cuda.is_available(),
        bf16=cfg.model.dtype == "bfloat16" and torch.cuda.is_available(),
        report_to="none",  # run.report_to goes through sft_callbacks.MetricsLog, as in every trainer
        dataset_num_proc=None,
        disable_tqdm=True,  # the run's own progress display (sft_callbacks.ProgressLog) shows the loop
    )


def run(cfg: RunConfig, run_dir: RunDir) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback

    from rlhf.trainers.sft_callbacks import HeldoutEval, MetricsLog, ProgressLog
    from rlhf.trainers.sft_runtime import SharedRuntimeSFTTrainer, UpdateGuard

    t0 = time.time()
    set_seed(cfg.run.seed)
    s = cfg.sft
    if s.qlora:
        _qlora_config(cfg)  # platform check before data and model work
    data = prepare_data(cfg)
    if cfg.lora.adapter_path and not cfg.lora.enabled:
        raise ValueError("lora.adapter_path is set but lora.enabled is false")
    adapter_dir = find_adapter(cfg.lora.adapter_path) if cfg.lora.adapter_path else None
    corpus = [e.text() for e in data.train[: s.tokenizer_corpus_size]]
    with dist.main_process_first():  # several processes: the main one builds a tiny model, the others load it
        model_path = resolve_model_path(cfg, run_dir.root, corpus)
    tokenizer = load_tokenizer(cfg, model_path)
    model = load_model(cfg, model_path)
    apply_threads(cfg.train.cpu_threads, model)  # auto: by the model's size (rlhf.runtime.threads)
    check_tokenizer(model, tokenizer)
    peft_config = None
    if adapter_dir is not None:  # continue training an existing adapter (its own r/targets apply)
        model = load_adapter(model, str(adapter_dir))
    elif cfg.lora.enabled:
        peft_config = lora_config(cfg, model)
    run_dir.write_json("data_stats.json", data.stats)

    train_ds = Dataset.from_list([e.to_record() for e in data.train])
    eval_ds = Dataset.from_list([e.to_record() for e in data.heldout]) if data.heldout else None
    heldout_eval = HeldoutEval(
        run_dir,
        tokenizer,
        data.heldout,
        s.eval_metric,
        s.eval_max_new_tokens,
        s.eval_every,
        s.stop_at_accuracy,
        data.val,
    )
    guard = UpdateGuard(cfg.train, run_dir)
    trainer = SharedRuntimeSFTTrainer(
        train=cfg.train,
        model=model,
        args=sft_args(cfg, run_dir, eval_ds is not None),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[
            MetricsLog(run_dir, cfg.run.report_to),
            ProgressLog("sft", cfg.run.log_every),
            heldout_eval,
            guard,
            *dist.sync_check_callbacks(run_dir, cfg.faults.sync_check_every),
        ],
    )
    trainer.remove_callback(PrinterCallback)  # its printed log dicts are folded into ProgressLog
    guard.clip_fn = trainer.accelerator.clip_grad_norm_
    before = heldout_eval.run(trainer.model, step=0)
    resume = run_dir.resume and any(run_dir.checkpoints.glob("checkpoint-*"))
    train_out = trainer.train(resume_from_checkpoint=True if resume else None)
    guard.raise_if_stopped()  # train.max_bad_steps non-finite steps in a row: checkpointed, stop here
    final_eval_loss = trainer.evaluate().get("eval_loss") if eval_ds is not None else None
    after = heldout_eval.run(trainer.model, step=trainer.state.global_step)

    outputs = {}
    full = sharding.full_state_dict(trainer.model) if sharding.is_sharded(trainer.model) else None
    if dist.is_main_process():  # several processes hold identical weights; one writes them
        outputs = save_outputs(cfg, trainer.model, tokenizer, model_path, run_dir, full)
        heldout_eval.plot()
    trainer.accelerator.wait_for_everyone()
    result = {
        "trainer": "sft",
        "steps": trainer.state.global_step,
        "train_loss": train_out.training_loss,
        "eval_loss": final_eval_loss,
        "heldout_accuracy_before": before.get("accuracy"),
        "heldout_accuracy_after": after.get("accuracy"),
        "heldout_items": after.get("n_problems", 0),
        "heldout_format_rate_before": before.get("format_rate"),
        "heldout_format_rate_after": after.get("format_rate"),
        "eval_metric": s.eval_metric,
        "base_model": model_path,
        "outputs": outputs,
        "trainable_params": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "wall_s": round(time.time() - t0, 2),
        **data.stats,
    }
    run_dir.write_json("result.json", result)
    return result


def save_outputs(
    cfg: RunConfig,
    model: Any,
    tokenizer: Any,
    base_path: str,
    run_dir: RunDir,
    state_dict: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Write the final policy through the run-dir layout (`adapter/` or `model/`, plus
    `merged/` when `sft.save` asks); return name -> path. `state_dict`: a sharded model's gathered one."""
    final = adapters.save_final(run_dir, model, tokenizer, lora=cfg.lora.enabled, state_dict=state_dict)
    if not cfg.lora.enabled:
        return {"model": str(final)}
    out: dict[str, str] = {}
    if cfg.sft.save in ("adapter", "both"):
        out["adapter"] = str(final)
    if cfg.sft.save in ("merged", "both"):
        if cfg.sft.qlora:
            raise ValueError(
                "sft.save=merged with sft.qlora: merge into a full-precision base with `cotrl export`"
            )
        out["merged"] = str(adapters.merge_adapter(base_path, final, run_dir.merged_dir, cfg.model.dtype))
    return out
