"""Rich renderables for the terminal client: encounter, NPC, item and status cards.

Pure functions from protos to ``rich`` objects, so the CLI stays a thin loop and the cards can be tested
without a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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


def as_sentences(items: Sequence[str]) -> str:
    """Short phrases and whole sentences as prose: "tough", "nosy", "Keeps a ledger." -> "Tough, nosy. Keeps a
    ledger." A sentence keeps its own stop, so no item's punctuation runs into a separator (".;"); a phrase that
    a sentence already opens with ("tough" beside "Tough, and it shows.") is not said twice."""
    cleaned = [c for c in (" ".join(i.split()).strip(" ;,") for i in items) if c]
    opened = {re.split(r"[\s,.;:!?…]", c, maxsplit=1)[0].lower() for c in cleaned if c[-1] in ".!?…"}
    phrases: list[str] = []
    out: list[str] = []

    def flush() -> None:
        if phrases:
            out.append(_capital(", ".join(phrases)) + ".")
            phrases.clear()

    for item in cleaned:
        if item[-1] not in ".!?…" and not item[:1].isupper() and item.lower() in opened:
            continue
        if item[-1] in ".!?…" or item[:1].isupper():
            flush()
            out.append(_capital(item) + ("" if item[-1] in ".!?…" else "."))
        else:
            phrases.append(item)
    flush()
    return " ".join(out)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def npc_card(npc: npc_pb2.Npc, character_id: str = "") -> RenderableType:
    """Who they are, how they behave, what they hide (when the caller may see it) and their numbers."""
    lines: list[RenderableType] = []
    rank = ", ".join(p for p in (npc.title, npc.archetype, npc.culture, npc.faith) if p)
    if rank:
        lines.append(Text(rank, style="bold"))
    if npc.description:
        lines.append(Text(npc.description))
    if npc.personality_tags or npc.traits:
        lines.append(Text("Personality: " + as_sentences([*npc.personality_tags, *npc.traits])))
    if npc.motivations:
        lines.append(Text("Wants: " + as_sentences(npc.motivations)))
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


_ABILITY_SHORT = {
    common_pb2.ABILITY_STRENGTH: "Str",
    common_pb2.ABILITY_DEXTERITY: "Dex",
    common_pb2.ABILITY_CONSTITUTION: "Con",
    common_pb2.ABILITY_INTELLIGENCE: "Int",
    common_pb2.ABILITY_WISDOM: "Wis",
    common_pb2.ABILITY_CHARISMA: "Cha",
}


def _signed(value: int) -> str:
    return f"{value:+d}"


def check_line(result: common_pb2.CheckResult) -> Text:
    """One line for a rolled check: who, which check, the dice, modifier, total against the DC, and the result."""
    what = result.skill.replace("-", " ").title().replace(" Of ", " of ") if result.skill else ""
    ability = _ABILITY_SHORT.get(result.ability, "")
    label = (
        f"{what} ({ability})"
        if what
        else f"{ability} {'save' if result.kind == common_pb2.CHECK_KIND_SAVE else 'check'}"
    )
    dice = f"d20 {result.kept}"
    if result.mode in (common_pb2.ROLL_MODE_ADVANTAGE, common_pb2.ROLL_MODE_DISADVANTAGE):
        how = "advantage" if result.mode == common_pb2.ROLL_MODE_ADVANTAGE else "disadvantage"
        dice = f"d20 {result.kept} ({how}: {', '.join(map(str, result.rolls))})"
    verdict = _enum(common_pb2.CheckDegree, result.degree, "CHECK_DEGREE_") if result.degree else ""
    verdict = verdict or ("success" if result.success else "failure")
    who = f"{result.character_name}: " if result.character_name else ""
    line = Text(f"🎲 {who}{label} — {dice} {_signed(result.modifier)} = {result.total} vs DC {result.dc} → ")
    line.append(verdict.upper(), style="bold green" if result.success else "bold red")
    return line


def sheet_card(sheet: common_pb2.CharacterSheet, character_id: str = "") -> RenderableType:
    """A character sheet at a glance: identity, the core numbers, abilities, saves, skills, attacks, magic."""
    race = " ".join(p for p in (sheet.subrace or sheet.race,) if p).replace("-", " ")
    title = f"{sheet.name} — {race} {sheet.character_class} {sheet.level}".replace("  ", " ")
    if sheet.subclass:
        title += f" ({sheet.subclass.replace('-', ' ')})"
    parts: list[RenderableType] = [
        Text(
            f"HP {sheet.max_hit_points}  AC {sheet.armor_class} ({sheet.armor_description})  "
            f"Speed {sheet.speed} ft  Proficiency {_signed(sheet.proficiency_bonus)}  "
            f"Passive Perception {sheet.passive_perception}",
            style="cyan",
        )
    ]
    scores = sheet.ability_scores
    abilities = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    values = []
    for short, field in (
        ("Str", "strength"),
        ("Dex", "dexterity"),
        ("Con", "constitution"),
        ("Int", "intelligence"),
        ("Wis", "wisdom"),
        ("Cha", "charisma"),
    ):
        abilities.add_column(short, justify="center")
        score = int(getattr(scores, field))
        values.append(f"{score} ({_signed((score - 10) // 2)})")
    abilities.add_row(*values)
    parts.append(abilities)
    saves = ", ".join(
        f"{_ABILITY_SHORT.get(s.ability, '?')} {_signed(s.modifier)}{'*' if s.proficient else ''}"
        for s in sheet.saving_throws
    )
    parts.append(Text(f"Saving throws: {saves}   (* proficient)"))
    skills = ", ".join(
        f"{k.skill.replace('-', ' ')} {_signed(k.modifier)}{'**' if k.expertise else '*' if k.proficient else ''}"
        for k in sheet.skills
    )
    parts.append(Text(f"Skills: {skills}"))
    for attack in sheet.attacks:
        reach = f", range {attack.normal_range}/{attack.long_range} ft" if attack.ranged else ""
        parts.append(
            Text(
                f"Attack: {attack.name} {_signed(attack.attack_bonus)} to hit, {attack.damage} {attack.damage_type}{reach}"
            )
        )
    if sheet.HasField("spellcasting"):
        magic = sheet.spellcasting
        slots = " ".join(f"{level}:{n}" for level, n in enumerate(magic.slots, start=1) if n)
        parts.append(
            Text(
                f"Spellcasting ({_ABILITY_SHORT.get(magic.ability, '?')}): save DC {magic.save_dc}, "
                f"attack {_signed(magic.attack_bonus)}, slots {slots or 'none'}",
                style="magenta",
            )
        )
    shown = [n for n in sheet.class_numbers if n.value not in ("", "0", "false", "False")]
    if shown:
        numbers = ", ".join(f"{n.name.replace('_', ' ')} {n.value}" for n in shown)
        parts.append(Text(f"Class: {numbers}", style="dim"))
    if sheet.features:
        parts.append(Text(f"Features: {', '.join(sheet.features)}", style="dim"))
    if sheet.equipment:
        parts.append(Text(f"Equipment: {', '.join(sheet.equipment)}", style="dim"))
    subtitle = f"id {character_id}" if character_id else None
    return Panel(Group(*parts), title=title, subtitle=subtitle, expand=False)
