"""Seeded dice through d20: reproducible, isolated from the global generator, bad notation rejected."""

from __future__ import annotations

import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from mesh.errors import InvalidArgument
from rules.dice import SeededRoller, average, average_floor, roll, validate


def test_same_seed_same_roll() -> None:
    a = [roll("4d6kh3", 1234).detail for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert roll("4d6kh3", 1234).total == roll("4d6kh3", random.Random(1234)).total


def test_different_seeds_differ() -> None:
    totals = {roll("10d20", seed).total for seed in range(20)}
    assert len(totals) > 10


def test_global_random_untouched() -> None:
    state = random.getstate()
    roll("8d6e6", 99)
    roll("1d%", 99)
    assert random.getstate() == state
    random.seed(5)
    first = roll("3d6", 7).total
    random.seed(6)
    assert roll("3d6", 7).total == first  # reseeding the global generator changes nothing


def test_one_generator_is_one_stream() -> None:
    rng = random.Random(3)
    roller = SeededRoller(rng)
    seq = [roller.roll("1d20").total for _ in range(5)]
    again = SeededRoller(random.Random(3))
    assert [again.roll("1d20").total for _ in range(5)] == seq


def test_concurrent_requests_do_not_leak() -> None:
    seeds = list(range(200))
    sequential = [roll("6d10ro1+2", s).total for s in seeds]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(lambda s: roll("6d10ro1+2", s).total, seeds))
    assert concurrent == sequential


def test_fair_d6() -> None:
    rng = random.Random(42)
    roller = SeededRoller(rng)
    faces = Counter(roller.roll("1d6").total for _ in range(6000))
    assert set(faces) == {1, 2, 3, 4, 5, 6}
    assert all(850 < n < 1150 for n in faces.values())


def test_d20_operators_work_seeded() -> None:
    out = roll("2d20kh1+5", 11)  # advantage
    assert 6 <= out.total <= 25 and "2d20kh1" in out.detail
    assert 4 <= roll("4d6ro1", 3).total <= 24
    assert roll("1d%", 3).total % 10 == 0


@pytest.mark.parametrize("bad", ["2d", "abc", "d", "1d6+", "3dd6", "1d6 fire"])
def test_malformed_notation(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        roll(bad, 1)
    assert err.value.violations[0][0] == "dice"
    assert "notation" in err.value.violations[0][1]


@pytest.mark.parametrize("bad", ["", "   ", "1d0", "2000d6", "1d1e1", "1d6" + "+1" * 200])
def test_unrollable_notation(bad: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate(bad, "notation")
    assert err.value.violations[0][0] == "notation"


def test_average_is_the_stat_block_number() -> None:
    assert average("2d6+3") == 10.0
    assert average_floor("19d12+133") == 256  # adult red dragon
    assert average_floor("1d4-1") == 1
    assert average("7") == 7.0
    with pytest.raises(InvalidArgument):
        average("2d6kh1")
