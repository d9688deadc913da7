"""Every gateway RPC fuzzed through a real mesh: no INTERNAL or UNKNOWN, every INVALID_ARGUMENT names its field,
no error trailer over 16 KB.

Inputs per RPC: single-field boundary mutations and undecodable bytes (``tests.support.protofuzz.mutations``),
then at least 200 messages drawn by hypothesis from the request's descriptor (derandomized, so a run is
repeatable), topped up with seeded random bytes for request types too small to have 200 distinct values. One
mesh of real processes serves the whole module; calls go out eight at a time.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, Phase, given, settings

from dungeonmaster.v1 import gateway_pb2
from gateway.routes import GAME_MASTER_SERVICE, module_routes
from tests.gateway.realmesh import RealMesh, start_mesh
from tests.support.protofuzz import message_strategy, mutations, random_blobs

#: Hypothesis examples per RPC (the benchmark runs more).
EXAMPLES = 200
#: Largest error trailer (keys + values, bytes) a client may be sent.
MAX_TRAILER_BYTES = 16 * 1024
#: Codes that mean the server failed instead of answering.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


@dataclass(frozen=True)
class Rpc:
    path: str
    request_type: Any
    client_streaming: bool
    server_streaming: bool


def gateway_rpcs() -> list[Rpc]:
    """Every RPC the gateway serves: the forwarded module RPCs and its own GameMasterService."""
    out = [
        Rpc(r.path, r.request_type, r.client_streaming, r.server_streaming) for r in module_routes().values()
    ]
    service = gateway_pb2.DESCRIPTOR.services_by_name["GameMasterService"]
    for method in service.methods:
        cls = getattr(gateway_pb2, method.input_type.name)
        out.append(
            Rpc(
                f"/{GAME_MASTER_SERVICE}/{method.name}", cls, method.client_streaming, method.server_streaming
            )
        )
    return out


RPCS = gateway_rpcs()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    started = start_mesh(
        tmp_path_factory.mktemp("fuzz"), {"dm": ("dm", None, {"rate_per_s": 1_000_000.0, "burst": 1_000_000})}
    )
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def channel(mesh: RealMesh) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(mesh.gateway) as ch:
        yield ch


def pools(mesh: RealMesh) -> dict[str, list[str]]:
    """Values that exist in the fuzz mesh, so drawn requests also reach code behind the id lookups."""
    ids = [mesh.campaign_a, mesh.campaign_b]
    return {
        "campaign_id": ids,
        "world_id": ["ashen-reach", "1"],
        "character_id": ["1", "2", "3"],
        "character_ids": ["1", "2"],
        "session_id": ["1"],
        "entry_id": ["1", "2"],
        "monster": ["goblin", "bandit", "owlbear"],
        "base_monster": ["goblin"],
        "notation": ["2d6+3", "1d20", "4d6kh3"],
        "terrain": ["forest", "swamp"],
        "sha256": ["0" * 64],
    }


def drawn(rpc: Rpc, values: dict[str, list[str]]) -> list[bytes]:
    """``EXAMPLES`` hypothesis-drawn requests (fewer when the type has fewer distinct values)."""
    out: list[bytes] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(message_strategy(rpc.request_type.DESCRIPTOR, pools=values))
    def collect(message: Any) -> None:
        out.append(message.SerializeToString())

    collect()
    return out


def trailer_bytes(exc: grpc.RpcError) -> int:
    trailing = exc.trailing_metadata() or ()  # type: ignore[attr-defined]
    return sum(len(k) + len(v) for k, v in trailing) + len(exc.details() or "")  # type: ignore[attr-defined]


def field_violations(exc: grpc.RpcError) -> list[str] | None:
    """The BadRequest fields of an error (None when it carries no BadRequest)."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    if status is None:
        return None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return None


def call(channel: grpc.Channel, rpc: Rpc, payload: bytes, metadata: Any) -> grpc.StatusCode | tuple[Any, ...]:
    """Send one raw request; the status code, or a tuple describing a contract breach."""
    try:
        if rpc.client_streaming and rpc.server_streaming:
            for _ in channel.stream_stream(rpc.path)(iter([payload]), metadata=metadata, timeout=30):
                pass
        elif rpc.client_streaming:
            channel.stream_unary(rpc.path)(iter([payload]), metadata=metadata, timeout=30)
        elif rpc.server_streaming:
            # A watch stream follows its campaign until the deadline: a short one, ending in DEADLINE_EXCEEDED.
            follows = rpc.path.rsplit("/", 1)[-1].startswith("Watch")
            for _ in channel.unary_stream(rpc.path)(payload, metadata=metadata, timeout=3 if follows else 30):
                pass
        else:
            channel.unary_unary(rpc.path)(payload, metadata=metadata, timeout=30)
        return grpc.StatusCode.OK
    except grpc.RpcError as exc:
        code = exc.code()  # type: ignore[attr-defined]
        details = (exc.details() or "")[:160]  # type: ignore[attr-defined]
        if code in FORBIDDEN:
            return ("forbidden code", code.name, details)
        if trailer_bytes(exc) > MAX_TRAILER_BYTES:
            return ("trailer too large", trailer_bytes(exc), details)
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            fields = field_violations(exc)
            if not fields or not all(fields):
                return ("INVALID_ARGUMENT without a field", fields, details)
        return code  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


@pytest.mark.timeout(300)
@pytest.mark.parametrize("rpc", RPCS, ids=[r.path.rsplit(".", 1)[-1] for r in RPCS])
def test_fuzz_rpc(rpc: Rpc, mesh: RealMesh, channel: grpc.Channel, pool: ThreadPoolExecutor) -> None:
    inputs = mutations(rpc.request_type)
    examples = [(f"drawn #{i}", raw) for i, raw in enumerate(drawn(rpc, pools(mesh)))]
    inputs += examples + random_blobs(hash(rpc.path) & 0xFFFF, max(0, EXAMPLES - len(examples)))
    assert len(inputs) >= EXAMPLES
    metadata = mesh.auth("dm")
    results = list(pool.map(lambda item: (item[0], call(channel, rpc, item[1], metadata)), inputs))
    breaches = [(label, outcome) for label, outcome in results if isinstance(outcome, tuple)]
    codes = collections.Counter(o.name for _, o in results if isinstance(o, grpc.StatusCode))
    assert not breaches, (
        f"{rpc.path}: {len(breaches)} of {len(inputs)} inputs broke the contract: {breaches[:8]}"
    )
    assert sum(codes.values()) == len(inputs), codes


def test_every_gateway_rpc_is_fuzzed() -> None:
    """A new RPC joins the fuzzer by itself (read from the descriptors), so none can be forgotten."""
    paths = {r.path for r in RPCS}
    own = gateway_pb2.DESCRIPTOR.services_by_name["GameMasterService"].methods
    assert len(paths) == len(module_routes()) + len(own)
    assert f"/{GAME_MASTER_SERVICE}/GetStatus" in paths


def test_mutations_cover_each_field_kind() -> None:
    labels = [label for label, _ in mutations(gateway_pb2.PlayTurnRequest)]
    assert "campaign_id: invalid UTF-8" in labels
    assert "character_ids: too many items" in labels
    assert any(label.startswith("party.members") for label in labels)
    assert "max_tokens: varint past 64 bits" in labels
