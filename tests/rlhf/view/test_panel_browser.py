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
        view = subprocess.Popen(
            [sys.executable, "-m", "rlhf.cli.main", "view", str(run), "--port", "0", "--poll-ms", "500"],
            cwd=repo_root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        url = re.search(r"(http://\S+/)", view.stderr.readline()).group(1)
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
            assert train.poll() is None or _steps_shown(page) > first  # it was live while training

            # a step the step reward scored 0 is marked wrong, with its score in the tooltip
            wrong = page.locator('#samples .step[data-verdict="wrong"]').first
            wrong.wait_for(timeout=30_000)
            assert "verdict wrong; score 0.00" in wrong.get_attribute("title")
            bg = wrong.evaluate("e => getComputedStyle(e).backgroundColor")
            assert bg == "rgb(251, 211, 211)"  # the red of .verdict-wrong
            samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines() if x.strip()]
            wrong_texts = {s["text"] for x in samples for s in x["steps"] if s["score"] == 0.0}
            assert wrong.inner_text() in wrong_texts and not any(ch.isdigit() for ch in wrong.inner_text())

            # the outcome filter narrows the list to what it says
            page.select_option("#f-outcome", "wrong")
            for card in page.locator("#samples .sample").all():
                assert card.get_attribute("data-outcome") == "wrong"
            page.select_option("#f-outcome", "")

            # stability charts carry the recipe's gradient-clip threshold
            page.wait_for_selector('#stability .chart[data-metric="grad_norm"] .main-svg')
            assert "train.max_grad_norm" in page.inner_text('#stability .chart[data-metric="grad_norm"]')
            page.wait_for_selector('#hardware .chart[data-metric="hw/rss_mib"] .main-svg')

            shots = {"panel.png": tmp_path / "panel.png", "samples.png": tmp_path / "samples.png"}
            page.screenshot(path=str(shots["panel.png"]))
            page.locator("#samples .sample").first.scroll_into_view_if_needed()
            page.evaluate("document.querySelector('#samples').closest('section').scrollIntoView()")
            page.screenshot(path=str(shots["samples.png"]))
            for shot in shots.values():
                assert shot.stat().st_size > 20_000
            out = os.environ.get("COTRL_SCREENSHOT_DIR")  # how docs/view/*.png are made (README)
            if out:
                for name, shot in shots.items():
                    shutil.copy(shot, Path(out) / name)
            browser.close()
    finally:
        for proc in (view, train):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
