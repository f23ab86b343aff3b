"""Every estimator's `EstimatorInfo` is present, well formed and true to what the function reads;
the README's estimator table is the one the metadata renders."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from rlhf.algos import ADVANTAGES, INPUTS, EstimatorInfo
from rlhf.algos.registry import EstimatorRegistry
from rlhf.algos.types import RolloutBatch
from rlhf.config.recipe import AlgoSection

README = Path(__file__).resolve().parents[3] / "README.md"


def random_batch(seed: int = 0) -> RolloutBatch:
    """4 groups of 3 rollouts, 8 columns (2 prompt, up to 6 response), every input filled."""
    g = torch.Generator().manual_seed(seed)
    n, t = 12, 8
    mask = torch.zeros(n, t)
    for i in range(n):
        mask[i, 2 : 2 + 3 + i % 4] = 1.0
    step_mask = (torch.rand(n, t, generator=g) < 0.5).float() * mask
    step_mask[:, 2] = 1.0  # every rollout has a scored step
    return RolloutBatch(
        input_ids=torch.zeros(n, t, dtype=torch.long),
        attention_mask=torch.ones(n, t, dtype=torch.long),
        response_mask=mask,
        old_logprobs=-torch.rand(n, t, generator=g),
        token_rewards=torch.randn(n, t, generator=g) * mask,
        group_index=torch.arange(n) // 3,
        outcome_rewards=torch.rand(n, generator=g),
        outcome_mask=torch.ones(n),
        step_rewards=torch.rand(n, t, generator=g) * step_mask,
        step_mask=step_mask,
        values=torch.randn(n, t, generator=g),
    )


def _perturbed(batch: RolloutBatch, key: str, seed: int = 7) -> RolloutBatch:
    """The same batch with the values of one input (`INPUTS` key) redrawn, masks kept."""
    g = torch.Generator().manual_seed(seed)
    field = {
        "outcomes": "outcome_rewards",
        "steps": "step_rewards",
        "token_rewards": "token_rewards",
        "values": "values",
    }[key]
    old = getattr(batch, field)
    new = torch.rand(old.shape, generator=g) * 3 - 1
    if key == "steps":
        new = new * batch.step_mask
    return dataclasses.replace(batch, **{field: new})


def test_every_registered_estimator_is_described():
    infos = ADVANTAGES.infos()
    assert list(infos) and set(infos) == set(ADVANTAGES.names())
    for name, info in infos.items():
        assert isinstance(info, EstimatorInfo), name
        assert info.reads and info.reads <= INPUTS.keys(), name
        assert info.description.strip() and "\n" not in info.description and "|" not in info.description
        assert info.token_level == ("token_rewards" in info.reads)
        assert info.needs_critic == ("values" in info.reads)
        for label, part in info.parts:
            assert re.fullmatch(r"[a-z_]+", label), (name, label)
            assert ADVANTAGES.info(part).reads <= info.reads, (name, part)  # a part reads nothing extra
    # the families the loops and checks rely on are all represented
    assert any(i.needs_critic for i in infos.values()) and any(i.reads_steps for i in infos.values())
    assert any(i.token_level for i in infos.values()) and any(i.parts for i in infos.values())


@pytest.mark.parametrize("name", ADVANTAGES.names())
def test_metadata_says_what_the_estimator_reads(name):
    """Redrawing an input the metadata says it reads changes the advantages; any other input does not."""
    info = ADVANTAGES.info(name)
    batch = random_batch()
    cfg = AlgoSection(advantage=name)
    base = ADVANTAGES.get(name)(batch, cfg)
    for key in INPUTS:
        changed = ADVANTAGES.get(name)(_perturbed(batch, key), cfg)
        if key in info.reads:
            assert not torch.allclose(changed, base), (name, key)
        else:
            assert torch.equal(changed, base), (name, key)


def test_registering_without_metadata_fails():
    reg = EstimatorRegistry("advantage")

    def fn(batch, cfg):
        return batch.token_rewards

    with pytest.raises(TypeError, match=r"advantage 'mine'.*info=EstimatorInfo"):
        reg.register("mine", fn)
    with pytest.raises(TypeError, match="info=EstimatorInfo"):
        reg.register("mine")(fn)
    with pytest.raises(TypeError, match="info=EstimatorInfo"):
        reg.register_lazy("lazy", "rlhf.algos.advantages:grpo")
    assert "mine" not in reg and len(reg) == 0
    info = EstimatorInfo(reads={"token_rewards"}, description="token rewards as they are")
    assert reg.register("mine", fn, info=info) is fn and reg.info("mine") is info
    with pytest.raises(ValueError, match="already registered"):
        reg.register("mine", fn, info=info)
    reg.register_lazy("lazy", "rlhf.algos.advantages:grpo", info=ADVANTAGES.info("grpo"))
    assert reg.get("lazy") is ADVANTAGES.get("grpo") and reg.info("lazy") is ADVANTAGES.info("grpo")
    assert list(reg.infos()) == ["mine", "lazy"]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reads": set(), "description": "x"}, "non-empty subset"),
        ({"reads": {"outcome"}, "description": "x"}, r"\['outcome'\] must be"),
        ({"reads": {"outcomes"}, "description": ""}, "one non-empty line"),
        ({"reads": {"outcomes"}, "description": "two\nlines"}, "one non-empty line"),
        ({"reads": {"outcomes"}, "description": "x", "parts": (("a",),)}, "parts"),
    ],
)
def test_bad_metadata_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EstimatorInfo(**kwargs)


def test_user_code_metadata(tmp_path, monkeypatch):
    described = "tests.rlhf.trainers.rl_helpers:critic_residual"
    info = ADVANTAGES.info(described)
    assert info is not None and info.needs_critic and info.token_level
    assert ADVANTAGES.info(described, import_user_code=False) is None  # config loading does not import
    assert ADVANTAGES.info("tests.rlhf.trainers.rl_helpers:outcome_sign") is None  # nothing assumed
    assert ADVANTAGES.get("tests.rlhf.trainers.rl_helpers:outcome_sign")  # and it still resolves
    (tmp_path / "user_adv_bad.py").write_text(
        "def fn(batch, cfg):\n    return batch.token_rewards\n\nfn.estimator_info = {'reads': ['outcomes']}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="estimator_info must be an EstimatorInfo, got dict"):
        ADVANTAGES.info("user_adv_bad:fn")
    with pytest.raises(ValueError, match="unknown advantage 'grp'"):
        ADVANTAGES.info("grp")


def test_readme_table_is_the_rendered_metadata():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- estimators:[^\n]*-->\n(.*?)\n<!-- /estimators -->", text, re.S)
    assert found, "README.md lost its <!-- estimators --> block"
    expected = ADVANTAGES.markdown_table()
    assert found.group(1) == expected, "README.md's estimator table is stale; replace it with:\n" + expected
    rows = found.group(1).splitlines()[2:]
    assert [r.split("|")[1].strip(" `") for r in rows] == list(ADVANTAGES.infos())
