import pytest

from rlhf.cli.main import main
from rlhf.config.recipe import RunConfig
from rlhf.runtime.rundir import prepare_run_dir


def test_train_cli_bad_inputs_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert "recipe file not found" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("trainer: grpoo\n")
    assert main(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown trainer 'grpoo'" in err and "did you mean 'grpo'" in err
    bad.write_text("trainer: grpo\nrun:\n  seeed: 1\n")
    assert main(["train", str(bad)]) == 2
    assert "did you mean 'run.seed'" in capsys.readouterr().err


def test_overrides_after_a_flag_still_reach_the_recipe(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("trainer: grpo\n")
    # the override comes after --overwrite; it must be applied (and here rejected by name), not dropped
    assert main(["train", str(recipe), "--overwrite", "run.seeed=1"]) == 2
    assert "did you mean 'run.seed'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["train", str(recipe), "--overwrite", "--bogus"])
    assert exc.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_run_dir_refuses_existing_run(tmp_path):
    cfg = RunConfig(trainer="grpo")
    rd = prepare_run_dir(cfg, tmp_path / "r")
    assert rd.config_path.is_file() and rd.checkpoints.is_dir()
    with pytest.raises(ValueError, match="already holds a run"):
        prepare_run_dir(cfg, tmp_path / "r")
    assert prepare_run_dir(cfg, tmp_path / "r", resume=True).resume
    other = RunConfig(trainer="ppo")
    with pytest.raises(ValueError, match="recipe differs"):
        prepare_run_dir(other, tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="no run to resume"):
        prepare_run_dir(cfg, tmp_path / "fresh", resume=True)
    (tmp_path / "r" / "metrics.jsonl").write_text("{}\n")
    prepare_run_dir(other, tmp_path / "r", overwrite=True)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()
