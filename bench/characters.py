"""Character sheet and check speed, calling the rules directly (the domain section).

Prints sheets built per second over every class x level 1..20 (each sheet built from its choices, as
``build_sheet`` does for a stored sheet too) with p50/p99 per sheet, and skill checks per second with p50/p99
per check. One warm-up build first (the SRD tables are read once per process, as in a running service). Wall
time and the calling thread's CPU time are both reported: on a shared machine the CPU time shows the cost of
the code itself. Target: a sheet in under 2 ms p50.

    python bench/characters.py [--seconds 5]

Sections over gRPC (``ResolveCheck`` p50/p99 including the memory write) add a ``bench_<name>(args)`` function
and a line in :func:`main`.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

from rules.checks import skill_check
from rules.classes import load_character_data
from rules.sheets import CharacterChoices, build_sheet, pregenerated

TARGET_SHEET_P50_MS = 2.0
SKILLS = ("athletics", "stealth", "investigation", "perception", "persuasion", "arcana")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _line(label: str, times: list[tuple[float, float]]) -> str:
    ms = [t[0] * 1000 for t in times]
    cpu = [t[1] * 1000 for t in times]
    rate = len(times) / sum(t[0] for t in times) if times else 0.0
    return (
        f"{label:<22} {len(times):>7} {rate:>9.1f}/s  p50 {_percentile(ms, 0.5):7.3f} ms  "
        f"p99 {_percentile(ms, 0.99):7.3f} ms  mean {statistics.fmean(ms):7.3f} ms  "
        f"cpu p50 {_percentile(cpu, 0.5):6.3f} ms"
    )


def _timed() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    return time.perf_counter() - start[0], time.thread_time() - start[1]


def bench_domain(args: argparse.Namespace) -> list[str]:
    """Sheets for every class x level (half the time), then skill checks (the other half)."""
    data = load_character_data()
    classes = sorted(data.classes)
    build_sheet(CharacterChoices("warm", classes[0], "human"))  # warm-up
    sheets: list[tuple[float, float]] = []
    deadline = time.perf_counter() + args.seconds / 2
    combos = itertools.cycle([(c, lv) for c in classes for lv in range(1, 21)])
    rounds = 0
    while time.perf_counter() < deadline or rounds < len(classes) * 20:
        class_index, level = next(combos)
        choices = CharacterChoices(
            "Bench",
            class_index,
            "human",
            level=level,
            equipment=("longsword", "chain-mail", "shield", "dagger"),
        )
        start = _timed()
        build_sheet(choices)
        sheets.append(_since(start))
        rounds += 1
    party = [pregenerated(c, lv) for c in classes for lv in (1, 5, 11, 20)]
    checks: list[tuple[float, float]] = []
    deadline = time.perf_counter() + args.seconds / 2
    for seed in itertools.count():
        if time.perf_counter() >= deadline:
            break
        sheet = party[seed % len(party)]
        start = _timed()
        skill_check(sheet, SKILLS[seed % len(SKILLS)], 15, advantage=seed % 3 == 0, seed=seed)
        checks.append(_since(start))
    p50 = _percentile([t[0] * 1000 for t in sheets], 0.5)
    return [
        _line("sheet (class x level)", sheets),
        _line("skill check", checks),
        f"sheet p50 {p50:.3f} ms vs target {TARGET_SHEET_P50_MS} ms: {'ok' if p50 < TARGET_SHEET_P50_MS else 'MISSED'}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="time per section (split between its parts)"
    )
    args = parser.parse_args()
    print("domain (rules.sheets, rules.checks):")
    for line in bench_domain(args):
        print("  " + line)


if __name__ == "__main__":
    main()
