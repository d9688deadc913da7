"""Moderation decisions and the Llama Guard 3/4 hazard taxonomy (MLCommons), shared by every backend."""

from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass
from typing import Literal

Direction = Literal["input", "output"]

#: Llama Guard 3 / 4 categories. The rule backend files its lists under the same codes so logs read alike.
CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """One screening result. ``categories`` lists what matched, ``reason`` says it in words for the player."""

    allowed: bool
    direction: Direction
    backend: str
    categories: tuple[str, ...] = ()
    reason: str = ""
    text_sha256: str = ""


def sha256_text(text: str) -> str:
    """The hash logged in place of the text itself."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def describe(categories: tuple[str, ...] | list[str]) -> str:
    """``"S9 (Indiscriminate Weapons), S11 (Suicide & Self-Harm)"``."""
    return ", ".join(f"{c} ({CATEGORIES.get(c, 'custom')})" for c in categories)


class StreamGuard(abc.ABC):
    """Screens a text stream as it grows, releasing only text that can no longer turn into a violation."""

    @abc.abstractmethod
    async def feed(self, text: str) -> tuple[str, Decision | None]:
        """Add streamed text; returns the text now safe to release, and a blocking decision if one was found."""

    @abc.abstractmethod
    async def finish(self) -> tuple[str, Decision]:
        """The stream ended: screen what is held back; returns its releasable part and the final decision."""


class Moderator(abc.ABC):
    """A content-moderation backend."""

    name: str = ""

    @abc.abstractmethod
    async def screen(self, text: str, direction: Direction, prompt: str = "") -> Decision:
        """Screen a whole text (``prompt`` is the player's input when ``text`` is the model's answer to it)."""

    @abc.abstractmethod
    def guard(self, prompt: str = "") -> StreamGuard:
        """A guard for one output stream answering ``prompt``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
