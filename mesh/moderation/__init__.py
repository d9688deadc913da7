"""Content moderation: player input and generated text are screened, every decision can be logged.

Backends: ``rules`` (offline category lists, ``rules.yaml``) and ``llama-guard`` (Llama Guard 3/4 served by
vLLM). ``get_moderator(settings)`` picks one; ``Moderator.guard()`` screens an output stream as it grows.
"""

from mesh.moderation.factory import get_moderator
from mesh.moderation.llama_guard import LlamaGuardModerator, guard_prompt, parse_verdict
from mesh.moderation.rules import RuleModerator, RuleSet
from mesh.moderation.types import CATEGORIES, Decision, Direction, Moderator, StreamGuard, sha256_text

__all__ = [
    "CATEGORIES",
    "Decision",
    "Direction",
    "LlamaGuardModerator",
    "Moderator",
    "RuleModerator",
    "RuleSet",
    "StreamGuard",
    "get_moderator",
    "guard_prompt",
    "parse_verdict",
    "sha256_text",
]
