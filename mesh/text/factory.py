"""Pick the text backend from the settings: vLLM when servers are configured, procedural otherwise."""

from __future__ import annotations

from mesh.settings import Settings
from mesh.text.model import TextModel
from mesh.text.procedural import ProceduralBackend
from mesh.text.vllm import VLLMBackend

#: Window the procedural backend reports when the settings give none (it has no real limit).
PROCEDURAL_WINDOW = 8192


def get_text_model(settings: Settings) -> TextModel:
    """A new backend for ``settings`` (call ``await model.start()`` before use, ``close()`` after)."""
    if settings.vllm_urls:
        return VLLMBackend(
            list(settings.vllm_urls),
            model=settings.vllm_model,
            context_window=settings.text_context_window,
            timeout_s=settings.text_timeout_s,
            connect_timeout_s=settings.text_connect_timeout_s,
            max_attempts=settings.text_max_attempts,
            backoff_initial_s=settings.text_backoff_initial_s,
            backoff_max_s=settings.text_backoff_max_s,
            load_poll_s=settings.text_load_poll_s,
            cooldown_s=settings.text_endpoint_cooldown_s,
            max_resumes=settings.text_max_resumes,
        )
    return ProceduralBackend(context_window=settings.text_context_window or PROCEDURAL_WINDOW)
