"""Who may call what: a policy per RPC (roles, where the campaign id is, who may ask for DM-only content).

Every forwarded RPC and every composite one has an explicit entry (a test checks it), so a new RPC is a
conscious decision rather than silently open. Checks read only the fields they need; a caller whose key covers
every campaign and who is not a player never needs its request decoded at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from google.protobuf import message as pb_message

from dungeonmaster.v1 import common_pb2
from gateway.keys import Principal
from mesh.errors import NotFound, PermissionDenied

ANY_ROLE = frozenset({"dm", "player", "service"})
STAFF = frozenset({"dm", "service"})
SERVICE_ONLY = frozenset({"service"})

CampaignRule = Literal["none", "optional", "required", "all"]
Owner = Literal["character", "session"]


@dataclass(frozen=True, slots=True)
class Policy:
    """Access rule of one RPC.

    ``campaign``: "none" (no campaign involved), "optional" (checked when the request names one), "required" (a
    campaign-scoped key must name one of its campaigns), "all" (world-level or cross-campaign: only keys covering
    every campaign). ``owner``: the request names a character or session by id; its campaign is looked up and
    checked for campaign-scoped keys. ``audience_field``: players may not ask for AUDIENCE_DM there.
    ``service_field``: a boolean only service keys may set (e.g. "the input was already screened").
    """

    roles: frozenset[str] = ANY_ROLE
    campaign: CampaignRule = "none"
    campaign_field: str = "campaign_id"
    owner: Owner | None = None
    owner_field: str = ""
    audience_field: str = ""
    service_field: str = ""
    public: bool = False

    def needs_decode(self, principal: Principal) -> bool:
        """Whether checking this call needs the request's fields (otherwise the bytes are never parsed)."""
        if principal.role == "player" and self.audience_field:
            return True
        if principal.role != "service" and self.service_field:
            return True
        if principal.all_campaigns:
            return False
        return self.campaign in ("optional", "required") or self.owner is not None


READ = Policy()
STAFF_ONLY = Policy(roles=STAFF)
ADMIN = Policy(roles=STAFF, campaign="all")


def _camp(rule: CampaignRule, roles: frozenset[str] = ANY_ROLE, **kw: Any) -> Policy:
    return Policy(roles=roles, campaign=rule, **kw)


def _char(roles: frozenset[str] = ANY_ROLE, **kw: Any) -> Policy:
    return Policy(roles=roles, owner="character", owner_field="character_id", **kw)


def _sess(roles: frozenset[str] = ANY_ROLE) -> Policy:
    return Policy(roles=roles, owner="session", owner_field="session_id")


#: Policy by "Service/Method" (service without package).
POLICIES: dict[str, Policy] = {
    # memory
    "MemoryService/CreateWorld": ADMIN,
    "MemoryService/GetWorld": READ,
    "MemoryService/ListWorlds": READ,
    "MemoryService/CreateCampaign": ADMIN,
    "MemoryService/GetCampaign": _camp("required"),
    "MemoryService/ListCampaigns": Policy(campaign="all"),
    "MemoryService/CreateSession": _camp("required", STAFF),
    "MemoryService/GetSession": _sess(),
    "MemoryService/ListSessions": _camp("required"),
    "MemoryService/UpdateSession": _sess(STAFF),
    "MemoryService/CreateCharacter": _camp("required", STAFF),
    "MemoryService/GetCharacter": _char(audience_field="audience"),
    "MemoryService/ListCharacters": _camp("required", audience_field="audience"),
    "MemoryService/UpdateCharacterState": _char(STAFF),
    "MemoryService/GetCharacterState": _char(),
    "MemoryService/CreateLocation": ADMIN,
    "MemoryService/ListLocations": READ,
    "MemoryService/CreateLoreEntry": ADMIN,
    "MemoryService/GetLoreEntry": Policy(audience_field="audience"),
    "MemoryService/ListLoreEntries": Policy(audience_field="audience"),
    "MemoryService/UpdateLoreEntry": ADMIN,
    "MemoryService/DeleteLoreEntry": ADMIN,
    "MemoryService/IngestLore": ADMIN,
    "MemoryService/RecordEvent": _camp("required", STAFF),
    "MemoryService/ListEvents": _camp("required", audience_field="audience"),
    "MemoryService/CreateRelationship": _camp("required", STAFF),
    "MemoryService/ListRelationships": _camp("required"),
    "MemoryService/PutAsset": _camp("optional", STAFF),
    "MemoryService/GetAsset": READ,
    "MemoryService/LogModeration": ADMIN,
    "MemoryService/ListModerationDecisions": _camp("required", STAFF),
    "MemoryService/RetrieveContext": _camp("optional", audience_field="audience"),
    "MemoryService/PinFact": _camp("required", STAFF),
    "MemoryService/ListPinnedFacts": _camp("required", audience_field="audience"),
    "MemoryService/UnpinFact": _camp("required", STAFF),
    "MemoryService/Reindex": ADMIN,
    "MemoryService/GetIndexStatus": STAFF_ONLY,
    "MemoryService/WatchEvents": _camp("required", audience_field="audience"),
    # The turn queue and the live relay are the gateway's own calls to memory; through the gateway only a
    # service key (another front end playing turns itself) may use them.
    "MemoryService/PublishLive": _camp("required", SERVICE_ONLY),
    "MemoryService/AcquireTurn": _camp("required", SERVICE_ONLY),
    "MemoryService/ReleaseTurn": _camp("required", SERVICE_ONLY),
    # narrative
    "NarrativeService/Narrate": _camp("optional", audience_field="audience", service_field="input_screened"),
    "NarrativeService/PlotTwist": _camp("required", STAFF),
    "NarrativeService/SummarizeSession": _camp("required", STAFF),
    # encounter
    "EncounterService/GenerateEncounter": STAFF_ONLY,
    "EncounterService/EvaluateEncounter": Policy(audience_field="audience"),
    "EncounterService/GetMonster": Policy(audience_field="audience"),
    "EncounterService/ListMonsters": Policy(audience_field="audience"),
    "EncounterService/RollDice": READ,
    "EncounterService/ResolveCheck": _camp("required", owner="character", owner_field="character_id"),
    "EncounterService/StartCombat": _camp("required"),
    "EncounterService/TakeAction": _camp("required"),
    "EncounterService/GetCombat": _camp("required"),
    "EncounterService/EndCombat": _camp("required", STAFF),
    # npc
    "NpcService/GenerateNpc": _camp("optional", STAFF),
    "NpcService/BuildCreature": STAFF_ONLY,
    "NpcService/GetNpcOptions": READ,
    "NpcService/BuildCharacter": _camp("optional"),
    # item
    "ItemService/GenerateItem": STAFF_ONLY,
    "ItemService/AppraiseItem": READ,
    # visual
    "VisualService/GenerateImage": _camp("optional", STAFF, campaign_field="spec.campaign_id"),
    "VisualService/StreamImage": _camp("optional", STAFF, campaign_field="spec.campaign_id"),
    "VisualService/BuildImagePrompt": READ,
    # composite
    "GameMasterService/PlayTurn": _camp("required"),
    "GameMasterService/GenerateScene": _camp("required", STAFF),
    "GameMasterService/GetStatus": Policy(public=True),
    "GameMasterService/WatchCampaign": _camp("required"),
}


def policy_for(full_service: str, method: str) -> Policy:
    """The policy of ``/pkg.Service/Method``; KeyError for an RPC nobody decided on."""
    return POLICIES[f"{full_service.rsplit('.', 1)[-1]}/{method}"]


def field_value(message: pb_message.Message, path: str) -> Any:
    """A (possibly nested, dotted) field of a message; unset sub-messages read as defaults."""
    value: Any = message
    for part in path.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True, slots=True)
class OwnerLookup:
    """A check still to be made: the campaign owning this character or session must be one of the key's."""

    kind: Owner
    id: str


def authorize(
    policy: Policy, principal: Principal, request: pb_message.Message | None, method: str
) -> OwnerLookup | None:
    """Raise PermissionDenied when ``principal`` may not make this call.

    ``request`` is the decoded request when ``policy.needs_decode(principal)``, else None. Returns an
    ``OwnerLookup`` when the answer depends on which campaign owns a character or session.
    """
    if policy.public:
        return None
    if principal.role not in policy.roles:
        raise PermissionDenied(f"{method} is not allowed for a {principal.role} key")
    if policy.campaign == "all" and not principal.all_campaigns:
        raise PermissionDenied(f"{method} needs a key for every campaign")
    if request is None:
        return None
    if principal.role == "player" and policy.audience_field:
        if field_value(request, policy.audience_field) == common_pb2.AUDIENCE_DM:
            raise PermissionDenied(f"a player key may not ask for {policy.audience_field}=AUDIENCE_DM")
    if principal.role != "service" and policy.service_field and field_value(request, policy.service_field):
        raise PermissionDenied(f"only a service key may set {policy.service_field}")
    if principal.all_campaigns:
        return None
    if policy.campaign in ("optional", "required"):
        campaign_id = str(field_value(request, policy.campaign_field))
        if not campaign_id:
            if policy.campaign == "required":
                raise PermissionDenied(
                    f"{method}: a campaign-scoped key must name its campaign in {policy.campaign_field}"
                )
        elif not principal.may_access(campaign_id):
            raise PermissionDenied(f"this key may not access campaign {campaign_id!r}")
    if policy.owner is not None:
        owned_id = str(field_value(request, policy.owner_field))
        if owned_id:
            return OwnerLookup(policy.owner, owned_id)
    return None


def authorize_owner(principal: Principal, kind: str, owned_id: str, campaign_id: str) -> None:
    """Raise NotFound unless the campaign that owns ``kind`` ``owned_id`` is one of the key's."""
    if not principal.may_access(campaign_id):
        # As memory answers for another campaign's resource: NOT_FOUND, so an id is no oracle for existence.
        raise NotFound(kind, owned_id, field=f"{kind}_id")
