"""The training-curve PNG: a panel per metric, equal series drawn once, a smoothed line over the raw one."""

from __future__ import annotations

import json

import pytest

from rlhf.runtime.metrics import plot_panels, smooth, write_plots


def test_equal_series_share_a_panel_and_others_keep_their_own():
    recs = [
        {"step": s, "reward_mean": float(s % 2), "accuracy": float(s % 2), "kl": 0.1 * s} for s in range(4)
    ]
    recs.append({"step": 4, "kl": None})  # not measured: left out, not drawn as 0
    panels = plot_panels(recs, ("reward_mean", "accuracy", "kl", "entropy"))
    assert [names for names, _ in panels] == [["reward_mean", "accuracy"], ["kl"]]
    assert [p[0] for p in panels[1][1]] == [0, 1, 2, 3]


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([2.0, 2.0, 2.0], 0.5) == [2.0, 2.0, 2.0]  # no pull toward 0 at the start
    assert smooth([0.0, 1.0], 0.5) == pytest.approx([0.0, 0.5 / 0.75])
    assert smooth([1.0, 3.0], 0.0) == [1.0, 3.0]
    ys = [float(i % 2) for i in range(60)]  # a zig-zag: smoothing takes most of it out
    tail = smooth(ys)[30:]
    assert max(tail) - min(tail) < 0.5 * (max(ys) - min(ys))


def test_write_plots_draws_a_png(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(
        "".join(json.dumps({"step": s, "reward_mean": s / 10, "accuracy": 0.5}) + "\n" for s in range(12))
    )
    out = write_plots(path, tmp_path / "plots")
    assert out == tmp_path / "plots" / "training_curves.png" and out.read_bytes()[:4] == b"\x89PNG"
    assert write_plots(tmp_path / "none.jsonl", tmp_path / "p2") is None
