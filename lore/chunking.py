"""Split documents into retrieval-sized lore entries by heading, with stable keys and content hashes.

Memory stores one versioned entry per chunk key: the key (document path + heading path + part index) says which
entry an edit touches, and the SHA-256 of the normalised text says whether it changed at all, so re-ingesting an
unchanged world writes nothing and identical text is stored once. Normalisation removes only differences a
reader cannot see (Unicode composition, line endings, trailing or repeated blanks), so whitespace-only edits keep
the hash while any change of words makes a new one.

A heading ending in ``[DM only]`` makes its section and every subsection under it DM-only; ``audience: dm`` in
the front matter does the same for the whole document. The marker is dropped from the title, so toggling it keeps
the key and changes ``dm_only`` (and ``revision``, which memory should compare to catch such audience changes).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from lore.documents import LoreDocument

#: Default upper bound of a chunk's text: ~250 tokens, the window of the default embedding model.
DEFAULT_MAX_CHARS = 1000
#: Separator between heading titles in a chunk's title.
PATH_SEPARATOR = " > "

_NEWLINES = re.compile(r"\r\n|\r|\u2028|\u2029|\x85|\x0b|\x0c")
_INLINE_SPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_DM_MARKER = re.compile(r"\s*\[\s*dm[\s_-]*only\s*\]\s*$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def normalize_text(text: str) -> str:
    """Canonical form of a text: NFC, ``\\n`` line endings, inner blank runs collapsed, no trailing spaces.

    Leading indentation is kept (it carries markdown list nesting); runs of blank lines become one blank line.
    """
    text = unicodedata.normalize("NFC", text)
    text = _NEWLINES.sub("\n", text)
    lines = []
    for line in text.split("\n"):
        body = line.lstrip(" \t")
        indent = line[: len(line) - len(body)].replace("\t", "    ")
        body = _INLINE_SPACE.sub(" ", body).rstrip()
        lines.append(indent + body if body else "")
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")


def content_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised text: equal iff the normalised texts are equal."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Section:
    """The text directly under one heading (subsections are their own sections)."""

    heading_path: tuple[str, ...]
    level: int
    dm_only: bool
    text: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """One lore entry ready for memory: normalised text, its hash, stable key and audience."""

    key: str
    document_path: str
    kind: str
    heading_path: tuple[str, ...]
    part: int
    ordinal: int
    text: str
    content_hash: str
    dm_only: bool
    pinned: bool
    tags: tuple[str, ...]
    keywords: tuple[str, ...]

    @property
    def title(self) -> str:
        """The heading path as one string, e.g. ``Geography > The Brinefen``."""
        return PATH_SEPARATOR.join(self.heading_path)

    @property
    def revision(self) -> str:
        """Hash of everything a reader sees or that governs who sees it: text, title, audience, pinning."""
        material = "\x1f".join((self.content_hash, self.title, str(self.dm_only), str(self.pinned)))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()


def chunk_key(document_path: str, heading_path: Iterable[str], part: int) -> str:
    """The stable identity of an entry across edits of its text."""
    return f"{document_path}#{PATH_SEPARATOR.join(heading_path)}#{part}"


def _heading(line: str) -> tuple[int, str, bool] | None:
    match = _HEADING.match(line)
    if match is None:
        return None
    raw = (match.group(2) or "").strip()
    title = _DM_MARKER.sub("", raw)
    return len(match.group(1)), title.strip(), title != raw


def iter_sections(body: str, root_title: str) -> Iterator[Section]:
    """Yield the sections of a markdown body in order; ATX headings only, ignoring those inside code fences.

    ``root_title`` heads any text before the first heading; a level-1 heading replaces it. Repeated heading
    paths get " (2)", " (3)"... appended so every section keeps a distinct key.
    """
    stack: list[tuple[int, str, bool]] = [(1, root_title, False)]
    seen: dict[tuple[str, ...], int] = {}
    lines: list[str] = []
    fence: str | None = None

    def flush() -> Section | None:
        text = normalize_text("\n".join(lines))
        lines.clear()
        if not text:
            return None
        return Section(tuple(t for _, t, _ in stack), stack[-1][0], any(dm for _, _, dm in stack), text)

    for line in normalize_text(body).split("\n"):
        fence_match = _FENCE.match(line)
        if fence_match is not None:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
        heading = None if fence is not None or fence_match is not None else _heading(line)
        if heading is None:
            lines.append(line)
            continue
        section = flush()
        if section is not None:
            yield section
        level, title, dm = heading
        while stack and stack[-1][0] >= level:
            stack.pop()
        path = (*(t for _, t, _ in stack), title)
        seen[path] = seen.get(path, 0) + 1
        if seen[path] > 1:
            title = f"{title} ({seen[path]})"
        stack.append((level, title, dm))
    section = flush()
    if section is not None:
        yield section


def _hard_wrap(text: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    while len(text) > max_chars:
        cut = text.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def _pack(units: list[str], sep: str, max_chars: int) -> list[str]:
    """Greedily join units with ``sep`` into pieces of at most ``max_chars``."""
    pieces: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}{sep}{unit}" if current else unit
        if len(candidate) <= max_chars:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = unit
    if current:
        pieces.append(current)
    return pieces


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split normalised text into parts of at most ``max_chars``: at paragraphs, then sentences, then spaces."""
    if max_chars < 1:
        raise ValueError("max_chars must be positive")
    units: list[str] = []
    for paragraph in text.split("\n\n"):
        if len(paragraph) <= max_chars:
            units.append(paragraph)
            continue
        for sentence in _pack(_SENTENCE_END.split(paragraph), " ", max_chars):
            units.extend(_hard_wrap(sentence, max_chars))
    return _pack(units, "\n\n", max_chars)


def chunk_document(document: LoreDocument, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """Split one document into chunks; the same document and ``max_chars`` always give the same chunks."""
    chunks: list[Chunk] = []
    for section in iter_sections(document.body, document.title):
        for part, text in enumerate(split_text(section.text, max_chars)):
            chunks.append(
                Chunk(
                    key=chunk_key(document.path, section.heading_path, part),
                    document_path=document.path,
                    kind=document.kind,
                    heading_path=section.heading_path,
                    part=part,
                    ordinal=len(chunks),
                    text=text,
                    content_hash=content_hash(text),
                    dm_only=document.dm_only or section.dm_only,
                    pinned=document.pinned,
                    tags=document.tags,
                    keywords=document.keywords,
                )
            )
    return chunks
