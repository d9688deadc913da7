"""Every service as its own process behind a real gateway, with a world ingested and two campaigns, for e2e tests.

Memory starts first so the world and campaigns exist (and their ids are known) before the gateway is given API
keys scoped to them; the gateway starts last, as in production.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from dungeonmaster.v1 import memory_pb2, memory_pb2_grpc
from gateway.keys import hash_key
from mesh import certs
from tests.support.procs import ROOT, ServiceProcess, mesh_env, start_service, tls_credentials
from tests.support.procs import channel as open_channel

WORLD_DIR = ROOT / "worlds" / "ashen-reach"
ORDER = ("memory", "narrative", "encounter", "npc", "item", "visual", "gateway")


@dataclass
class RealMesh:
    """The running processes, their environment, the campaigns and the API keys (id -> key)."""

    procs: dict[str, ServiceProcess]
    env: dict[str, str]
    gateway_env: dict[str, str]
    log_dir: Path
    campaign_a: str
    campaign_b: str
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return self.procs["gateway"].address

    def auth(self, key_id: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys[key_id]}"),)

    def restart(self, name: str, timeout: float = 120.0) -> ServiceProcess:
        """Start ``name`` again on its old port with its old data (after ``stop``)."""
        env = self.gateway_env if name == "gateway" else self.env
        self.procs[name] = start_service(
            name, env, self.log_dir, want_serving=name != "visual", timeout=timeout
        )
        return self.procs[name]

    def stop_all(self) -> None:
        for name in reversed(ORDER):
            sp = self.procs.get(name)
            if sp is not None:
                sp.stop()


def ingest_world(channel: grpc.Channel, metadata: tuple[tuple[str, str], ...] = ()) -> str:
    """Create the sample world and stream its documents to IngestLore; returns the world's slug."""
    memory = memory_pb2_grpc.MemoryServiceStub(channel)
    memory.CreateWorld(
        memory_pb2.CreateWorldRequest(slug="ashen-reach", name="The Ashen Reach"),
        metadata=metadata,
        timeout=30,
    )
    docs = sorted(WORLD_DIR.glob("*.md"))

    def requests() -> Iterator[memory_pb2.IngestLoreRequest]:
        for i, doc in enumerate(docs):
            yield memory_pb2.IngestLoreRequest(
                world_id="ashen-reach" if i == 0 else "", path=doc.name, content=doc.read_text()
            )

    memory.IngestLore(requests(), metadata=metadata, timeout=120)
    return "ashen-reach"


def start_mesh(
    root: Path,
    key_specs: Mapping[str, tuple[str, list[str] | None, dict[str, Any]]],
    *,
    mutual_tls: bool = False,
    gateway_env: Mapping[str, str] | None = None,
) -> RealMesh:
    """Start the mesh under ``root``. ``key_specs``: key id -> (role, campaigns or None for the two, extra).

    Campaign lists may name "A" and "B" for the two campaigns created here; None means every campaign.
    ``mutual_tls`` runs the services as deployed (certificates from ``mesh.certs``); setup then calls memory
    with the gateway's certificate. ``gateway_env`` adds settings of the gateway only.
    """
    env = mesh_env(root / "data", {"DM_TLS_MODE": "mutual"} if mutual_tls else None)
    credentials = None
    if mutual_tls:
        certs.ensure(root / "data" / "tls")
        credentials = tls_credentials(env, "gateway")
    log_dir = root / "logs"
    procs: dict[str, ServiceProcess] = {}
    mesh: RealMesh | None = None
    try:
        procs["memory"] = start_service("memory", env, log_dir, timeout=180)
        with open_channel(procs["memory"].address, credentials) as channel:
            ingest_world(channel)
            memory = memory_pb2_grpc.MemoryServiceStub(channel)
            ids = [
                memory.CreateCampaign(
                    memory_pb2.CreateCampaignRequest(world_id="ashen-reach", name=name), timeout=30
                ).campaign.id
                for name in ("Campaign A", "Campaign B")
            ]
            # The first retrieval loads the embedding model: pay for it here, not inside a timed test.
            started = time.monotonic()
            memory.RetrieveContext(
                memory_pb2.RetrieveContextRequest(campaign_id=ids[0], query="the Brinefen"), timeout=120
            )
            warmup_s = time.monotonic() - started
        keys: dict[str, str] = {}
        records = []
        for key_id, (role, campaigns, extra) in key_specs.items():
            key = f"dmk_e2e_{key_id}"
            keys[key_id] = key
            scope = (
                ["*"]
                if campaigns is None
                else [ids[0] if c == "A" else ids[1] if c == "B" else c for c in campaigns]
            )
            records.append({"id": key_id, "sha256": hash_key(key), "role": role, "campaigns": scope, **extra})
        gw_env = dict(env, DM_GATEWAY_API_KEYS=json.dumps(records), **(gateway_env or {}))
        mesh = RealMesh(procs, env, gw_env, log_dir, ids[0], ids[1], keys)
        for name in ORDER[1:]:
            mesh.restart(name)
        mesh.env["DM_E2E_WARMUP_S"] = f"{warmup_s:.1f}"
        return mesh
    except BaseException:
        for sp in reversed(list(procs.values())):
            sp.stop()
        raise
