"""API keys: who is calling, from the key in the call's metadata, checked against hashed keys from settings.

Keys are random 256-bit tokens, so a plain SHA-256 is a safe way to store them (there is nothing to brute-force)
and cheap enough to compute on every call. The key itself is never logged or sent downstream: services see only
the key id, role and campaigns as identity metadata.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from mesh.context import Identity
from mesh.errors import DomainError
from mesh.settings import Settings

log = logging.getLogger("gateway.keys")

ROLES: tuple[str, ...] = ("dm", "player", "service")
ALL_CAMPAIGNS = "*"
KEY_PREFIX = "dmk_"
AUTHORIZATION_KEY = "authorization"
API_KEY_KEY = "x-api-key"
DEV_KEY_ID = "dev"


class Unauthenticated(DomainError):
    """The call carries no valid API key (the transport answers UNAUTHENTICATED)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the key's id, role, campaigns (None = every campaign) and rate."""

    key_id: str
    role: str
    campaigns: frozenset[str] | None
    rate_per_s: float
    burst: int

    @property
    def all_campaigns(self) -> bool:
        """True for a key that may touch every campaign."""
        return self.campaigns is None

    def may_access(self, campaign_id: str) -> bool:
        """Whether this key may touch ``campaign_id``."""
        return self.campaigns is None or campaign_id in self.campaigns

    def identity(self) -> Identity:
        """The identity the gateway sends downstream (``x-dm-role`` / ``x-dm-campaigns`` / ``x-dm-key-id``)."""
        campaigns = (ALL_CAMPAIGNS,) if self.campaigns is None else tuple(sorted(self.campaigns))
        return Identity(role=self.role, campaigns=campaigns, key_id=self.key_id)


def hash_key(key: str) -> str:
    """The hex SHA-256 stored in settings for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (``dmk_`` + 43 URL-safe characters, 256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def presented_key(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The key a call presents: ``authorization: Bearer <key>`` or ``x-api-key: <key>``; "" when none."""
    for name, value in metadata or ():
        if name == AUTHORIZATION_KEY:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            scheme, _, token = text.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == API_KEY_KEY:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            if text.strip():
                return text.strip()
    return ""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost" (the only binds where the dev mode may open up)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KeyRing:
    """The keys the gateway accepts, indexed by hash."""

    def __init__(self, principals: dict[str, Principal], dev: Principal | None = None) -> None:
        self._by_hash = dict(principals)
        self._dev = dev

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """Keys from ``gateway_api_keys``; the dev principal only with no keys, ``gateway_dev_open`` and loopback."""
        principals: dict[str, Principal] = {}
        ids: set[str] = set()
        for spec in settings.gateway_api_keys:
            if spec.id in ids:
                raise ValueError(f"gateway_api_keys: duplicate key id {spec.id!r}")
            ids.add(spec.id)
            campaigns = None if ALL_CAMPAIGNS in spec.campaigns else frozenset(spec.campaigns)
            principals[spec.sha256] = Principal(
                key_id=spec.id,
                role=spec.role,
                campaigns=campaigns,
                rate_per_s=spec.rate_per_s or settings.gateway_rate_per_s,
                burst=spec.burst or settings.gateway_rate_burst,
            )
        dev: Principal | None = None
        if not principals and settings.gateway_dev_open and is_loopback(settings.host):
            dev = Principal(DEV_KEY_ID, "dm", None, settings.gateway_rate_per_s, settings.gateway_rate_burst)
            log.warning(
                "no API keys configured: dev mode, every caller on %s is a dm with every campaign",
                settings.host,
            )
        elif not principals:
            log.error(
                "no API keys configured and dev mode is off or not on loopback: every call will be refused"
            )
        return cls(principals, dev)

    @property
    def dev_mode(self) -> bool:
        """True when calls without a key are accepted (local development)."""
        return self._dev is not None

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        """The principal for a call's metadata; ``Unauthenticated`` without a valid key (and not in dev mode)."""
        if self._dev is not None:  # dev mode has no keys to check a presented one against
            return self._dev
        key = presented_key(metadata)
        if not key:
            raise Unauthenticated("missing API key: send 'authorization: Bearer <key>' or 'x-api-key'")
        principal = self._by_hash.get(hash_key(key))
        if principal is None:
            raise Unauthenticated("invalid API key")
        return principal
