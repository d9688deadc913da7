"""Domain objects -> ``dungeonmaster.v1`` messages (stat blocks, NPCs, provenance). No grpc, no logic."""

from __future__ import annotations

from dungeonmaster.v1 import common_pb2, npc_pb2
from mesh.text import Provenance
from npc_svc.builder import Npc
from rules.challenge import format_cr
from rules.statblock import Ability, Action, StatBlock

_SIZES = {
    "tiny": common_pb2.CREATURE_SIZE_TINY,
    "small": common_pb2.CREATURE_SIZE_SMALL,
    "medium": common_pb2.CREATURE_SIZE_MEDIUM,
    "large": common_pb2.CREATURE_SIZE_LARGE,
    "huge": common_pb2.CREATURE_SIZE_HUGE,
    "gargantuan": common_pb2.CREATURE_SIZE_GARGANTUAN,
}
_ABILITIES = {
    Ability.STR: common_pb2.ABILITY_STRENGTH,
    Ability.DEX: common_pb2.ABILITY_DEXTERITY,
    Ability.CON: common_pb2.ABILITY_CONSTITUTION,
    Ability.INT: common_pb2.ABILITY_INTELLIGENCE,
    Ability.WIS: common_pb2.ABILITY_WISDOM,
    Ability.CHA: common_pb2.ABILITY_CHARISMA,
}


def action_pb(action: Action, legendary: bool = False) -> common_pb2.Action:
    """An action with its fixed damage and, when it offers alternatives, the first (primary) one."""
    msg = common_pb2.Action(name=action.name, description=action.description)
    if action.attack_bonus is not None:
        msg.attack_bonus = action.attack_bonus
    parts = [*action.damage, *(action.damage_options[0] if action.damage_options else ())]
    for d in parts:
        msg.damage.add(dice=d.dice, average=int(d.average), damage_type=d.damage_type)
    if action.save is not None:
        msg.save_dc = action.save.dc
        msg.save_ability = _ABILITIES[action.save.ability]
    if action.usage is not None:
        msg.usage = action.usage.display()
    if legendary:
        msg.cost = action.legendary_cost
    return msg


def stat_block_pb(block: StatBlock) -> common_pb2.StatBlock:
    a = block.abilities
    msg = common_pb2.StatBlock(
        name=block.name,
        size=_SIZES.get(block.size.lower(), common_pb2.CREATURE_SIZE_UNSPECIFIED),
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
            strength=a.strength,
            dexterity=a.dexterity,
            constitution=a.constitution,
            intelligence=a.intelligence,
            wisdom=a.wisdom,
            charisma=a.charisma,
        ),
        damage_vulnerabilities=list(block.damage_vulnerabilities),
        damage_resistances=list(block.damage_resistances),
        damage_immunities=list(block.damage_immunities),
        condition_immunities=list(block.condition_immunities),
        passive_perception=block.senses.passive_perception,
        languages=[x.strip() for x in block.languages.split(", ") if x.strip() and x.strip() != "-"],
        challenge=common_pb2.ChallengeRating(
            value=block.challenge_rating, display=format_cr(block.challenge_rating), xp=block.xp
        ),
        proficiency_bonus=block.proficiency_bonus,
        legendary_actions_per_round=block.legendary_actions_per_round,
        source=block.source,
    )
    for ability, bonus in block.saving_throws.items():
        msg.saving_throws.add(ability=_ABILITIES[ability], bonus=bonus)
    for skill, bonus in block.skills.items():
        msg.skills.add(skill=skill, bonus=bonus)
    for sense in ("darkvision", "blindsight", "tremorsense", "truesight"):
        feet = getattr(block.senses, sense)
        if feet:
            msg.senses.add(name=sense, range_ft=feet)
    for trait in block.traits:
        msg.traits.add(name=trait.name, description=trait.description)
    msg.actions.extend(action_pb(x) for x in block.actions)
    msg.reactions.extend(action_pb(x) for x in block.reactions)
    msg.legendary_actions.extend(action_pb(x, legendary=True) for x in block.legendary_actions)
    return msg


def info_pb(info: Provenance) -> common_pb2.GenerationInfo:
    return common_pb2.GenerationInfo(
        backend=info.backend,
        model=info.model,
        seed=info.seed,
        procedural=info.procedural,
        prompt_tokens=info.prompt_tokens,
        completion_tokens=info.completion_tokens,
        latency_ms=info.latency_ms,
    )


def npc_pb(npc: Npc) -> npc_pb2.Npc:
    p = npc.prose
    msg = npc_pb2.Npc(
        id=npc.id,
        name=npc.name.full,
        archetype=npc.archetype,
        rank=npc.rank,
        title=npc.title,
        culture=npc.culture,
        faith=npc.faith,
        region=npc.region,
        description=p.description,
        personality_tags=list(npc.personality_tags),
        traits=list(p.traits),
        ideals=list(p.ideals),
        bonds=list(p.bonds),
        flaws=list(p.flaws),
        motivations=list(p.motivations),
        mannerisms=list(p.mannerisms),
        voice=p.voice,
        secrets=list(p.secrets),
        stat_block=stat_block_pb(npc.stat_block),
        target_challenge_rating=npc.target_cr,
        rated_challenge_rating=npc.rated_cr,
        rating_note=npc.rating_note,
    )
    for r in npc.relationships:
        msg.relationships.add(target=r.target, target_id=r.target_id, kind=r.kind, description=r.description)
    return msg
