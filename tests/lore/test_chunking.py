"""Chunking by heading: stable keys, deterministic output, whitespace-blind hashes, DM-only flags."""

from __future__ import annotations

import hashlib
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from lore import World, chunk_document, content_hash, normalize_text, parse_document_text, split_text
from lore.chunking import iter_sections

DOC = """---
kind: lore
title: Geography
tags: [geo]
---
Intro before any heading.

## The Brinefen

Salt and fog over the creeks.

### Saltmarrow

The only town.

## Smugglers [DM only]

Saske runs the fen.

### The Ledger

Names of bribed officials.

#### Page Two

More names.

## The Drowned Vale

Towers under the water.

```
## not a heading inside a fence
```

## The Drowned Vale

A second section with the same title.
"""


def _chunks(text: str = DOC, max_chars: int = 1000) -> list:  # type: ignore[type-arg]
    return chunk_document(parse_document_text(text, "geo.md"), max_chars)


def test_heading_paths_titles_and_keys() -> None:
    chunks = _chunks()
    assert [c.title for c in chunks] == [
        "Geography",
        "Geography > The Brinefen",
        "Geography > The Brinefen > Saltmarrow",
        "Geography > Smugglers",
        "Geography > Smugglers > The Ledger",
        "Geography > Smugglers > The Ledger > Page Two",
        "Geography > The Drowned Vale",
        "Geography > The Drowned Vale (2)",
    ]
    assert chunks[1].key == "geo.md#Geography > The Brinefen#0"
    assert len({c.key for c in chunks}) == len(chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert all(c.tags == ("geo",) and c.kind == "lore" for c in chunks)


def test_dm_only_marks_section_and_subsections_until_same_level_heading() -> None:
    flags = {c.title: c.dm_only for c in _chunks()}
    assert flags == {
        "Geography": False,
        "Geography > The Brinefen": False,
        "Geography > The Brinefen > Saltmarrow": False,
        "Geography > Smugglers": True,
        "Geography > Smugglers > The Ledger": True,
        "Geography > Smugglers > The Ledger > Page Two": True,
        "Geography > The Drowned Vale": False,
        "Geography > The Drowned Vale (2)": False,
    }


def test_audience_dm_makes_every_chunk_dm_only() -> None:
    chunks = _chunks(DOC.replace("kind: lore\n", "kind: lore\naudience: dm\n"))
    assert chunks and all(c.dm_only for c in chunks)


def test_code_fence_does_not_start_a_section() -> None:
    vale = next(c for c in _chunks() if c.title == "Geography > The Drowned Vale")
    assert "## not a heading inside a fence" in vale.text


def test_chunking_is_deterministic() -> None:
    first = _chunks()
    second = chunk_document(parse_document_text(DOC, "geo.md"))
    assert first == second


def test_whitespace_only_edits_keep_every_hash_and_key() -> None:
    messy = (
        DOC.replace("\n", "\r\n")
        .replace("Salt and fog", "Salt  and\tfog")
        .replace("The only town.", "The only town.   ")
        .replace("Towers under", "Towers\u00a0under")
        .replace("\r\n\r\nThe only", "\r\n\r\n\r\n\r\nThe only")
    )
    assert [(c.key, c.content_hash) for c in _chunks(messy)] == [(c.key, c.content_hash) for c in _chunks()]


def test_word_edit_changes_only_that_chunks_hash() -> None:
    before = {c.key: c.content_hash for c in _chunks()}
    after = {c.key: c.content_hash for c in _chunks(DOC.replace("The only town.", "The only real town."))}
    assert before.keys() == after.keys()
    changed = [k for k in before if before[k] != after[k]]
    assert changed == ["geo.md#Geography > The Brinefen > Saltmarrow#0"]


def test_toggling_dm_only_keeps_key_and_text_but_changes_revision() -> None:
    before = {c.key: c for c in _chunks()}
    after = {c.key: c for c in _chunks(DOC.replace("## Smugglers [DM only]", "## Smugglers"))}
    key = "geo.md#Geography > Smugglers#0"
    assert before[key].content_hash == after[key].content_hash
    assert before[key].dm_only and not after[key].dm_only
    assert before[key].revision != after[key].revision


def test_hash_is_sha256_of_normalised_text() -> None:
    text = "Caf\u0065\u0301  au lait \r\n"
    assert normalize_text(text) == "Caf\u00e9 au lait"
    assert content_hash(text) == hashlib.sha256("Caf\u00e9 au lait".encode()).hexdigest()


def test_normalisation_keeps_paragraphs_and_indentation() -> None:
    assert normalize_text("a\n\n\n\nb") == "a\n\nb"
    assert normalize_text("- item\n\t- nested  item") == "- item\n    - nested item"


def test_long_sections_split_at_paragraphs_within_limit() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(12)]
    body = "\n\n".join(p.strip() for p in paragraphs)
    chunks = _chunks(f"---\nkind: lore\ntitle: Long\n---\n## Big\n\n{body}\n", max_chars=400)
    assert len(chunks) > 3
    assert all(len(c.text) <= 400 for c in chunks)
    assert [c.part for c in chunks] == list(range(len(chunks)))
    assert {c.heading_path for c in chunks} == {("Long", "Big")}
    # every part starts at a paragraph boundary and nothing is lost
    assert all(c.text.startswith("Paragraph") for c in chunks)
    assert "\n\n".join(c.text for c in chunks) == normalize_text(body)


def test_oversized_paragraph_splits_at_sentences_then_spaces() -> None:
    sentence = "The salt road runs from the fen to the capital. "
    parts = split_text((sentence * 20).strip(), max_chars=120)
    assert all(len(p) <= 120 for p in parts)
    assert all(p.endswith(".") for p in parts)
    giant = "x" * 250
    assert split_text(giant, max_chars=100) == ["x" * 100, "x" * 100, "x" * 50]


def test_sections_without_text_make_no_chunks() -> None:
    sections = list(iter_sections("# Title\n\n## Empty\n\n## Full\n\ntext", "Doc"))
    assert [s.heading_path for s in sections] == [("Title", "Full")]


@settings(max_examples=60, deadline=None)
@given(
    words=st.lists(st.text(alphabet="abcdefgé.,", min_size=1, max_size=6), min_size=1, max_size=12),
    seps=st.lists(st.sampled_from([" ", "  ", "\t", " \u00a0", "\u2009"]), min_size=12, max_size=12),
    ending=st.sampled_from(["", " ", "\n", "\r\n", "  \r\n\r\n"]),
)
def test_hash_ignores_whitespace_only_differences(words: list[str], seps: list[str], ending: str) -> None:
    plain = " ".join(words)
    spaced = "".join(w + s for w, s in zip(words, seps, strict=False)) + ending
    assert content_hash(spaced) == content_hash(plain)
    assert content_hash(unicodedata.normalize("NFD", plain)) == content_hash(plain)


@settings(max_examples=60, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_hash_equal_iff_normalised_text_equal(a: str, b: str) -> None:
    assert (content_hash(a) == content_hash(b)) == (normalize_text(a) == normalize_text(b))


def test_sample_world_chunks(world: World) -> None:
    chunks = world.chunks()
    assert len({c.key for c in chunks}) == len(chunks)
    titles = {c.title for c in chunks}
    assert "Geography > The Brinefen" in titles
    dm = {c.title for c in chunks if c.dm_only}
    assert "Timeline and World History > The True History of the Ashfall" in dm
    vault = "Dungeons and Sites > The Cinder Vault (Emberspine, levels 12–17)"
    assert f"{vault} > What Lies in the Vault" in dm
    assert vault not in dm
    assert all(c.dm_only for c in chunks if c.document_path == "secrets.md")
    assert all(len(c.text) <= 1000 for c in chunks)
    # a secret must never surface in a player-visible chunk
    assert not any("Voice of the Kindled" in c.text for c in chunks if not c.dm_only)
    assert not any("Hesperine" in c.text for c in chunks if not c.dm_only)
    assert world.chunks() == chunks
