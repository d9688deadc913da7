"""Authorisation by resource: a caller touches only the campaigns its identity names.

Written once and applied where ids are resolved (``memory_svc.refs`` for campaigns, characters and sessions,
``memory_svc.assets`` for assets), so every RPC that takes such an id, and every service that asks memory on a
caller's behalf (visual's image prompts, npc's saves), obeys the same rule. A resource of another campaign is
NOT_FOUND, exactly like one that does not exist: an id is no oracle for what other campaigns hold.

The identity is the one ``mesh.identity`` verified (the gateway's ``x-dm-*`` headers as propagated, or a
service acting for itself over every campaign). ``ANONYMOUS`` only occurs with ``tls_mode=off``, the debugging
switch that trusts every caller. Domain code, no grpc: the identity comes from ``mesh.context``.
"""

from __future__ import annotations

from typing import Any

from mesh.context import ANONYMOUS, identity
from mesh.errors import NotFound

ALL = "*"


def campaign_visible(campaign_id: int | None) -> bool:
    """Whether the current caller may touch a resource of ``campaign_id`` (None = world-level, everyone's)."""
    if campaign_id is None:
        return True
    who = identity()
    if who is ANONYMOUS or ALL in who.campaigns:
        return True
    return str(campaign_id) in who.campaigns


def visible_campaign_ids() -> list[int] | None:
    """The campaign ids the caller may list, or None for every campaign."""
    who = identity()
    if who is ANONYMOUS or ALL in who.campaigns:
        return None
    return [int(c) for c in who.campaigns if c.isdigit()]


def check(campaign_id: int | None, resource: str, name: str, field: str = "") -> None:
    """NotFound for ``resource`` ``name`` unless the current caller may touch ``campaign_id``."""
    if not campaign_visible(campaign_id):
        raise NotFound(resource, name, field=field)


#: Keys of structured lore facts that only the DM may read (NPC templates' secrets, hidden motives).
SECRET_KEYS = frozenset({"secrets", "secret_motive", "dm_notes"})


def player_view(value: Any) -> Any:
    """Structured lore metadata as a player may see it: facts marked ``secret: true`` and the values of
    ``SECRET_KEYS`` removed at any depth (a player-audience document may still describe DM-only details)."""
    if isinstance(value, dict):
        return {k: player_view(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [player_view(v) for v in value if not (isinstance(v, dict) and v.get("secret") is True)]
    return value
