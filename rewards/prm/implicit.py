"""Implicit process rewards, PRIME style: token-level rewards from a log-ratio, learnt online from outcomes.

A causal LM pi_phi, initialised from a model directory (normally the policy's SFT warm start), and
a frozen copy of the same weights, pi_ref, score each completion y of prompt x token by token:

    r_t = beta * (log pi_phi(y_t | x, y_<t) - log pi_ref(y_t | x, y_<t))

A step's reward is the sum of r_t over its tokens and those between it and the previous step
(the last step also takes the tokens after it: the answer's closing tokens and the end of
sequence), so every token's reward reaches a step, as in PRIME's token-level returns. The sum
over the whole completion, r(y) = sum_t r_t, is read as an outcome logit and trained with
outcome labels only:

    loss = BCE(sigmoid(r(y)), label),   label = 1 if the completion's outcome >= `label_threshold`

Trained on outcome labels, the log-ratio's token terms become a process reward without any step
label (Yuan et al. 2024, "Free Process Rewards without Process Labels"; Cui et al. 2025, PRIME).
No rule step verifier is involved: the labels come from the recipe's outcome reward.

Online, in the RL loop (`rlhf.rollout.scoring.Scorer`): each step's completions are scored first
(`score_rollouts`, under the reward guard), then pi_phi takes one optimizer step on that batch's
outcome labels (`update`): a completion's step rewards never come from a model that has seen its
own label. Completions whose outcome is None (unverifiable) are not trained on.

pi_phi and its optimizer are run state: `state_dict()` / `load_state_dict()` go into every RL
checkpoint (`reward_state.pt`), so a resumed run continues with the reward model it had. The whole
reward model trains (as PRIME does): on a real model that is a second model, a reference and an
AdamW state beside the policy. One process only: each process of a data-parallel run would
train its own copy on its own shard, so several processes are refused.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from rewards.types import Problem, Rollout, StepSpan


class ImplicitPRMStepReward:
    name = "implicit_prm"

    def __init__(
        self,
        path: str = "",
        beta: float = 0.05,
        lr: float = 1e-6,
        update: bool = True,
        label_threshold: float = 0.5,
        balance: bool = False,
        batch_size: int = 16,
        grad_clip: float = 1.0,
        device: str = "cpu",
    ) -> None:
        """`path`: a causal-LM directory both pi_phi and pi_ref start from (the SFT model).
        `beta`: the log-ratio's scale. `lr`: pi_phi's AdamW learning rate. `update`: false
        keeps pi_phi fixed (scores only). `balance`: weight the batch's right and wrong completions
        equally in the loss (half each), so a batch of mostly wrong ones does not just teach pi_phi to
        lower every sampled token. `batch_size`: sequences per forward pass."""
        if not path:
            raise ValueError(
                "step reward 'implicit_prm' needs params.path: a causal-LM directory (the policy's SFT model)"
            )
        if not (Path(path) / "config.json").is_file():
            raise ValueError(f"implicit_prm: path {path} is not a model directory (no config.json)")
        try:  # YAML 1.1 reads 5e-5 (no dot) as a string
            beta, lr, label_threshold, grad_clip = (float(x) for x in (beta, lr, label_threshold, grad_clip))
            batch_size = int(batch_size)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"implicit_prm: beta, lr, label_threshold, grad_clip and batch_size must be numbers ({exc})"
            ) from None
        for key, value in (("beta", beta), ("batch_size", batch_size)):
            if not value > 0:
                raise ValueError(f"implicit_prm: {key} must be > 0, got {value}")
        if lr < 0 or grad_clip <= 0:
            raise ValueError(f"implicit_prm: lr must be >= 0 and grad_clip > 0, got {lr} and {grad_clip}")
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            if torch.distributed.get_world_size() > 1:
                raise ValueError(
                    "implicit_prm trains one reward model in one process; this run has "
                    f"{torch.distributed.get_world_size()} processes (each would train its own copy)"
                )
        from transformers import AutoModelForCausalLM

        self.device = torch.device(device)
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(self.device)
        self.ref = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(self.device).eval()
        self.ref.requires_grad_(False)
        self.model.eval()  # no dropout: a step's score must not depend on a draw
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.0)
        self.beta, self.label_threshold, self.batch_size, self.grad_clip = (
            beta,
            label_threshold,
            batch_size,
            grad_clip,
        )
        self.update_enabled, self.balance = bool(update), bool(balance)
        self.updates = 0
        self._ref_cache: dict[tuple[tuple[int, ...], tuple[int, ...]], torch.Tensor] = {}

    # ------------------------------------------------------------------ scoring

    def score_steps(
        self, problems: Sequence[Problem], steps: Sequence[Sequence[StepSpan]]
    ) -> list[list[float | None]]:
        raise ValueError(
            "implicit_prm scores token spans of sampled completions: it runs inside a GRPO/PPO "
            "recipe's rewards (the loop passes the rollouts), not on step texts alone"
        )

    @torch.no_grad()
    def score_rollouts(
        self, problems: Sequence[Problem], rollouts: Sequence[Rollout]
    ) -> list[list[float | None]]:
        """Each step's beta * sum of token log-ratios (None for a step with no completion tokens)."""
        ref = self._logprobs(self.ref, rollouts)
        self._ref_cache = {_key(r): lp for r, lp in zip(rollouts, ref)}
        cur = self._logprobs(self.model, rollouts)
        out = []
        for r, lp, lr in zip(rollouts, cur, ref):
            token = self.beta * (lp - lr)  # [len(completion)]
            out.append(_step_sums(token, r.steps))
        return out

    # ------------------------------------------------------------------ online update

    def update(self, rollouts: Sequence[Rollout]) -> dict[str, float]:
        """One AdamW step of pi_phi on the batch's outcome labels; returns its metrics."""
        rows = [r for r in rollouts if r.outcome is not None and r.completion_ids]
        if not self.update_enabled or not rows:
            return {}
        labels = torch.tensor([float(r.outcome >= self.label_threshold) for r in rows], device=self.device)
        ref = [self._ref_cache.get(_key(r)) for r in rows]
        if any(x is None for x in ref):  # not scored just before (direct use): compute it now
            ref = self._logprobs(self.ref, rows)
        weights = loss_weights(labels, self.balance)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, logits = 0.0, []
        for start in range(0, len(rows), self.batch_size):
            part = rows[start : start + self.batch_size]
            cur = self._logprobs(self.model, part, grad=True)
            z = torch.stack(
                [self.beta * (lp - lr).sum() for lp, lr in zip(cur, ref[start : start + len(part)])]
            )
            part_slice = slice(start, start + len(part))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                z, labels[part_slice], weight=weights[part_slice], reduction="sum"
            )
            loss.backward()
            total += float(loss.detach())
            logits.append(z.detach())
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.model.eval()
        self.updates += 1
        self._ref_cache = {}
        z = torch.cat(logits)
        acc = float(((z > 0).float() == labels).float().mean())
        return {
            "loss": total,
            "grad_norm": float(grad_norm),
            "label_accuracy": acc,
            "updates": float(self.updates),
        }

    # ------------------------------------------------------------------ run state

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        # a copy: torch's loader keeps tensors that need no cast, which would alias the caller's state
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.updates = int(state["updates"])

    # ------------------------------------------------------------------ helpers

    def _logprobs(self, model: Any, rollouts: Sequence[Rollout], grad: bool = False) -> list[torch.Tensor]:
        """log p(completion token | everything before it) per rollout: a list of [len(completion)]."""
        out: list[torch.Tensor] = []
        with torch.set_grad_enabled(grad):
            for start in range(0, len(rollouts), self.batch_size):
                part = rollouts[start : start + self.batch_size]
                seqs = [list(r.prompt_ids) + list(r.completion_ids) for r in part]
                width = max(len(s) for s in seqs)
                ids = torch.zeros(len(seqs), width, dtype=torch.long)
                mask = torch.zeros(len(seqs), width, dtype=torch.long)
                for i, s in enumerate(seqs):  # right padding: positions stay 0..len-1
                    ids[i, : len(s)] = torch.tensor(s)
                    mask[i, : len(s)] = 1
                ids, mask = ids.to(self.device), mask.to(self.device)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()  # [B, W-1, V]
                lp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # [B, W-1]
                for i, r in enumerate(part):
                    p, c = len(r.prompt_ids), len(r.completion_ids)
                    if p == 0:
                        raise ValueError(f"implicit_prm: rollout of {r.problem_id!r} has no prompt tokens")
                    out.append(lp[i, p - 1 : p - 1 + c])  # token p+j is predicted at position p+j-1
        return out


def loss_weights(labels: torch.Tensor, balance: bool) -> torch.Tensor:
    """Per-completion weights of the BCE sum: the batch mean, or (`balance`, both labels present)
    half the loss to each label, shared equally within it."""
    n, npos = labels.numel(), int(labels.sum())
    if balance and 0 < npos < n:
        return torch.where(labels > 0, 0.5 / npos, 0.5 / (n - npos))
    return torch.full_like(labels, 1.0 / n)


def _key(r: Rollout) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (tuple(r.prompt_ids), tuple(r.completion_ids))


def _step_sums(token: torch.Tensor, steps: Sequence[StepSpan]) -> list[float | None]:
    """Each step's share of the completion's token rewards: the tokens after the previous step's
    end up to its own end, and for the last step everything after it too (the answer's closing
    tokens, end of sequence), so every token reward reaches a step. A step with no tokens: None."""
    out: list[float | None] = []
    prev = 0
    for i, span in enumerate(steps):
        hi = token.shape[0] if i == len(steps) - 1 else min(span.end, token.shape[0])
        if span.end <= span.start or hi <= prev:
            out.append(None)
            continue
        value = float(token[prev:hi].sum())
        out.append(value if math.isfinite(value) else None)
        prev = hi
    return out


def make_implicit_prm(**params: Any) -> ImplicitPRMStepReward:
    return ImplicitPRMStepReward(**params)
