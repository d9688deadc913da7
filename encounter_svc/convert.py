"""Protos <-> encounter domain objects, field by field, plus the opaque ListMonsters page tokens.

``stat_block_proto`` turns a ``rules.statblock.StatBlock`` into the contract's ``StatBlock``; it lives here, not in
``rules`` (which stays transport-free), and npc_svc may import it. Nothing here computes a game number: every value
is copied from the rules objects (an action's damage average is printed rounded down, as stat blocks print it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from dungeonmaster.v1 import common_pb2, encounter_pb2
from encounter_svc.models import (
    CreatureGroup,
    Encounter,
    EncounterKind,
    Hazard,
    SocialStakes,
    Treasure,
)
from lore import World
from mesh.errors import InvalidArgument
from rules import statblock as sb
from rules.challenge import format_cr
from rules.difficulty import (
    DIFFICULTIES_2014,
    DIFFICULTIES_2024,
    Difficulty,
    XpBreakdown,
    party_budgets_2024,
    party_thresholds_2014,
)

# --- enums -------------------------------------------------------------------------------------------------------

ABILITY_ENUM: dict[sb.Ability, common_pb2.Ability.ValueType] = {
    sb.Ability.STR: common_pb2.ABILITY_STRENGTH,
    sb.Ability.DEX: common_pb2.ABILITY_DEXTERITY,
    sb.Ability.CON: common_pb2.ABILITY_CONSTITUTION,
    sb.Ability.INT: common_pb2.ABILITY_INTELLIGENCE,
    sb.Ability.WIS: common_pb2.ABILITY_WISDOM,
    sb.Ability.CHA: common_pb2.ABILITY_CHARISMA,
}
SIZE_ENUM: dict[str, common_pb2.CreatureSize.ValueType] = {
    "tiny": common_pb2.CREATURE_SIZE_TINY,
    "small": common_pb2.CREATURE_SIZE_SMALL,
    "medium": common_pb2.CREATURE_SIZE_MEDIUM,
    "large": common_pb2.CREATURE_SIZE_LARGE,
    "huge": common_pb2.CREATURE_SIZE_HUGE,
    "gargantuan": common_pb2.CREATURE_SIZE_GARGANTUAN,
}
DIFFICULTY_ENUM: dict[Difficulty, encounter_pb2.Difficulty.ValueType] = {
    Difficulty.TRIVIAL: encounter_pb2.DIFFICULTY_TRIVIAL,
    Difficulty.EASY: encounter_pb2.DIFFICULTY_EASY,
    Difficulty.MEDIUM: encounter_pb2.DIFFICULTY_MEDIUM,
    Difficulty.HARD: encounter_pb2.DIFFICULTY_HARD,
    Difficulty.DEADLY: encounter_pb2.DIFFICULTY_DEADLY,
    Difficulty.LOW: encounter_pb2.DIFFICULTY_LOW,
    Difficulty.MODERATE: encounter_pb2.DIFFICULTY_MODERATE,
    Difficulty.HIGH: encounter_pb2.DIFFICULTY_HIGH,
    Difficulty.BEYOND_HIGH: encounter_pb2.DIFFICULTY_BEYOND_HIGH,
    Difficulty.BELOW_LOW: encounter_pb2.DIFFICULTY_BELOW_LOW,
}
DIFFICULTY_FROM_ENUM: dict[int, Difficulty] = {int(v): k for k, v in DIFFICULTY_ENUM.items()}
KIND_ENUM: dict[EncounterKind, encounter_pb2.EncounterKind.ValueType] = {
    EncounterKind.COMBAT: encounter_pb2.ENCOUNTER_KIND_COMBAT,
    EncounterKind.SOCIAL: encounter_pb2.ENCOUNTER_KIND_SOCIAL,
    EncounterKind.HAZARD: encounter_pb2.ENCOUNTER_KIND_HAZARD,
}
KIND_FROM_ENUM: dict[int, EncounterKind] = {
    int(encounter_pb2.ENCOUNTER_KIND_UNSPECIFIED): EncounterKind.COMBAT,
    **{int(v): k for k, v in KIND_ENUM.items()},
}
#: Difficulty asked for when the request gives none: the middle band of the rule set.
DEFAULT_DIFFICULTY = {
    int(encounter_pb2.RULE_SET_UNSPECIFIED): Difficulty.MEDIUM,
    int(encounter_pb2.RULE_SET_DMG_2014): Difficulty.MEDIUM,
    int(encounter_pb2.RULE_SET_DMG_2024): Difficulty.MODERATE,
}
RULE_SET_DIFFICULTIES: dict[int, tuple[Difficulty, ...]] = {
    int(encounter_pb2.RULE_SET_DMG_2014): DIFFICULTIES_2014,
    int(encounter_pb2.RULE_SET_DMG_2024): DIFFICULTIES_2024,
}


def difficulty_enum_name(d: Difficulty) -> str:
    """The proto name of a difficulty, e.g. "DIFFICULTY_MEDIUM", for error messages."""
    return encounter_pb2.Difficulty.Name(DIFFICULTY_ENUM[d])


# --- stat blocks ---------------------------------------------------------------------------------------------------


def split_languages(text: str) -> list[str]:
    """ "Common, Goblin" -> ["Common", "Goblin"], keeping commas inside parentheses; "—" means none."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip() and p.strip() not in ("—", "-", "--")]


def challenge_proto(cr: float, xp: int) -> common_pb2.ChallengeRating:
    return common_pb2.ChallengeRating(value=cr, display=format_cr(cr), xp=xp)


def damage_proto(d: sb.Damage) -> common_pb2.Damage:
    return common_pb2.Damage(dice=d.dice, average=int(d.average // 1), damage_type=d.damage_type)


def action_proto(a: sb.Action, legendary: bool = False) -> common_pb2.Action:
    """An action; damage lists the fixed components, or the first alternative when the creature picks one
    (the full choice is in the rules text)."""
    components = a.damage or (a.damage_options[0] if a.damage_options else ())
    out = common_pb2.Action(
        name=a.name,
        description=a.description,
        damage=[damage_proto(d) for d in components],
        usage=a.usage.display() if a.usage else "",
        cost=a.legendary_cost if legendary else 0,
    )
    if a.attack_bonus is not None:
        out.attack_bonus = a.attack_bonus
    if a.save is not None:
        out.save_dc = a.save.dc
        out.save_ability = ABILITY_ENUM[a.save.ability]
    return out


def _senses(s: sb.Senses) -> list[common_pb2.Sense]:
    ranges = (
        ("blindsight", s.blindsight),
        ("darkvision", s.darkvision),
        ("tremorsense", s.tremorsense),
        ("truesight", s.truesight),
    )
    return [common_pb2.Sense(name=n, range_ft=r) for n, r in ranges if r]


def stat_block_proto(block: sb.StatBlock) -> common_pb2.StatBlock:
    """The contract's StatBlock for a rules stat block (SRD, world or generated)."""
    abilities = block.abilities
    return common_pb2.StatBlock(
        name=block.name,
        size=SIZE_ENUM.get(block.size.strip().lower(), common_pb2.CREATURE_SIZE_UNSPECIFIED),
        creature_type=block.type,
        subtype=block.subtype,
        alignment=block.alignment,
        armor_class=block.armor_class,
        armor_description=block.armor_description,
        hit_points=block.hit_points,
        hit_dice=block.hit_points_roll,
        speed=common_pb2.Speed(
            walk=block.speeds.walk,
            fly=block.speeds.fly,
            swim=block.speeds.swim,
            climb=block.speeds.climb,
            burrow=block.speeds.burrow,
            hover=block.speeds.hover,
        ),
        abilities=common_pb2.AbilityScores(
            strength=abilities.strength,
            dexterity=abilities.dexterity,
            constitution=abilities.constitution,
            intelligence=abilities.intelligence,
            wisdom=abilities.wisdom,
            charisma=abilities.charisma,
        ),
        saving_throws=[
            common_pb2.SavingThrow(ability=ABILITY_ENUM[a], bonus=b)
            for a, b in sorted(block.saving_throws.items(), key=lambda kv: list(sb.Ability).index(kv[0]))
        ],
        skills=[common_pb2.SkillBonus(skill=k, bonus=v) for k, v in sorted(block.skills.items())],
        damage_vulnerabilities=list(block.damage_vulnerabilities),
        damage_resistances=list(block.damage_resistances),
        damage_immunities=list(block.damage_immunities),
        condition_immunities=list(block.condition_immunities),
        senses=_senses(block.senses),
        passive_perception=block.senses.passive_perception,
        languages=split_languages(block.languages),
        challenge=challenge_proto(block.challenge_rating, block.xp),
        proficiency_bonus=block.proficiency_bonus,
        traits=[common_pb2.Trait(name=t.name, description=t.description) for t in block.traits],
        actions=[action_proto(a) for a in block.actions],
        reactions=[action_proto(a) for a in block.reactions],
        legendary_actions=[action_proto(a, legendary=True) for a in block.legendary_actions],
        legendary_actions_per_round=block.legendary_actions_per_round,
        source=block.source,
    )


def monster_summary(block: sb.StatBlock, terrains: Sequence[str]) -> encounter_pb2.MonsterSummary:
    return encounter_pb2.MonsterSummary(
        monster=block.index,
        name=block.name,
        challenge=challenge_proto(block.challenge_rating, block.xp),
        creature_type=block.type,
        terrains=list(terrains),
    )


# --- encounters ----------------------------------------------------------------------------------------------------


def xp_proto(
    xp: XpBreakdown | None, levels: Sequence[int], budget: int = 0, notes: Iterable[str] = ()
) -> encounter_pb2.XpBreakdown:
    """The XP arithmetic; with no creatures (a hazard) only the party's thresholds and budgets."""
    thresholds = xp.thresholds_2014 if xp is not None else party_thresholds_2014(levels)
    budgets = xp.budgets_2024 if xp is not None else party_budgets_2024(levels)
    out = encounter_pb2.XpBreakdown(
        thresholds_2014=[thresholds[d] for d in DIFFICULTIES_2014],
        budgets_2024=[budgets[d] for d in DIFFICULTIES_2024],
        budget=budget,
        notes=list(notes),
    )
    if xp is not None:
        out.raw_xp = xp.raw_xp
        out.multiplier = xp.multiplier
        out.adjusted_xp = xp.adjusted_xp
        out.counted_creatures = xp.monsters_counted
        out.difficulty_2014 = DIFFICULTY_ENUM[xp.rating_2014]
        out.difficulty_2024 = DIFFICULTY_ENUM[xp.rating_2024]
    return out


def group_proto(group: CreatureGroup) -> encounter_pb2.CreatureGroup:
    return encounter_pb2.CreatureGroup(
        count=group.count, stat_block=stat_block_proto(group.stat_block), role=group.role
    )


def hazard_proto(h: Hazard) -> encounter_pb2.Hazard:
    description = h.description
    if h.attack_bonus:
        description += f" It attacks at +{h.attack_bonus} to hit instead of forcing a save."
    return encounter_pb2.Hazard(
        name=h.name,
        description=description,
        detect_dc=h.detect_dc,
        disarm_dc=h.disarm_dc,
        save_dc=h.save_dc,
        save_ability=ABILITY_ENUM[h.save_ability],
        damage=damage_proto(h.damage),
        severity=h.severity,
    )


def social_proto(s: SocialStakes) -> encounter_pb2.SocialStakes:
    return encounter_pb2.SocialStakes(
        participants=list(s.participants), goal=s.goal, reward=s.reward, risk=s.risk, checks=list(s.checks)
    )


def _coin_display(coins: Mapping[str, int]) -> str:
    order = ("pp", "gp", "ep", "sp", "cp")
    return ", ".join(f"{coins[c]:,} {c}" for c in order if coins.get(c)) or "0 cp"


def price_proto(copper: int, coins: Mapping[str, int], world: World | None) -> common_pb2.Price:
    """A price in copper and gold; displayed in the world's own coins when it has a currency."""
    gold = Decimal(copper) / 100
    display = _coin_display(coins)
    if world is not None and world.coinage is not None:
        display = world.format_price(gold, "long")
    return common_pb2.Price(copper=copper, gold=float(gold), display=display)


def treasure_proto(t: Treasure, world: World | None) -> encounter_pb2.Treasure:
    coins = price_proto(t.coins_cp, t.coins, world)
    total = price_proto(t.total_cp, t.coins, world)
    return encounter_pb2.Treasure(coins=coins, items=list(t.items), total=total)


def encounter_proto(e: Encounter, levels: Sequence[int], world: World | None) -> encounter_pb2.Encounter:
    out = encounter_pb2.Encounter(
        id=e.id,
        kind=KIND_ENUM[e.kind],
        title=e.prose.title,
        description=e.prose.description,
        terrain=e.terrain,
        region=e.region,
        creatures=[group_proto(g) for g in e.creatures],
        xp=xp_proto(e.xp, levels, e.budget, e.notes),
        terrain_features=[
            encounter_pb2.TerrainFeature(name=f.name, description=f.description)
            for f in e.prose.terrain_features
        ],
        tactics=e.prose.tactics,
        treasure=treasure_proto(e.treasure, world),
        hazards=[hazard_proto(h) for h in e.hazards],
    )
    if e.social is not None:
        out.social.CopyFrom(social_proto(e.social))
    return out


# --- page tokens ---------------------------------------------------------------------------------------------------


def filter_key(*parts: object) -> str:
    """A short digest of a listing's filters, so a token is only honoured by the query that issued it."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:12]


def encode_page_token(offset: int, key: str) -> str:
    """Opaque to clients: base64url of the next offset and the filters' digest."""
    raw = json.dumps({"o": offset, "f": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, key: str, field: str = "page_token") -> int:
    """The offset a token stands for; a malformed token or one from other filters is INVALID_ARGUMENT."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset, issued_for = int(data["o"]), str(data["f"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument([(field, "malformed page token; pass next_page_token unchanged")]) from None
    if issued_for != key:
        raise InvalidArgument([(field, "page token was issued for different filters; restart the listing")])
    if offset < 0:
        raise InvalidArgument([(field, "malformed page token; pass next_page_token unchanged")])
    return offset
