"""GRPO step throughput: cotrl's GRPO loop vs TRL's GRPOTrainer, same everything, one process.

Same tiny Qwen2-style model (built here, random weights), same prompts (generated
integer arithmetic, chat-templated), same reward function, group size 8, 4 prompts per
step (32 completions), 64 new tokens, temperature 1, lr 1e-5, no KL (beta 0), one update
per batch, token-mean loss, group-std-scaled advantages, full finetuning, fp32 on CPU.
Both use transformers for generation (TRL: `model.generate`; ours: the cached decode loop
in rlhf/rollout/hf.py). Steps/second is measured after warm-up steps; the engines are run
interleaved in one process (TRL, ours synchronous, ours asynchronous, three rounds) to spread
machine noise (other jobs on a shared machine) over all of them.

Our two arms do the same work per step (the same samples per step): `sync` samples, scores
and updates in turn; `async` (train.async, max_staleness 1, algo.tis_cap 2) samples step k+1
on a thread with its own model copy while step k scores and updates, and pays one more
forward per step (pi_old, for the importance ratio). For it we report the share of the step
where rollout and update ran at once, the staleness, and the update's achieved GFLOP/s
(6 x matmul parameters x padded tokens per second of `time_update`) against this machine's
measured fp32 matmul peak on one and on all cores. `ratio` is TRL s/step over our best arm's.

Then peak memory of our loop under LoRA vs full finetuning, each in its own subprocess
(max RSS on CPU; CUDA peak allocation when a GPU is present), on a larger tiny model
(hidden 512, 8 layers) so weights and optimizer states are visible above the runtime.

    python bench/bench_grpo.py
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, write_result  # noqa: E402

GROUP, PROMPTS, MAX_NEW, LR, STEPS, WARMUP = 8, 4, 64, 1e-5, 7, 2
TRL_SPLIT: list[float] = []  # TRL's generate-and-score seconds per step
THREADS = 1  # a tiny model on a shared CPU: intra-op threads only add contention (same for both)


def digit_share(completions) -> list[float]:
    """The shared reward: share of digit characters (varies on a random model, so groups have signal)."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


class DigitShareReward:
    name = "digit_share"

    def __call__(self, problems, completions):
        return digit_share(completions)


def make_reward(**_):
    return DigitShareReward()


def problems(n: int = 64) -> list[dict]:
    from rlhf.config.recipe import DataSection, TaskSpec
    from rlhf.data.problems import ProblemSource

    src = ProblemSource(DataSection(tasks=(TaskSpec("integer_arithmetic"),), prompts_per_step=n), seed=0)
    return [p.to_dict() for p in src.problems(0)]


def build_model(out: Path, items: list[dict], **size) -> Path:
    from data_gen.render import gold_completion
    from rlhf.models.tiny import DEFAULT_CORPUS, build_tiny_model

    corpus = [i["prompt"] for i in items] + [gold_completion(i) for i in items] + list(DEFAULT_CORPUS)
    return build_tiny_model(out, corpus, seed=0, **size)


def run_trl(model_dir: Path, items: list[dict], work: Path) -> list[float]:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": i["prompt"]}]} for i in items])

    def reward(prompts, completions, **kw):
        texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
        return digit_share(texts)

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)

    cfg = GRPOConfig(
        output_dir=str(work / "trl"),
        per_device_train_batch_size=GROUP * PROMPTS,
        num_generations=GROUP,
        max_completion_length=MAX_NEW,
        learning_rate=LR,
        beta=0.0,
        temperature=1.0,
        max_steps=STEPS,
        logging_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        seed=0,
        bf16=False,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_grad_norm=1.0,
        loss_type="dapo",
        scale_rewards="group",
        disable_tqdm=True,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=cfg,
        train_dataset=ds,
        processing_class=tok,
        callbacks=[Timer()],
    )
    gen_times: list[float] = []
    inner = trainer._generate_and_score_completions

    def timed(*a, **kw):  # TRL's rollout+reward part of a step, for the time split
        t0 = time.perf_counter()
        out = inner(*a, **kw)
        gen_times.append(time.perf_counter() - t0)
        return out

    trainer._generate_and_score_completions = timed
    trainer.train()
    TRL_SPLIT.extend(gen_times[WARMUP:])
    return times[WARMUP:]


def ours_config(model_dir: Path, data: Path, out: Path, lora: bool, steps: int = STEPS):
    from rlhf.config import loader as config
    from rlhf.config.recipe import RunConfig

    return config.from_dict(
        RunConfig,
        {
            "trainer": "grpo",
            "run": {"output_dir": str(out), "seed": 0, "device": "cpu"},
            "model": {"path": str(model_dir)},
            "lora": {"enabled": lora, "r": 16, "alpha": 32, "dropout": 0.0},
            "data": {"source": "jsonl", "path": str(data), "prompts_per_step": PROMPTS},
            "rollout": {
                "backend": "transformers",
                "n": GROUP,
                "max_new_tokens": MAX_NEW,
                "temperature": 1.0,
                "stop": [],
            },
            "rewards": [{"name": "bench.bench_grpo:make_reward"}],
            "algo": {"advantage": "grpo", "loss": "ppo_clip", "agg": "token-mean", "kl_coef": 0.0},
            "train": {
                "steps": steps,
                "lr": LR,
                "warmup_steps": 0,
                "min_lr_ratio": 1.0,
                "max_grad_norm": 1.0,
                "cpu_threads": THREADS,
            },
        },
    )


OUR_SPLIT: list[float] = []  # our rollout + reward seconds per step


ASYNC_RECORDS: list[dict] = []  # the async arm's step records after warm-up


def run_ours(model_dir: Path, data: Path, out: Path, asynchronous: bool = False) -> list[float]:
    import dataclasses

    from rlhf.config.recipe import AsyncSection
    from rlhf.runtime.metrics import read_metrics
    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.rl.grpo import run

    cfg = ours_config(model_dir, data, out, lora=False)
    if asynchronous:
        cfg = dataclasses.replace(
            cfg,
            train=dataclasses.replace(cfg.train, async_=AsyncSection(enabled=True, max_staleness=1)),
            algo=dataclasses.replace(cfg.algo, tis_cap=2.0),
        )
    rd = prepare_run_dir(cfg, out, overwrite=True)
    run(cfg, rd)
    records = read_metrics(rd.metrics_path)[WARMUP:]
    if asynchronous:
        ASYNC_RECORDS.extend(records)
    else:
        OUR_SPLIT.extend(m["time_rollout"] + m["time_reward"] for m in records)
    return [m["seconds"] for m in records]


def matmul_peak_gflops(threads: int, n: int = 1024, repeat: int = 5) -> float:
    """Best fp32 GFLOP/s of an n x n matrix product on `threads` intra-op threads (this machine's ceiling)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    torch.set_num_threads(before)
    return 2 * n**3 / best / 1e9


def update_gflops(model_dir: Path, records: list[dict]) -> float:
    """Achieved GFLOP/s of the update: 6 x matmul parameters x padded tokens / time_update (median)."""
    from transformers import AutoConfig

    c = AutoConfig.from_pretrained(model_dir)
    inter = c.intermediate_size
    kv = c.num_key_value_heads * (c.hidden_size // c.num_attention_heads)
    per_layer = c.hidden_size * (2 * c.hidden_size + 2 * kv) + 3 * c.hidden_size * inter
    params = c.num_hidden_layers * per_layer + c.hidden_size * c.vocab_size  # + lm_head
    flops = []
    for m in records:
        tokens = GROUP * PROMPTS * (PROMPT_LEN + m["response_len_max"])
        flops.append(6 * params * tokens / m["time_update"] / 1e9)
    return statistics.median(flops)


PROMPT_LEN = 0  # longest chat-templated prompt in tokens (set in main)


def memory_child(mode: str, model_dir: str, data: str, out: str) -> None:
    """Run 3 steps of our loop and print peak memory as JSON (called in a subprocess)."""
    import torch

    from rlhf.runtime.rundir import prepare_run_dir
    from rlhf.trainers.rl.grpo import run

    cfg = ours_config(Path(model_dir), Path(data), Path(out), lora=(mode == "lora"), steps=3)
    run(cfg, prepare_run_dir(cfg, out, overwrite=True))
    peak = {"max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        peak["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print("MEMORY " + json.dumps({"mode": mode, **peak}))


def measure_memory(work: Path, items: list[dict], data: Path) -> dict[str, dict]:
    big = build_model(
        work / "big_model", items, hidden_size=512, num_layers=8, num_heads=8, intermediate_size=1536
    )
    out = {}
    for mode in ("lora", "full"):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-child",
                mode,
                str(big),
                str(data),
                str(work / f"mem_{mode}"),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
        line = [x for x in proc.stdout.splitlines() if x.startswith("MEMORY ")]
        if proc.returncode or not line:
            raise RuntimeError(f"memory run {mode} failed: {proc.stderr[-2000:]}")
        out[mode] = json.loads(line[-1][len("MEMORY ") :])
    return out


def main() -> None:
    import torch

    torch.set_num_threads(THREADS)
    load_before = os.getloadavg()  # the async arm needs a second free core: say how busy the machine was
    work = Path(tempfile.mkdtemp(prefix="bench_grpo_"))
    items = problems()
    data = work / "problems.jsonl"
    data.write_text("".join(json.dumps(i) + "\n" for i in items))
    model_dir = build_model(work / "model", items)
    global PROMPT_LEN
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    PROMPT_LEN = max(
        len(tok.apply_chat_template([{"role": "user", "content": i["prompt"]}], add_generation_prompt=True))
        for i in items
    )
    trl_times: list[float] = []
    our_times: list[float] = []
    async_times: list[float] = []
    for rnd in range(3):  # interleaved: machine noise lands on every arm alike
        trl_times += run_trl(model_dir, items, work)
        our_times += run_ours(model_dir, data, work / f"ours{rnd}")
        async_times += run_ours(model_dir, data, work / f"async{rnd}", asynchronous=True)
    trl_s, our_s = statistics.median(trl_times), statistics.median(our_times)
    async_s = statistics.median(async_times)
    best_arm, best_s = ("async", async_s) if async_s < our_s else ("sync", our_s)
    completions = GROUP * PROMPTS
    peak1, peak_all = matmul_peak_gflops(1), matmul_peak_gflops(os.cpu_count() or 1)
    gflops = update_gflops(model_dir, ASYNC_RECORDS)
    overlap = statistics.median(m["overlap_frac"] for m in ASYNC_RECORDS)
    staleness = statistics.mean(m["staleness_mean"] for m in ASYNC_RECORDS)
    mem = measure_memory(work, items, data)
    key = "cuda_peak_mb" if "cuda_peak_mb" in mem["full"] else "max_rss_mb"
    rows = [
        {
            "engine": "cotrl grpo sync (transformers backend)",
            "s/step": our_s,
            "completions/s": completions / our_s,
            "rollout+reward s": statistics.median(OUR_SPLIT),
        },
        {
            "engine": "cotrl grpo async (train.async, staleness 1)",
            "s/step": async_s,
            "completions/s": completions / async_s,
            "overlap share": overlap,
            "staleness": staleness,
            "update GFLOP/s": gflops,
            "matmul peak GFLOP/s (1 core / all)": f"{peak1:.1f} / {peak_all:.1f}",
        },
        {
            "engine": "trl GRPOTrainer",
            "s/step": trl_s,
            "completions/s": completions / trl_s,
            "rollout+reward s": statistics.median(TRL_SPLIT),
        },
        {"engine": "cotrl LoRA (hidden 512, 8 layers)", f"peak {key}": mem["lora"][key]},
        {"engine": "cotrl full finetune (hidden 512, 8 layers)", f"peak {key}": mem["full"][key]},
    ]
    write_result(
        name="grpo",
        metric="GRPO steps per second",
        unit="steps/s",
        ours=1 / best_s,
        peer="trl GRPOTrainer",
        peer_value=1 / trl_s,
        goal_ratio=2.5,
        higher_is_better=True,
        description=f"{PROMPTS} prompts x {GROUP} samples x {MAX_NEW} tokens per step, tiny Qwen2 (hidden 128, 2 layers), "
        f"full finetune, fp32 CPU, {THREADS} torch thread per side, median over {len(our_times)} steps after warm-up; "
        f"ours = best arm ({best_arm}); arms interleaved in one process; 1-minute load average "
        f"{load_before[0]:.2f} before the run, {os.getloadavg()[0]:.2f} after",
        rows=rows,
        extra={
            "ours_arm": best_arm,
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "ours_step_seconds": our_times,
            "ours_async_step_seconds": async_times,
            "async_overlap_share": overlap,
            "async_staleness_mean": staleness,
            "async_dropped": sum(m["async_dropped"] for m in ASYNC_RECORDS),
            "async_is_ratio_max": max(m["is_ratio_max"] for m in ASYNC_RECORDS),
            "update_gflops": gflops,
            "matmul_peak_gflops": {"1 core": peak1, f"{os.cpu_count()} cores": peak_all},
            "trl_step_seconds": trl_times,
            "memory": mem,
            "ours_rollout_seconds": OUR_SPLIT,
            "trl_rollout_seconds": TRL_SPLIT,
            "load_average": os.getloadavg(),
            "notes": f"sync {our_s:.3f} s/step, async {async_s:.3f} s/step, TRL {trl_s:.3f} s/step; "
            f"rollout+reward {statistics.median(OUR_SPLIT):.2f}s vs TRL {statistics.median(TRL_SPLIT):.2f}s "
            f"per step, update {our_s - statistics.median(OUR_SPLIT):.2f}s vs "
            f"{trl_s - statistics.median(TRL_SPLIT):.2f}s; peak memory on a hidden-512, 8-layer tiny model, "
            f"3 steps: LoRA {mem['lora'][key]:.0f} MB vs full finetune {mem['full'][key]:.0f} MB ({key})",
        },
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-child":
        memory_child(*sys.argv[2:6])
    else:
        main()
