"""Encounter generation speed with the offline (procedural) writer, calling the domain directly.

Prints encounters per second and p50/p99 latency per (level band, party size) and overall. Each cell runs
for an equal share of the time budget (default ~20 s in all), cycling through difficulties, terrains and
seeds, after one warm-up call (the SRD file is read once per process, like a running service).

    python bench/encounter.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from encounter_svc.builder import generate_encounter
from encounter_svc.models import EncounterRequest, PartyMember
from rules.difficulty import REQUESTABLE
from rules.terrain import TERRAINS

LEVEL_BANDS = ((1, 4), (5, 10), (11, 16), (17, 20))
PARTY_SIZES = (1, 4, 8)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cell(band: tuple[int, int], size: int, seconds: float, seed0: int) -> list[float]:
    combos = itertools.cycle(itertools.product(range(band[0], band[1] + 1), REQUESTABLE, TERRAINS))
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    seed = seed0
    while time.perf_counter() < deadline:
        level, difficulty, terrain = next(combos)
        seed += 1
        req = EncounterRequest(
            party=(PartyMember(level),) * size,
            terrains=(terrain.value,),
            difficulty=difficulty.value,
            seed=seed,
        )
        start = time.perf_counter()
        generate_encounter(req)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="total time budget")
    args = parser.parse_args()
    generate_encounter(
        EncounterRequest(party=(PartyMember(1),), terrains=("forest",), difficulty="easy", seed=1)
    )
    per_cell = args.seconds / (len(LEVEL_BANDS) * len(PARTY_SIZES))
    every: list[float] = []
    print(f"{'levels':>8} {'party':>5} {'n':>7} {'enc/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for band, size in itertools.product(LEVEL_BANDS, PARTY_SIZES):
        times = _cell(band, size, per_cell, seed0=band[0] * 1_000_000 + size * 10_000)
        every += times
        print(
            f"{band[0]:>3}-{band[1]:<4} {size:>5} {len(times):>7} {len(times) / sum(times):>8.0f} "
            f"{_percentile(times, 0.5) * 1e3:>8.3f} {_percentile(times, 0.99) * 1e3:>8.3f}"
        )
    print(
        f"{'overall':>14} {len(every):>7} {len(every) / sum(every):>8.0f} "
        f"{statistics.median(every) * 1e3:>8.3f} {_percentile(every, 0.99) * 1e3:>8.3f}"
    )


if __name__ == "__main__":
    main()
