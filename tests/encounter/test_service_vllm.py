"""GenerateEncounter against a real (tiny, random-weight) vLLM: the model is asked, the numbers never move.

The tiny model writes schema-valid gibberish, so its answer almost always fails the mechanics guard and the
offline prose comes back; either way the creatures, XP and treasure must equal the procedural run's. Its window
is 2,048 tokens (the shared 512-token server of tests/text is too small for an encounter's facts).
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc
from encounter_svc.builder import rng_for
from encounter_svc.encounters import Encounters, GenerateSpec
from encounter_svc.model_prose import encounter_facts, mechanics_guard
from encounter_svc.models import PartyMember
from encounter_svc.prose import write_prose
from encounter_svc.service import build_spec
from mesh.server import start_server
from mesh.settings import Settings
from mesh.text.local_vllm import LocalVLLM

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
E = encounter_pb2


@pytest.fixture(scope="module")
def vllm(vllm_server: LocalVLLM) -> LocalVLLM:
    """The session's tiny vLLM (a 2,048-token window, enough for an encounter's facts)."""
    return vllm_server


def finished_requests(base_url: str) -> float:
    """vLLM's count of successfully finished requests, from its Prometheus page."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(v) for v in re.findall(r"^vllm:request_success_total(?:\{[^}]*\})?\s+(\S+)$", text, re.M)
    )


def settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "encounter_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 1.0,
        "worlds_dir": ROOT / "worlds",
        "default_world": "ashen-reach",
        "vllm_urls": [],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def generate(s: Settings, request: E.GenerateEncounterRequest) -> E.GenerateEncounterResponse:
    async with start_server(build_spec(s), s, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            reply: E.GenerateEncounterResponse = await encounter_pb2_grpc.EncounterServiceStub(
                channel
            ).GenerateEncounter(request, timeout=120)
            return reply


async def test_model_prose_never_changes_the_mechanics(vllm: LocalVLLM) -> None:
    request = E.GenerateEncounterRequest(
        party=common_pb2.Party(members=[common_pb2.PartyMember(level=5)] * 4),
        terrain="forest",
        difficulty=E.DIFFICULTY_MEDIUM,
        seed=31,
    )
    offline = await generate(settings(), request)
    before = finished_requests(vllm.base_url)
    written = await generate(settings(vllm_urls=[vllm.base_url + "/v1"]), request)
    assert finished_requests(vllm.base_url) > before  # the model really was asked

    a, b = offline.encounter, written.encounter
    assert (a.id, list(a.creatures), a.xp, a.treasure, list(a.terrain_features)) == (
        b.id,
        list(b.creatures),
        b.xp,
        b.treasure,
        list(b.terrain_features),
    )
    assert written.info.seed == 31
    if written.info.procedural:  # the guard (or the schema) rejected the gibberish: the tables' words
        assert written.info.backend == "procedural"
        assert (b.title, b.description, b.tactics) == (a.title, a.description, a.tactics)
    else:  # accepted: then it passed the guard on the very same mechanics
        assert written.info.backend == "vllm" and written.info.model == "tiny"
        encounters = Encounters(worlds_dir=ROOT / "worlds", default_world="ashen-reach")
        spec = GenerateSpec(party=(PartyMember(5),) * 4, difficulty="medium", terrain="forest", seed=31)
        domain, _, _ = encounters.build(spec, 31)
        domain = replace(domain, prose=write_prose(domain, rng_for(31, "prose")))
        check = mechanics_guard(domain, encounter_facts(domain))
        assert check({"title": b.title, "description": b.description, "tactics": b.tactics}) == []
