"""Running fights for campaigns: start, act, read and end, with every step recorded in campaign memory.

Memory is the source of truth. A step is recorded as one campaign event under the request id
``combat:<combat id>:<step>`` (so a retried step is never recorded twice) carrying the step's events in the
combat codec's canonical JSON; the live fight is ``fold(events)`` of those records, cached here and rebuilt from
memory on a cache miss, so a restarted service resumes at the same actor with the same state. A step is kept
in the cache only after memory has accepted it: a failed write records nothing and changes nothing. The
characters' live states (hit points, conditions, slots, death saves, XP) are written to their state history
after each step that changed them, idempotently by step, and re-written when a fight is rebuilt.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, Violations
from rules.combat import codec
from rules.combat.actions import Declared
from rules.combat.build import Source, from_sheet, from_statblock, monster_hp
from rules.combat.engine import end_combat, start_combat, take_action
from rules.combat.events import Event, fold
from rules.combat.state import Combatant, CombatState
from rules.live_state import LiveState
from rules.sheets import CharacterSheet
from rules.srd import Srd, load_srd

REQUEST_PREFIX = "combat:"
MAX_CHARACTERS = 8
MAX_MONSTERS = 20
MAX_COMBATS_CACHED = 256
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class StoredPC:
    id: str
    sheet: CharacterSheet
    live: LiveState | None


@dataclass(frozen=True, slots=True)
class StoredStep:
    step: int
    payload: Mapping[str, Any]


class CombatMemory(Protocol):
    """Campaign memory as fights use it; implementations raise ``mesh.errors`` errors."""

    async def character(self, campaign_id: str, character_id: str, field: str) -> StoredPC: ...

    async def record_step(
        self,
        campaign_id: str,
        session_id: str,
        combat_id: str,
        step: int,
        content: str,
        payload: Mapping[str, Any],
    ) -> bool:
        """Record one step under ``combat:<id>:<step>``; True when it had been recorded before."""
        ...

    async def steps(self, campaign_id: str, combat_id: str) -> list[StoredStep]:
        """Every recorded step of the fight, in step order."""
        ...

    async def write_character(
        self,
        campaign_id: str,
        sheet: CharacterSheet,
        combatant: Combatant,
        xp_gain: int,
        request_id: str,
    ) -> None:
        """Append the character's state after a step (hit points, conditions, slots, death saves, XP)."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Fight:
    campaign_id: str
    session_id: str
    state: CombatState
    sources: dict[str, Source]
    steps: dict[int, list[Event]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StartSpec:
    campaign_id: str
    character_ids: tuple[str, ...]
    monsters: tuple[str, ...]
    seed: int
    combat_id: str = ""
    session_id: str = ""
    rolled_hp: bool = False
    surprised: tuple[str, ...] = ()


#: The event's content is what memory embeds for retrieval: the gist of the step (the full record with every
#: roll is in its metadata). Long contents make indexing slow for no retrieval gain.
MAX_SUMMARY = 300


def _summary(events: Sequence[Event]) -> str:
    wanted = ("order", "action", "cast", "damage", "heal", "end", "flee", "death_save", "condition")
    text = " ".join(e.text for e in events if e.text and e.kind in wanted)
    return (text[: MAX_SUMMARY - 3] + "...") if len(text) > MAX_SUMMARY else text or "(the turn passes)"


class Combats:
    """The fights of every campaign this process serves."""

    def __init__(self, memory: CombatMemory, srd: Srd | None = None) -> None:
        self.memory = memory
        self._srd = srd
        self._fights: dict[tuple[str, str], _Fight] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @property
    def srd(self) -> Srd:
        if self._srd is None:
            self._srd = load_srd()
        return self._srd

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) > 4 * MAX_COMBATS_CACHED:
                self._locks = {k: v for k, v in self._locks.items() if v.locked()}
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _remember(self, key: tuple[str, str], fight: _Fight) -> None:
        if len(self._fights) >= MAX_COMBATS_CACHED and key not in self._fights:
            self._fights.pop(next(iter(self._fights)))
        self._fights[key] = fight

    # ---- start ---------------------------------------------------------------------------------------

    def _validate(self, spec: StartSpec) -> None:
        v = Violations()
        v.check(bool(spec.campaign_id.strip()), "campaign_id", "required")
        v.check(
            0 < len(spec.character_ids) <= MAX_CHARACTERS,
            "character_ids",
            f"give 1-{MAX_CHARACTERS} characters",
        )
        v.check(
            len(set(spec.character_ids)) == len(spec.character_ids),
            "character_ids",
            "a character fights once",
        )
        v.check(0 < len(spec.monsters) <= MAX_MONSTERS, "monsters", f"give 1-{MAX_MONSTERS} SRD monsters")
        for i, m in enumerate(spec.monsters):
            v.check(m in self.srd.monsters, f"monsters[{i}]", f"unknown SRD monster {m!r}")
        v.check(spec.seed >= 0, "seed", "must not be negative")
        v.check(
            not spec.combat_id or bool(_ID.match(spec.combat_id)),
            "combat_id",
            "1-64 letters, digits, '-' or '_'",
        )
        v.raise_if_any()

    async def start(self, spec: StartSpec) -> tuple[CombatState, list[Event]]:
        self._validate(spec)
        combat_id = spec.combat_id or uuid.uuid4().hex[:16]
        key = (spec.campaign_id, combat_id)
        async with self._lock(key):
            existing = await self._load(key, missing_ok=True)
            if existing is not None:  # started before: the same fight, not a second one
                return existing.state, existing.steps.get(0, [])
            sources: dict[str, Source] = {}
            people: list[Combatant] = []
            pcs = await asyncio.gather(
                *(
                    self.memory.character(spec.campaign_id, c, f"character_ids[{i}]")
                    for i, c in enumerate(spec.character_ids)
                )
            )
            for pc in pcs:
                if pc.live is not None and (pc.live.dead or pc.live.hp <= 0):
                    raise FailedPrecondition(
                        f"{pc.sheet.name} ({pc.id}) is at 0 hit points and cannot join a fight"
                    )
                sources[pc.id] = pc.sheet
                people.append(from_sheet(pc.id, pc.sheet, pc.live, items={"potion-of-healing": 1}))
            counts: dict[str, int] = {}
            hp_rng = random.Random(f"{spec.seed}:{combat_id}:hp") if spec.rolled_hp else None
            for index in spec.monsters:
                counts[index] = counts.get(index, 0) + 1
                block = self.srd.monster(index)
                cid = f"m:{index}-{counts[index]}"
                sources[cid] = block
                people.append(
                    from_statblock(cid, f"{block.name} {counts[index]}", block, monster_hp(block, hp_rng))
                )
            ids = {c.id for c in people}
            for i, s in enumerate(spec.surprised):
                if s not in ids:
                    raise InvalidArgument([(f"surprised[{i}]", f"{s!r} is not in the fight")])
            state, events = start_combat(combat_id, spec.seed, people, sources, spec.surprised)
            start = {
                "character_ids": list(spec.character_ids),
                "monsters": list(spec.monsters),
                "seed": spec.seed,
                "surprised": list(spec.surprised),
                "rolled_hp": spec.rolled_hp,
                "session_id": spec.session_id,
            }
            fight = _Fight(spec.campaign_id, spec.session_id, CombatState(combat_id, spec.seed), sources)
            await self._commit(key, fight, state, events, start=start)
            return state, events

    # ---- the log -------------------------------------------------------------------------------------

    async def _commit(
        self,
        key: tuple[str, str],
        fight: _Fight,
        state: CombatState,
        events: list[Event],
        start: Mapping[str, Any] | None = None,
        declared: Declared | None = None,
    ) -> None:
        """Record the step; only then does it become the fight's state. Then the characters' states."""
        step = events[0].step
        payload: dict[str, Any] = {"combat_id": key[1], "step": step, "events": codec.dumps(events).decode()}
        if start is not None:
            payload["start"] = dict(start)
        if declared is not None:
            payload["declared"] = declared.to_json()
        await self.memory.record_step(key[0], fight.session_id, key[1], step, _summary(events), payload)
        before = fight.state
        fight.state = state
        fight.steps[step] = events
        self._remember(key, fight)
        await self._write_characters(key, fight, before, state, step)

    async def _write_characters(
        self, key: tuple[str, str], fight: _Fight, before: CombatState, after: CombatState, step: int
    ) -> None:
        awards = dict(after.xp_awarded)
        gained = {c: x for c, x in awards.items() if c not in dict(before.xp_awarded)}
        writes = []
        for cid, c in after.combatants.items():
            if c.kind != "character":
                continue
            old = before.combatants.get(cid)
            if old is not None and _live_fields(old) == _live_fields(c) and cid not in gained:
                continue
            request_id = f"{REQUEST_PREFIX}{key[1]}:{step}:{cid}"
            sheet = fight.sources[cid]
            assert isinstance(sheet, CharacterSheet)
            writes.append(self.memory.write_character(key[0], sheet, c, gained.get(cid, 0), request_id))
        await asyncio.gather(*writes)

    async def _load(self, key: tuple[str, str], missing_ok: bool = False) -> _Fight | None:
        fight = self._fights.get(key)
        if fight is not None:
            return fight
        stored = await self.memory.steps(*key)
        if not stored:
            if missing_ok:
                return None
            raise NotFound("combat", key[1], field="combat_id")
        if [s.step for s in stored] != list(range(len(stored))) or "start" not in stored[0].payload:
            raise FailedPrecondition(
                f"combat {key[1]}'s log is incomplete (steps {[s.step for s in stored]})"
            )
        start = stored[0].payload["start"]
        sources: dict[str, Source] = {}
        for i, c in enumerate(start["character_ids"]):
            sources[c] = (await self.memory.character(key[0], c, f"character_ids[{i}]")).sheet
        counts: dict[str, int] = {}
        for index in start["monsters"]:
            counts[index] = counts.get(index, 0) + 1
            sources[f"m:{index}-{counts[index]}"] = self.srd.monster(index)
        fight = _Fight(
            key[0], str(start.get("session_id", "")), CombatState(key[1], int(start["seed"])), sources
        )
        state = fight.state
        for s in stored:
            events = codec.loads(str(s.payload["events"]))
            fight.steps[s.step] = events
            state = fold(state, events)
        before = fight.state
        fight.state = state
        self._remember(key, fight)
        # The last step's character writes may not have happened before a crash: they are idempotent.
        await self._write_characters(key, fight, before, state, stored[-1].step)
        return fight

    # ---- act, read, end ------------------------------------------------------------------------------

    async def act(
        self, campaign_id: str, combat_id: str, declared: Declared, step: int | None = None
    ) -> tuple[CombatState, list[Event], bool]:
        key = (campaign_id, combat_id)
        async with self._lock(key):
            fight = await self._load(key)
            assert fight is not None
            if step is not None and step < fight.state.step:
                return fight.state, fight.steps.get(step, []), True
            if step is not None and step > fight.state.step:
                raise InvalidArgument([("step", f"the fight is at step {fight.state.step}, not {step}")])
            state, events = take_action(fight.state, fight.sources, declared)
            await self._commit(key, fight, state, events, declared=declared)
            return state, events, False

    async def get(self, campaign_id: str, combat_id: str) -> tuple[CombatState, list[Event]]:
        key = (campaign_id, combat_id)
        async with self._lock(key):
            fight = await self._load(key)
            assert fight is not None
            return fight.state, [e for s in sorted(fight.steps) for e in fight.steps[s]]

    async def end(self, campaign_id: str, combat_id: str, reason: str) -> tuple[CombatState, list[Event]]:
        key = (campaign_id, combat_id)
        async with self._lock(key):
            fight = await self._load(key)
            assert fight is not None
            state, events = end_combat(fight.state, reason.strip()[:200] or "ended")
            await self._commit(key, fight, state, events)
            return state, events


def _live_fields(c: Combatant) -> tuple[object, ...]:
    return (
        c.hp,
        c.temp_hp,
        c.conditions,
        c.slots,
        c.resources,
        c.death_successes,
        c.death_failures,
        c.stable,
        c.dead,
    )


def payload_json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))
