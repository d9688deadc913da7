"""Events <-> JSON, byte-stable: sorted keys, no spaces, ASCII, tuples as lists. Encoding the decoded
events gives the same bytes, so a stored log can be compared byte for byte with a replay."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from mesh.errors import InvalidArgument
from rules.combat.events import Event, Patch, Roll
from rules.combat.state import Combatant

_COMBATANT_FIELDS = {f.name for f in fields(Combatant)}


def _value_out(value: Any) -> Any:
    if isinstance(value, Combatant):
        return {"combatant": _value_out(asdict(value))}
    if isinstance(value, dict):
        return {k: _value_out(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_value_out(v) for v in value]
    return value


def _value_in(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"combatant"}:
            data = {k: _value_in(v) for k, v in value["combatant"].items()}
            return Combatant(**{k: v for k, v in data.items() if k in _COMBATANT_FIELDS})
        return {k: _value_in(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_value_in(v) for v in value)
    return value


def event_to_json(event: Event) -> dict[str, Any]:
    out: dict[str, Any] = _value_out(asdict(event))
    out["patches"] = [[p.target, p.field, _value_out(p.value)] for p in event.patches]
    return out


def event_from_json(data: dict[str, Any]) -> Event:
    try:
        return Event(
            step=int(data["step"]),
            seq=int(data["seq"]),
            kind=str(data["kind"]),
            actor=str(data["actor"]),
            target=str(data["target"]),
            text=str(data["text"]),
            rolls=tuple(Roll(**{k: _value_in(v) for k, v in r.items()}) for r in data.get("rolls", [])),
            patches=tuple(Patch(str(t), str(f), _value_in(v)) for t, f, v in data.get("patches", [])),
            amount=int(data.get("amount", 0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgument([("events", f"not a combat event: {exc}")]) from None


def dumps(events: Sequence[Event]) -> bytes:
    """The canonical bytes of a list of events."""
    return json.dumps(
        [event_to_json(e) for e in events], sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode()


def loads(raw: bytes | str) -> list[Event]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument([("events", f"not JSON: {exc}")]) from None
    if not isinstance(data, list):
        raise InvalidArgument([("events", "expected a JSON list of events")])
    return [event_from_json(d) for d in data]
