"""The shipped accelerate configs parse with accelerate's own loader and say what they claim."""

from pathlib import Path

import pytest

CONFIGS = {
    "ddp_cpu_2proc.yaml": ("MULTI_GPU", 2),  # torchrun launcher; gloo on a CPU-only machine
    "ddp_multi_gpu.yaml": ("MULTI_GPU", 8),
    "fsdp2.yaml": ("FSDP", 8),
    "fsdp2_cpu_2proc.yaml": ("FSDP", 2),  # torchrun launcher; cotrl restores the FSDP2 plugin on CPU
    "deepspeed_zero2.yaml": ("DEEPSPEED", 8),
    "deepspeed_zero3.yaml": ("DEEPSPEED", 8),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_accelerate_config_loads(repo_root: Path, name: str):
    from accelerate.commands.config.config_args import load_config_from_file

    path = repo_root / "recipes" / "accelerate" / name
    cfg = load_config_from_file(str(path))
    kind, procs = CONFIGS[name]
    assert cfg.distributed_type.name == kind and cfg.num_processes == procs
    header = path.read_text().splitlines()[:3]
    assert any("accelerate launch --config_file recipes/accelerate/" + name in line for line in header)
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == 2
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] in (2, 3)
