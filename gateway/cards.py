"""Rich renderables for the terminal client: encounter, NPC, item and status cards.

Pure functions from protos to ``rich`` objects, so the CLI stays a thin loop and the cards can be tested
without a terminal.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from dungeonmaster.v1 import common_pb2, encounter_pb2, gateway_pb2, item_pb2, npc_pb2


def _enum(enum: object, value: int, prefix: str) -> str:
    name: str = enum.Name(value)  # type: ignore[attr-defined]
    return name.removeprefix(prefix).replace("_", " ").lower()


def statline(block: common_pb2.StatBlock) -> str:
    """One line of the numbers that matter at the table: AC, HP, CR."""
    cr = block.challenge.display or f"{block.challenge.value:g}"
    return f"AC {block.armor_class}  HP {block.hit_points} ({block.hit_dice})  CR {cr}"


def encounter_card(enc: encounter_pb2.Encounter) -> RenderableType:
    """Title, read-aloud text, creatures with their numbers, difficulty, tactics and treasure."""
    parts: list[RenderableType] = []
    if enc.description:
        parts.append(Text(enc.description, style="italic"))
    if enc.creatures:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for column in ("×", "creature", "role", "numbers"):
            table.add_column(column)
        for group in enc.creatures:
            table.add_row(str(group.count), group.stat_block.name, group.role, statline(group.stat_block))
        parts.append(table)
    xp = enc.xp
    if xp.adjusted_xp or xp.raw_xp:
        rating = _enum(encounter_pb2.Difficulty, xp.difficulty_2014 or xp.difficulty_2024, "DIFFICULTY_")
        parts.append(Text(f"XP {xp.raw_xp} (adjusted {xp.adjusted_xp}) — {rating}", style="cyan"))
    for hazard in enc.hazards:
        parts.append(Text(f"Hazard: {hazard.name} — {hazard.description}"))
    if enc.tactics:
        parts.append(Text(f"Tactics: {enc.tactics}", style="dim"))
    if enc.treasure.total.display or enc.treasure.items:
        loot = ", ".join([enc.treasure.total.display, *enc.treasure.items]).strip(", ")
        parts.append(Text(f"Treasure: {loot}", style="yellow"))
    where = " / ".join(p for p in (enc.terrain, enc.region) if p)
    title = f"⚔ {enc.title or 'Encounter'}" + (f"  [{where}]" if where else "")
    return Panel(Group(*parts), title=title, title_align="left", border_style="red")


def npc_card(npc: npc_pb2.Npc, character_id: str = "") -> RenderableType:
    """Who they are, how they behave, what they hide (when the caller may see it) and their numbers."""
    lines: list[RenderableType] = []
    rank = ", ".join(p for p in (npc.title, npc.archetype, npc.culture, npc.faith) if p)
    if rank:
        lines.append(Text(rank, style="bold"))
    if npc.description:
        lines.append(Text(npc.description))
    if npc.personality_tags or npc.traits:
        lines.append(Text("Personality: " + "; ".join([*npc.personality_tags, *npc.traits])))
    if npc.motivations:
        lines.append(Text("Wants: " + "; ".join(npc.motivations)))
    if npc.voice:
        lines.append(Text(f"Voice: {npc.voice}", style="italic"))
    for secret in npc.secrets:
        lines.append(Text(f"Secret (DM only): {secret}", style="magenta"))
    if npc.stat_block.name:
        lines.append(Text(statline(npc.stat_block), style="cyan"))
    if character_id:
        lines.append(Text(f"saved as character {character_id}", style="dim"))
    return Panel(Group(*lines), title=f"☺ {npc.name}", title_align="left", border_style="green")


def item_card(item: item_pb2.MagicItem) -> RenderableType:
    """Name, rarity, attunement, properties, value."""
    rarity = _enum(item_pb2.Rarity, item.rarity, "RARITY_")
    kind = _enum(item_pb2.ItemType, item.item_type, "ITEM_TYPE_")
    head = f"{kind}, {rarity}" + (
        f" (requires attunement{' ' + item.attunement_by if item.attunement_by else ''})"
        if item.requires_attunement
        else ""
    )
    lines: list[RenderableType] = [Text(head, style="bold")]
    if item.description:
        lines.append(Text(item.description, style="italic"))
    for prop in item.properties:
        lines.append(Text(f"• {prop.name}: {prop.description}"))
    if item.curse.name:
        lines.append(Text(f"Curse: {item.curse.name} — {item.curse.description}", style="magenta"))
    if item.value.display:
        lines.append(Text(f"Value: {item.value.display}", style="yellow"))
    return Panel(Group(*lines), title=f"✦ {item.name}", title_align="left", border_style="yellow")


def status_table(status: gateway_pb2.GetStatusResponse) -> RenderableType:
    """Each service with its address and health."""
    table = Table(title="gateway " + ("SERVING" if status.serving else "NOT SERVING"))
    for column in ("service", "address", "required", "serving", "reason"):
        table.add_column(column)
    for s in status.services:
        table.add_row(
            s.name,
            s.address,
            "yes" if s.required else "",
            "[green]yes[/]" if s.serving else "[red]no[/]",
            s.reason,
        )
    return table
