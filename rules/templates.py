"""Creature templates: undead, fey-touched, aberrant, fiendish, celestial, applied to an SRD stat block.

A template changes what the creature *is* (type, alignment, senses, languages) and adds the defenses and
traits its kind shares across the Monster Manual: undead are immune to poison and to being poisoned or
exhausted and see in the dark (zombie, skeleton, ghoul, wight); fiends resist or shrug off fire, cold,
lightning and poison and have Magic Resistance (devils, demons); celestials resist radiant and necrotic
(angels); aberrations shrug off charm and fear and speak mind to mind. Every change is listed, one line each,
so a DM can see what the template did. The numbers that follow from the change (its CR) are not set here:
``npc_svc`` rates the result with the CR calculator and rebalances it with ``rules.scaling``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from mesh.errors import InvalidArgument
from rules.challenge import proficiency_bonus_for_cr
from rules.statblock import Ability, Action, Damage, SaveDC, StatBlock, Usage


@dataclass(frozen=True, slots=True)
class Template:
    """What a template sets or adds; empty fields leave the creature as it was."""

    id: str
    name: str
    adjective: str
    creature_type: str
    alignment: str
    damage_resistances: tuple[str, ...] = ()
    damage_immunities: tuple[str, ...] = ()
    condition_immunities: tuple[str, ...] = ()
    darkvision: int = 0
    blindsight: int = 0
    languages: tuple[str, ...] = ()
    traits: tuple[tuple[str, str], ...] = ()  # (name, text with {name} for "the wolf")
    mute: bool = False  # "understands the languages it knew in life but can't speak"


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            id="undead",
            name="Undead",
            adjective="Undead",
            creature_type="undead",
            alignment="neutral evil",
            damage_resistances=("necrotic",),
            damage_immunities=("poison",),
            condition_immunities=("exhaustion", "poisoned"),
            darkvision=60,
            mute=True,
            traits=(
                (
                    "Undead Fortitude",
                    "If damage reduces {name} to 0 hit points, it must make a Constitution saving throw with a DC "
                    "of 5 + the damage taken, unless the damage is radiant or from a critical hit. On a success, "
                    "{name} drops to 1 hit point instead.",
                ),
                ("Undead Nature", "{Name} doesn't require air, food, drink, or sleep."),
            ),
        ),
        Template(
            id="fey-touched",
            name="Fey-touched",
            adjective="Fey-touched",
            creature_type="fey",
            alignment="chaotic neutral",
            condition_immunities=("charmed",),
            darkvision=60,
            languages=("Sylvan",),
            traits=(
                ("Fey Ancestry", "Magic can't put {name} to sleep."),
                (
                    "Glamour",
                    "As a bonus action, {name} can wrap itself in glamour, becoming lightly obscured to creatures "
                    "more than 10 feet away until the start of its next turn.",
                ),
            ),
        ),
        Template(
            id="aberrant",
            name="Aberrant",
            adjective="Aberrant",
            creature_type="aberration",
            alignment="neutral evil",
            damage_resistances=("psychic",),
            condition_immunities=("charmed", "frightened"),
            darkvision=120,
            languages=("telepathy 60 ft.",),
            traits=(
                (
                    "Alien Mind",
                    "{Name} has advantage on saving throws against being stunned or having its mind read.",
                ),
            ),
        ),
        Template(
            id="fiendish",
            name="Fiendish",
            adjective="Fiendish",
            creature_type="fiend",
            alignment="lawful evil",
            damage_resistances=("cold", "lightning"),
            damage_immunities=("fire", "poison"),
            condition_immunities=("poisoned",),
            darkvision=120,
            languages=("Infernal",),
            traits=(
                (
                    "Magic Resistance",
                    "{Name} has advantage on saving throws against spells and other magical effects.",
                ),
            ),
        ),
        Template(
            id="celestial",
            name="Celestial",
            adjective="Celestial",
            creature_type="celestial",
            alignment="lawful good",
            damage_resistances=("radiant", "necrotic"),
            condition_immunities=("charmed", "frightened"),
            darkvision=120,
            languages=("Celestial",),
            traits=(
                (
                    "Divine Awareness",
                    "{Name} knows if it hears a lie.",
                ),
            ),
        ),
    )
}


def get_template(ref: str, field: str = "template") -> Template:
    """A template by id or name ("Fey-touched", "fey touched"); unknown ones list the valid ids."""
    key = "-".join(ref.strip().lower().replace("_", " ").split())
    for tpl in TEMPLATES.values():
        if key in (tpl.id, tpl.name.lower().replace(" ", "-")):
            return tpl
    valid = ", ".join(TEMPLATES)
    raise InvalidArgument([(field, f"unknown template {ref!r}; valid: {valid}")])


def _add(existing: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return existing + tuple(x for x in new if x not in existing)


def _psychic_lash(block: StatBlock) -> Action:
    """The aberrant template's one new attack: a recharging psychic burst whose DC and dice follow the CR."""
    cr = block.challenge_rating
    pb = proficiency_bonus_for_cr(cr)
    mod = max(block.abilities.modifier(Ability.INT), block.abilities.modifier(Ability.CHA), 0)
    dc = 8 + pb + mod
    count = max(1, math.ceil(cr))
    dice = f"{count}d6"
    avg = count * 3.5
    who = block.name.lower()
    return Action(
        name="Psychic Lash (Recharge 5-6)",
        description=(
            f"Each creature of the {who}'s choice within 30 feet of it must make a DC {dc} Intelligence saving "
            f"throw, taking {int(avg)} ({dice}) psychic damage on a failed save, or half as much damage on a "
            "successful one."
        ),
        damage=(Damage(dice=dice, damage_type="psychic", average=avg),),
        save=SaveDC(dc=dc, ability=Ability.INT, half_on_success=True),
        usage=Usage(kind="recharge on roll", min_roll=5),
    )


@dataclass(frozen=True, slots=True)
class Templated:
    block: StatBlock
    changes: tuple[str, ...]


def apply_template(base: StatBlock, template: Template) -> Templated:
    """``base`` changed as ``template`` says, with one line per change. The CR is left as it was."""
    changes: list[str] = []
    name = f"{template.adjective} {base.name}"
    who = f"the {name.lower()}"
    if base.type != template.creature_type:
        changes.append(f"type {base.type} -> {template.creature_type}")
    if base.alignment != template.alignment:
        changes.append(f"alignment {base.alignment or 'none'} -> {template.alignment}")
    resist = _add(base.damage_resistances, template.damage_resistances)
    immune = _add(base.damage_immunities, template.damage_immunities)
    resist = tuple(r for r in resist if r not in immune)  # immunity supersedes resistance
    conditions = _add(base.condition_immunities, template.condition_immunities)
    for label, before, after in (
        ("damage resistances", base.damage_resistances, resist),
        ("damage immunities", base.damage_immunities, immune),
        ("condition immunities", base.condition_immunities, conditions),
    ):
        added = [x for x in after if x not in before]
        if added:
            changes.append(f"{label} + {', '.join(added)}")
    senses = base.senses
    if template.darkvision > senses.darkvision:
        changes.append(f"darkvision {senses.darkvision or 0} -> {template.darkvision} ft.")
        senses = dataclasses.replace(senses, darkvision=template.darkvision)
    if template.blindsight > senses.blindsight:
        changes.append(f"blindsight {senses.blindsight or 0} -> {template.blindsight} ft.")
        senses = dataclasses.replace(senses, blindsight=template.blindsight)
    languages = base.languages
    if template.mute and languages and languages != "-":
        languages = f"understands {languages} but can't speak"
        changes.append("languages: understands those it knew in life but can't speak")
    for lang in template.languages:
        if lang.lower() not in languages.lower():
            languages = f"{languages}, {lang}" if languages and languages != "-" else lang
            changes.append(f"languages + {lang}")
    traits = list(base.traits)
    have = {t.name.lower() for t in traits}
    for trait_name, text in template.traits:
        if trait_name.lower() in have:
            continue
        traits.append(
            Action(name=trait_name, description=text.format(name=who, Name=who[0].upper() + who[1:]))
        )
        changes.append(f"trait + {trait_name}")
    actions = base.actions
    block = dataclasses.replace(
        base,
        index=f"{template.id}-{base.index}",
        name=name,
        type=template.creature_type,
        subtype="",
        alignment=template.alignment,
        damage_resistances=resist,
        damage_immunities=immune,
        condition_immunities=conditions,
        senses=senses,
        languages=languages,
        traits=tuple(traits),
        source=f"template:{template.id}:{base.source or base.index}",
    )
    if template.id == "aberrant":
        lash = _psychic_lash(block)
        actions = (*actions, lash)
        changes.append(f"action + {lash.name}")
        block = dataclasses.replace(block, actions=actions)
    if template.id == "celestial":
        block, line = _divine_strikes(block)
        if line:
            changes.append(line)
    return Templated(block, tuple(changes))


def _divine_strikes(block: StatBlock) -> tuple[StatBlock, str]:
    """Celestial weapons: every weapon attack deals extra radiant damage (angels' "Angelic Weapons")."""
    dice_count = 1 if block.challenge_rating < 5 else 2 if block.challenge_rating < 11 else 4
    extra = Damage(dice=f"{dice_count}d8", damage_type="radiant", average=dice_count * 4.5)
    changed = False
    actions = []
    for act in block.actions:
        if act.attack_bonus is not None and (act.damage or act.damage_options):
            text = act.description.rstrip()
            text += f" The attack deals an extra {int(extra.average)} ({extra.dice}) radiant damage."
            act = dataclasses.replace(act, damage=(*act.damage, extra), description=text)
            changed = True
        actions.append(act)
    if not changed:
        return block, ""
    return dataclasses.replace(block, actions=tuple(actions)), f"weapon attacks + {extra.dice} radiant"
