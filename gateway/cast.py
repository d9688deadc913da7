"""Who acts in a turn and who the party is: stored player characters from memory, else the request's own words.

A turn names its acting character by memory id; the character (with its sheet) must belong to the turn's
campaign, so a key for one campaign cannot roll another campaign's hero. The party an encounter is sized for is
the request's list of levels when given (parties not stored), else the campaign's stored player characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from dungeonmaster.v1 import common_pb2, encounter_pb2, memory_pb2
from gateway.check_rules import PlannedCheck
from mesh.character_proto import ABILITY_ENUM, ABILITY_OF_ENUM, CHECK_KIND_ENUM, DEGREES, DIFFICULTIES

#: How many stored characters a party is read from (a table seats far fewer).
PARTY_PAGE = 100

#: Check difficulty name -> CheckDifficulty enum; degree enum -> name (inverses of mesh.character_proto's maps).
DIFFICULTY_ENUM = {name: value for value, name in DIFFICULTIES.items()}
DEGREE_NAMES = {value: name for name, value in DEGREES.items()}


class CharacterReads(Protocol):
    """The memory reads this module needs (``gateway.clients.ServiceClients`` implements them)."""

    async def get_character(self, request: memory_pb2.GetCharacterRequest) -> memory_pb2.Character: ...
    async def list_characters(
        self, request: memory_pb2.ListCharactersRequest
    ) -> memory_pb2.ListCharactersResponse: ...


@dataclass(frozen=True, slots=True)
class Cast:
    """The acting character of a turn (None when the request names none) and the actor's display name."""

    character: memory_pb2.Character | None
    actor: str

    @property
    def can_roll(self) -> bool:
        """True when the acting character has a sheet to roll checks with."""
        return self.character is not None and bool(self.character.sheet_json)


async def cast_of(services: CharacterReads, req: Any, audience: int) -> Cast:
    """The acting character (NOT_FOUND naming character_id when it is not this campaign's) and actor name."""
    if not req.character_id:
        return Cast(None, req.actor)
    character = await services.get_character(
        memory_pb2.GetCharacterRequest(
            character_id=req.character_id,
            campaign_id=req.campaign_id,
            audience=audience,  # type: ignore[arg-type]
        )
    )
    return Cast(character, req.actor or character.name)


async def party_of(services: CharacterReads, req: Any) -> common_pb2.Party:
    """The request's party when it gives one, else the campaign's stored player characters."""
    if req.party.members:
        party: common_pb2.Party = req.party
        return party
    reply = await services.list_characters(
        memory_pb2.ListCharactersRequest(campaign_id=req.campaign_id, is_npc=False, page_size=PARTY_PAGE)
    )
    return common_pb2.Party(
        members=[
            common_pb2.PartyMember(
                name=c.name, level=c.level, character_class=c.character_class, character_id=c.id
            )
            for c in reply.characters
            if 1 <= c.level <= 20
        ][:12]
    )


def check_request(req: Any, check: PlannedCheck, seed: int, reason: str) -> encounter_pb2.ResolveCheckRequest:
    """The ResolveCheck call for a turn's planned check, idempotent under the turn id."""
    request = encounter_pb2.ResolveCheckRequest(
        campaign_id=req.campaign_id,
        character_id=req.character_id,
        kind=CHECK_KIND_ENUM[check.kind],
        difficulty=DIFFICULTY_ENUM.get(check.difficulty, common_pb2.CHECK_DIFFICULTY_MEDIUM),
        check_id=f"{req.turn_id}/check",
        seed=seed,
        session_id=req.session_id,
        turn_id=req.turn_id,
        reason=reason[:1000],
    )
    if check.kind == "skill":
        request.skill = check.what
    else:
        request.ability = ABILITY_ENUM[check.what]
    return request


def check_name(result: common_pb2.CheckResult) -> str:
    """The skill index, or the ability's short name, that a result rolled."""
    return result.skill or ABILITY_OF_ENUM.get(result.ability, "")


def degree_name(result: common_pb2.CheckResult) -> str:
    """ "critical", "success", "failure" or "fumble"."""
    return DEGREE_NAMES.get(result.degree, "success" if result.success else "failure")
