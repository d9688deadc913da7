"""Player characters in memory: the sheet is stored only when the rules rebuild it identically, live numbers
(hit dice, slots, XP, conditions...) are checked against it and kept in the state history so "as of" works, and
a read or update scoped to another campaign finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from alembic import command
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dungeonmaster.v1 import memory_pb2 as M
from memory_svc import catalog, characters
from memory_svc.characters import CharacterInput, StateInput
from memory_svc.db import Database, alembic_config
from mesh.errors import InvalidArgument, NotFound
from mesh.status import unpack_details
from rules.sheets import pregenerated
from tests.memory.conftest import MemoryFactory
from tests.memory.test_service import bad_fields, serving


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'dm.db'}")
    database.upgrade()
    return database


def _campaigns(db: Database) -> tuple[str, str]:
    catalog.create_world(db, "w", "World")
    return (
        str(catalog.create_campaign(db, "w", "Ours").id),
        str(catalog.create_campaign(db, "w", "Theirs").id),
    )


def _sheet_json(class_index: str = "wizard", level: int = 5) -> str:
    return json.dumps(pregenerated(class_index, level).to_json())


def test_sheet_is_stored_and_a_rested_state_created(db: Database) -> None:
    ours, _ = _campaigns(db)
    sheet = pregenerated("wizard", 5)
    hero = characters.create_character(
        db, ours, CharacterInput(name="Fennick", sheet_json=json.dumps(sheet.to_json())), None
    )
    stored = characters.get_character(db, str(hero.id), ours)
    assert stored.sheet == sheet.to_json()
    assert (stored.character_class, stored.level, stored.ancestry) == ("wizard", 5, "rock-gnome")
    state = characters.current_state(db, str(hero.id))
    assert (state.hit_points, state.max_hit_points) == (sheet.hp_max, sheet.hp_max)
    assert state.live is not None
    assert state.live["hit_dice"] == 5 and state.live["xp"] == 6500 and state.live["slots_used"] == [0] * 9


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d.update(hp_max=d["hp_max"] + 5), "hp_max"),
        (lambda d: d["choices"].update(class_index="necromancer"), "class_index"),
        (lambda d: d["choices"].update(level=21), "level"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_a_sheet_the_rules_do_not_rebuild_is_refused(db: Database, mutate: object, named: str) -> None:
    ours, _ = _campaigns(db)
    data = pregenerated("fighter", 3).to_json()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(InvalidArgument) as err:
        characters.create_character(db, ours, CharacterInput(name="X", sheet_json=json.dumps(data)), None)
    assert {f for f, _ in err.value.violations} == {"character.sheet_json"}
    assert named in str(err.value)
    for text in ("not json", "[1, 2]"):
        with pytest.raises(InvalidArgument, match=r"character\.sheet_json"):
            characters.create_character(db, ours, CharacterInput(name="X", sheet_json=text), None)
    assert characters.list_characters(db, ours, None, 100, "").items == []


def test_live_numbers_keep_history_and_as_of(db: Database) -> None:
    ours, _ = _campaigns(db)
    sheet = pregenerated("wizard", 5)
    hero = characters.create_character(
        db, ours, CharacterInput(name="Fennick", sheet_json=json.dumps(sheet.to_json())), None
    )
    first = characters.current_state(db, str(hero.id))
    hurt = StateInput(
        hit_points=10,
        conditions=("poisoned",),
        live={"hit_dice": 4, "slots_used": [2, 1, 0, 0, 0, 0, 0, 0, 0], "xp": 7000, "exhaustion": 1},
    )
    second, _ = characters.update_state(db, str(hero.id), hurt, "r1", ours)
    assert second.max_hit_points == sheet.hp_max  # from the sheet, whatever the caller sent
    assert second.live is not None and second.live["slots_used"][:2] == [2, 1]
    then = characters.state_as_of(db, str(hero.id), first.valid_from, ours)
    assert then.live is not None
    assert (then.hit_points, then.live["hit_dice"], then.live["xp"], then.conditions) == (
        sheet.hp_max,
        5,
        6500,
        [],
    )
    now = characters.current_state(db, str(hero.id), ours)
    assert now.live is not None
    assert (now.hit_points, now.live["exhaustion"], now.conditions) == (10, 1, ["poisoned"])


@pytest.mark.parametrize(
    ("state", "field"),
    [
        (StateInput(hit_points=999), "state.hit_points"),
        (StateInput(hit_points=5, live={"hit_dice": 9}), "state.hit_dice_left"),
        (StateInput(hit_points=5, live={"slots_used": [9, 0, 0, 0, 0, 0, 0, 0, 0]}), "state.slots_used[0]"),
        (StateInput(hit_points=5, conditions=("sleepy",)), "state.conditions[0]"),
        (
            StateInput(hit_points=5, live={"resources_used": {"rage_count": 1}}),
            "state.resources_used.rage_count",
        ),
        (StateInput(hit_points=5, live={"exhaustion": 7}), "state.exhaustion"),
    ],
)
def test_live_numbers_beyond_the_sheet_are_refused(db: Database, state: StateInput, field: str) -> None:
    ours, _ = _campaigns(db)
    hero = characters.create_character(db, ours, CharacterInput(name="F", sheet_json=_sheet_json()), None)
    before = characters.current_state(db, str(hero.id))
    with pytest.raises(InvalidArgument) as err:
        characters.update_state(db, str(hero.id), state, "bad", ours)
    assert field in {f for f, _ in err.value.violations}
    assert characters.current_state(db, str(hero.id)) == before


def test_another_campaigns_character_is_not_found(db: Database) -> None:
    ours, theirs = _campaigns(db)
    hero = characters.create_character(db, ours, CharacterInput(name="F", sheet_json=_sheet_json()), None)
    ref = str(hero.id)
    for call in (
        lambda: characters.get_character(db, ref, theirs),
        lambda: characters.current_state(db, ref, theirs),
        lambda: characters.update_state(db, ref, StateInput(hit_points=1), "x", theirs),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.field == "character_id"
    assert characters.current_state(db, ref).hit_points > 1  # the refused update wrote nothing
    assert characters.get_character(db, ref).name == "F"  # unscoped callers are unchanged


async def test_over_grpc(make_memory: MemoryFactory) -> None:
    memory = make_memory()
    async with serving(memory) as (_, stub):
        world = await stub.CreateWorld(M.CreateWorldRequest(slug="w", name="W"))
        ours = (
            await stub.CreateCampaign(M.CreateCampaignRequest(world_id=world.world.id, name="A"))
        ).campaign
        theirs = (
            await stub.CreateCampaign(M.CreateCampaignRequest(world_id=world.world.id, name="B"))
        ).campaign
        sheet = pregenerated("rogue", 3)
        made = await stub.CreateCharacter(
            M.CreateCharacterRequest(
                campaign_id=ours.id,
                character=M.Character(name="Pip", sheet_json=json.dumps(sheet.to_json())),
            )
        )
        cid = made.character.id
        assert json.loads(made.character.sheet_json) == sheet.to_json()
        got = await stub.GetCharacter(M.GetCharacterRequest(character_id=cid, campaign_id=ours.id))
        assert got.character.sheet_json == made.character.sheet_json
        updated = await stub.UpdateCharacterState(
            M.UpdateCharacterStateRequest(
                character_id=cid,
                campaign_id=ours.id,
                state=M.CharacterState(hit_points=3, hit_dice_left=2, xp=1000, conditions=["frightened"]),
                request_id="u1",
            )
        )
        assert (updated.state.hit_dice_left, updated.state.xp, updated.state.max_hit_points) == (
            2,
            1000,
            sheet.hp_max,
        )
        assert list(updated.state.slots_used) == [0] * 9
        now = await stub.GetCharacterState(M.GetCharacterStateRequest(character_id=cid, campaign_id=ours.id))
        assert (now.state.hit_points, list(now.state.conditions)) == (3, ["frightened"])

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetCharacterState(M.GetCharacterStateRequest(character_id=cid, campaign_id=theirs.id))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "character_id" in (err.value.details() or "")
        status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
        assert status is not None
        infos = [d for d in unpack_details(status) if isinstance(d, error_details_pb2.ResourceInfo)]
        assert infos and infos[0].description == "named by character_id"

        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateCharacter(
                M.CreateCharacterRequest(
                    campaign_id=ours.id, character=M.Character(name="Bad", sheet_json='{"choices": {}}')
                )
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == {"character.sheet_json"}
        listed = await stub.ListCharacters(M.ListCharactersRequest(campaign_id=ours.id))
        assert [c.name for c in listed.characters] == ["Pip"]


def test_upgrade_from_the_first_schema_keeps_states_and_their_history(tmp_path: Path) -> None:
    """A database written before player characters existed upgrades in place: its rows read as before, and
    updates (the history trigger recreated with the new column) keep the old state for "as of"."""
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    with database.engine.begin() as conn:
        cfg = alembic_config(database.url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with database.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO worlds (slug, name, description, created_at) "
                "VALUES ('w', 'W', '', '2026-01-01 00:00:00.000000')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO campaigns (world_id, name, description, created_at) "
                "VALUES (1, 'C', '', '2026-01-01 00:00:00.000000')"
            )
        )
        campaign = str(conn.execute(sa.text("SELECT id FROM campaigns")).scalar_one())
        conn.execute(
            sa.text(
                "INSERT INTO characters (campaign_id, name, is_npc, ancestry, character_class, level, "
                "description, secrets, tags, created_at) "
                "VALUES (:c, 'Old', 0, '', '', 0, '', '[]', '[]', '2026-01-01 00:00:00.000000')"
            ),
            {"c": int(campaign)},
        )
        old_id = conn.execute(sa.text("SELECT id FROM characters")).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO character_states (character_id, hit_points, max_hit_points, temporary_hit_points, "
                "conditions, inventory, notes) VALUES (:c, 7, 9, 0, '[]', '[]', '')"
            ),
            {"c": old_id},
        )
    database.upgrade()
    first = characters.current_state(database, str(old_id))
    assert (first.hit_points, first.live) == (7, None)
    characters.update_state(database, str(old_id), StateInput(3, 9), "u1")
    assert characters.state_as_of(database, str(old_id), first.valid_from).hit_points == 7
    assert characters.current_state(database, str(old_id)).hit_points == 3
    pc = characters.create_character(
        database, campaign, CharacterInput(name="New", sheet_json=_sheet_json()), None
    )
    start = characters.current_state(database, str(pc.id))
    characters.update_state(database, str(pc.id), StateInput(hit_points=1, live={"hit_dice": 2}), "u2")
    then = characters.state_as_of(database, str(pc.id), start.valid_from)
    assert then.live is not None and then.live["hit_dice"] == 5
