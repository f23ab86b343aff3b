"""Segmentation: text modes, exact token spans (fused separators, multi-byte characters), round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.steps.segment import Segmenter, split_steps, step_spans, token_char_offsets

GOLD = "<think>\nMultiply: 7 * 3 = 21\nAdd: 12 + 21 = 33\n</think>\n<answer>33</answer>"


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="module")
def fused_tok():
    """A byte-level BPE without pre-tokenisation, trained so that separators fuse with neighbours."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    t = Tokenizer(models.BPE())
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    t.decoder = decoders.ByteLevel()
    corpus = ["x = 21.\nThe sum 3\nThe next 5\n\nStep 2: ok.\n\nThe end"] * 50
    t.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=["<eos>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<eos>")


def test_text_modes():
    assert split_steps(GOLD) == ["Multiply: 7 * 3 = 21", "Add: 12 + 21 = 33", "<answer>33</answer>"]
    assert split_steps("a\n\n b \n\n\nc", "newline") == ["a", "b", "c"]
    assert split_steps("a\nb\n\n c\n d", "blank_line") == ["a\nb", "c\n d"]
    text = "Plan first.\nStep 1: 2+2=4\nmore\nStep 2: 4*2=8"
    assert split_steps(text, "step_marker") == ["Plan first.", "Step 1: 2+2=4\nmore", "Step 2: 4*2=8"]
    assert split_steps("a ; b;c", "regex", pattern=r"\s*;\s*") == ["a", "b", "c"]
    assert split_steps("a ки b ки", "token", token="ки") == ["a", "b"]


def test_think_mode_variants():
    # no opening tag (template put it in the prompt), truncated think block, no tags at all
    assert split_steps("a = 1\nb = 2\n</think>\n<answer>2</answer>") == [
        "a = 1",
        "b = 2",
        "<answer>2</answer>",
    ]
    assert split_steps("<think>\na = 1\nb = 2") == ["a = 1", "b = 2"]
    assert split_steps("just one line") == ["just one line"]
    assert split_steps("") == [] and split_steps("\n\n  \n") == []


def test_bad_config_names_the_key():
    with pytest.raises(ValueError, match="segment.mode"):
        Segmenter(mode="sentences")
    with pytest.raises(ValueError, match="segment.pattern"):
        Segmenter(mode="regex")
    with pytest.raises(ValueError, match="not a valid regex"):
        Segmenter(mode="regex", pattern="(")
    with pytest.raises(ValueError, match="segment.token"):
        Segmenter(mode="token")


def _check_round_trip(tokenizer, ids, spans):
    prev_end = 0
    for s in spans:
        assert prev_end <= s.start < s.end <= len(ids)
        piece = tokenizer.decode(ids[s.start : s.end], skip_special_tokens=True)
        assert s.text in piece  # the step's text lies inside its tokens
        prev_end = s.end


def test_gold_token_spans(tok):
    ids = tok.encode(GOLD + "<|im_end|>")
    spans = step_spans(ids, tok)
    assert [s.text for s in spans] == ["Multiply: 7 * 3 = 21", "Add: 12 + 21 = 33", "<answer>33</answer>"]
    _check_round_trip(tok, ids, spans)
    # exact boundaries: each step ends on the token of its last character
    assert tok.decode(ids[spans[0].end - 1]) == "1" and tok.decode(ids[spans[1].end - 1]) == "3"
    assert tok.decode(ids[spans[2].start : spans[2].end]) == "<answer>33</answer>"


def test_fused_separators_are_found(fused_tok):
    text = "x = 21.\nThe sum 3\nThe next 5\n\nStep 2: ok.\n\nThe end"
    ids = fused_tok.encode(text)
    toks = fused_tok.convert_ids_to_tokens(ids)
    assert any("Ċ" in t and len(t) > 1 for t in toks), toks  # some separator really is fused
    for mode in ("newline", "blank_line", "step_marker"):
        seg = Segmenter(mode=mode)
        spans = seg.spans(ids, fused_tok)
        expected = seg.split(text)
        _check_round_trip(fused_tok, ids, spans)
        # a fused token may merge two steps, never lose or reorder text
        joined = " ".join(s.text for s in spans).split()
        assert joined == " ".join(expected).split()


def test_multibyte_characters(tok):
    text = "Step one: café ≈ 3 😀\nStep two: 2 × 3 = 6"
    ids = tok.encode(text)
    decoded, offsets = token_char_offsets(ids, tok)
    assert decoded == text
    spans = Segmenter(mode="newline").spans(ids, tok)
    assert [s.text for s in spans] == text.split("\n")
    _check_round_trip(tok, ids, spans)


def test_separator_token_mode_by_id(tok):
    sep = "<|endoftext|>"
    ids = tok.encode(f"2 + 2 = 4{sep}4 * 3 = 12{sep}") + tok.encode("done")
    spans = Segmenter(mode="token", token=sep).spans(ids, tok)
    assert [s.text for s in spans] == ["2 + 2 = 4", "4 * 3 = 12", "done"]
    sep_id = tok.convert_tokens_to_ids(sep)
    assert ids[spans[0].end - 1] == sep_id and ids[spans[1].end - 1] == sep_id


def test_no_separators_and_many_steps(tok):
    ids = tok.encode("one long step without any separator")
    spans = step_spans(ids, tok)
    assert len(spans) == 1 and (spans[0].start, spans[0].end) == (0, len(ids))
    many = "\n".join(f"{i} + 1 = {i + 1}" for i in range(3000))
    assert len(split_steps(many, "newline")) == 3000
    capped = Segmenter(mode="newline", max_steps=100).split(many)
    assert len(capped) == 100 and capped[-1].endswith("2999 + 1 = 3000")
    assert step_spans([], tok) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab7 =+*é😀\t", min_size=0, max_size=12), min_size=1, max_size=6))
def test_round_trip_property(tok, lines):
    text = "\n".join(lines)
    ids = tok.encode(text)
    decoded, _ = token_char_offsets(ids, tok)
    assert decoded == text
    seg = Segmenter(mode="newline")
    spans = seg.spans(ids, tok)
    assert [s.text for s in spans] == seg.split(text)
    _check_round_trip(tok, ids, spans)
