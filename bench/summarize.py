"""Rebuild BENCHMARKS.md from bench/results/*.json (run by `make bench`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """# Benchmarks

Each row is one `bench/NAME.py` run, ours and the peer measured side by side in the same
process run on the machine named below. `ratio` is oriented so that above 1 means cotrl is
better; `goal` is the ratio the issue asked for. Regenerate with `make bench` (or run one
benchmark with the command in its row, then `python bench/summarize.py`).

"""


def main() -> None:
    results = [json.loads(p.read_text()) for p in sorted((ROOT / "bench" / "results").glob("*.json"))]
    lines = [
        HEADER,
        "| benchmark | metric | ours | peer | peer value | ratio | goal | met | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['metric']} ({r['unit']}) | {r['ours']:.4g} | {r['peer']} | {r['peer_value']:.4g} "
            f"| {r['ratio']:.3g} | {r['goal_ratio']} | {'yes' if r.get('goal_met') else 'no'} | `{r['command']}` |"
        )
    for r in results:
        lines += ["", f"## {r['name']}", "", r.get("description", ""), "", f"Machine: {r['machine']}"]
        if r.get("rows"):
            cols = list(dict.fromkeys(k for row in r["rows"] for k in row))
            lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            for row in r["rows"]:
                lines.append("| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |")
        if r.get("notes"):
            lines += ["", r["notes"]]
    out = ROOT / "BENCHMARKS.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out} ({len(results)} benchmarks)")


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
