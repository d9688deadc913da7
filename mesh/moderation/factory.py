"""Pick the moderation backend from the settings."""

from __future__ import annotations

from pathlib import Path

from mesh.moderation.llama_guard import LlamaGuardModerator
from mesh.moderation.rules import RULES_PATH, RuleModerator, RuleSet
from mesh.moderation.types import Moderator
from mesh.settings import Settings


def get_moderator(settings: Settings) -> Moderator | None:
    """The configured moderator, or None when moderation is off."""
    if settings.moderation_backend == "off":
        return None
    if settings.moderation_backend == "llama-guard":
        if not settings.llama_guard_urls:
            raise ValueError("moderation_backend is llama-guard but llama_guard_urls is empty")
        enforce = tuple(c.strip().upper() for c in settings.llama_guard_categories.split(",") if c.strip())
        return LlamaGuardModerator(
            list(settings.llama_guard_urls), model=settings.llama_guard_model, enforce=enforce
        )
    path = Path(settings.moderation_rules_path) if settings.moderation_rules_path else RULES_PATH
    return RuleModerator(RuleSet.load(path))
