"""``CombatMemory`` over gRPC: characters and their states, and a fight's steps as campaign events.

An adapter: the character's sheet and latest state are read concurrently; a step is one EVENT_KIND_COMBAT
event recorded under ``combat:<id>:<step>`` (memory returns the first record for a repeated id); the steps of
a fight are the campaign's combat events whose metadata names it; a character's new state is appended with
UpdateCharacterState under a request id per step, so a repeated write is a no-op.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import grpc

from dungeonmaster.v1 import common_pb2, memory_pb2, memory_pb2_grpc
from encounter_svc.check_memory import _attempt
from encounter_svc.combats import REQUEST_PREFIX, StoredPC, StoredStep
from mesh.channels import Channels, memory_error
from mesh.errors import InvalidArgument, NotFound
from mesh.settings import Settings
from rules.combat.conditions import CONDITIONS
from rules.combat.state import Combatant
from rules.live_state import LiveState, new_state, resource_max
from rules.sheets import CharacterSheet

SERVICE = "dungeonmaster.v1.MemoryService"
IDEMPOTENT = tuple(
    f"{SERVICE}/{m}"
    for m in ("GetCharacter", "GetCharacterState", "RecordEvent", "ListEvents", "UpdateCharacterState")
)
PAGE = 1000


def live_from_pb(s: memory_pb2.CharacterState) -> LiveState:
    return LiveState(
        hp=s.hit_points,
        hit_dice=s.hit_dice_left,
        temp_hp=s.temporary_hit_points,
        slots_used=tuple(s.slots_used) if len(s.slots_used) == 9 else (0,) * 9,
        resources_used=dict(s.resources_used),
        conditions=tuple(s.conditions),
        exhaustion=s.exhaustion,
        xp=s.xp,
        death_successes=s.death_successes,
        death_failures=s.death_failures,
        stable=s.stable,
        dead=s.dead,
    )


class GrpcCombatMemory:
    def __init__(self, settings: Settings, channels: Channels | None = None) -> None:
        self.channels = channels or Channels(settings, idempotent=IDEMPOTENT)
        self._sheets: dict[str, CharacterSheet] = {}

    @property
    def stub(self) -> memory_pb2_grpc.MemoryServiceStub:
        return memory_pb2_grpc.MemoryServiceStub(self.channels.for_service("memory"))

    def _sheet(self, text: str) -> CharacterSheet:
        sheet = self._sheets.get(text)
        if sheet is None:
            if len(self._sheets) > 1024:
                self._sheets.clear()
            sheet = self._sheets[text] = CharacterSheet.from_json(json.loads(text))
        return sheet

    async def _state(self, campaign_id: str, character_id: str) -> memory_pb2.CharacterState | None:
        got = await _attempt(
            self.stub.GetCharacterState(
                memory_pb2.GetCharacterStateRequest(character_id=character_id, campaign_id=campaign_id)
            )
        )
        if isinstance(got, grpc.aio.AioRpcError):
            if got.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise memory_error(got, "character", character_id, "character_ids") from got
        state: memory_pb2.CharacterState = got.state
        return state

    async def character(self, campaign_id: str, character_id: str, field: str) -> StoredPC:
        got, state = await asyncio.gather(
            _attempt(
                self.stub.GetCharacter(
                    memory_pb2.GetCharacterRequest(
                        character_id=character_id,
                        campaign_id=campaign_id,
                        audience=common_pb2.AUDIENCE_PLAYER,
                    )
                )
            ),
            self._state(campaign_id, character_id),
        )
        if isinstance(got, grpc.aio.AioRpcError):
            if got.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                raise NotFound("character", f"{character_id} in campaign {campaign_id}", field=field)
            raise memory_error(got, "character", character_id, field) from got
        if not got.character.sheet_json:
            raise InvalidArgument(
                [(field, "this character has no sheet (build one with NpcService.BuildCharacter)")]
            )
        live = live_from_pb(state) if state is not None and state.max_hit_points else None
        return StoredPC(got.character.id, self._sheet(got.character.sheet_json), live)

    async def record_step(
        self,
        campaign_id: str,
        session_id: str,
        combat_id: str,
        step: int,
        content: str,
        payload: Mapping[str, Any],
    ) -> bool:
        request_id = f"{REQUEST_PREFIX}{combat_id}:{step}"
        event = memory_pb2.Event(
            campaign_id=campaign_id,
            session_id=session_id,
            kind=memory_pb2.EVENT_KIND_COMBAT,
            actor="combat",
            content=content,
            metadata_json=json.dumps(payload, sort_keys=True),
            audience=common_pb2.AUDIENCE_PLAYER,
            request_id=request_id,
        )
        try:
            reply = await self.stub.RecordEvent(
                memory_pb2.RecordEventRequest(campaign_id=campaign_id, event=event, request_id=request_id)
            )
        except grpc.aio.AioRpcError as exc:
            raise memory_error(exc, "campaign", campaign_id, "campaign_id") from exc
        return bool(reply.duplicate)

    async def steps(self, campaign_id: str, combat_id: str) -> list[StoredStep]:
        found: dict[int, StoredStep] = {}
        token = ""
        while True:
            try:
                reply = await self.stub.ListEvents(
                    memory_pb2.ListEventsRequest(
                        campaign_id=campaign_id,
                        kinds=[memory_pb2.EVENT_KIND_COMBAT],
                        page_size=PAGE,
                        page_token=token,
                        audience=common_pb2.AUDIENCE_PLAYER,
                    )
                )
            except grpc.aio.AioRpcError as exc:
                raise memory_error(exc, "campaign", campaign_id, "campaign_id") from exc
            for e in reply.events:
                try:
                    data = json.loads(e.metadata_json or "{}")
                except ValueError:
                    continue
                if isinstance(data, dict) and data.get("combat_id") == combat_id and "step" in data:
                    found[int(data["step"])] = StoredStep(int(data["step"]), data)
            token = reply.next_page_token
            if not token:
                break
        return [found[k] for k in sorted(found)]

    async def write_character(
        self, campaign_id: str, sheet: CharacterSheet, combatant: Combatant, xp_gain: int, request_id: str
    ) -> None:
        cid = combatant.id
        current = await self._state(campaign_id, cid)
        state = memory_pb2.CharacterState()
        if current is not None:
            state.CopyFrom(current)
        have = sheet.spellcasting.slots if sheet.spellcasting else (0,) * 9
        used = dict(state.resources_used)
        for name, left in combatant.resources:
            used[name] = max(0, resource_max(sheet, name) - left)
        state.ClearField("valid_from")
        state.ClearField("valid_to")
        state.character_id = cid
        state.hit_points = combatant.hp
        state.max_hit_points = sheet.hp_max
        state.temporary_hit_points = combatant.temp_hp
        del state.conditions[:]
        state.conditions.extend(c for c in combatant.conditions if c in CONDITIONS)
        del state.slots_used[:]
        state.slots_used.extend(max(0, have[i] - combatant.slots[i]) for i in range(9))
        state.resources_used.clear()
        state.resources_used.update(used)
        if current is None or not current.max_hit_points:  # a rested character's other numbers
            rested = new_state(sheet)
            state.hit_dice_left, state.xp = rested.hit_dice, rested.xp
        state.death_successes = combatant.death_successes
        state.death_failures = combatant.death_failures
        state.stable = combatant.stable
        state.dead = combatant.dead
        state.xp = state.xp + xp_gain
        try:
            await self.stub.UpdateCharacterState(
                memory_pb2.UpdateCharacterStateRequest(
                    character_id=cid, state=state, request_id=request_id, campaign_id=campaign_id
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise memory_error(exc, "character", cid, "character_ids") from exc

    async def close(self) -> None:
        await self.channels.close()
