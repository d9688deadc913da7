"""Fuzz inputs for any protobuf request, built from its DESCRIPTOR: hypothesis strategies and boundary mutations.

``message_strategy`` draws whole messages (every field optional, strings and numbers mixing plausible values, ids
that exist, and boundary values); ``mutations`` lists deterministic single-field attacks on a valid base message
(one past each maximum, NUL, invalid UTF-8 on the wire, integers at and past their type's limits, undefined enum
values, out-of-range timestamps, a thousand-and-one list items) plus undecodable byte strings. Both work for any
message type, so a new RPC is fuzzed as soon as its stubs exist.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import message as pb_message
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

from mesh.limits import Limits

F = FieldDescriptor

#: Strings that often break parsers and ids.
BOUNDARY_STRINGS: tuple[str, ...] = (
    "",
    " ",
    "0",
    "1",
    "-1",
    "18446744073709551616",
    "99999999999999999999999999999",
    "1/0",
    "[]",
    "{}",
    "' OR 1=1 --",
    "../../etc/passwd",
    "\u202e\u0000x",
    "ünïcødé ✓",
    "a" * 300,
)

_INT_RANGES: dict[int, tuple[int, int]] = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOATS = (F.TYPE_FLOAT, F.TYPE_DOUBLE)

#: Message types drawn as leaves below this depth (recursive types stay finite).
MAX_DEPTH = 3


def int_boundaries(kind: int) -> list[int]:
    """The interesting integers of a proto integer type: its extremes, zero, one and minus one."""
    low, high = _INT_RANGES[kind]
    return sorted({low, high, 0, 1, max(low, -1), high // 2 + 1})


def _string(pool: Sequence[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(list(pool) + list(BOUNDARY_STRINGS)),
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
        st.text(alphabet="0123456789", min_size=1, max_size=22),
    )


def _scalar(fd: Any, pools: Mapping[str, Sequence[str]]) -> st.SearchStrategy[Any]:
    kind = fd.type
    if kind == F.TYPE_STRING:
        return _string(pools.get(fd.name, ()))
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=24)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_ENUM:
        defined = [v.number for v in fd.enum_type.values]
        return st.sampled_from([*defined, max(defined) + 1, 99, -1])
    if kind in _FLOATS:
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0, 1.0, 20.0])
        )
    low, high = _INT_RANGES[kind]
    return st.one_of(st.sampled_from(int_boundaries(kind)), st.integers(max(low, -3), min(high, 30)))


def _field(fd: Any, depth: int, pools: Mapping[str, Sequence[str]]) -> st.SearchStrategy[Any]:
    if fd.type == F.TYPE_MESSAGE:
        if fd.message_type.GetOptions().map_entry:
            key = _scalar(fd.message_type.fields_by_name["key"], pools)
            value = _field(fd.message_type.fields_by_name["value"], depth + 1, pools)
            return st.dictionaries(key, value, max_size=2)
        single = message_strategy(fd.message_type, depth + 1, pools)
        return st.lists(single, max_size=2) if fd.is_repeated else single
    single = _scalar(fd, pools)
    return st.lists(single, max_size=3) if fd.is_repeated else single


def message_strategy(
    descriptor: Any, depth: int = 0, pools: Mapping[str, Sequence[str]] | None = None
) -> st.SearchStrategy[pb_message.Message]:
    """Messages of ``descriptor``'s type with any subset of fields set; ``pools``: field name -> good values."""
    pools = pools or {}
    cls = message_factory.GetMessageClass(descriptor)
    if depth >= MAX_DEPTH or descriptor.full_name.startswith("google.protobuf."):
        if descriptor.full_name == "google.protobuf.Timestamp":
            return st.builds(cls, seconds=st.sampled_from([0, 1_700_000_000, 10**12, -(10**12)]))
        return st.just(cls())
    optional = {fd.name: _field(fd, depth, pools) for fd in descriptor.fields}

    def build(values: dict[str, Any]) -> pb_message.Message:
        msg = cls()
        for name, value in values.items():
            fd = descriptor.fields_by_name[name]
            target: Any = getattr(msg, name) if fd.is_repeated or fd.type == F.TYPE_MESSAGE else None
            if fd.type == F.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry:
                value_fd = fd.message_type.fields_by_name["value"]
                for k, v in value.items():
                    if value_fd.type == F.TYPE_MESSAGE:
                        target[k].CopyFrom(v)
                    else:
                        target[k] = v
            elif fd.is_repeated:
                target.extend(value)
            elif fd.type == F.TYPE_MESSAGE:
                target.CopyFrom(value)
            else:
                setattr(msg, name, value)
        return msg

    return st.fixed_dictionaries({}, optional=optional).map(build)


# --- single-field boundary mutations ----------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _nest(path: Sequence[Any], payload: bytes) -> bytes:
    """``payload`` (the encoding of the innermost field) wrapped in its enclosing message fields."""
    for fd in reversed(path):
        payload = _length_delimited(fd.number, payload)
    return payload


def _set(msg: pb_message.Message, path: Sequence[Any], leaf: Any, value: Any) -> None:
    target = msg
    for fd in path:
        target = getattr(target, fd.name)
    if leaf.is_repeated:
        field = getattr(target, leaf.name)
        if leaf.type == F.TYPE_MESSAGE:
            for _ in range(value):
                field.add()
        else:
            field.extend([value[0]] * value[1])
    elif leaf.type == F.TYPE_MESSAGE:
        getattr(target, leaf.name).CopyFrom(value)
    else:
        setattr(target, leaf.name, value)


def _leaves(descriptor: Any, depth: int = 0, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    """(enclosing singular message fields, field) for every field down to ``depth`` 1."""
    out = []
    for fd in descriptor.fields:
        out.append((path, fd))
        nested = fd.message_type
        if (
            depth < 1
            and fd.type == F.TYPE_MESSAGE
            and not fd.is_repeated
            and not nested.full_name.startswith("google.protobuf.")
        ):
            out.extend(_leaves(nested, depth + 1, (*path, fd)))
    return out


def _repeat_value(fd: Any) -> Any:
    if fd.type == F.TYPE_STRING:
        return "x"
    if fd.type == F.TYPE_BYTES:
        return b"x"
    if fd.type == F.TYPE_BOOL:
        return True
    if fd.type in _FLOATS:
        return 1.0
    if fd.type == F.TYPE_ENUM:
        return fd.enum_type.values[-1].number
    return 1


def mutations(
    cls: type[pb_message.Message], base: pb_message.Message | None = None, limits: Limits | None = None
) -> list[tuple[str, bytes]]:
    """Labelled encoded requests, each ``base`` (default: empty) with one field pushed past a boundary."""
    limits = limits or Limits()
    base = base if base is not None else cls()
    base_bytes = base.SerializeToString()
    out: list[tuple[str, bytes]] = [
        ("garbage", b"\xff" * 8),
        ("truncated", b"\x0a\xff\xff"),
        ("bad wire type", b"\x0f\x00"),
        ("huge length", b"\x0a\xff\xff\xff\xff\x0f"),
    ]
    for path, fd in _leaves(cls.DESCRIPTOR):
        label = ".".join([*(p.name for p in path), fd.name])

        def variant(
            name: str, value: Any, *, path: tuple[Any, ...] = path, fd: Any = fd, label: str = label
        ) -> None:
            msg = cls()
            msg.CopyFrom(base)
            try:
                _set(msg, path, fd, value)
            except (ValueError, TypeError, OverflowError):
                return  # the Python runtime refuses to even build it: nothing to send
            out.append((f"{label}: {name}", msg.SerializeToString()))

        if fd.is_repeated and not (fd.type == F.TYPE_MESSAGE and fd.message_type.GetOptions().map_entry):
            count = limits.items_max(fd.full_name) + 1
            variant("too many items", count if fd.type == F.TYPE_MESSAGE else (_repeat_value(fd), count))
            continue
        if fd.is_repeated:
            continue
        kind = fd.type
        if kind == F.TYPE_STRING:
            variant("one past the maximum", "s" * (limits.string_max(fd.full_name, fd.name) + 1))
            variant("NUL", "a\x00b")
            variant("beyond 64 bits", "18446744073709551616")
            # Invalid UTF-8 cannot be built through the runtime: append the raw field to the base encoding.
            out.append(
                (
                    f"{label}: invalid UTF-8",
                    base_bytes + _nest(path, _length_delimited(fd.number, b"\xc3\x28")),
                )
            )
        elif kind == F.TYPE_ENUM:
            variant("undefined enum value", 9999)
            variant("negative enum value", -7)
        elif kind in _INT_RANGES:
            low, high = _INT_RANGES[kind]
            variant("maximum", high)
            variant("minimum", low)
            out.append(
                (
                    f"{label}: varint past 64 bits",
                    base_bytes + _nest(path, _varint(fd.number << 3) + b"\xff" * 10 + b"\x01"),
                )
            )
        elif kind in _FLOATS:
            variant("NaN", float("nan"))
            variant("infinity", float("-inf"))
        elif kind == F.TYPE_MESSAGE and fd.message_type.full_name == "google.protobuf.Timestamp":
            stamp: Any = message_factory.GetMessageClass(fd.message_type)
            variant("year 33658", stamp(seconds=10**12))
            variant("before year 1", stamp(seconds=-(10**12)))
            variant("nanos out of range", stamp(seconds=1, nanos=2_000_000_000))
        elif kind == F.TYPE_MESSAGE:
            out.append(
                (f"{label}: undecodable", base_bytes + _nest(path, _length_delimited(fd.number, b"\xff\xff")))
            )
    return out


def random_blobs(seed: int, count: int, max_size: int = 48) -> list[tuple[str, bytes]]:
    """Seeded random byte strings (most do not decode; some decode to odd field mixes)."""
    rng = random.Random(seed)
    return [(f"random bytes #{i}", rng.randbytes(rng.randint(1, max_size))) for i in range(count)]
