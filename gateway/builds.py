"""Builder requests that a turn and a scene make alike, so both ask the builders the same way.

Only what is really the same lives here: the item request, the picture request and the audience a caller's role
sees. Encounter and NPC requests differ between a turn (planned archetype, foe cap) and a scene (location).
"""

from __future__ import annotations

from dungeonmaster.v1 import common_pb2, item_pb2, visual_pb2

#: Denoising steps and guidance of turn and scene pictures (the contract's defaults, sent explicitly).
IMAGE_STEPS = 20
IMAGE_GUIDANCE = 7.0
#: Longest picture prompt sent (the contract's bound).
IMAGE_PROMPT_CHARS = 2000


def audience_for(dm: bool) -> common_pb2.Audience.ValueType:
    """What a caller sees: the DM (or a service) sees DM-only material, a player does not."""
    return common_pb2.AUDIENCE_DM if dm else common_pb2.AUDIENCE_PLAYER


def rarity_for(party: common_pb2.Party, seed: int) -> item_pb2.Rarity.ValueType:
    """An item rarity fitting the party's average level (DMG treasure bands), picked by the seed."""
    levels = [m.level for m in party.members if m.level > 0]
    level = sum(levels) / len(levels) if levels else 1
    if level <= 4:
        band = (item_pb2.RARITY_COMMON, item_pb2.RARITY_UNCOMMON)
    elif level <= 10:
        band = (item_pb2.RARITY_UNCOMMON, item_pb2.RARITY_RARE)
    elif level <= 16:
        band = (item_pb2.RARITY_RARE, item_pb2.RARITY_VERY_RARE)
    else:
        band = (item_pb2.RARITY_VERY_RARE, item_pb2.RARITY_LEGENDARY)
    return band[seed % 2]


def item_request(world_id: str, party: common_pb2.Party, part_seed: int) -> item_pb2.GenerateItemRequest:
    """A magic item for the party, its rarity and the item itself picked by the part's seed."""
    return item_pb2.GenerateItemRequest(
        world_id=world_id, rarity=rarity_for(party, part_seed), seed=part_seed
    )


def image_request(
    kind: visual_pb2.ImageKind.ValueType, prompt: str, world_id: str, campaign_id: str, part_seed: int
) -> visual_pb2.GenerateImageRequest:
    """A picture of ``kind`` with the shared steps and guidance (the prompt cut to the contract's bound)."""
    return visual_pb2.GenerateImageRequest(
        spec=visual_pb2.ImageSpec(
            kind=kind,
            prompt=prompt[:IMAGE_PROMPT_CHARS],
            world_id=world_id,
            campaign_id=campaign_id,
            seed=part_seed,
            steps=IMAGE_STEPS,
            guidance_scale=IMAGE_GUIDANCE,
        )
    )
