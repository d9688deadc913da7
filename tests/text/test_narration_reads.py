"""What a player reads from the offline writer: no markdown quoted from the lore, no sentence said twice, and the
player's first-person action told back in the second person instead of quoted."""

from __future__ import annotations

import re

import pytest

from mesh.text.procedural import ProceduralBackend, first_sentence, second_person
from mesh.text.types import ContextItem, GenParams

LORE = (
    ContextItem(text="| Route | Days |\n|---|---|\n| Cindermoot to Saltmarrow | 4 |", source="lore"),
    ContextItem(
        text="The inns: " + ", ".join(f"The Inn of the {n} Bells" for n in range(40)) + ".", source="lore"
    ),
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
        text="## The Brinefen\nThe [drowned bells](bells.md) ring _only_ at low tide.", source="pinned"
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
        ("| Route | Days |\n|---|---|\n| A to B | 4 |", ""),
        (
            "## Roads\n| Route | Days |\n|---|---|\nThe salt road is the oldest.",
            "The salt road is the oldest.",
        ),
        # The sample world's "Coins of the Realm": a table between two paragraphs never joins them.
        (
            "The mint strikes four coins:\n\n| Coin | Worth |\n|---|---|\n| crown | 10 marks |\n\nSo 1 crown = 10 marks.",
            "The mint strikes four coins.",
        ),
        # A list's introduction runs on into its first item (the sample world's "Ranks of the Realm").
        (
            "From highest to lowest:\n\n1. **King or Queen** — styled *Your Majesty*.",
            "From highest to lowest: King or Queen — styled Your Majesty.",
        ),
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
    assert not re.search(r"[*#`_\[\]|…]", text), text
    assert "you search the body for clues" in text.lower() and '"' not in text, text
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    assert len(sentences) == len(set(sentences)), text
    assert text.lower().count("the drowned bells ring only at low tide.") == 1, text  # given twice, told once


async def test_the_campaign_log_is_not_read_back_and_pinned_truths_are_not_recited() -> None:
    backend = ProceduralBackend()
    context = (
        *(ContextItem(text=f"World rule number {n} holds everywhere.", source="pinned") for n in range(4)),
        ContextItem(text="The ferry crosses the Brinefen at dawn.", source="lore"),
        ContextItem(text="I climb the sheer cliff to the bell tower.", source="campaign"),
        ContextItem(text="Without hesitation, you walk to the inn.", source="recent_event"),
    )
    for seed in range(1, 21):
        prompt = backend.prompts.prompt(
            "narrate", {"action": "I wait", "actor": "Ash", "tone": "", "audience": "player"}, context
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        assert "the ferry crosses the brinefen at dawn." in text.lower()  # what was retrieved for the action
        assert "bell tower" not in text and "walk to the inn" not in text, text
        # The pinned overview is not recited at an action that does not ask about it.
        assert not re.findall(r"World rule number \d", text), text


def test_a_wrapped_list_item_is_quoted_with_single_spaces() -> None:
    # A markdown list item wrapped onto an indented line (the sample world's "Creatures by Land").
    item = "- **Brinefen**: fen lurkers in the creeks, salt wraiths over the lagoons,\n  and the occasional reed hag."
    assert (
        first_sentence(item)
        == "Brinefen: fen lurkers in the creeks, salt wraiths over the lagoons, and the occasional reed hag."
    )


async def test_a_fact_after_a_lead_starting_with_a_pronoun_is_lower_cased() -> None:
    backend = ProceduralBackend()
    lore = (
        ContextItem(text="These are the common sorts of people a traveller meets in the inn.", source="lore"),
    )
    for seed in range(1, 41):
        prompt = backend.prompts.prompt(
            "narrate",
            {"action": "I look around the inn", "actor": "Ash", "tone": "", "audience": "player"},
            lore,
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        # "Anyone local could tell you that These are ..." is a capital in mid-sentence.
        assert not re.search(r"\b(?:that|say|is|Word is|talk,) These\b", text), text


@pytest.mark.parametrize(
    ("action", "contradiction"),
    [
        ("I draw my sword and attack the bandit", r"already out|steel is out"),
        ("I shoot at the bandit with my bow", r"distance closes"),
        ("I cast fire bolt and attack the bandit", r"already out|distance closes"),
    ],
)
async def test_a_fight_opening_never_contradicts_the_action(action: str, contradiction: str) -> None:
    backend = ProceduralBackend()
    for seed in range(1, 41):
        prompt = backend.prompts.prompt(
            "narrate", {"action": action, "actor": "Ash", "tone": "", "audience": "player"}, ()
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        opening = text.split("\n\n", 1)[0]
        assert action.replace("I ", "you ", 1).replace(" my ", " your ") in opening, opening
        assert not re.search(contradiction, opening, re.I), opening


@pytest.mark.parametrize("action", ["I ask the innkeeper about the Embertide Moot", "I think about the Moot"])
async def test_a_fact_that_opens_like_a_question_follows_a_colon_or_a_quote(action: str) -> None:
    backend = ProceduralBackend()
    lore = (
        ContextItem(
            text="Who backs whom at the Embertide Moot, as the court sees it: Prince Edric is backed by the Church.",
            source="lore",
        ),
    )
    told = 0
    for seed in range(1, 41):
        prompt = backend.prompts.prompt(
            "narrate", {"action": action, "actor": "Ash", "tone": "", "audience": "player"}, lore
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        # Never "They say Who backs whom" or "Anyone local could tell you that who backs whom".
        for m in re.finditer(r"who backs whom", text, re.I):
            told += 1
            assert text[: m.start()].rstrip().endswith((":", '"')), text
    assert told >= 40, "the fact should still be told"


async def test_an_unresolved_attack_is_not_told_as_a_blow_that_landed() -> None:
    # A fight that only starts this turn: the rules resolved no attack, so no line may say one hit.
    backend = ProceduralBackend()
    for seed in range(1, 41):
        prompt = backend.prompts.prompt(
            "narrate",
            {"action": "I attack the bandit captain", "actor": "Ash", "tone": "", "audience": "player"},
            (),
        )
        text, _ = backend.write(prompt, GenParams(max_tokens=400, seed=seed))
        assert not re.search(r"\bthe blow\b|\bwound|\bdamage|\bhits?\b", text, re.I), text
