"""The process reward model: a token-classification head (good / bad step) on a causal LM.

Any HF causal LM whose family has a ``*ForTokenClassification`` class (Llama, Qwen2, Mistral,
Gemma, Phi, ...) works as a backbone: the LM's weights load into the body and a 2-way head is
initialised. A trained PRM directory holds the model (LoRA merged), its tokenizer and
``prm_config.json`` (the separator and input format), so scoring needs only the path.
LoRA on a PRM is applied by the trainer, with the one `apply_lora` every trainer uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rewards.prm.data import collate, encode_row

PRM_CONFIG = "prm_config.json"


def load_backbone(path: str | Path, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False):
    """A fresh 2-label token classifier on the causal LM at `path` (for training)."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    if not trust_remote_code and not register_token_classifier(config):
        raise ValueError(  # one line: transformers' own error lists every config class it knows
            f"model.path {path}: model type {config.model_type!r} has no token-classification class in "
            "transformers, so it cannot be a PRM backbone (the GRPO, PPO and SFT paths take it)"
        )
    try:
        return AutoModelForTokenClassification.from_pretrained(
            path,
            num_labels=2,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            id2label={0: "bad", 1: "good"},
            label2id={"bad": 0, "good": 1},
        )
    except ValueError as exc:
        raise ValueError(
            f"model.path {path}: model type {config.model_type!r} has no token-classification "
            f"class in transformers, so it cannot be a PRM backbone ({exc})"
        ) from None


def register_token_classifier(config: Any) -> bool:
    """Whether `AutoModelForTokenClassification` can build `config`'s family, registering one if needed.

    Some causal-LM families ship without a token classifier in transformers (Gemma 3 text,
    OLMo 2). transformers' own `GenericForTokenClassification` (the body every shipped one uses)
    over the family's pretrained-model class gives one; registered under the config class, a
    saved PRM of that family loads back by name in any process that calls this first.
    """
    from transformers import AutoModel, AutoModelForTokenClassification, PreTrainedModel
    from transformers.modeling_layers import GenericForTokenClassification
    from transformers.models.auto.modeling_auto import MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES

    if config.model_type in MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES:
        return True
    try:
        registered = AutoModelForTokenClassification._model_mapping[type(config)]
        return registered is not None
    except KeyError:
        pass
    try:
        body = AutoModel._model_mapping[type(config)]
    except KeyError:
        return False
    parents = [b for b in body.__mro__[1:] if issubclass(b, PreTrainedModel) and b is not PreTrainedModel]
    if not parents:
        return False
    name = body.__name__.removesuffix("Model") + "ForTokenClassification"
    attrs = {"__module__": __name__, "config_class": type(config)}
    cls = type(name, (GenericForTokenClassification, parents[0]), attrs)
    AutoModelForTokenClassification.register(type(config), cls, exist_ok=True)
    return True


def save_prm(
    model: Any, tokenizer: Any, out: str | Path, sep: str, max_length: int, threshold: float = 0.5
) -> Path:
    """Save a self-contained PRM directory (LoRA merged into the weights); `threshold` is the
    P(good) below which a step counts as wrong (calibrated by the trainer when asked)."""
    out = Path(out)
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    (out / PRM_CONFIG).write_text(
        json.dumps({"separator": sep, "max_length": max_length, "good_label": 1, "threshold": threshold})
    )
    return out


class PRMScorer:
    """Batched step scoring: P(step is good) at each step's label position."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        sep: str = "\n",
        max_length: int = 1024,
        batch_size: int = 16,
        device: str | torch.device = "cpu",
        threshold: float = 0.5,
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.sep = sep
        self.max_length = max_length
        self.batch_size = batch_size
        self.threshold = threshold  # P(good) below which a step counts as wrong (saved by the trainer)
        self.device = torch.device(device)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "cpu", batch_size: int = 16) -> PRMScorer:
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        p = Path(path)
        if not (p / "config.json").is_file():
            raise ValueError(f"prm path {p} is not a model directory (no config.json)")
        config = AutoConfig.from_pretrained(p)
        archs = list(getattr(config, "architectures", None) or [])
        if (
            not any(a.endswith("ForTokenClassification") for a in archs)
            or getattr(config, "num_labels", 0) != 2
        ):
            raise ValueError(
                f"prm path {p} holds {archs or config.model_type} with {config.num_labels} labels, "
                "not a 2-label token-classification PRM; train one with "
                "`cotrl train recipes/prm_train.yaml`"
            )
        meta = json.loads((p / PRM_CONFIG).read_text()) if (p / PRM_CONFIG).is_file() else {}
        register_token_classifier(config)  # a family transformers ships without one (Gemma 3 text)
        model = AutoModelForTokenClassification.from_pretrained(p)
        tok = AutoTokenizer.from_pretrained(p)
        return cls(
            model,
            tok,
            sep=meta.get("separator", "\n"),
            max_length=int(meta.get("max_length", 1024)),
            batch_size=batch_size,
            device=device,
            threshold=float(meta.get("threshold", 0.5)),
        )

    @torch.no_grad()
    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float | None]]:
        """One probability per step; None for steps cut off by `max_length`."""
        encoded = [
            encode_row(self.tokenizer, p, s, None, self.sep, self.max_length) for p, s in zip(prompts, steps)
        ]
        out: list[list[float | None]] = []
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))  # less padding
        results: dict[int, list[float | None]] = {}
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = [encoded[i] for i in idx]
            if all(not e.input_ids for e in batch):
                continue
            t = collate(batch, self.pad_id)
            logits = self.model(
                input_ids=t["input_ids"].to(self.device), attention_mask=t["attention_mask"].to(self.device)
            ).logits
            probs = torch.softmax(logits.float(), dim=-1)[..., 1].cpu()  # [B, T]
            for r, i in enumerate(idx):
                results[i] = [float(probs[r, pos]) for pos in encoded[i].step_positions]
        for i, s in enumerate(steps):
            got = results.get(i, [])
            out.append(got + [None] * (len(s) - len(got)))
        return out
