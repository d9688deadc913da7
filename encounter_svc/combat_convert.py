"""Combat values <-> contract messages (pure mapping, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable

from dungeonmaster.v1 import encounter_pb2
from rules.combat.actions import Declared
from rules.combat.events import Event
from rules.combat.state import CombatState


def event_pb(e: Event) -> encounter_pb2.CombatEvent:
    return encounter_pb2.CombatEvent(
        step=e.step,
        seq=e.seq,
        kind=e.kind,
        actor=e.actor,
        target=e.target,
        text=e.text,
        amount=e.amount,
        rolls=[
            encounter_pb2.CombatRoll(
                kind=r.kind,
                dice=list(r.dice),
                modifier=r.modifier,
                total=r.total,
                notation=r.notation,
                advantage=r.advantage,
                against=r.against,
                success=bool(r.success),
                critical=r.critical,
            )
            for r in e.rolls
        ],
    )


def events_pb(events: Iterable[Event]) -> list[encounter_pb2.CombatEvent]:
    """The events a client sees: bookkeeping events without text (turn pointers, step marks) are left out."""
    return [event_pb(e) for e in events if e.text]


def state_pb(state: CombatState, campaign_id: str) -> encounter_pb2.CombatState:
    return encounter_pb2.CombatState(
        combat_id=state.combat_id,
        campaign_id=campaign_id,
        round=state.round,
        current=state.current.id if state.order else "",
        order=list(state.order),
        status=state.status,
        step=state.step,
        seed=state.seed,
        xp_awarded=[encounter_pb2.XpAward(character_id=c, xp=x) for c, x in state.xp_awarded],
        combatants=[
            encounter_pb2.Combatant(
                id=c.id,
                name=c.name,
                side=c.side,
                kind=c.kind,
                hit_points=c.hp,
                max_hit_points=c.hp_max,
                temporary_hit_points=c.temp_hp,
                armor_class=c.ac,
                position=c.position,
                initiative=c.initiative,
                conditions=list(c.conditions),
                dead=c.dead,
                fled=c.fled,
                stable=c.stable,
                death_successes=c.death_successes,
                death_failures=c.death_failures,
                slots=list(c.slots),
                concentration=c.concentration,
                source=c.source,
            )
            for c in (state.combatants[i] for i in state.order)
        ],
    )


def declared_from_pb(actor: str, a: encounter_pb2.CombatAction) -> Declared:
    return Declared(
        actor=actor,
        kind=a.kind.strip(),
        targets=tuple(t.strip() for t in a.targets),
        weapon=a.weapon,
        spell=a.spell,
        slot_level=a.slot_level,
        item=a.item.strip(),
        position=a.position.strip(),
        end_turn=a.end_turn,
    )
