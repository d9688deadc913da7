"""Character states: each update keeps the old state as history, and "as of" reads return the state then."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from memory_svc import catalog, characters
from memory_svc.characters import CharacterInput, StateInput
from memory_svc.db import Database
from mesh.errors import InvalidArgument, NotFound


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'dm.db'}")
    database.upgrade()
    return database


def _campaign(db: Database) -> str:
    catalog.create_world(db, "w", "World")
    return str(catalog.create_campaign(db, "w", "Campaign").id)


def test_as_of_returns_the_state_current_at_that_time(db: Database) -> None:
    campaign = _campaign(db)
    hero = characters.create_character(
        db, campaign, CharacterInput(name="Mira", character_class="Fighter", level=3), StateInput(20, 20)
    )
    first = characters.current_state(db, str(hero.id))
    second, dup = characters.update_state(
        db, str(hero.id), StateInput(12, 20, conditions=("poisoned",)), "r1"
    )
    third, _ = characters.update_state(db, str(hero.id), StateInput(5, 20, inventory=("rope",)), "r2")
    assert not dup
    assert first.valid_to is None and first.hit_points == 20
    assert second.valid_from >= first.valid_from and third.valid_from >= second.valid_from

    assert characters.current_state(db, str(hero.id)).hit_points == 5
    at_first = characters.state_as_of(db, str(hero.id), first.valid_from)
    assert (at_first.hit_points, at_first.conditions) == (20, [])
    assert at_first.valid_to == second.valid_from
    at_second = characters.state_as_of(db, str(hero.id), second.valid_from)
    assert (at_second.hit_points, at_second.conditions) == (12, ["poisoned"])
    at_third = characters.state_as_of(db, str(hero.id), third.valid_from + timedelta(days=1))
    assert (at_third.hit_points, at_third.inventory, at_third.valid_to) == (5, ["rope"], None)
    with pytest.raises(NotFound):
        characters.state_as_of(db, str(hero.id), first.valid_from - timedelta(seconds=1))


def test_repeated_request_id_adds_no_history(db: Database) -> None:
    campaign = _campaign(db)
    hero = characters.create_character(db, campaign, CharacterInput(name="Oskar"), None)
    with pytest.raises(NotFound):
        characters.current_state(db, str(hero.id))
    a, dup_a = characters.update_state(db, str(hero.id), StateInput(8, 10), "same")
    b, dup_b = characters.update_state(db, str(hero.id), StateInput(1, 10), "same")
    assert (dup_a, dup_b) == (False, True)
    assert b == a
    c, _ = characters.update_state(db, str(hero.id), StateInput(7, 10), "next")
    # The first request id is now in history: a retry of it still returns what it recorded, and writes nothing.
    again, dup = characters.update_state(db, str(hero.id), StateInput(0, 10), "same")
    assert dup and again.hit_points == 8
    assert characters.current_state(db, str(hero.id)).hit_points == c.hit_points == 7


def test_state_validation_names_fields(db: Database) -> None:
    campaign = _campaign(db)
    hero = characters.create_character(db, campaign, CharacterInput(name="Ida"), None)
    with pytest.raises(InvalidArgument) as err:
        characters.update_state(db, str(hero.id), StateInput(max_hit_points=-1, conditions=("",)), "")
    assert {f for f, _ in err.value.violations} == {"state.max_hit_points", "state.conditions[0]"}
    with pytest.raises(InvalidArgument) as err:
        characters.create_character(db, campaign, CharacterInput(name="", level=99), None)
    assert {f for f, _ in err.value.violations} == {"character.name", "character.level"}
