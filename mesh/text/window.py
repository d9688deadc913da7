"""Fit a prompt into the model's context window: the template first, then as much context as fits.

The window comes from the backend (vLLM's ``/v1/models`` ``max_model_len`` or the settings). Context items are
kept in priority order (pinned facts and character states before search hits, higher scores first); the first
item that does not fit whole is cut to the space left, and the rest are dropped.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mesh.errors import InvalidArgument
from mesh.text.model import TextModel
from mesh.text.types import ContextItem, Prompt

#: Tokens kept free beyond the estimate, for the chat template's markers and estimation error.
MARGIN_TOKENS = 16
#: Smallest completion worth asking for when the window is tight.
MIN_COMPLETION = 16
#: Items with less room than this are dropped rather than cut to a stub.
MIN_ITEM_TOKENS = 24


def fit_context(
    items: tuple[ContextItem, ...] | list[ContextItem], budget: int, model: TextModel
) -> tuple[ContextItem, ...]:
    """The items that fit ``budget`` tokens, best first by (priority, -score); the last one may be cut."""
    kept: list[ContextItem] = []
    left = budget
    for item in sorted(items, key=lambda i: (i.priority, -i.score)):
        cost = model.count_tokens(item.text) + model.count_tokens(item.title) + 4
        if cost <= left:
            kept.append(item)
            left -= cost
            continue
        if left >= MIN_ITEM_TOKENS:
            room = left - model.count_tokens(item.title) - 4
            chars = max(0, int(len(item.text) * room / max(1, cost)))
            text = item.text[:chars].rsplit(" ", 1)[0] + "…"
            kept.append(replace(item, text=text))
        break
    return tuple(kept)


def build_prompt(
    model: TextModel,
    task: str,
    variables: dict[str, Any],
    context: tuple[ContextItem, ...] | list[ContextItem],
    max_tokens: int,
    *,
    overflow_field: str = "prompt",
) -> tuple[Prompt, int]:
    """The prompt for ``task`` with the context trimmed to the window, and the completion budget to ask for.

    ``max_tokens`` shrinks when the window cannot hold it beside the bare prompt. If even the bare prompt plus a
    minimal completion does not fit, ``InvalidArgument`` names ``overflow_field`` (the request field that made
    the prompt too long, e.g. "action").
    """
    window = model.context_window
    bare = model.prompts.messages(task, variables, ())
    bare_tokens = model.count_messages(bare) + MARGIN_TOKENS
    if bare_tokens + MIN_COMPLETION > window:
        raise InvalidArgument(
            [(overflow_field, f"too long for the model's context window of {window} tokens")]
        )
    completion = min(max_tokens, window - bare_tokens)
    budget = window - bare_tokens - completion
    kept = fit_context(context, budget, model)
    prompt = model.prompts.prompt(task, variables, kept)
    # The estimate is per piece; re-check the rendered whole and drop from the end if separators pushed it over.
    while kept and model.count_messages(prompt.messages) + MARGIN_TOKENS + completion > window:
        kept = kept[:-1]
        prompt = model.prompts.prompt(task, variables, kept)
    return prompt, completion
