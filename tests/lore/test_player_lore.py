"""Everything the sample world lets players see is told in the world's own voice: rules notes are DM-only."""

from __future__ import annotations

from lore import World
from lore.chunking import chunk_document
from mesh.text.procedural import first_sentence
from tests.support.fiction import DOCUMENT_NOTE, out_of_fiction


def test_player_visible_lore_has_no_out_of_fiction_text(world: World) -> None:
    leaks = {
        chunk.key: out_of_fiction(chunk.text)
        for document in world.documents
        for chunk in chunk_document(document)
        if not chunk.dm_only and out_of_fiction(chunk.text)
    }
    assert not leaks, leaks


def test_the_rules_notes_are_kept_for_the_dm(world: World) -> None:
    # The notes were moved, not lost: the DM still reads how encounters, prices and archetypes are run.
    dm_text = " ".join(
        chunk.text for document in world.documents for chunk in chunk_document(document) if chunk.dm_only
    )
    for note in ("standard 5e XP budgets", "1 gp = 1 crown", "stat block may be scaled", "Roll once a day"):
        assert note in dm_text, note


def test_the_sentence_quoted_from_each_player_section_speaks_of_the_world(world: World) -> None:
    # The offline writer quotes a section's first sentence as lore: it must not describe the document.
    notes = {
        chunk.key: first_sentence(chunk.text)
        for document in world.documents
        for chunk in chunk_document(document)
        if not chunk.dm_only and DOCUMENT_NOTE.match(first_sentence(chunk.text))
    }
    assert not notes, notes
