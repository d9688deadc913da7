"""Which SRD monsters live in which terrain: our own table (the SRD has no environment field).

The reasoning follows each creature's Monster Manual ecology and the DMG's random-encounter lists, written
down per group below. A creature may live in several terrains. Left out on purpose (see ``UNMAPPED``):
alternate forms of one creature (a werewolf's wolf and hybrid forms, a vampire's bat and mist forms) so a
generator never fields "a werewolf and a werewolf", planar beings who only arrive when summoned, and the
one-of-a-kind Tarrasque.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from mesh.errors import InvalidArgument


class Terrain(StrEnum):
    """The eleven terrains encounters are built for."""

    ARCTIC = "arctic"
    COASTAL = "coastal"
    DESERT = "desert"
    FOREST = "forest"
    GRASSLAND = "grassland"
    HILL = "hill"
    MOUNTAIN = "mountain"
    SWAMP = "swamp"
    UNDERDARK = "underdark"
    UNDERWATER = "underwater"
    URBAN = "urban"


TERRAINS: tuple[Terrain, ...] = tuple(Terrain)

A, C, D, F, G, H, M, S, U, W, B = (
    Terrain.ARCTIC, Terrain.COASTAL, Terrain.DESERT, Terrain.FOREST, Terrain.GRASSLAND, Terrain.HILL,
    Terrain.MOUNTAIN, Terrain.SWAMP, Terrain.UNDERDARK, Terrain.UNDERWATER, Terrain.URBAN,
)  # fmt: skip

# (terrains, monster indices). Groups share a reason; a creature may appear in several groups.
_GROUPS: tuple[tuple[tuple[Terrain, ...], tuple[str, ...]], ...] = (
    # --- Beasts: where the real animal (or its giant cousin) lives. ---
    # Woodland animals.
    (
        (F,),
        (
            "ape",
            "giant-ape",
            "awakened-shrub",
            "awakened-tree",
            "sprite",
            "satyr",
            "dryad",
            "unicorn",
            "ettercap",
            "treant",
            "pseudodragon",
            "tiger",
            "weretiger-human",
        ),
    ),
    (
        (F, G),
        (
            "badger",
            "deer",
            "weasel",
            "giant-weasel",
            "giant-badger",
            "boar",
            "giant-boar",
            "panther",
            "centaur",
            "blink-dog",
            "tyrannosaurus-rex",
            "triceratops",
            "worg",
            "wereboar-human",
        ),
    ),
    ((F, G, H), ("baboon", "giant-wolf-spider", "swarm-of-wasps", "werewolf-human")),
    ((F, H, M), ("black-bear",)),
    ((F, A), ("owl", "giant-owl")),  # snowy and forest owls
    ((F, H, M, A), ("brown-bear", "dire-wolf", "wolf", "werebear-human")),
    ((F, G, H, A), ("elk", "giant-elk")),
    # Open plains and savannah.
    ((G,), ("rhinoceros", "elephant", "pony", "riding-horse", "draft-horse", "warhorse", "hippogriff")),
    ((G, D), ("hyena", "giant-hyena", "jackal", "axe-beak", "cockatrice", "lion")),
    ((G, D, M), ("vulture", "giant-vulture")),
    # Birds of prey over open and high country.
    ((G, H, M, C), ("eagle", "giant-eagle", "hawk", "blood-hawk")),
    ((H, M), ("goat", "giant-goat", "griffon", "wyvern", "pegasus")),
    # Desert dwellers.
    (
        (D,),
        (
            "camel",
            "scorpion",
            "giant-scorpion",
            "death-dog",
            "lamia",
            "gynosphinx",
            "androsphinx",
            "mummy",
            "mummy-lord",
            "djinni",
            "efreeti",
            "dust-mephit",
            "fire-elemental",
            "brass-dragon-wyrmling",
            "young-brass-dragon",
            "adult-brass-dragon",
            "ancient-brass-dragon",
            "clay-golem",
        ),
    ),
    ((D, S), ("lizard", "giant-lizard", "flying-snake")),
    (
        (D, S, F, G),
        ("poisonous-snake", "giant-poisonous-snake", "swarm-of-poisonous-snakes", "swarm-of-insects"),
    ),
    # Wetlands: marsh, bog, river delta.
    (
        (S,),
        (
            "frog",
            "giant-frog",
            "giant-toad",
            "will-o-wisp",
            "shambling-mound",
            "black-dragon-wyrmling",
            "young-black-dragon",
            "adult-black-dragon",
            "ancient-black-dragon",
            "night-hag",
            "ogre-zombie",
        ),
    ),
    ((S, C), ("crocodile", "giant-crocodile", "lizardfolk", "hydra", "steam-mephit")),
    (
        (S, F),
        (
            "constrictor-snake",
            "giant-constrictor-snake",
            "giant-spider",
            "giant-wasp",
            "green-hag",
            "stirge",
            "swarm-of-centipedes",
            "giant-centipede",
        ),
    ),
    # Arctic: tundra, glacier, frozen sea.
    (
        (A,),
        (
            "polar-bear",
            "mammoth",
            "winter-wolf",
            "remorhaz",
            "ice-mephit",
            "white-dragon-wyrmling",
            "young-white-dragon",
            "adult-white-dragon",
            "ancient-white-dragon",
            "ice-devil",
        ),
    ),
    ((A, M), ("saber-toothed-tiger", "frost-giant")),
    # The sea: shallows and shore (coastal), open water and the deep (underwater).
    ((C,), ("crab", "bronze-dragon-wyrmling", "young-bronze-dragon")),
    (
        (C, W),
        (
            "octopus",
            "giant-octopus",
            "giant-crab",
            "reef-shark",
            "hunter-shark",
            "plesiosaurus",
            "merfolk",
            "sahuagin",
            "merrow",
            "sea-hag",
            "dragon-turtle",
            "adult-bronze-dragon",
            "ancient-bronze-dragon",
            "water-elemental",
        ),
    ),
    ((W,), ("quipper", "sea-horse", "giant-sea-horse", "giant-shark", "swarm-of-quippers", "kraken")),
    ((W, C, A), ("killer-whale",)),
    ((C, W, M), ("storm-giant",)),
    ((C, M, A, G), ("roc",)),  # nests on peaks and coasts, hunts over open plains
    ((C, H, M, F), ("harpy",)),
    # --- Peoples: where they build camps, lairs and towns. ---
    # Wilderness folk and raiders who roam almost anywhere on the surface.
    ((F, G, H, D, C, M, A, S), ("scout", "tribal-warrior")),
    ((F, G, H, D, C, M, B), ("bandit", "bandit-captain")),
    ((A, H, M, F, C), ("berserker",)),
    ((F, G, S, H), ("druid",)),
    # Goblinoids, orcs and gnolls: hills and forests near settlements; goblins and orcs also underground.
    ((F, H, U, G, M), ("goblin", "orc")),
    ((F, H, G, M), ("hobgoblin",)),
    ((F, H, U), ("bugbear",)),
    ((G, D, F, H), ("gnoll",)),
    ((M, H, F, U, D), ("kobold",)),
    # Giants and their kin.
    ((H, F, M, G, S), ("ogre",)),
    ((H, M, U), ("ettin", "stone-giant")),
    ((H, G), ("hill-giant",)),
    ((F, H, M, S, A, U), ("troll",)),
    (
        (M,),
        (
            "cloud-giant",
            "air-elemental",
            "behir",
            "magma-mephit",
            "silver-dragon-wyrmling",
            "young-silver-dragon",
            "red-dragon-wyrmling",
        ),
    ),
    ((M, U), ("fire-giant", "azer", "magmin", "salamander", "earth-elemental")),
    (
        (M, H),
        (
            "young-red-dragon",
            "adult-red-dragon",
            "ancient-red-dragon",
            "half-red-dragon-veteran",
            "manticore",
            "chimera",
            "bulette",
        ),
    ),
    (
        (M, B),
        ("adult-silver-dragon", "ancient-silver-dragon"),
    ),  # silver dragons live among people in disguise
    (
        (H,),
        (
            "copper-dragon-wyrmling",
            "young-copper-dragon",
            "adult-copper-dragon",
            "ancient-copper-dragon",
            "gorgon",
        ),
    ),
    (
        (G, F),
        ("gold-dragon-wyrmling", "young-gold-dragon", "adult-gold-dragon", "ancient-gold-dragon", "couatl"),
    ),
    (
        (F,),
        (
            "green-dragon-wyrmling",
            "young-green-dragon",
            "adult-green-dragon",
            "ancient-green-dragon",
            "owlbear",
            "phase-spider",
        ),
    ),
    ((D, C), ("blue-dragon-wyrmling", "young-blue-dragon", "adult-blue-dragon", "ancient-blue-dragon")),
    ((D, H, M), ("medusa", "basilisk")),
    ((D, F), ("guardian-naga",)),
    ((D, G, H), ("ankheg",)),
    # Towns and cities: citizens, guards, criminals, clergy, and what hides among them.
    (
        (B,),
        (
            "guard",
            "noble",
            "acolyte",
            "priest",
            "spy",
            "assassin",
            "gladiator",
            "knight",
            "thug",
            "cat",
            "mastiff",
            "mule",
            "homunculus",
            "flying-sword",
            "animated-armor",
            "rug-of-smothering",
            "flesh-golem",
            "shield-guardian",
            "iron-golem",
            "invisible-stalker",
            "oni",
            "rakshasa",
            "succubus-incubus",
            "vampire-spawn",
            "vampire-vampire",
            "wererat-human",
            "imp",
            "bearded-devil",
            "barbed-devil",
            "chain-devil",
            "bone-devil",
            "horned-devil",
            "erinyes",
            "pit-fiend",
        ),
    ),
    ((B, G, H, C), ("commoner", "veteran")),
    ((B, M), ("mage", "archmage", "stone-golem", "gargoyle")),
    ((B, U), ("doppelganger", "mimic", "shadow", "ghast", "specter", "cultist", "cult-fanatic")),
    ((B, U, S), ("rat", "giant-rat", "swarm-of-rats", "otyugh", "ghoul", "zombie")),
    ((B, F, H), ("raven", "swarm-of-ravens")),
    ((B, F, U), ("spider", "swarm-of-spiders")),
    ((B, U, H, D), ("skeleton", "wraith")),
    ((B, C), ("ghost",)),
    # --- The Underdark: its peoples, fungi, oozes and what hunts there. ---
    (
        (U,),
        (
            "drow",
            "grimlock",
            "deep-gnome-svirfneblin",
            "duergar",
            "darkmantle",
            "rust-monster",
            "roper",
            "drider",
            "cloaker",
            "xorn",
            "shrieker",
            "violet-fungus",
            "gelatinous-cube",
            "black-pudding",
            "minotaur-skeleton",
            "minotaur",
            "dretch",
            "quasit",
            "vrock",
            "hezrou",
            "glabrezu",
            "nalfeshnee",
            "marilith",
            "balor",
            "purple-worm",
            "lich",
        ),
    ),
    ((U, S), ("gray-ooze", "ochre-jelly", "gibbering-mouther", "spirit-naga")),
    ((U, W), ("aboleth",)),
    ((U, S, W, C), ("chuul",)),
    ((U, F, H, M), ("bat", "giant-bat", "swarm-of-bats", "grick", "giant-fire-beetle", "swarm-of-beetles")),
    ((U, M), ("hell-hound",)),
    # Barrow wights haunt burial mounds in open country.
    ((H, G, A, S), ("wight", "warhorse-skeleton")),
)

#: Deliberately not placed in any terrain, with the reason.
UNMAPPED: dict[str, str] = {
    **{k: "alternate form of a mapped creature" for k in (
        "wererat-hybrid", "wererat-rat", "werewolf-hybrid", "werewolf-wolf", "wereboar-boar",
        "wereboar-hybrid", "weretiger-hybrid", "weretiger-tiger", "werebear-bear", "werebear-hybrid",
        "vampire-bat", "vampire-mist", "giant-rat-diseased")},
    **{k: "planar; appears only when summoned or sent" for k in (
        "deva", "planetar", "solar", "nightmare", "lemure")},
    "tarrasque": "unique, world-ending",
}  # fmt: skip


def _build() -> dict[str, frozenset[Terrain]]:
    table: dict[str, set[Terrain]] = {}
    for terrains, indices in _GROUPS:
        for index in indices:
            table.setdefault(index, set()).update(terrains)
    return {k: frozenset(v) for k, v in table.items()}


#: SRD monster index -> the terrains it is found in.
MONSTER_TERRAINS: Mapping[str, frozenset[Terrain]] = _build()


def check_terrain(name: str, field: str = "terrain") -> Terrain:
    """Parse a terrain name (case-insensitive), listing the valid ones on error."""
    try:
        return Terrain(name.strip().lower())
    except ValueError:
        valid = ", ".join(t.value for t in TERRAINS)
        raise InvalidArgument([(field, f"unknown terrain {name!r}; valid terrains: {valid}")]) from None


def check_terrains(names: Sequence[str] | str, field: str = "terrain") -> tuple[Terrain, ...]:
    """Parse one terrain or a list (a region's terrains); a bad entry of a longer list is ``terrain[i]``."""
    if isinstance(names, str):
        return (check_terrain(names, field),)
    if len(names) == 1:
        return (check_terrain(names[0], field),)
    if not names:
        raise InvalidArgument([(field, "give a terrain or a region with at least one terrain")])
    out: list[Terrain] = []
    for i, name in enumerate(names):
        terrain = check_terrain(name, f"{field}[{i}]")
        if terrain not in out:
            out.append(terrain)
    return tuple(out)


def terrains_of(index: str) -> frozenset[Terrain]:
    """Terrains of an SRD monster (empty when it is unmapped or unknown)."""
    return MONSTER_TERRAINS.get(index, frozenset())


def monsters_in(terrains: Iterable[Terrain]) -> frozenset[str]:
    """SRD indices found in any of ``terrains``."""
    wanted = set(terrains)
    return frozenset(k for k, v in MONSTER_TERRAINS.items() if v & wanted)
