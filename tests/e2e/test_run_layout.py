"""One run-directory layout for every trainer: `cotrl export` and `cotrl eval` on real runs.

Each policy trainer (sft, grpo, ppo, distill), LoRA and full, runs its shipped recipe for
1-2 steps on a tiny model through `cotrl train`; then, on its run directory:
- the final policy is where the layout says (`adapter/` under LoRA, `model/` otherwise);
- `cotrl export RUN OUT` writes a plain HF dir whose logits are the run's base + adapter
  (LoRA; the adapter must have moved the logits, so a merge that dropped it would fail) or
  the run's own model (full finetune, copied);
- `cotrl eval RUN` and `cotrl eval OUT` generate the same greedy completions.
A PRM run, an unfinished run and a run written before `adapter/` existed are checked too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from rlhf.cli.main import main
from rlhf.runtime.rundir import RunDir

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "tiny.hidden_size=64",
    "tiny.num_heads=1",
    "tiny.num_layers=1",
    "tiny.intermediate_size=128",
    "tiny.vocab_size=320",
    "run.device=cpu",
]
SFT = ["sft.max_steps=2", "sft.batch_size=4", "sft.eval_max_items=2", "sft.eval_max_new_tokens=8"]
RL = [
    "train.steps=1",
    "data.prompts_per_step=2",
    "rollout.n=2",
    "rollout.max_new_tokens=8",
    "run.save_every=0",
]
DISTILL = [
    "distill.teacher={tiny}",
    "distill.verifier=tests.e2e.helpers:accept_all",
    "distill.require_correct_steps=false",
    "distill.generate.n=4",
    "distill.heldout=2",
    "distill.samples_per_problem=2",
    "distill.max_new_tokens=8",
    *SFT,
]
# name -> (recipe, overrides, LoRA?); {tiny} is the shared tiny HF model, {sft-lora} that run's directory
RUNS: dict[str, tuple[str, list[str], bool]] = {
    "sft-full": ("sft_warmstart", ["sft.generate.n=16", *SFT], False),
    "sft-lora": (
        "sft_lora_domain",
        ["model.path={tiny}", "sft.generate.n=8", "sft.general_generate.n=8", *SFT],
        True,
    ),
    "grpo-full": ("grpo_process", ["model.path=tiny", "lora.enabled=false", *RL], False),
    "grpo-lora": (  # the recipe as its header runs it: from the SFT stage's adapter (here: its run dir)
        "grpo_lora_domain",
        ["model.path={tiny}", "lora.adapter_path={sft-lora}", *RL],
        True,
    ),
    "ppo-full": ("ppo_process", ["model.path=tiny", *RL], False),
    "ppo-lora": ("ppo_process", ["model.path=tiny", "lora.enabled=true", "train.lr=1e-3", *RL], True),
    "distill-full": ("distill", DISTILL, False),
    "distill-lora": ("distill", ["model.path={tiny}", "lora.enabled=true", *DISTILL], True),
}
IDS = torch.tensor([[5, 17, 33, 2, 9, 41, 7]])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir):
    """`trained(name)` -> the run directory of RUNS[name], trained once per module."""
    done: dict[str, Path] = {}
    work = tmp_path_factory.mktemp("runs")

    def get(name: str) -> Path:
        if name not in done:
            recipe, overrides, _ = RUNS[name]
            subs = {"{tiny}": str(tiny_model_dir)}
            if any("{sft-lora}" in o for o in overrides):
                subs["{sft-lora}"] = str(get("sft-lora"))
            args = [_fill(o, subs) for o in overrides]
            out = work / name
            argv = ["train", str(REPO / "recipes" / f"{recipe}.yaml"), f"run.output_dir={out}", *TINY, *args]
            assert main(argv) == 0, name
            done[name] = out
        return done[name]

    return get


def _fill(text: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def _logits(path: Path, adapter: Path | None = None) -> torch.Tensor:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    with torch.no_grad():
        return model.eval()(input_ids=IDS).logits


def _eval(checkpoint: Path, out: Path) -> dict:
    argv = ["eval", str(checkpoint), "--task", "integer_arithmetic", "--n", "3", "--max-new-tokens", "8"]
    assert main([*argv, "--out", str(out)]) == 0, checkpoint
    return json.loads(out.read_text())


def _export_and_eval(run: Path, tmp_path: Path) -> tuple[Path, dict, dict]:
    out = tmp_path / "exported"
    assert main(["export", str(run), str(out)]) == 0
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    assert not list(out.glob("adapter_*")), "export must leave a plain HF dir, not an adapter"
    return out, _eval(run, tmp_path / "eval_run.json"), _eval(out, tmp_path / "eval_out.json")


@pytest.mark.parametrize("name", list(RUNS))
def test_export_and_eval_on_every_trainers_run(name, trained, tmp_path, capsys):
    run = RunDir(trained(name))
    lora = RUNS[name][2]
    final = run.final_model()
    assert final.path == run.final_dir(lora) and final.kind == ("adapter" if lora else "full")
    assert not run.final_dir(not lora).exists()  # one final policy, where the layout puts it
    capsys.readouterr()
    out, on_run, on_out = _export_and_eval(run.root, tmp_path)
    said = capsys.readouterr().out
    if lora:
        assert "merged model (base + adapter)" in said
        base = run.base_model()[0]
        with_adapter = _logits(Path(base), final.path)
        assert not torch.allclose(_logits(Path(base)), with_adapter, atol=1e-4)  # the adapter matters
        torch.testing.assert_close(_logits(out), with_adapter, atol=1e-5, rtol=1e-4)
    else:
        assert "already a plain HF dir" in said
        torch.testing.assert_close(_logits(out), _logits(final.path), atol=0, rtol=0)
    assert on_run["n_problems"] == on_out["n_problems"] == 3
    assert [s["completion"] for s in on_run["samples"]] == [s["completion"] for s in on_out["samples"]]
    assert on_run["mean_length"] == on_out["mean_length"] and on_run["accuracy"] == on_out["accuracy"]


def test_grpo_after_lora_sft_starts_at_kl_zero(trained):
    """The reference of GRPO continuing the SFT adapter is the SFT model, not the bare base."""
    records = [json.loads(line) for line in (trained("grpo-lora") / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in records if r.get("kl") is not None)
    assert abs(first["kl"]) < 1e-6, first


def test_a_run_written_before_adapter_dir_still_exports(trained, tmp_path):
    """GRPO/PPO LoRA runs used to leave their adapter in model/: read as the adapter it is."""
    old = tmp_path / "old_grpo_lora"
    shutil.copytree(trained("grpo-lora"), old)
    (old / "adapter").rename(old / "model")
    assert RunDir(old).final_model().legacy
    out = tmp_path / "out"
    assert main(["export", str(old), str(out)]) == 0
    torch.testing.assert_close(_logits(out), _logits(Path(RunDir(old).base_model()[0]), old / "model"))
    assert _eval(old, tmp_path / "e.json")["n_problems"] == 3


def _one_error(capsys, argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_prm_run_is_refused_by_export_and_eval_by_name(tmp_path, capsys):
    run = tmp_path / "prm"
    argv = ["train", str(REPO / "recipes/prm_train.yaml"), f"run.output_dir={run}", *TINY]
    argv += ["prm.num_train=8", "prm.num_eval=4", "prm.num_val=0", "prm.epochs=1", "prm.batch_size=8"]
    assert main(argv) == 0
    assert RunDir(run).final_model().kind == "prm" and (run / "prm" / "prm_config.json").is_file()
    err = _one_error(capsys, ["export", str(run), str(tmp_path / "out")])
    assert "process reward model run" in err and "nothing to export" in err and str(run / "prm") in err
    assert not (tmp_path / "out").exists()
    err = _one_error(capsys, ["eval", str(run), "--task", "integer_arithmetic", "--n", "2"])
    assert "process reward model run" in err and "does not apply" in err and "eval.json" in err


def test_unfinished_or_foreign_dirs_get_one_clear_line(trained, tmp_path, capsys):
    cut = tmp_path / "cut"
    shutil.copytree(trained("ppo-full"), cut)
    shutil.rmtree(cut / "model")  # what a kill after the last checkpoint, before the final save, leaves
    assert (cut / "checkpoints" / "step-000000").is_dir()
    for argv in (
        ["export", str(cut), str(tmp_path / "o")],
        ["eval", str(cut), "--task", "integer_arithmetic"],
    ):
        err = _one_error(capsys, argv)
        assert "holds no final model" in err and "checkpoints/step-000000" in err and "--resume" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a run directory" in _one_error(capsys, ["export", str(empty), str(tmp_path / "o")])
    full = trained("sft-full")
    for bad in (full, full / "model", full.parent):  # OUT would overwrite what is being exported
        assert "would overwrite the run" in _one_error(capsys, ["export", str(full), str(bad), "--overwrite"])
    assert (full / "model" / "config.json").is_file()


def _moved_run(trained, tmp_path: Path, base: Path, keep_fingerprint: bool = True) -> Path:
    """A copy of the sft-lora run whose recorded base now points at `base`."""
    run = tmp_path / "run"
    shutil.copytree(trained("sft-lora"), run)
    record = json.loads((run / "base_model.json").read_text())
    assert record["fingerprint"]  # written when the run started
    record.update(relative_to_run=str(base), absolute=str(base))
    if not keep_fingerprint:
        del record["fingerprint"]  # a run recorded before fingerprints existed
    (run / "base_model.json").write_text(json.dumps(record))
    return run


def test_export_refuses_an_adapter_onto_another_base(trained, tmp_path, capsys):
    from rlhf.models.tiny import build_tiny_model

    other = build_tiny_model(tmp_path / "other", seed=1)  # same architecture, other weights
    err = _one_error(capsys, ["export", str(_moved_run(trained, tmp_path, other)), str(tmp_path / "o")])
    assert "is not the model run" in err and str(other) in err
    assert not (tmp_path / "o").exists()
    wide = build_tiny_model(tmp_path / "wide", seed=0, hidden_size=64, num_heads=1)  # another shape
    shutil.rmtree(tmp_path / "run")
    err = _one_error(capsys, ["export", str(_moved_run(trained, tmp_path, wide, False)), str(tmp_path / "o")])
    assert "does not fit the base model" in err and "size mismatch" in err
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob(".o*"))  # nothing half-written


def test_export_into_a_dir_holding_another_model_is_refused(trained, tmp_path, capsys, tiny_model_dir):
    out = tmp_path / "taken"
    shutil.copytree(tiny_model_dir, out)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    err = _one_error(capsys, ["export", str(trained("sft-lora")), str(out)])
    assert "holds another model" in err and "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
