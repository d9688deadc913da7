"""The text-model layer: one interface (``TextModel``) for every service that writes prose.

``get_text_model(settings)`` returns the vLLM backend when ``vllm_urls`` is set and the offline procedural
backend otherwise; ``build_prompt`` assembles a prompt from the templates in ``prompts/`` and trims the
retrieved context to the model's window.
"""

from mesh.text.factory import get_text_model
from mesh.text.model import Check, Fallback, ModelOutputInvalid, TextModel
from mesh.text.types import (
    Chunk,
    Completion,
    ContextItem,
    GenParams,
    JsonResult,
    Message,
    Prompt,
    Provenance,
)
from mesh.text.window import build_prompt

__all__ = [
    "Check",
    "Chunk",
    "Completion",
    "ContextItem",
    "Fallback",
    "GenParams",
    "JsonResult",
    "Message",
    "ModelOutputInvalid",
    "Prompt",
    "Provenance",
    "TextModel",
    "build_prompt",
    "get_text_model",
]
