"""The terminal's NPC card reads as prose: tags and the writer's whole sentences are joined without ".;"."""

from __future__ import annotations

import asyncio
import re

from rich.console import Console

from gateway.cards import as_sentences, npc_card
from lore import World
from npc_svc.builder import NpcGenerator
from npc_svc.choices import NpcRequest
from npc_svc.convert import npc_pb

#: Punctuation run together where two items were joined badly.
BAD_JOIN = re.compile(r"[.!?…][;,]|[;,][.;,]|\.\.(?!\.)|\s[.;,]")


def _card_lines(npc: object) -> dict[str, str]:
    console = Console(record=True, width=400)
    console.print(npc_card(npc))  # type: ignore[arg-type]
    text = console.export_text()
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"(Personality|Wants): (.*?)\s*│", text)}


def test_card_lines_join_every_archetype_s_items_cleanly(world: World, generator: NpcGenerator) -> None:
    async def sweep() -> None:
        for archetype in world.archetypes:
            for seed in range(1, 6):
                npc = (await generator.generate("", NpcRequest(archetype=archetype.id, seed=seed))).npc
                lines = _card_lines(npc_pb(npc))
                assert set(lines) == {"Personality", "Wants"}, lines
                for label, line in lines.items():
                    assert not BAD_JOIN.search(line), (archetype.id, seed, label, line)
                    assert line.endswith((".", "!", "?", "…")), line
                for tag in npc.personality_tags:
                    assert tag.lower() in lines["Personality"].lower()
                for trait in npc.prose.traits:
                    assert trait.rstrip(".") in lines["Personality"]

    asyncio.run(sweep())


def test_phrases_become_one_sentence_and_sentences_keep_their_stop() -> None:
    assert as_sentences(["tough", "gossipy", "Tough, and it shows.", "Known in Wrenhall;"]) == (
        "Gossipy. Tough, and it shows. Known in Wrenhall."
    )
    assert as_sentences(["Marry off a daughter well.", "  Keep the inn  "]) == (
        "Marry off a daughter well. Keep the inn."
    )
    assert as_sentences([" ", ""]) == ""
    # The writer's first trait opens with a tag: the tag is not said again before it.
    assert as_sentences(["tough", "nosy", "Tough, and it shows in every dealing."]) == (
        "Nosy. Tough, and it shows in every dealing."
    )
