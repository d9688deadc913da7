"""EncounterService over real gRPC: the servicer in-process on a free loopback port, called through the stub.

Covers every RPC's happy path, seeded reproducibility, regions from the world lore (terrains and the world's own
creatures, secret ones for the DM only), field-named INVALID_ARGUMENT details decoded from ``google.rpc.Status``,
readiness without the SRD file, model prose that may not change a number, and ``python -m encounter_svc``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc
from encounter_svc.model_prose import mechanics_guard
from encounter_svc.service import SERVICE_NAME, build_spec
from mesh.errors import Unavailable
from mesh.server import RunningServer, start_server
from mesh.settings import Settings
from mesh.status import unpack_details
from mesh.text import GenParams, Prompt, Provenance, TextModel
from rules.challenge import XP_BY_CR
from rules.srd import load_srd
from rules.terrain import TERRAINS
from tests.support.procs import mesh_env, start_service

ROOT = Path(__file__).resolve().parents[2]
Stub = encounter_pb2_grpc.EncounterServiceStub
E = encounter_pb2


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "encounter_metrics_port": 0,
        "health_poll_s": 0.05,
        "grace_period_s": 1.0,
        "vllm_urls": [],
        "worlds_dir": ROOT / "worlds",
        "default_world": "ashen-reach",
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def serving(
    model: TextModel | None = None, **overrides: Any
) -> AsyncIterator[tuple[RunningServer, Stub]]:
    """encounter_svc in-process on a free port, and a stub on a channel to it."""
    settings = make_settings(**overrides)
    async with start_server(build_spec(settings, model=model), settings, port=0) as srv:
        async with grpc.aio.insecure_channel(srv.address) as channel:
            yield srv, Stub(channel)


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    async with serving() as (_, s):
        yield s


def party(*levels: int) -> common_pb2.Party:
    return common_pb2.Party(
        members=[common_pb2.PartyMember(name=f"PC{i}", level=lv) for i, lv in enumerate(levels)]
    )


async def rejected(call: Any) -> tuple[grpc.StatusCode, list[tuple[str, str]]]:
    """The status code and BadRequest field violations of a failed call."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    status = await rpc_status.aio.from_call(call)
    bad = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.BadRequest)]
    return info.value.code(), [(v.field, v.description) for v in bad[0].field_violations] if bad else []


def index_of(block: common_pb2.StatBlock) -> str:
    return block.source.split(":", 1)[1]


def without_latency(reply: E.GenerateEncounterResponse) -> E.GenerateEncounterResponse:
    copy = E.GenerateEncounterResponse()
    copy.CopyFrom(reply)
    copy.info.latency_ms = 0
    return copy


# --- GenerateEncounter --------------------------------------------------------------------------------------------


async def test_generate_in_terrain_lands_in_the_band(stub: Stub) -> None:
    reply = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(5, 5, 5, 5), terrain="forest", difficulty=E.DIFFICULTY_HARD, seed=11
        )
    )
    enc, xp = reply.encounter, reply.encounter.xp
    assert reply.unmet_reason == "" and enc.creatures and enc.title and enc.description and enc.tactics
    assert enc.terrain == "forest" and enc.kind == E.ENCOUNTER_KIND_COMBAT
    easy, medium, hard, deadly = xp.thresholds_2014
    assert (easy, medium, hard, deadly) == (1000, 2000, 3000, 4400)  # 4 x DMG level-5 row
    assert xp.budget == hard <= xp.adjusted_xp < deadly and xp.difficulty_2014 == E.DIFFICULTY_HARD
    count = sum(g.count for g in enc.creatures)
    raw = sum(g.count * g.stat_block.challenge.xp for g in enc.creatures)
    assert xp.raw_xp == raw and xp.adjusted_xp == int(raw * xp.multiplier) and xp.counted_creatures == count
    srd = load_srd()
    for group in enc.creatures:
        block = group.stat_block
        assert block.challenge.xp == XP_BY_CR[block.challenge.value] and group.role
        if block.source.startswith("srd:"):
            source = srd.monster(index_of(block))
            assert (block.armor_class, block.hit_points) == (source.armor_class, source.hit_points)
        terrains = (await stub.GetMonster(E.GetMonsterRequest(monster=index_of(block)))).terrains
        assert "forest" in terrains
    assert [f.name for f in enc.terrain_features] and enc.treasure.total.copper == enc.treasure.coins.copper
    assert reply.info.backend == "procedural" and reply.info.procedural and reply.info.seed == 11


async def test_same_seed_same_encounter_and_seed_zero_is_reported(stub: Stub) -> None:
    req = E.GenerateEncounterRequest(
        party=party(3, 3, 4), terrain="swamp", difficulty=E.DIFFICULTY_MEDIUM, seed=99
    )
    first, second = await stub.GenerateEncounter(req), await stub.GenerateEncounter(req)
    assert without_latency(first) == without_latency(second)
    other = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(3, 3, 4), terrain="swamp", difficulty=E.DIFFICULTY_MEDIUM, seed=100
        )
    )
    assert other.encounter.id != first.encounter.id

    req.seed = 0
    picked = await stub.GenerateEncounter(req)
    assert picked.info.seed != 0
    req.seed = picked.info.seed
    assert without_latency(await stub.GenerateEncounter(req)) == without_latency(picked)


async def test_region_uses_its_terrains_and_the_world_creatures(stub: Stub) -> None:
    reply = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(3, 3, 3, 3),
            region="the Salt Fen",  # an alias of the Brinefen: swamp and coastal
            world_id="ashen-reach",
            difficulty=E.DIFFICULTY_MEDIUM,
            theme="lurker",
            seed=4,
        )
    )
    enc = reply.encounter
    assert enc.region == "brinefen" and enc.terrain in ("swamp", "coastal")
    lurkers = [g for g in enc.creatures if g.stat_block.name == "Fen Lurker"]
    assert lurkers and lurkers[0].stat_block.source == "world:world-fen-lurker"
    base = (await stub.GetMonster(E.GetMonsterRequest(monster="giant-toad"))).stat_block
    assert lurkers[0].stat_block.hit_points == base.hit_points  # the lore's base creature's mechanics
    for group in enc.creatures:
        found = await stub.GetMonster(E.GetMonsterRequest(monster=index_of(group.stat_block)))
        assert {"swamp", "coastal"} & set(found.terrains)
    # Without a theme the region still draws only from its terrains, world world creatures included.
    for seed in range(1, 6):
        plain = await stub.GenerateEncounter(
            E.GenerateEncounterRequest(
                party=party(2, 2, 2), region="brinefen", difficulty=E.DIFFICULTY_EASY, seed=seed
            )
        )
        for group in plain.encounter.creatures:
            found = await stub.GetMonster(E.GetMonsterRequest(monster=index_of(group.stat_block)))
            assert {"swamp", "coastal"} & set(found.terrains), group.stat_block.name


async def test_secret_creatures_only_for_the_dm(stub: Stub) -> None:
    husk = E.GetMonsterRequest(monster="world-kindled-husk")
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMonster(husk)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    husk.audience = common_pb2.AUDIENCE_DM
    found = await stub.GetMonster(husk)
    assert found.stat_block.name == "Kindled Husk" and found.stat_block.challenge.display == "5"
    assert found.stat_block.hit_points == load_srd().monster("fire-elemental").hit_points

    req = E.GenerateEncounterRequest(
        party=party(5, 5, 5, 5), terrain="underdark", difficulty=E.DIFFICULTY_HARD, theme="husk", seed=1
    )
    as_player = await stub.GenerateEncounter(req)
    assert all(g.stat_block.name != "Kindled Husk" for g in as_player.encounter.creatures)
    assert any("theme ignored" in n for n in as_player.encounter.xp.notes)
    req.audience = common_pb2.AUDIENCE_DM
    as_dm = await stub.GenerateEncounter(req)
    assert as_dm.encounter.creatures[0].stat_block.name == "Kindled Husk"

    listing = E.ListMonstersRequest(terrain="underdark", min_challenge_rating=5, max_challenge_rating=5)
    players = [m.monster for m in (await stub.ListMonsters(listing)).monsters]
    listing.audience = common_pb2.AUDIENCE_DM
    dms = [m.monster for m in (await stub.ListMonsters(listing)).monsters]
    assert "world-kindled-husk" not in players and set(dms) - set(players) == {"world-kindled-husk"}


async def test_2024_rules_hazards_and_social_encounters(stub: Stub) -> None:
    moderate = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(7, 7, 7, 7),
            terrain="hill",
            difficulty=E.DIFFICULTY_MODERATE,
            rule_set=E.RULE_SET_DMG_2024,
            seed=3,
        )
    )
    xp = moderate.encounter.xp
    low, mod, high = xp.budgets_2024
    assert (low, mod, high) == (3000, 5200, 6800) and low < xp.raw_xp <= mod  # budgets are limits
    assert xp.difficulty_2024 == E.DIFFICULTY_MODERATE and xp.budget == mod

    hazard = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(12, 12), terrain="arctic", kind=E.ENCOUNTER_KIND_HAZARD, seed=5
        )
    )
    enc = hazard.encounter
    assert enc.kind == E.ENCOUNTER_KIND_HAZARD and enc.hazards and not enc.creatures
    assert list(enc.xp.thresholds_2014) == [2000, 4000, 6000, 9000]  # difficulty unspecified -> medium
    for h in enc.hazards:
        assert (
            h.severity in ("setback", "dangerous") and 10 <= h.save_dc <= 15 and h.damage.dice.endswith("d10")
        )
        assert h.save_ability != common_pb2.ABILITY_UNSPECIFIED and h.damage.average > 0

    social = await stub.GenerateEncounter(
        E.GenerateEncounterRequest(
            party=party(4, 4, 4), terrain="urban", kind=E.ENCOUNTER_KIND_SOCIAL, seed=1
        )
    )
    stakes = social.encounter.social
    assert social.encounter.creatures and stakes.goal and stakes.participants and len(stakes.checks) == 3
    coins = social.encounter.treasure.coins  # 184 cp, shown in the default world's own coins
    assert (coins.copper, coins.gold, coins.display) == (184, 1.84, "1 crown, 8 marks, 4 pence")


async def test_generate_reports_bad_fields_by_path(stub: Stub) -> None:
    code, bad = await rejected(
        stub.GenerateEncounter(
            E.GenerateEncounterRequest(
                party=party(0, 5, 21), terrain="forest", difficulty=E.DIFFICULTY_MEDIUM, max_creatures=31
            )
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in bad] == ["party.members[0].level", "party.members[2].level", "max_creatures"]
    assert "got 21" in bad[1][1]

    code, bad = await rejected(stub.GenerateEncounter(E.GenerateEncounterRequest(terrain="forest")))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and bad[0][0] == "party.members"

    _, bad = await rejected(
        stub.GenerateEncounter(E.GenerateEncounterRequest(party=party(3), terrain="lava"))
    )
    assert bad[0][0] == "terrain" and all(t.value in bad[0][1] for t in TERRAINS)

    _, bad = await rejected(
        stub.GenerateEncounter(
            E.GenerateEncounterRequest(party=party(3), terrain="forest", region="brinefen")
        )
    )
    assert bad == [("region", "give either a terrain or a region, not both")]

    _, bad = await rejected(
        stub.GenerateEncounter(E.GenerateEncounterRequest(party=party(3), region="Atlantis"))
    )
    assert bad[0][0] == "region" and "brinefen" in bad[0][1] and "gloamwood" in bad[0][1]

    _, bad = await rejected(
        stub.GenerateEncounter(
            E.GenerateEncounterRequest(party=party(3), terrain="forest", world_id="narnia")
        )
    )
    assert bad[0][0] == "world_id" and "ashen-reach" in bad[0][1]

    _, bad = await rejected(
        stub.GenerateEncounter(
            E.GenerateEncounterRequest(
                party=party(3), terrain="forest", difficulty=E.DIFFICULTY_MEDIUM, rule_set=E.RULE_SET_DMG_2024
            )
        )
    )
    assert bad[0][0] == "difficulty" and "DIFFICULTY_MODERATE" in bad[0][1]

    _, bad = await rejected(
        stub.GenerateEncounter(
            E.GenerateEncounterRequest(party=party(3), terrain="forest", difficulty=E.DIFFICULTY_TRIVIAL)
        )
    )
    assert bad[0][0] == "difficulty"


# --- EvaluateEncounter --------------------------------------------------------------------------------------------


async def test_evaluate_the_dmg_example(stub: Stub) -> None:
    # Five CR 1 creatures against three level-5 characters: 1,000 XP x2 = 2,000 adjusted XP, Medium (1,500-2,249).
    by_cr = await stub.EvaluateEncounter(
        E.EvaluateEncounterRequest(
            party=party(5, 5, 5), creatures=[E.CreatureRef(challenge_rating=1, count=5)]
        )
    )
    xp = by_cr.xp
    assert (xp.raw_xp, xp.multiplier, xp.adjusted_xp, xp.counted_creatures) == (1000, 2.0, 2000, 5)
    assert xp.difficulty_2014 == E.DIFFICULTY_MEDIUM and list(xp.thresholds_2014) == [750, 1500, 2250, 3300]
    assert any("adjusted XP 2,000" in n for n in xp.notes)
    by_name = await stub.EvaluateEncounter(
        E.EvaluateEncounterRequest(
            party=party(5, 5, 5), creatures=[E.CreatureRef(monster="bugbear", count=5)]
        )
    )
    assert by_name.xp == by_cr.xp


async def test_evaluate_world_creatures_and_bad_input(stub: Stub) -> None:
    mixed = await stub.EvaluateEncounter(
        E.EvaluateEncounterRequest(
            party=party(4, 4, 4, 4),
            creatures=[
                E.CreatureRef(monster="world-ashhound", count=1),
                E.CreatureRef(monster="goblin", count=4),
            ],
        )
    )
    assert mixed.xp.raw_xp == 700 + 4 * 50

    code, bad = await rejected(
        stub.EvaluateEncounter(
            E.EvaluateEncounterRequest(
                party=party(5, 21),
                creatures=[
                    E.CreatureRef(challenge_rating=31, count=1),
                    E.CreatureRef(challenge_rating=0.3, count=2),
                    E.CreatureRef(challenge_rating=2, count=0),
                ],
            )
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in bad] == [
        "party.members[1].level",
        "creatures[0].challenge_rating",
        "creatures[1].challenge_rating",
        "creatures[2].count",
    ]
    assert "1/8" in bad[1][1] and "30" in bad[1][1]

    _, bad = await rejected(
        stub.EvaluateEncounter(
            E.EvaluateEncounterRequest(
                party=party(5), creatures=[E.CreatureRef(monster="beholder-king", count=1)]
            )
        )
    )
    assert bad[0][0] == "creatures[0].monster"
    _, bad = await rejected(stub.EvaluateEncounter(E.EvaluateEncounterRequest(party=party(5))))
    assert bad == [("creatures", "list at least one creature")]


# --- GetMonster, ListMonsters -------------------------------------------------------------------------------------


async def test_get_monster_maps_the_whole_stat_block(stub: Stub) -> None:
    goblin = await stub.GetMonster(E.GetMonsterRequest(monster="goblin"))
    b = goblin.stat_block
    assert (b.name, b.size, b.creature_type, b.armor_class, b.hit_points, b.hit_dice) == (
        "Goblin",
        common_pb2.CREATURE_SIZE_SMALL,
        "humanoid",
        15,
        7,
        "2d6",
    )
    assert (b.challenge.value, b.challenge.display, b.challenge.xp, b.proficiency_bonus) == (
        0.25,
        "1/4",
        50,
        2,
    )
    assert b.abilities.dexterity == 14 and b.speed.walk == 30 and list(b.languages) == ["Common", "Goblin"]
    assert [(s.name, s.range_ft) for s in b.senses] == [("darkvision", 60)] and b.passive_perception == 9
    scimitar = next(a for a in b.actions if a.name == "Scimitar")
    assert scimitar.attack_bonus == 4 and [(d.dice, d.average, d.damage_type) for d in scimitar.damage] == [
        ("1d6+2", 5, "slashing")
    ]
    assert "Nimble Escape" in [t.name for t in b.traits] and b.source == "srd:goblin"
    assert goblin.terrains and set(goblin.terrains) <= {t.value for t in TERRAINS}

    dragon = (await stub.GetMonster(E.GetMonsterRequest(monster="adult-red-dragon"))).stat_block
    assert dragon.hit_dice == "19d12+133" and dragon.legendary_actions_per_round == 3
    wing = next(a for a in dragon.legendary_actions if a.name.startswith("Wing Attack"))
    assert wing.cost == 2 and wing.save_dc == 22 and wing.save_ability == common_pb2.ABILITY_DEXTERITY
    breath = next(a for a in dragon.actions if a.name.startswith("Fire Breath"))
    assert breath.usage == "Recharge 5-6" and not breath.HasField("attack_bonus")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMonster(E.GetMonsterRequest(monster="no-such-beast"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    _, bad = await rejected(stub.GetMonster(E.GetMonsterRequest(monster=" ")))
    assert bad[0][0] == "monster"


async def test_list_monsters_pages_through_everything(stub: Stub) -> None:
    req = E.ListMonstersRequest(terrain="forest", min_challenge_rating=0.5, max_challenge_rating=5)
    whole = await stub.ListMonsters(
        E.ListMonstersRequest(
            terrain="forest", min_challenge_rating=0.5, max_challenge_rating=5, page_size=1000
        )
    )
    assert whole.next_page_token == "" and len(whole.monsters) > 20
    keys = [(m.challenge.value, m.name) for m in whole.monsters]
    assert keys == sorted(keys) and all(0.5 <= v <= 5 for v, _ in keys)
    assert all("forest" in m.terrains for m in whole.monsters)
    assert "world-gloamstag" in [
        m.monster for m in whole.monsters
    ]  # the default world's creatures are listed

    paged: list[str] = []
    req.page_size = 7
    pages = 0
    while True:
        reply = await stub.ListMonsters(req)
        paged += [m.monster for m in reply.monsters]
        pages += 1
        if not reply.next_page_token:
            break
        req.page_token = reply.next_page_token
    assert paged == [m.monster for m in whole.monsters] and pages == -(-len(paged) // 7)

    default_page = await stub.ListMonsters(E.ListMonstersRequest())
    assert len(default_page.monsters) == 100 and default_page.next_page_token


async def test_list_monsters_rejects_bad_pages_and_ranges(stub: Stub) -> None:
    first = await stub.ListMonsters(E.ListMonstersRequest(terrain="forest", page_size=5))
    for size in (1001, -1):
        _, bad = await rejected(stub.ListMonsters(E.ListMonstersRequest(page_size=size)))
        assert bad[0][0] == "page_size"
    _, bad = await rejected(
        stub.ListMonsters(E.ListMonstersRequest(terrain="forest", page_token="%%%not-a-token"))
    )
    assert bad[0][0] == "page_token"
    _, bad = await rejected(
        stub.ListMonsters(E.ListMonstersRequest(terrain="swamp", page_token=first.next_page_token))
    )
    assert bad[0][0] == "page_token" and "different filters" in bad[0][1]
    _, bad = await rejected(
        stub.ListMonsters(E.ListMonstersRequest(min_challenge_rating=5, max_challenge_rating=2))
    )
    assert bad[0][0] == "max_challenge_rating"
    _, bad = await rejected(stub.ListMonsters(E.ListMonstersRequest(terrain="moon")))
    assert bad[0][0] == "terrain"


# --- RollDice ------------------------------------------------------------------------------------------------------


async def test_roll_dice_is_seeded_and_reports_bad_notation(stub: Stub) -> None:
    a = await stub.RollDice(E.RollDiceRequest(notation="4d6kh3", seed=7))
    b = await stub.RollDice(E.RollDiceRequest(notation="4d6kh3", seed=7))
    assert a == b and a.seed == 7 and 3 <= a.total <= 18
    assert a.detail.startswith("4d6kh3 (") and a.detail.endswith(f"= {a.total}")
    picked = await stub.RollDice(E.RollDiceRequest(notation="1d20+5"))
    assert picked.seed != 0 and 6 <= picked.total <= 25
    assert await stub.RollDice(E.RollDiceRequest(notation="1d20+5", seed=picked.seed)) == picked

    for notation in ("3d6+", "d", "1d0", ""):
        code, bad = await rejected(stub.RollDice(E.RollDiceRequest(notation=notation)))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and bad[0][0] == "notation", notation


# --- readiness and the process ------------------------------------------------------------------------------------


async def wait_health(srv: RunningServer, want: int) -> None:
    """Watch the service's health until it reports ``want`` (the watch fails after ten seconds)."""
    async with grpc.aio.insecure_channel(srv.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=10
        )
        async for reply in watch:
            if reply.status == want:
                watch.cancel()
                return
    raise AssertionError(f"health watch ended before reaching {want}")


async def test_not_serving_without_the_srd_file(tmp_path: Path) -> None:
    async with serving(srd_path=str(tmp_path)) as (srv, s):
        await wait_health(srv, health_pb2.HealthCheckResponse.NOT_SERVING)
        await srv.monitor.check_once()
        assert not srv.monitor.current.ready and "make setup" in srv.monitor.current.reason
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await s.GetMonster(E.GetMonsterRequest(monster="goblin"))
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "make setup" in (
            info.value.details() or ""
        )
    async with serving() as (srv, _):
        await wait_health(srv, health_pb2.HealthCheckResponse.SERVING)
        assert "SRD: 334 monsters" in srv.monitor.current.reason


def test_python_m_encounter_svc_serves(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data")
    sp = start_service("encounter", env, tmp_path / "logs", timeout=60)
    try:
        with grpc.insecure_channel(sp.address) as channel:
            reply = Stub(channel).RollDice(E.RollDiceRequest(notation="2d6+3", seed=1), timeout=10)
        assert 5 <= reply.total <= 15 and reply.seed == 1
    finally:
        assert sp.stop() == 0, sp.log()


# --- prose from a language model -----------------------------------------------------------------------------------


class ScriptedModel(TextModel):
    """A text model that answers structured requests from the prompt's facts; ``lie`` adds a creature."""

    backend = "scripted"

    def __init__(self, lie: bool = False, down: bool = False) -> None:
        super().__init__()
        self.lie, self.down, self.calls = lie, down, 0

    @property
    def context_window(self) -> int:
        return 4096

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def stream(self, prompt: Prompt, params: GenParams) -> Any:
        raise NotImplementedError("encounter prose is a structured call")

    async def _json_attempt(
        self, prompt: Prompt, schema: dict[str, Any], params: GenParams
    ) -> tuple[str, Provenance]:
        self.calls += 1
        if self.down:
            raise Unavailable("no model server answered", reason="MODEL_UNAVAILABLE", domain="text-model")
        facts = prompt.variables["facts"]
        who = " and ".join(f"{c['count'] + (1 if self.lie else 0)} {c['name']}" for c in facts["creatures"])
        answer = {
            "title": f"Trouble in the {facts['terrain']}",
            "description": f"You stop short: {who} wait ahead, weapons ready.",
            "tactics": "They fight together and flee when half of them fall.",
        }
        return json.dumps(answer), Provenance("scripted", "scripted-1", params.seed, False, 100, 40)


REQ = E.GenerateEncounterRequest(
    party=party(5, 5, 5, 5), terrain="grassland", difficulty=E.DIFFICULTY_HARD, seed=21
)


def mechanics(reply: E.GenerateEncounterResponse) -> tuple[Any, ...]:
    e = reply.encounter
    return (e.id, list(e.creatures), e.xp, e.treasure, list(e.hazards), list(e.terrain_features))


async def test_model_prose_is_used_but_never_changes_the_mechanics(stub: Stub) -> None:
    offline = await stub.GenerateEncounter(REQ)
    model = ScriptedModel()
    async with serving(model=model) as (_, s):
        written = await s.GenerateEncounter(REQ)
    assert model.calls == 1 and mechanics(written) == mechanics(offline)
    assert (
        written.encounter.description.startswith("You stop short:")
        and written.encounter.title != offline.encounter.title
    )
    assert (written.info.backend, written.info.model, written.info.procedural) == (
        "scripted",
        "scripted-1",
        False,
    )
    assert (written.info.seed, written.info.prompt_tokens, written.info.completion_tokens) == (21, 100, 40)


async def test_model_prose_with_wrong_numbers_falls_back_to_the_tables(stub: Stub) -> None:
    offline = await stub.GenerateEncounter(REQ)
    for model in (ScriptedModel(lie=True), ScriptedModel(down=True)):
        async with serving(model=model) as (_, s):
            reply = await s.GenerateEncounter(REQ)
        assert model.calls >= 1
        assert without_latency(reply).encounter == offline.encounter
        assert reply.info.procedural and reply.info.backend == "procedural" and reply.info.seed == 21


def test_mechanics_guard_names_the_problem() -> None:
    from encounter_svc.builder import generate_encounter
    from encounter_svc.model_prose import encounter_facts
    from encounter_svc.models import EncounterRequest, PartyMember

    enc = generate_encounter(EncounterRequest((PartyMember(5),) * 4, ("forest",), "hard", seed=21))
    facts = encounter_facts(enc)
    check: Callable[[dict[str, Any]], list[str]] = mechanics_guard(enc, facts)
    names = " and ".join(f"{g.count} {g.stat_block.name}" for g in enc.creatures)
    ok = {"title": "Ambush", "description": f"Ahead wait {names}.", "tactics": "They charge."}
    assert check(ok) == []
    assert any("99" in p for p in check({**ok, "tactics": "They have 99 arrows."}))
    assert any(p.startswith("description: name") for p in check({**ok, "description": "Nothing here."}))
    # A wrong count is caught even when that number appears elsewhere in the facts (a CR, a DC).
    g = enc.creatures[0]
    right, wrong = f"{g.count} {g.stat_block.name}", f"{g.count + 1} {g.stat_block.name}"
    problems = check({**ok, "description": ok["description"].replace(right, wrong)})
    assert f"description: there are {right}, not {g.count + 1}" in problems
