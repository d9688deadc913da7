"""The offline rule-based moderator: configurable term lists per category, matched on whole words.

For streams it guarantees that no listed term is ever released whole, at almost no cost in latency: text is
released the moment it arrives, except the last word when the text so far ends in a complete listed term that
only lacks a word break (``"...pipe bomb"`` could still become ``"...pipe bombard"``). A term's first words may
have been released by the time it completes (``"pipe"`` before ``"bomb"``); that fragment alone is harmless, and
holding every possible beginning instead would delay most first tokens, since short fragments begin some term.
"""

from __future__ import annotations

import bisect
import re
from pathlib import Path

import yaml

from mesh.moderation.types import (
    CATEGORIES,
    Decision,
    Direction,
    Moderator,
    StreamGuard,
    describe,
    sha256_text,
)

RULES_PATH = Path(__file__).with_name("rules.yaml")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize(text: str) -> str:
    """Lower case, every run of non-alphanumerics one space (a trailing one kept: it marks a word end)."""
    return _NON_WORD.sub(" ", text.lower()).lstrip(" ")


class RuleSet:
    """Normalized terms by category, with a sorted index for prefix look-ups."""

    def __init__(self, categories: dict[str, list[str]]) -> None:
        self.terms: dict[str, str] = {}
        for code, terms in categories.items():
            for term in terms:
                norm = normalize(term).strip()
                if norm:
                    self.terms[norm] = code
        self._sorted = sorted(self.terms)

    @classmethod
    def load(cls, path: Path = RULES_PATH) -> RuleSet:
        """Read a rules YAML file (``categories: {S9: [terms...]}``)."""
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        categories = data.get("categories")
        if not isinstance(categories, dict):
            raise ValueError(f"{path}: expected a 'categories' mapping of code -> list of terms")
        return cls({str(k): [str(t) for t in (v or [])] for k, v in categories.items()})

    def matches(self, text: str, final: bool = True) -> list[str]:
        """Categories of the terms found in ``text``; unless ``final``, a term at the very end must be followed
        by a word break to count (more letters could still arrive)."""
        norm = " " + normalize(text)
        if final:
            norm += " "
        found = {code for term, code in self.terms.items() if f" {term} " in norm}
        return sorted(found, key=lambda c: (len(c), c))

    def could_start(self, fragment: str) -> bool:
        """Whether some term starts with the normalized ``fragment`` (so it must be held back)."""
        norm = normalize(fragment)
        if not norm:
            return False
        i = bisect.bisect_left(self._sorted, norm)
        return i < len(self._sorted) and self._sorted[i].startswith(norm)


class RuleModerator(Moderator):
    """Blocks texts containing a listed term."""

    name = "rules"

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules or RuleSet.load()

    def decide(self, text: str, direction: Direction, categories: list[str]) -> Decision:
        """A decision for ``text`` given the categories that matched."""
        if categories:
            reason = f"{direction} blocked by content rules: {describe(categories)}"
            return Decision(False, direction, self.name, tuple(categories), reason, sha256_text(text))
        return Decision(True, direction, self.name, (), "no rule matched", sha256_text(text))

    async def screen(self, text: str, direction: Direction, prompt: str = "") -> Decision:
        return self.decide(text, direction, self.rules.matches(text))

    def guard(self, prompt: str = "") -> StreamGuard:
        return RuleStreamGuard(self)


class RuleStreamGuard(StreamGuard):
    """Releases streamed text as it arrives, never a complete listed term (see the module docstring)."""

    def __init__(self, moderator: RuleModerator) -> None:
        self.moderator = moderator
        self.released = ""
        self.pending = ""
        #: Characters of released text re-screened with new text, to catch terms that began in it.
        self.keep = max((len(t) for t in moderator.rules.terms), default=0) + 2

    async def feed(self, text: str) -> tuple[str, Decision | None]:
        self.pending += text
        tail = self.released[-self.keep :]
        window = tail + self.pending
        rules = self.moderator.rules
        categories = rules.matches(window, final=False)
        if categories:
            return "", self.moderator.decide(self.released + self.pending, "output", categories)
        hold = len(self.pending)
        if rules.matches(window, final=True):
            # A listed term ends right at the end: keep its last word until the next text shows a word break.
            hold = max(0, _last_word_start(window) - len(tail))
        out, self.pending = self.pending[:hold], self.pending[hold:]
        self.released += out
        return out, None

    async def finish(self) -> tuple[str, Decision]:
        full = self.released + self.pending
        categories = self.moderator.rules.matches(self.released[-self.keep :] + self.pending, final=True)
        decision = self.moderator.decide(full, "output", categories)
        if categories:
            return "", decision
        out, self.pending = self.pending, ""
        self.released += out
        return out, decision


def _last_word_start(text: str) -> int:
    """Index where the last run of alphanumerics in ``text`` starts (``len(text)`` if it ends in none)."""
    i = len(text)
    while i > 0 and text[i - 1].isalnum():
        i -= 1
    return i


def known_category(code: str) -> bool:
    """Whether ``code`` is one of the Llama Guard categories."""
    return code in CATEGORIES
