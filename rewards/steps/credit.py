"""Which steps of a trace feed its final answer: the guard that keeps step rewards from being farmed.

A rule verifier pays for every true claim, so a policy can raise its process reward by writing
true steps that do no work: a trivially true side calculation (``1 + 1 = 2``), a step repeated
word for word, a restatement (``4 + 24 = 4 + 24``). DeepSeek-R1 dropped step rewards because
policies learned exactly this. `feeds_answer` traces the trace's dependencies backwards instead:

- the final answer (the ``<answer>`` step, or the last claim's result) is *needed*;
- walking from the last step to the first, a step *feeds the answer* when one of its claims
  ends in a needed expression; that expression is then consumed (a second step producing it,
  e.g. a repeated step, gets no credit) and the claim's starting expression becomes needed;
- a claim that rewrites nothing (all its parts the same expression) produces nothing.

Expressions are compared by their canonical parse (`rewards.steps.parse.canonical`), so
spacing and redundant brackets do not matter, but a value is not an expression: ``24`` does
not stand for ``6 * 4``. That fits traces that rewrite the whole state in each step (data_gen's
arithmetic and equation chains); a trace whose steps compute side results that a later step
uses by value is still credited for those (its result is then an operand the chain needs only if
a later claim *starts* from it exactly). Steps without claims (prose) feed nothing and are
neither credited nor blamed here: the verifier already leaves them unscored.
"""

from __future__ import annotations

from collections.abc import Sequence

from rewards.steps.parse import (
    _trim_run,
    answer_text,
    canonical,
    extract_claims,
    math_runs,
    normalize,
    parse_expression,
    parse_tokens,
)


def _rewrites(step: str) -> list[tuple[str, str]]:
    """(start, result) canonical pairs of a step's claims that change the expression."""
    out = []
    for claim in extract_claims(step):
        start, result = canonical(claim.parts[0]), canonical(claim.parts[-1])
        if start != result:
            out.append((start, result))
    return out


def _answer_key(steps: Sequence[str]) -> tuple[int, str] | None:
    """(index of the answer step, canonical answer) from the last step that states an answer."""
    for i in range(len(steps) - 1, -1, -1):
        given = answer_text(steps[i])
        if given is None:
            continue
        node = parse_expression(given.strip().rstrip(".").rsplit("=", 1)[-1])
        return (i, canonical(node)) if node is not None else None
    return None


def feeds_answer(steps: Sequence[str]) -> list[bool]:
    """Per step: does it lie on the dependency chain that ends in the trace's final answer?

    The answer step itself counts as feeding. Without a stated answer, the last step that
    rewrites an expression is taken as the end of the chain (a trace cut off before its answer
    still gets credit for the work it did, once).
    """
    texts = [str(s) for s in steps]
    rewrites = [_rewrites(t) for t in texts]
    fed = [False] * len(texts)
    key = _answer_key(texts)
    if key is not None:
        end, needed = key[0], {key[1]}
        fed[end] = True
    else:
        end = next((i for i in range(len(texts) - 1, -1, -1) if rewrites[i]), -1)
        if end < 0:
            return fed
        needed = {rewrites[end][-1][1]}
    for i in range(end, -1, -1):
        for start, result in reversed(rewrites[i]):
            if result in needed:
                needed.discard(result)
                needed.add(start)
                fed[i] = True
    return fed


def problem_expressions(prompt: str) -> set[str]:
    """Canonical forms of the expressions a problem states (``Compute 7 - 1 * 7.`` -> {``(7-(1*7))``})."""
    out = set()
    for run in math_runs(normalize(prompt)):
        node = parse_tokens(_trim_run(run))
        if node is not None:
            out.add(canonical(node))
    return out


def _extends_problem(rewrites: list[list[tuple[str, str]]], available: set[str]) -> list[bool]:
    """Per step: does a claim start from the problem or from an earlier connected step's result,
    and is it the only step making that claim (a repeated step does no new work)?"""
    counts: dict[tuple[str, str], int] = {}
    for rw in rewrites:
        for pair in rw:
            counts[pair] = counts.get(pair, 0) + 1
    out = []
    for rw in rewrites:
        hit = [pair for pair in rw if pair[0] in available and counts[pair] == 1]
        available |= {result for _, result in hit}
        out.append(bool(hit))
    return out


def padding_steps(steps: Sequence[str], prompt: str = "") -> list[int]:
    """Indices of claim-making steps that do no work: off the answer's dependency chain and,
    given the `prompt`, not extending the problem's own chain either (a trace whose chain
    breaks at a miscopied step is a mistake, not padding: its steps before the break still
    start from the problem)."""
    texts = [str(s) for s in steps]
    fed = feeds_answer(texts)
    if prompt:
        forward = _extends_problem([_rewrites(t) for t in texts], problem_expressions(prompt))
        fed = [a or b for a, b in zip(fed, forward)]
    return [i for i, t in enumerate(texts) if not fed[i] and extract_claims(t)]


def is_padded(steps: Sequence[str], prompt: str = "") -> bool:
    """A trace with at least one claim-making step that does no work (see `padding_steps`)."""
    return bool(padding_steps(steps, prompt))
