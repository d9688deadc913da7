"""The authorisation matrix, generated from the proto descriptors: every RPC of every service through the gateway
for every kind of caller, plus a direct call to the module service without a client certificate.

The expected outcome of each cell comes from tests/security/policy.py; an RPC without a line there fails here.
Each request is built from its DESCRIPTOR and names campaign A's resources wherever it has a field for them
(campaign, character, session, asset, lore entry), so an allowed caller gets past authorisation and a refused
one is refused for the resource, not for an empty request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message as pb_message
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from dungeonmaster.v1 import common_pb2, gateway_pb2, memory_pb2, memory_pb2_grpc
from gateway.routes import MODULES, module_routes
from tests.gateway.realmesh import RealMesh
from tests.security.policy import CALLERS, DENIED, HIDDEN, OK, POLICY, Outcome

#: Codes that mean the caller got past authentication and authorisation.
REFUSALS = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}
CODE_OF = {DENIED: grpc.StatusCode.PERMISSION_DENIED, HIDDEN: grpc.StatusCode.NOT_FOUND}


def _methods() -> list[tuple[str, MethodDescriptor]]:
    out: list[tuple[str, MethodDescriptor]] = []
    for short, (module, name) in MODULES.items():
        for method in module.DESCRIPTOR.services_by_name[name].methods:
            out.append((short, method))
    for method in gateway_pb2.DESCRIPTOR.services_by_name["GameMasterService"].methods:
        out.append(("gateway", method))
    return out


METHODS = _methods()


def _key(method: MethodDescriptor) -> str:
    return f"{method.containing_service.name}/{method.name}"


@dataclass
class Resources:
    """Campaign A's resources that requests name."""

    values: dict[str, str]


@pytest.fixture(scope="module")
def resources(secure_mesh: RealMesh) -> Resources:
    """A character (with state), a session, an asset and a lore entry, all made by the DM / admin of A."""
    admin = secure_mesh.auth("admin")
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        character = memory.CreateCharacter(
            memory_pb2.CreateCharacterRequest(
                campaign_id=secure_mesh.campaign_a,
                character=memory_pb2.Character(name="Matrix Warden", is_npc=True, level=2),
                initial_state=memory_pb2.CharacterState(hit_points=9, max_hit_points=9),
            ),
            metadata=admin,
            timeout=30,
        ).character
        session = memory.CreateSession(
            memory_pb2.CreateSessionRequest(campaign_id=secure_mesh.campaign_a, title="Matrix"),
            metadata=admin,
            timeout=30,
        ).session
        asset = memory.PutAsset(
            memory_pb2.PutAssetRequest(
                campaign_id=secure_mesh.campaign_a,
                asset=memory_pb2.Asset(kind="portrait", mime_type="image/png", data=b"matrix-asset"),
            ),
            metadata=admin,
            timeout=30,
        ).asset
        entry = memory.CreateLoreEntry(
            memory_pb2.CreateLoreEntryRequest(
                world_id="ashen-reach",
                entry=memory_pb2.LoreEntry(key="matrix-entry", title="Matrix", content="A plain fact."),
            ),
            metadata=admin,
            timeout=30,
        ).entry
    return Resources(
        {
            "campaign_id": secure_mesh.campaign_a,
            "character_id": str(character.id),
            "session_id": str(session.id),
            "sha256": asset.sha256,
            "entry_id": str(entry.id),
            "world_id": "ashen-reach",
        }
    )


def _fill(message: pb_message.Message, values: dict[str, str], depth: int = 0) -> None:
    """Set every string field named like a resource, here and in sub-messages (``spec.campaign_id``...)."""
    for field in message.DESCRIPTOR.fields:
        if field.name in values and field.type == FieldDescriptor.TYPE_STRING and not _repeated(field):
            setattr(message, field.name, values[field.name])
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not _repeated(field) and depth < 1:
            if field.message_type.full_name.startswith("dungeonmaster."):
                _fill(getattr(message, field.name), values, depth + 1)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _request(method: MethodDescriptor, values: dict[str, str]) -> pb_message.Message:
    route = module_routes().get(f"/{method.containing_service.full_name}/{method.name}")
    if route is not None:
        message = route.request_type()
    else:
        from google.protobuf import message_factory

        message = message_factory.GetMessageClass(method.input_type)()
    _fill(message, values)
    return message


def _call(
    channel: grpc.Channel, method: MethodDescriptor, request: pb_message.Message, metadata: Any
) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    # A watch streams until cancelled: an authorised one simply runs into this short deadline.
    timeout = 4.0 if method.name.startswith("Watch") else 60.0
    ser: Callable[[Any], bytes] = lambda m: m.SerializeToString()  # noqa: E731
    de: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if method.client_streaming and method.server_streaming:
            list(channel.stream_stream(path, ser, de)(iter([request]), metadata=metadata, timeout=timeout))
        elif method.client_streaming:
            channel.stream_unary(path, ser, de)(iter([request]), metadata=metadata, timeout=timeout)
        elif method.server_streaming:
            list(channel.unary_stream(path, ser, de)(request, metadata=metadata, timeout=timeout))
        else:
            channel.unary_unary(path, ser, de)(request, metadata=metadata, timeout=timeout)
    except grpc.RpcError as err:
        code: grpc.StatusCode = err.code()
        return code
    return grpc.StatusCode.OK


def _matches(expected: Outcome, code: grpc.StatusCode) -> bool:
    if expected == OK:
        return code not in REFUSALS
    return code == CODE_OF[expected]


@pytest.fixture(scope="module")
def gateway_channel(secure_mesh: RealMesh) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        yield channel


def test_every_rpc_has_a_policy() -> None:
    missing = [_key(m) for _, m in METHODS if _key(m) not in POLICY]
    assert not missing, f"add these RPCs to tests/security/policy.py: {missing}"
    stale = set(POLICY) - {_key(m) for _, m in METHODS}
    assert not stale, f"policy lines for RPCs that no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("service,method", METHODS, ids=[_key(m) for _, m in METHODS])
def test_matrix(
    secure_mesh: RealMesh,
    resources: Resources,
    gateway_channel: grpc.Channel,
    service: str,
    method: MethodDescriptor,
) -> None:
    expect = POLICY.get(_key(method))
    assert expect is not None, f"{_key(method)} has no line in tests/security/policy.py"
    request = _request(method, resources.values)
    wrong: Any = (("authorization", "Bearer dmk_not_a_key_of_this_mesh"),)
    cells: dict[str, tuple[str, grpc.StatusCode]] = {}
    unauthenticated = OK if expect.public else "UNAUTHENTICATED"
    for caller, metadata in (("no key", ()), ("wrong key", wrong)):
        code = _call(gateway_channel, method, request, metadata)
        good = code not in REFUSALS if expect.public else code == grpc.StatusCode.UNAUTHENTICATED
        cells[caller] = (("" if good else "expected ") + unauthenticated, code)
    for caller in CALLERS:
        code = _call(gateway_channel, method, request, secure_mesh.auth(caller))
        outcome = expect.outcome(caller)
        cells[caller] = (("" if _matches(outcome, code) else "expected ") + outcome, code)
    if service != "gateway":  # the module service itself, without a client certificate
        with grpc.insecure_channel(secure_mesh.procs[service].address) as direct:
            code = _call(direct, method, request, secure_mesh.auth("admin"))
        good = code == grpc.StatusCode.UNAVAILABLE
        cells["direct"] = (("" if good else "expected ") + "refused (UNAVAILABLE)", code)
    wrong_cells = {k: (want, got.name) for k, (want, got) in cells.items() if want.startswith("expected")}
    assert not wrong_cells, f"{_key(method)}: {wrong_cells}"


def test_player_audience_is_capped_whatever_the_request_says(
    secure_mesh: RealMesh, resources: Resources
) -> None:
    """The audience column of the matrix: a player asking for AUDIENCE_DM is refused, the DM is served."""
    with grpc.insecure_channel(secure_mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        request = memory_pb2.GetCharacterRequest(
            character_id=resources.values["character_id"], audience=common_pb2.AUDIENCE_DM
        )
        with pytest.raises(grpc.RpcError) as info:
            memory.GetCharacter(request, metadata=secure_mesh.auth("player-a"), timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert memory.GetCharacter(request, metadata=secure_mesh.auth("dm-a"), timeout=30).character.name
