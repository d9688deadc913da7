"""Every request a mesh server receives is decoded and checked here, once, before any servicer sees it.

``RequestGuard.guard`` replaces a method handler's request deserializer. Bytes that do not decode (garbage,
invalid UTF-8 in a string), a message over the size limit, and a message whose fields break the generic rules
below do not raise inside grpc (which would relay the exception text as UNKNOWN): the deserializer returns a
``Rejected`` holding the domain error, and the server layer (``mesh.interceptors``) raises it inside the call so
it becomes a clean INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for size) with a BadRequest naming the field.

The generic rules, driven by each message's descriptor: strings, bytes and repeated fields within the maxima of
``mesh.limits``; no NUL character in a string; enum values defined by the enum; Timestamps and Durations in the
range protobuf defines. Rules that need meaning (ids, page tokens, dice) stay with the domain code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
from google.protobuf import message as pb_message
from google.protobuf.descriptor import FieldDescriptor

from mesh.errors import DomainError, InvalidArgument, ResourceExhausted
from mesh.limits import MAX_VIOLATIONS, Limits, quote

__all__ = ["Rejected", "RequestGuard", "check_message", "checked_stream", "decode", "reject_if"]

_STRING = FieldDescriptor.TYPE_STRING
_BYTES = FieldDescriptor.TYPE_BYTES
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_GROUP = FieldDescriptor.TYPE_GROUP
_ENUM = FieldDescriptor.TYPE_ENUM

#: google.protobuf.Timestamp bounds: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z.
TIMESTAMP_MIN_S = -62_135_596_800
TIMESTAMP_MAX_S = 253_402_300_799
#: google.protobuf.Duration bounds: +-10,000 years.
DURATION_MAX_S = 315_576_000_000


class Rejected:
    """What a guarded deserializer returns for a request that must not reach the servicer."""

    __slots__ = ("error",)

    def __init__(self, error: DomainError) -> None:
        self.error = error


def reject_if(request: Any) -> Any:
    """``request`` unchanged, or raise the error a ``Rejected`` carries."""
    if request.__class__ is Rejected:
        raise request.error
    return request


async def checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream whose first rejected message raises its error (inside the servicer's iteration)."""
    async for request in requests:
        if request.__class__ is Rejected:
            raise request.error
        yield request


def checked_iterator(requests: Iterator[Any]) -> Iterator[Any]:
    """``checked_stream`` for synchronous servicers."""
    for request in requests:
        if request.__class__ is Rejected:
            raise request.error
        yield request


def decode(message_type: type[pb_message.Message], raw: bytes, limits: Limits | None = None) -> Any:
    """Decode and check ``raw`` as ``message_type``; raises InvalidArgument instead of DecodeError."""
    try:
        message = message_type.FromString(raw)
    except Exception:  # DecodeError, RecursionError in nesting, ...: never relay parser internals
        raise InvalidArgument([undecodable(message_type.DESCRIPTOR, raw)]) from None
    if limits is not None:
        check_message(message, limits)
    return message


def check_message(message: pb_message.Message, limits: Limits) -> None:
    """Raise InvalidArgument naming every field (up to ``MAX_VIOLATIONS``) that breaks the generic rules."""
    found: list[tuple[str, str]] = []
    _walk(message, "", limits, found)
    if found:
        if len(found) > MAX_VIOLATIONS:
            extra = len(found) - MAX_VIOLATIONS
            found = [*found[:MAX_VIOLATIONS], (found[MAX_VIOLATIONS][0], f"and {extra} more violations")]
        raise InvalidArgument(found)


def _walk(message: pb_message.Message, prefix: str, limits: Limits, found: list[tuple[str, str]]) -> None:
    if len(found) > MAX_VIOLATIONS:
        return
    descriptor: Any = message.DESCRIPTOR
    special = _SPECIAL.get(descriptor.full_name)
    if special is not None:
        special(message, prefix.rstrip("."), found)
        return
    for fd, value in message.ListFields():
        path = prefix + fd.name
        if fd.is_repeated:
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                _walk_map(fd, value, path, limits, found)
                continue
            bound = limits.items_max(fd.full_name)
            if len(value) > bound:
                found.append((path, f"at most {bound} items, got {len(value)}"))
                continue
            for i, item in enumerate(value):
                _check_value(fd, item, f"{path}[{i}]", limits, found)
                if len(found) > MAX_VIOLATIONS:
                    return
        else:
            _check_value(fd, value, path, limits, found)


def _walk_map(
    fd: FieldDescriptor, value: Any, path: str, limits: Limits, found: list[tuple[str, str]]
) -> None:
    bound = limits.items_max(fd.full_name)
    if len(value) > bound:
        found.append((path, f"at most {bound} entries, got {len(value)}"))
        return
    entry: Any = fd.message_type
    key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for key, item in value.items():
        label = f"{path}[{quote(key) if isinstance(key, str) else key}]"
        _check_value(key_fd, key, label, limits, found)
        _check_value(value_fd, item, label, limits, found)


def _check_value(
    fd: FieldDescriptor, value: Any, path: str, limits: Limits, found: list[tuple[str, str]]
) -> None:
    kind = fd.type
    if kind == _STRING:
        bound = limits.string_max(fd.full_name, fd.name)
        if len(value) > bound:
            found.append((path, f"at most {bound} characters, got {len(value)}"))
        elif "\x00" in value:
            found.append((path, "must not contain NUL characters"))
    elif kind == _BYTES:
        bound = limits.bytes_max(fd.full_name)
        if len(value) > bound:
            found.append((path, f"at most {bound} bytes, got {len(value)}"))
    elif kind == _ENUM:
        enum: Any = fd.enum_type
        if enum.values_by_number.get(value) is None:
            valid = ", ".join(v.name for v in enum.values if v.number != 0)
            found.append((path, f"{value} is not a defined {enum.name} value (valid: {valid})"))
    elif kind == _MESSAGE or kind == _GROUP:
        _walk(value, path + ".", limits, found)


def _timestamp(message: Any, path: str, found: list[tuple[str, str]]) -> None:
    if not TIMESTAMP_MIN_S <= message.seconds <= TIMESTAMP_MAX_S:
        found.append((path or "timestamp", "must be between 0001-01-01 and 9999-12-31"))
    elif not 0 <= message.nanos <= 999_999_999:
        found.append((path + ".nanos" if path else "nanos", "must be between 0 and 999,999,999"))


def _duration(message: Any, path: str, found: list[tuple[str, str]]) -> None:
    seconds, nanos = message.seconds, message.nanos
    if not -DURATION_MAX_S <= seconds <= DURATION_MAX_S:
        found.append((path or "duration", "must be within +-10,000 years"))
    elif not -999_999_999 <= nanos <= 999_999_999 or (seconds and nanos and (seconds > 0) != (nanos > 0)):
        found.append(
            (path + ".nanos" if path else "nanos", "must be within one second, with the sign of seconds")
        )


#: Well-known messages with range rules of their own.
_SPECIAL: dict[str, Callable[[Any, str, list[tuple[str, str]]], None]] = {
    "google.protobuf.Timestamp": _timestamp,
    "google.protobuf.Duration": _duration,
}


def _descriptor_of(deserializer: Callable[[bytes], Any]) -> Any:
    """The message descriptor behind a generated ``FromString`` deserializer, when it has one."""
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return descriptor if hasattr(descriptor, "fields_by_number") else None


def undecodable(descriptor: Any, raw: bytes) -> tuple[str, str]:
    """The violation for bytes that do not decode: the first field that fails, else the whole request."""
    where = locate_decode_error(descriptor, raw) if descriptor is not None else None
    if where:
        return where, "is not validly encoded (a string must be UTF-8, a message well-formed)"
    return "request", "is not a valid encoded message of this method's request type"


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise ValueError("truncated varint")
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def locate_decode_error(descriptor: Any, raw: bytes, prefix: str = "", depth: int = 0) -> str | None:
    """Walk the wire format of ``raw`` to name the first field that does not decode (None if none is found).

    Only used on the error path, to give the caller a field to fix; a structural error (truncated bytes, a bad
    tag) is reported on the enclosing message (``prefix`` or "request").
    """
    here = prefix.rstrip(".") or "request"
    if depth > 32:
        return here
    pos = 0
    try:
        while pos < len(raw):
            tag, pos = _varint(raw, pos)
            number, wire = tag >> 3, tag & 7
            fd = descriptor.fields_by_number.get(number)
            name = prefix + (fd.name if fd is not None else str(number))
            if wire == 0:
                _, pos = _varint(raw, pos)
            elif wire == 1:
                pos += 8
            elif wire == 5:
                pos += 4
            elif wire == 2:
                size, pos = _varint(raw, pos)
                chunk = raw[pos : pos + size]
                if len(chunk) != size:
                    return name
                pos += size
                if fd is None:
                    continue
                if fd.type == _STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return name
                elif fd.type == _MESSAGE and fd.message_type is not None:
                    inner = locate_decode_error(fd.message_type, chunk, name + ".", depth + 1)
                    if inner is not None:
                        return inner
            else:
                return name
            if pos > len(raw):
                return name
    except ValueError:
        return here
    return None


class RequestGuard:
    """Installs the decode-and-check step in every method handler of a server (see the module docstring)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def deserializer(self, inner: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
        """A request deserializer that never raises: the decoded, checked message or a ``Rejected``."""
        limits = self.limits
        max_bytes = limits.max_request_bytes

        def too_large(size: int) -> Rejected:
            return Rejected(
                ResourceExhausted(f"request of {size} bytes exceeds this server's limit of {max_bytes} bytes")
            )

        if inner is None:  # raw bytes (a forwarding proxy): only the size applies

            def raw(data: bytes) -> Any:
                return too_large(len(data)) if len(data) > max_bytes else data

            return raw

        descriptor = _descriptor_of(inner)

        def guarded(data: bytes) -> Any:
            if len(data) > max_bytes:
                return too_large(len(data))
            try:
                message = inner(data)
            except Exception:  # never relay parser internals to the caller
                return Rejected(InvalidArgument([undecodable(descriptor, data)]))
            if isinstance(message, pb_message.Message):
                try:
                    check_message(message, limits)
                except InvalidArgument as exc:
                    return Rejected(exc)
            return message

        return guarded

    def guard(self, handler: Any) -> Any:
        """``handler`` (a grpc.RpcMethodHandler) with the guarded request deserializer."""
        deserializer = self.deserializer(handler.request_deserializer)
        codecs = {"request_deserializer": deserializer, "response_serializer": handler.response_serializer}
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(handler.unary_unary, **codecs)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(handler.unary_stream, **codecs)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(handler.stream_unary, **codecs)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(handler.stream_stream, **codecs)
        return handler
