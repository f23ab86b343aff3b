"""The run's progress display: a rich bar on a terminal, plain flushed lines in a log file."""

from __future__ import annotations

import io

from rlhf.runtime.progress import PlainBar, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_when_not_a_terminal_every_n_steps_and_at_the_end():
    out = io.StringIO()
    with progress(5, 0, "grpo", every=2, stream=out) as bar:
        assert isinstance(bar, PlainBar)
        for done in range(1, 6):
            bar.update(done, f"r={done / 10:.3f}")
            if done == 2:  # flushed as it happens, not at the end
                assert out.getvalue().splitlines()[-1].startswith("grpo 2/5 0:00:00 r=0.200")
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["2/5", "4/5", "5/5"]
    assert lines[-1].endswith("r=0.500")


def test_a_repeated_step_prints_once_and_tick_prints_nothing():
    out = io.StringIO()
    with progress(3, 0, "sft", stream=out) as bar:
        bar.tick(1)
        bar.update(3, "loss=1.0")
        bar.update(3, "loss=1.0")
    assert out.getvalue() == "sft 3/3 0:00:00 loss=1.0\n"


def test_a_terminal_gets_the_rich_bar():
    out = _Terminal()
    with progress(2, 0, "ppo", stream=out) as bar:
        assert not isinstance(bar, PlainBar)
        bar.update(2, "acc=1.00")
    text = out.getvalue()
    assert "ppo" in text and "2/2" in text and "\x1b[" in text  # drawn with terminal control codes
