"""`cotrl view` as a person uses it: a GRPO run with step rewards trains, the panel follows it in
headless Chromium (Debian's package, driven by playwright), live, without a reload."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.rlhf.trainers.rl_helpers import recipe

CHROMIUM = Path("/usr/bin/chromium")
STEP_REWARD = "tests.rlhf.view.helpers:paced_step_has_digit"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (.ci/run installs Debian's chromium package)"
    ),
]


def _env(repo_root: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(repo_root), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")


def _wait(pred, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"{what}: the process exited ({proc.returncode}): {proc.stderr.read()[-2000:]}"
            )
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _start_view(repo_root: Path, paths: list[Path], env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    view = subprocess.Popen(
        [sys.executable, "-m", "rlhf.cli.main", "view", *map(str, paths), "--port", "0", "--poll-ms", "500"],
        cwd=repo_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return view, re.search(r"(http://\S+/)", view.stderr.readline()).group(1)


def _save(shots: dict[str, Path]) -> None:
    """Copy the screenshots where COTRL_SCREENSHOT_DIR says (how docs/view/*.png are made)."""
    out = os.environ.get("COTRL_SCREENSHOT_DIR")
    for name, shot in shots.items():
        assert shot.stat().st_size > 20_000, name
        if out:
            shutil.copy(shot, Path(out) / name)


def _steps_shown(page) -> int:
    m = re.search(r"step (\d+)", page.inner_text("#latest-step"))
    return int(m.group(1)) if m else -1


def test_panel_follows_a_training_grpo_run(tmp_path, repo_root):
    from playwright.sync_api import sync_playwright

    r = recipe(tmp_path, "grpo")
    text = r.read_text().replace(
        "rewards:\n  - name: tests.rlhf.trainers.rl_helpers:digit_share",
        f"rewards:\n  - name: tests.rlhf.trainers.rl_helpers:digit_share\n  - name: {STEP_REWARD}",
    )
    r.write_text(text.replace("  steps: 3\n", "  steps: 40\n  samples_per_step: 4\n"))
    run = tmp_path / "run"
    env = _env(repo_root)
    train = subprocess.Popen(
        [sys.executable, "-m", "rlhf.cli.main", "train", str(r)],
        cwd=repo_root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    view = None
    try:
        _wait(lambda: (run / "metrics.jsonl").is_file(), 240, "the first logged step", train)
        view, url = _start_view(repo_root, [run], env)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.evaluate("window.__same_page = 1")  # a reload would lose this
            page.wait_for_selector('#curves .chart[data-metric="reward_mean"] .main-svg', timeout=60_000)
            page.wait_for_selector("#samples .sample", timeout=60_000)
            first = _wait(lambda: _steps_shown(page) + 1, 30, "a step on the page") - 1  # -1: none yet
            _wait(lambda: _steps_shown(page) > first, 120, "a new step to appear without a reload", train)
            assert page.evaluate("window.__same_page") == 1

            # a step the step reward scored 0 is marked wrong, with its score in the tooltip
            wrong = page.locator('#samples .step[data-verdict="wrong"]').first
            wrong.wait_for(timeout=30_000)
            assert "verdict wrong; score 0.00" in wrong.get_attribute("title")
            bg = wrong.evaluate("e => getComputedStyle(e).backgroundColor")
            assert bg == "rgb(251, 211, 211)"  # the red of .verdict-wrong
            samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines() if x.strip()]
            wrong_texts = {s["text"] for x in samples for s in x["steps"] if s["score"] == 0.0}
            shown = wrong.text_content()
            assert shown in wrong_texts and not any(ch.isdigit() for ch in shown)

            # the outcome filter narrows the list to what it says
            page.select_option("#f-outcome", "wrong")
            cards = page.locator("#samples .sample").all()
            assert cards and all(c.get_attribute("data-outcome") == "wrong" for c in cards)
            page.select_option("#f-outcome", "none")  # digit_share always gives an outcome
            assert page.locator("#samples .sample").count() == 0
            page.select_option("#f-outcome", "")

            # stability charts carry the recipe's gradient-clip threshold
            page.wait_for_selector('#stability .chart[data-metric="grad_norm"] .main-svg')
            assert "train.max_grad_norm" in page.inner_text('#stability .chart[data-metric="grad_norm"]')
            page.wait_for_selector('#hardware .chart[data-metric="hw/rss_mib"] .main-svg')

            shots = {"panel.png": tmp_path / "panel.png", "samples.png": tmp_path / "samples.png"}
            page.screenshot(path=str(shots["panel.png"]))
            # one DOM call: the live panel re-renders the list on every poll, so a located card can
            # be replaced between finding it and scrolling to it
            page.evaluate("document.querySelector('#samples .sample')?.scrollIntoView()")
            page.evaluate("document.querySelector('#samples').closest('section').scrollIntoView()")
            page.screenshot(path=str(shots["samples.png"]))
            _save(shots)
            browser.close()
    finally:
        for proc in (view, train):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)


def test_panel_on_the_demos_finished_runs_side_by_side(tmp_path, repo_root):
    """`cotrl view runs/demo`, as `make demo` prints it: the SFT and GRPO runs overlaid, the held-out
    checkpoint curve from the demo's report, GRPO samples with their step verdicts. The quick demo
    by default; COTRL_VIEW_DEMO=runs/demo looks at a full one (the README's screenshots)."""
    from playwright.sync_api import sync_playwright

    env = _env(repo_root)
    demo = Path(os.environ.get("COTRL_VIEW_DEMO") or tmp_path / "demo")
    if "COTRL_VIEW_DEMO" not in os.environ:
        subprocess.run(
            [sys.executable, "-m", "rlhf.demo.pipeline", "--quick", "--out", str(demo)],
            cwd=repo_root,
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
    view, url = _start_view(repo_root, [demo], env)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#runs .run-chip")
            assert page.inner_text("#runs").split() == ["grpo", "(grpo)", "sft", "(sft)"]
            page.wait_for_selector("#heldout-curve .main-svg", timeout=60_000)
            points = page.evaluate("document.getElementById('heldout-curve').data[0].x")
            report = json.loads((demo / "report.json").read_text())
            assert points == [c["step"] for c in report["heldout_curve"]]
            page.wait_for_selector(
                '#curves .chart[data-metric="heldout_accuracy"] .main-svg'
            )  # SFT's held-out curve
            page.wait_for_selector('#curves .chart[data-metric="reward_mean"] .main-svg')  # GRPO's reward
            page.select_option("#f-run", "0")  # the GRPO run: its samples carry step verdicts
            page.wait_for_selector("#samples .sample .step[data-verdict]")
            shots = {
                "demo_panel.png": tmp_path / "demo_panel.png",
                "demo_samples.png": tmp_path / "demo_samples.png",
            }
            page.screenshot(path=str(shots["demo_panel.png"]))
            page.evaluate("document.querySelector('#samples').closest('section').scrollIntoView()")
            page.screenshot(path=str(shots["demo_samples.png"]))
            _save(shots)
            browser.close()
    finally:
        view.terminate()
        view.wait(timeout=30)
