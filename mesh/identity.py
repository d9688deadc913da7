"""Who is calling a service: the peer's certificate decides whether its identity metadata is believed.

With mutual TLS every call arrives over a connection whose client certificate the mesh CA signed; its common
name (or a DNS SAN) names the calling service. A service accepts RPCs only from the services that legitimately
call it (``ALLOWED_CALLERS``: the gateway calls everyone; narrative, npc, visual and encounter, whose checks
read sheets and record rolls, call memory) and refuses anyone else with UNAUTHENTICATED, whatever metadata they
send. From an allowed caller the ``x-dm-*`` identity headers (the end user the gateway verified, propagated
by services) are honoured; an allowed caller sending none acts as itself: role ``service`` over every campaign.
Health and reflection need only a CA-signed certificate.

With ``tls_mode=off`` (the debugging switch) there is no peer to verify: identity metadata is taken on trust and
a call without it is an internal call, as in a mesh where only trusted processes reach the ports.
"""

from __future__ import annotations

from typing import Any

from mesh.context import ANONYMOUS, Identity, identity_var
from mesh.errors import Unauthenticated

#: service short name -> the services whose certificates may call its RPCs.
ALLOWED_CALLERS: dict[str, frozenset[str]] = {
    "memory": frozenset({"gateway", "narrative", "npc", "visual", "encounter"}),
    "narrative": frozenset({"gateway"}),
    "encounter": frozenset({"gateway"}),
    "npc": frozenset({"gateway"}),
    "item": frozenset({"gateway"}),
    "visual": frozenset({"gateway"}),
}
#: Callers of a service not in ``ALLOWED_CALLERS`` (test and tool services).
DEFAULT_CALLERS = frozenset({"gateway"})
#: Methods open to any CA-signed certificate.
OPEN_PREFIXES: tuple[str, ...] = ("/grpc.health.v1.", "/grpc.reflection.")


def _names(auth: dict[str, list[bytes]]) -> list[str]:
    """The common name, then the subject alternative names, of the peer certificate."""
    out: list[str] = []
    for key in ("x509_common_name", "x509_subject_alternative_name"):
        for value in auth.get(key) or ():
            out.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
    return out


def service_identity(peer: str) -> Identity:
    """The identity of a service calling on its own behalf (no end user behind the call)."""
    return Identity(role="service", campaigns=("*",), key_id=f"service:{peer}")


class CallerGuard:
    """Checks each call's peer certificate for one service; installed by ``mesh.server`` under mutual TLS."""

    def __init__(self, service: str, allowed: frozenset[str] | None = None) -> None:
        self.service = service
        self.allowed = allowed if allowed is not None else ALLOWED_CALLERS.get(service, DEFAULT_CALLERS)

    def caller(self, context: Any) -> str:
        """The allowed service named by the peer's certificate, or "" when none is."""
        for name in _names(context.auth_context()):
            if name in self.allowed:
                return name
        return ""

    def __call__(self, context: Any, method: str) -> None:
        """Raise Unauthenticated for a peer that may not call this method; set the caller's identity otherwise."""
        if method.startswith(OPEN_PREFIXES):
            return
        peer = self.caller(context)
        if not peer:
            raise Unauthenticated(
                f"the caller's certificate does not name a service allowed to call {self.service}"
            )
        if identity_var.get() is ANONYMOUS:
            identity_var.set(service_identity(peer))
