"""The gate every call through the gateway passes: key, rate, size, access policy, owner lookup, identity.

Used by the byte forwarder and by the composite RPCs alike, so both enforce exactly the same rules. Identity
headers arriving from outside are dropped here and replaced by the ones the verified key earns.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import message as pb_message

from gateway.access import OwnerLookup, Policy, authorize, authorize_owner
from gateway.authfail import AuthFailures
from gateway.keys import API_KEY_KEY, AUTHORIZATION_KEY, KeyRing, Principal, Unauthenticated
from gateway.ratelimit import RateLimiter
from mesh.context import REQUEST_ID_KEY, deadline_var, identity_var, request_id_var
from mesh.errors import ResourceExhausted
from mesh.settings import Settings
from mesh.validation import decode

#: Incoming metadata never passed on: credentials, identity (the gateway sets it), and transport headers.
DROPPED_KEYS = frozenset({AUTHORIZATION_KEY, API_KEY_KEY, REQUEST_ID_KEY, "user-agent", "te", "content-type"})
DROPPED_PREFIXES = ("x-dm-", "grpc-", ":")

#: Resolves the campaign that owns a character or session: (kind, id, principal) -> campaign id.
OwnerResolver = Callable[[str, str, Principal], Awaitable[str]]

Metadata = Sequence[tuple[str, str | bytes]]


class Gate:
    """Authentication, rate limits, size limits, access policy and outgoing metadata for one gateway."""

    def __init__(
        self, settings: Settings, keys: KeyRing | None = None, limiter: RateLimiter | None = None
    ) -> None:
        self.settings = settings
        self.keys = keys or KeyRing.from_settings(settings)
        self.limiter = limiter or RateLimiter()
        self.auth_failures = AuthFailures(
            settings.gateway_auth_failure_rate_per_s, settings.gateway_auth_failure_burst
        )
        self.owner_resolver: OwnerResolver | None = None
        self._owners: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._identity_md: dict[str, tuple[tuple[str, str], ...]] = {}
        self._defaults: dict[str, float] = {}
        self._max_deadline = settings.gateway_max_deadline_s

    # --- admission -----------------------------------------------------------------------------------------

    def authenticate(self, metadata: Metadata | None, peer: str = "") -> Principal:
        """The caller's principal and one token of its rate; raises Unauthenticated / ResourceExhausted.

        With the caller's ``peer`` address, failed attempts are rate limited per address (``gateway.authfail``).
        """
        if not peer:
            principal = self.keys.authenticate(metadata)
        else:
            self.auth_failures.admit(peer)
            try:
                principal = self.keys.authenticate(metadata)
            except Unauthenticated:
                self.auth_failures.failed(peer)
                raise
        self.limiter.take(principal.key_id, principal.rate_per_s, principal.burst)
        return principal

    def check_size(self, size: int) -> None:
        """Refuse a request message larger than ``gateway_max_request_bytes``."""
        limit = self.settings.gateway_max_request_bytes
        if size > limit:
            raise ResourceExhausted(f"request of {size} bytes exceeds the gateway's limit of {limit} bytes")

    def check(
        self,
        policy: Policy,
        principal: Principal,
        method: str,
        request: bytes | pb_message.Message,
        request_type: type[pb_message.Message] | None = None,
    ) -> OwnerLookup | None:
        """Apply ``policy`` (decoding a copy of raw request bytes only when it needs a field).

        Returns the owner lookup still to be made (``check_owner``) when the answer depends on which campaign
        owns a character or session; raises PermissionDenied otherwise.
        """
        message: pb_message.Message | None = None
        if policy.needs_decode(principal):
            if isinstance(request, bytes):
                assert request_type is not None
                message = decode(request_type, request)
            else:
                message = request
        return authorize(policy, principal, message, method)

    async def check_owner(self, lookup: OwnerLookup, principal: Principal) -> None:
        """Finish a ``check``: the owning campaign must be one of the key's."""
        campaign_id = await self._owner(lookup.kind, lookup.id, principal)
        authorize_owner(principal, lookup.kind, lookup.id, campaign_id)

    async def authorize(
        self,
        policy: Policy,
        principal: Principal,
        method: str,
        request: bytes | pb_message.Message,
        request_type: type[pb_message.Message] | None = None,
    ) -> None:
        """``check`` and, when needed, ``check_owner``."""
        lookup = self.check(policy, principal, method, request, request_type)
        if lookup is not None:
            await self.check_owner(lookup, principal)

    async def _owner(self, kind: str, owned_id: str, principal: Principal) -> str:
        """The campaign owning a character or session (cached: ownership never changes)."""
        key = (kind, owned_id)
        hit = self._owners.get(key)
        if hit is not None:
            self._owners.move_to_end(key)
            return hit
        if self.owner_resolver is None:
            raise RuntimeError("gate has no owner resolver")
        campaign_id = await self.owner_resolver(kind, owned_id, principal)
        self._owners[key] = campaign_id
        if len(self._owners) > 10_000:
            self._owners.popitem(last=False)
        return campaign_id

    # --- what goes downstream ------------------------------------------------------------------------------

    def identity_metadata(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        """``x-dm-role`` / ``x-dm-campaigns`` / ``x-dm-key-id`` for a principal (cached per key)."""
        md = self._identity_md.get(principal.key_id)
        if md is None:
            md = self._identity_md[principal.key_id] = principal.identity().metadata()
        return md

    def outgoing_metadata(
        self, incoming: Metadata | None, principal: Principal
    ) -> tuple[tuple[str, Any], ...]:
        """The caller's metadata minus credentials, identity and transport headers, plus request id and identity."""
        out: list[tuple[str, Any]] = [(REQUEST_ID_KEY, request_id_var.get())]
        for key, value in incoming or ():
            if key in DROPPED_KEYS or key.startswith(DROPPED_PREFIXES):
                continue
            out.append((key, value))
        out.extend(self.identity_metadata(principal))
        return tuple(out)

    def timeout(self, method: str, remaining: float | None) -> float:
        """Timeout of the downstream call: the caller's remaining time (capped), else the method's default."""
        if remaining is not None:
            return max(0.0, min(remaining, self._max_deadline))
        default = self._defaults.get(method)
        if default is None:
            deadlines = self.settings.gateway_method_deadlines
            service, _, name = method.lstrip("/").partition("/")
            short = service.rsplit(".", 1)[-1]
            default = deadlines.get(
                f"{short}/{name}", deadlines.get(name, self.settings.gateway_default_deadline_s)
            )
            self._defaults[method] = default
        return default

    def bind(self, principal: Principal, timeout: float) -> None:
        """Make the verified identity and the effective deadline the call's context (for composite calls)."""
        identity_var.set(principal.identity())
        deadline_var.set(time.monotonic() + timeout)


async def abort_unauthenticated(context: grpc.aio.ServicerContext, exc: Unauthenticated) -> None:
    """End the call with UNAUTHENTICATED (a status mesh.status has no domain error for)."""
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
