"""Helpers of the shared-runtime tests: read a run's weights, compare them bit for bit."""

from __future__ import annotations

from pathlib import Path

import torch


def weights(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor in a directory's safetensors files."""
    from safetensors.torch import load_file

    out: dict[str, torch.Tensor] = {}
    for f in sorted(Path(path).glob("*.safetensors")):
        out.update(load_file(str(f)))
    return out


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Bit-identical (NaN equal to NaN)."""
    return a.keys() == b.keys() and all(
        torch.equal(torch.nan_to_num(a[k], nan=7.0), torch.nan_to_num(b[k], nan=7.0))
        and torch.equal(a[k].isnan(), b[k].isnan())
        for k in a
    )
