"""Player characters from a player's choices: the request's words mapped onto ``rules.sheets`` and its errors
mapped back onto the request's field names, so a bad choice reads ``character_class: unknown class 'x'; valid:
barbarian, bard, ...`` whichever layer found it. Pure: no transport, no storage."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mesh.errors import InvalidArgument, Violations
from rules.classes import ABILITIES, ABILITY_NAMES
from rules.sheets import MAX_NAME_LENGTH, CharacterChoices, CharacterSheet, build_sheet, pregenerated

#: The contract's ability method names -> the rules'.
ABILITY_METHODS: Mapping[str, str] = {
    "standard_array": "standard_array",
    "point_buy": "point_buy",
    "given": "given",
}
#: rules.sheets field -> BuildCharacterRequest field.
REQUEST_FIELDS: Mapping[str, str] = {
    "class_index": "character_class",
    "race_index": "race",
    "subrace_index": "subrace",
    "subclass_index": "subclass",
    "base_scores": "scores",
    "ability_increases": "scores",
    "hp_method": "rolled_hit_points",
}
MAX_DESCRIPTION = 4000
MAX_LIST = 50


@dataclass(frozen=True, slots=True)
class CharacterRequest:
    """A BuildCharacter request in domain terms; ``scores`` maps "str".."cha" (empty: none given)."""

    name: str
    character_class: str
    race: str = ""
    subrace: str = ""
    level: int = 1
    ability_method: str = "standard_array"
    scores: Mapping[str, int] | None = None
    background_skills: tuple[str, ...] = ()
    class_skills: tuple[str, ...] = ()
    equipment: tuple[str, ...] = ()
    seed: int = 0
    rolled_hit_points: bool = False
    subclass: str = ""
    expertise: tuple[str, ...] = ()
    racial_bonus_choices: tuple[str, ...] = ()
    racial_skills: tuple[str, ...] = ()
    pregenerated: bool = False
    description: str = ""


def _index(text: str) -> str:
    """'Half-Elf' / 'half elf' / ' Fighter ' -> 'half-elf' / 'fighter' (SRD indexes)."""
    return "-".join(text.strip().lower().replace("_", " ").split())


def _field(name: str) -> str:
    """``base_scores.str`` -> ``scores.strength``; ``class_index`` -> ``character_class``; indexes kept."""
    for prefix in ("base_scores", "ability_increases"):
        if name == prefix:
            return "scores"
        if name.startswith(prefix + "."):
            ability = name[len(prefix) + 1 :]
            return "scores." + ABILITY_NAMES.get(ability, ability)
    match = re.match(r"[a-z_]+", name)
    head = match.group(0) if match else name
    return REQUEST_FIELDS.get(head, head) + name[len(head) :]


def request_violations(violations: list[tuple[str, str]]) -> InvalidArgument:
    """The rules' violations renamed to the request's fields (``class_index`` -> ``character_class``...)."""
    return InvalidArgument([(_field(f), d) for f, d in violations])


def build_character(request: CharacterRequest) -> CharacterSheet:
    """The sheet the rules build from ``request``; InvalidArgument naming the request's fields."""
    v = Violations()
    v.check(len(request.name) <= MAX_NAME_LENGTH, "name", f"at most {MAX_NAME_LENGTH} characters")
    v.check(
        len(request.description) <= MAX_DESCRIPTION, "description", f"at most {MAX_DESCRIPTION} characters"
    )
    v.check(request.seed >= 0, "seed", "must not be negative")
    v.check(bool(request.character_class.strip()), "character_class", "required, e.g. 'fighter'")
    for key in ("background_skills", "class_skills", "equipment", "expertise", "racial_skills"):
        v.check(len(getattr(request, key)) <= MAX_LIST, key, f"at most {MAX_LIST} entries")
    v.raise_if_any()
    try:
        if request.pregenerated:
            return pregenerated(
                _index(request.character_class),
                request.level,
                race_index=_index(request.race) or None,
                name=request.name.strip() or None,
                seed=request.seed,
            )
        choices = CharacterChoices(
            name=request.name.strip(),
            class_index=_index(request.character_class),
            race_index=_index(request.race),
            subrace_index=_index(request.subrace) or None,
            level=request.level,
            ability_method=request.ability_method,
            base_scores=dict(request.scores or {}),
            background_skills=tuple(_index(s) for s in request.background_skills),
            class_skills=tuple(_index(s) for s in request.class_skills),
            equipment=tuple(_index(s) for s in request.equipment),
            hp_method="rolled" if request.rolled_hit_points else "fixed",
            seed=request.seed,
            subclass_index=_index(request.subclass) or None,
            racial_bonus_choices=tuple(request.racial_bonus_choices),
            racial_skills=tuple(_index(s) for s in request.racial_skills),
            expertise=tuple(_index(s) for s in request.expertise),
        )
        return build_sheet(choices)
    except InvalidArgument as exc:
        raise request_violations(exc.violations) from None


def scores_of(
    strength: int, dexterity: int, constitution: int, intelligence: int, wisdom: int, charisma: int
) -> dict[str, int]:
    """Six scores in the rules' keys."""
    return dict(
        zip(ABILITIES, (strength, dexterity, constitution, intelligence, wisdom, charisma), strict=True)
    )
