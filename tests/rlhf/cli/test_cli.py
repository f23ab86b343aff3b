import subprocess
import sys

from rlhf import __version__
from rlhf.cli.main import main


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "rlhf.cli.main", *args], capture_output=True, text=True, cwd=cwd
    )


def test_help_and_version(repo_root):
    out = run_cli("--help", cwd=repo_root)
    assert out.returncode == 0 and "usage: cotrl" in out.stdout
    out = run_cli("--version", cwd=repo_root)
    assert out.returncode == 0 and __version__ in out.stdout


def test_tiny_model_command_and_error(tmp_path, capsys):
    assert main(["tiny-model", str(tmp_path / "m"), "--vocab-size", "300"]) == 0
    assert (tmp_path / "m" / "config.json").is_file()
    capsys.readouterr()
    # existing output without --overwrite: one line, exit 2, no traceback
    assert main(["tiny-model", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["tiny-model", str(tmp_path / "n"), "--corpus", str(tmp_path / "none.txt")]) == 2
    assert "--corpus file not found" in capsys.readouterr().err
