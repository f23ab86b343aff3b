"""Chat template and end-of-turn token: the model's own where it has them, the project's otherwise.

Llama 3, Gemma and Qwen each close an assistant turn with their own token (`<|eot_id|>`,
`<end_of_turn>`, `<|im_end|>`), and that token, not always the tokenizer's `eos_token`
(Gemma's is `<eos>`), is what an instruction-tuned model emits when it is done. So the
end-of-turn token is read off the template itself (what follows an assistant message) and
made the tokenizer's `eos_token`: SFT then appends it to every completion, and the samplers
stop on it. A tokenizer without a template gets the project's ChatML one (`rlhf.models.tiny`),
and keeps its own eos when it has no `<|im_end|>` token to end a turn with.
"""

from __future__ import annotations

from typing import Any

from rlhf.models.tiny import CHAT_TEMPLATE

_SENTINEL = "cotrl-end-of-turn-probe"


def turn_end_token(tokenizer: Any) -> str | None:
    """The special token the chat template puts right after an assistant message, if any."""
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _SENTINEL}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # a template that refuses this conversation: nothing to learn from it
        return None
    if not isinstance(text, str) or _SENTINEL not in text:
        return None
    tail = text.split(_SENTINEL, 1)[1]
    ids = tokenizer(tail, add_special_tokens=False).input_ids if tail else []
    if not ids or ids[0] not in set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder):
        return None
    return tokenizer.convert_ids_to_tokens(ids[0])


def prepare_chat(tokenizer: Any) -> Any:
    """Give `tokenizer` a chat template (its own, else the project's) and the template's end-of-turn
    token as `eos_token`; returns it. A tokenizer already so (the project's) is left unchanged."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHAT_TEMPLATE
    end = turn_end_token(tokenizer)
    if end is not None and end != tokenizer.eos_token:
        tokenizer.eos_token = end
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
