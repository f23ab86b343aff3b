"""The README's architectures x paths table, from a pytest JUnit report of the architecture tests.

    .venv/bin/python -m pytest tests/e2e/test_architectures.py tests/e2e/test_architectures_vllm.py \
        --junitxml=/tmp/arch.xml
    .venv/bin/python tests/e2e/arch_table.py /tmp/arch.xml   # several reports: their union

A cell is `pass`, `refused` (the test asserted a one-line refusal), `FAIL`, or `-` (not run).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET

PATHS = {  # test function -> column
    "test_grpo_full_finetune_moves_the_weights": "GRPO full",
    "test_grpo_lora_then_export_merges_to_base_plus_adapter_then_eval": "GRPO LoRA + export + eval",
    "test_ppo_trains_policy_and_critic": "PPO + critic",
    "test_sft_all_linear_lora": "SFT (all-linear LoRA)",
    "test_prm_head": "PRM head",
    "test_vllm_rollouts_weight_sync_and_parity": "vLLM (cpu) sync + probe",
}


def table(paths: list[str]) -> str:
    cells: dict[tuple[str, str], str] = {}
    archs: list[str] = []
    cases = [c for path in paths for c in ET.parse(path).getroot().iter("testcase")]
    for case in cases:
        m = re.match(r"(\w+)\[(\w+)\]", case.get("name", ""))
        if not m or m.group(1) not in PATHS:
            continue
        func, arch = m.groups()
        if arch not in archs:
            archs.append(arch)
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if case.find("failure") is not None or case.find("error") is not None:
            cell = "FAIL"
        elif case.find("skipped") is not None:
            cell = "-"
        else:
            cell = "refused" if props.get("outcome") == "refused" else "pass"  # record_property in the test
        cells[(arch, PATHS[func])] = f"{cell} ({float(case.get('time', 0)):.0f} s)" if cell != "-" else cell
    cols = list(PATHS.values())
    lines = ["| architecture | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for arch in archs:
        lines.append(f"| {arch} | " + " | ".join(cells.get((arch, c), "-") for c in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(sys.argv[1:]))
