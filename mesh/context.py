"""Per-call context (request id, deadline, caller identity) carried in contextvars.

The server interceptor sets these when a call starts; logs, metrics and outgoing channels read them, so a
handler never has to pass the request id or deadline around by hand. grpc-free on purpose.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

REQUEST_ID_KEY = "x-request-id"
ROLE_KEY = "x-dm-role"
CAMPAIGNS_KEY = "x-dm-campaigns"
KEY_ID_KEY = "x-dm-key-id"
IDENTITY_KEYS = (ROLE_KEY, CAMPAIGNS_KEY, KEY_ID_KEY)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the gateway says the caller is; empty when a call did not come through the gateway."""

    role: str = ""
    campaigns: tuple[str, ...] = ()
    key_id: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The identity as outgoing metadata, only the parts that are set."""
        out: list[tuple[str, str]] = []
        if self.role:
            out.append((ROLE_KEY, self.role))
        if self.campaigns:
            out.append((CAMPAIGNS_KEY, ",".join(self.campaigns)))
        if self.key_id:
            out.append((KEY_ID_KEY, self.key_id))
        return tuple(out)


ANONYMOUS = Identity()

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("dm_request_id", default="")
method_var: contextvars.ContextVar[str] = contextvars.ContextVar("dm_method", default="")
#: Absolute deadline of the incoming call on the ``time.monotonic()`` clock; None = the caller set none.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("dm_deadline", default=None)
identity_var: contextvars.ContextVar[Identity] = contextvars.ContextVar("dm_identity", default=ANONYMOUS)


_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


def new_request_id() -> str:
    """A fresh request id: 32 hex characters, a random per-process prefix plus a counter (unique, and cheap
    enough for every call)."""
    return f"{_PREFIX}{next(_COUNTER):016x}"


def safe_request_id(candidate: str) -> str:
    """``candidate`` if it is a sane id (1-128 of ``A-Za-z0-9._:-``), else a new one: ids from callers go
    into logs and headers verbatim, so nothing that needs escaping is accepted."""
    return candidate if candidate and _SAFE_ID.fullmatch(candidate) else new_request_id()


def request_id() -> str:
    """The current call's request id, or "" outside a call."""
    return request_id_var.get()


def method() -> str:
    """The current call's full method name (``/pkg.Service/Method``), or "" outside a call."""
    return method_var.get()


def identity() -> Identity:
    """The current caller's identity (``ANONYMOUS`` when none was sent)."""
    return identity_var.get()


def deadline() -> float | None:
    """The incoming call's absolute deadline on the monotonic clock, or None."""
    return deadline_var.get()


def time_remaining() -> float | None:
    """Seconds left before the incoming call's deadline (may be negative), or None without a deadline."""
    dl = deadline_var.get()
    return None if dl is None else dl - time.monotonic()


def parse_identity(metadata: Iterable[tuple[str, str | bytes]]) -> Identity:
    """Read the gateway's identity headers out of incoming metadata."""
    role = key_id = ""
    campaigns: tuple[str, ...] = ()
    for key, value in metadata:
        if key == ROLE_KEY:
            role = _text(value)
        elif key == CAMPAIGNS_KEY:
            campaigns = tuple(c.strip() for c in _text(value).split(",") if c.strip())
        elif key == KEY_ID_KEY:
            key_id = _text(value)
    if not (role or campaigns or key_id):
        return ANONYMOUS
    return Identity(role=role, campaigns=campaigns, key_id=key_id)


def bind(
    *,
    request_id: str | None = None,
    identity: Identity | None = None,
    timeout: float | None = None,
) -> None:
    """Set call context outside a server call (workers, CLI tools, tests) so outgoing calls carry it."""
    if request_id is not None:
        request_id_var.set(request_id)
    if identity is not None:
        identity_var.set(identity)
    if timeout is not None:
        deadline_var.set(time.monotonic() + timeout)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
