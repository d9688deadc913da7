"""The gateway's readiness: SERVING only when every service a turn requires is, degraded for optional ones.

grpc-free: the probe (``gateway.probe``) asks each service's health and hands the answers here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.routes import GAME_MASTER_SERVICE, MODULES
from mesh.health import Readiness


@dataclass(frozen=True, slots=True)
class ServiceHealth:
    """One downstream service as the gateway sees it."""

    name: str
    address: str
    serving: bool
    required: bool
    reason: str = ""


def full_name(service: str) -> str:
    """``dungeonmaster.v1.MemoryService`` for "memory"."""
    module, name = MODULES[service]
    return str(module.DESCRIPTOR.services_by_name[name].full_name)


def summarize(statuses: list[ServiceHealth]) -> Readiness:
    """Ready iff every required service serves; optional ones that do not are listed as degraded.

    Per service name: GameMasterService follows the overall answer and each required module service its own
    health, so a client asking the gateway about MemoryService learns whether memory is reachable through it.
    """
    missing = [s for s in statuses if s.required and not s.serving]
    degraded = [s.name for s in statuses if not s.required and not s.serving]
    ready = not missing
    if missing:
        reason = "required services not serving: " + "; ".join(f"{s.name} ({s.reason})" for s in missing)
    elif degraded:
        reason = "serving; degraded: " + ", ".join(degraded)
    else:
        reason = "all services serving"
    services = {GAME_MASTER_SERVICE: ready}
    for s in statuses:
        if s.required:
            services[full_name(s.name)] = s.serving
    return Readiness(ready=ready, reason=reason, degraded=degraded, services=services)
