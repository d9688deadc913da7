"""The offline writer: title, read-aloud description, tactics and terrain features from tables.

It runs after the mechanics and only reads them, so a language-model writer can replace it without
changing a single number. Deterministic under the ``random.Random`` it is given.
"""

from __future__ import annotations

import random

from encounter_svc.models import CreatureGroup, Encounter, EncounterKind, Prose, TerrainFeature

_PLACES: dict[str, tuple[str, ...]] = {
    "arctic": ("a wind-carved ice field", "a frozen lake under a white sky", "a snow-choked pass"),
    "coastal": ("a shingle beach at low tide", "sea caves loud with surf", "a wreck-strewn cove"),
    "desert": ("a dune sea shimmering with heat", "a dry wadi between red cliffs", "a half-buried ruin"),
    "forest": ("a shadowed glade", "an old road under leaning oaks", "a ravine thick with ferns"),
    "grassland": ("rolling plains of tall grass", "a lonely crossroads", "a burned-out homestead"),
    "hill": ("a barrow-studded ridge", "a sheep track between tors", "a ruined watchtower"),
    "mountain": ("a narrow ledge above a gorge", "a wind-blasted col", "an abandoned mine mouth"),
    "swamp": ("a drowned grove of grey trees", "a reed maze under drifting mist", "a sunken causeway"),
    "underdark": ("a fungus forest under a cavern roof", "a chasm bridged by stone", "a drowned tunnel"),
    "underwater": ("a kelp forest in green light", "a coral shelf over the deep", "a sunken hull"),
    "urban": ("a rain-slick alley", "a crowded market square", "the cellars beneath a tavern"),
}

_FEATURES: dict[str, tuple[tuple[str, str], ...]] = {
    "arctic": (("Slick ice", "difficult terrain; DC 10 Dexterity (Acrobatics) check to dash or fall prone"),
               ("Snowdrifts", "difficult terrain; half cover for Small creatures"),
               ("Blizzard gusts", "lightly obscured beyond 30 feet; ranged attacks at disadvantage past 60 feet")),
    "coastal": (("Slippery rocks", "difficult terrain"), ("Tide pools", "difficult terrain; 2 feet deep"),
                ("Surf", "DC 12 Strength (Athletics) check to move through the breakers")),
    "desert": (("Loose sand", "difficult terrain"), ("Dune crest", "high ground; half cover beyond it"),
               ("Blazing heat", "DC 10 Constitution save each hour in medium or heavy armor or gain exhaustion")),
    "forest": (("Undergrowth", "difficult terrain"), ("Thick trunks", "half or three-quarters cover"),
               ("Low branches", "climb DC 10; a creature above has advantage on ranged attacks down")),
    "grassland": (("Tall grass", "lightly obscured; creatures can hide while prone"),
                  ("Open ground", "no cover within 60 feet"), ("Stone wall", "half cover; 3 feet high")),
    "hill": (("Steep slope", "difficult terrain uphill"), ("Boulders", "half cover"),
             ("Scree", "DC 10 Dexterity save when dashing or fall prone")),
    "mountain": (("Narrow ledge", "DC 12 Dexterity (Acrobatics) check when shoved or fall 30 feet"),
                 ("Rock pillars", "three-quarters cover"), ("Thin air", "creatures without climb speed tire")),
    "swamp": (("Sucking mud", "difficult terrain; DC 12 Strength save at turn end or restrained"),
              ("Mist", "heavily obscured beyond 30 feet"), ("Deep water", "swimming; 5 feet deep")),
    "underdark": (("Darkness", "heavily obscured without darkvision or light"),
                  ("Stalagmites", "half cover; difficult terrain"), ("Chasm edge", "a 40-foot drop")),
    "underwater": (("Murky water", "lightly obscured beyond 30 feet"),
                   ("Current", "swimming against it costs 2 extra feet per foot"), ("Kelp", "half cover")),
    "urban": (("Crowd", "difficult terrain; half cover"), ("Rooftops", "climb DC 12; 20 feet up"),
              ("Narrow alley", "only one Medium creature abreast")),
}  # fmt: skip

_ROLE_TACTICS = {
    "leader": "{name} hangs back and directs the others, fleeing if its followers fall.",
    "solo": "{name} uses its legendary actions between every turn and strikes the weakest first.",
    "artillery": "{name} keeps its distance and fires from cover.",
    "controller": "{name} opens with its spells and effects to split the party.",
    "skirmisher": "{name} hits and withdraws, never staying in melee for long.",
    "brute": "{name} charges the nearest foe and trades blows.",
    "soldier": "{name} holds the line and protects its allies.",
}
_MOODS = ("Silence falls", "The air turns cold", "Something moves ahead", "A warning cry rings out")


def _plural(group: CreatureGroup) -> str:
    name = group.stat_block.name.lower()
    if group.count == 1:
        return f"a {name}" if name[0] not in "aeiou" else f"an {name}"
    return f"{group.count} {name}{'' if name.endswith('s') else 's'}"


def write_prose(encounter: Encounter, rng: random.Random) -> Prose:
    """Procedural words for a finished encounter."""
    terrain = encounter.terrain
    place = rng.choice(_PLACES[terrain])
    features = tuple(TerrainFeature(n, d) for n, d in rng.sample(_FEATURES[terrain], k=2))
    if encounter.kind is EncounterKind.HAZARD:
        names = ", ".join(h.name.lower() for h in encounter.hazards)
        title = f"{encounter.hazards[0].name} in {place}"
        description = f"{rng.choice(_MOODS)} in {place}. Danger lies ahead: {names}."
        tactics = "No foe waits here; careful scouting (the detect DCs) and the right saves carry the day."
        return Prose(
            title=title.capitalize(), description=description, tactics=tactics, terrain_features=features
        )
    who = " and ".join(_plural(g) for g in encounter.creatures) or "nothing at all"
    lead = encounter.creatures[0].stat_block.name if encounter.creatures else "Silence"
    if encounter.kind is EncounterKind.SOCIAL and encounter.social:
        title = f"A parley with {lead}"
        description = f"In {place}, the party meets {who}. They want {encounter.social.goal}."
        tactics = f"They stay wary; if talks fail, {encounter.social.risk}."
    else:
        title = f"{lead} in {place}"
        description = f"{rng.choice(_MOODS)} in {place}: {who} bar the way."
        tactics = " ".join(
            _ROLE_TACTICS.get(g.role, _ROLE_TACTICS["soldier"]).format(name=g.stat_block.name)
            for g in encounter.creatures
        )
    return Prose(title=title, description=description, tactics=tactics, terrain_features=features)
