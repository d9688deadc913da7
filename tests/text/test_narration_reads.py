"""What a player reads from the offline writer: no markdown quoted from the lore, no sentence said twice, and the
player's first-person action told back in the second person instead of quoted."""

from __future__ import annotations

import re

import pytest

from mesh.text.procedural import ProceduralBackend, first_sentence, second_person
from mesh.text.types import ContextItem, GenParams

LORE = (
    ContextItem(
        text="**The Old Words.** Wizardry is Orrathi learning, taught in cold towers.", source="lore"
    ),
    ContextItem(
        text="*Greying.** Every great spell leaves a streak of grey in the caster's hair.", source="lore"
    ),
    ContextItem(
        text="## The Brinefen\nThe [drowned bells](bells.md) ring _only_ at low tide.", source="lore"
    ),
    ContextItem(
        text="## The Brinefen\nThe [drowned bells](bells.md) ring _only_ at low tide.", source="campaign"
    ),
)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("**The Old Words.** Wizardry is Orrathi learning. More.", "Wizardry is Orrathi learning."),
        ("*Greying.** Every spell leaves grey.", "Every spell leaves grey."),
        ("# Title\nSee [the bells](x.md) ring `loud` and _soft_.", "See the bells ring loud and soft."),
        ("- a list item about snake_case names.", "a list item about snake_case names."),
        ("## Only a heading", "Only a heading."),
    ],
)
def test_first_sentence_drops_markdown(text: str, sentence: str) -> None:
    assert first_sentence(text) == sentence


def test_first_person_becomes_second_person() -> None:
    assert (
        second_person("I search my pack, and I'm sure of me")
        == "you search your pack, and you're sure of you"
    )
    assert second_person("Ash searches the body") == ""
    assert second_person("Inspect the door") == ""


@pytest.mark.parametrize("seed", range(1, 31))
async def test_the_narration_reads_cleanly(seed: int) -> None:
    backend = ProceduralBackend()
    prompt = backend.prompts.prompt(
        "narrate",
        {"action": "I search the body for clues.", "actor": "Ash", "tone": "", "audience": "player"},
        LORE,
    )
    text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
    assert not re.search(r"[*#`_\[\]]", text), text
    assert "you search the body for clues" in text and '"' not in text, text
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    assert len(sentences) == len(set(sentences)), text
    assert text.count("The drowned bells ring only at low tide.") == 1, text  # given twice, told once
