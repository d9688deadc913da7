"""Every SRD monster takes turns: each of its actions and legendary actions either runs or is reported as
unsupported with a reason, and at least 90% of all of them run."""

from __future__ import annotations

from rules.combat.build import from_sheet, from_statblock
from rules.combat.engine import run_monster_move, start_combat, take_action
from rules.combat.monsters import monster_kit
from rules.combat.tactics import autopilot
from rules.sheets import pregenerated
from rules.srd import load_srd


def test_every_srd_monster_acts_and_the_supported_share_is_at_least_90_percent() -> None:
    srd = load_srd()
    fighter, cleric = pregenerated("fighter", 5), pregenerated("cleric", 5)
    total = supported = ran = 0
    unsupported: list[str] = []
    monsters = list(srd)
    assert len(monsters) == 334
    for block in monsters:
        sources = {"pc:a": fighter, "pc:b": cleric, "m:x": block}
        people = [
            from_sheet("pc:a", fighter),
            from_sheet("pc:b", cleric),
            from_statblock("m:x", block.name, block, block.hit_points, "engaged"),
        ]
        state, _ = start_combat(f"sweep-{block.index}", 1, people, sources, surprised=["m:x"])
        kit = monster_kit(block)
        total += kit.total
        supported += kit.supported
        for name, reason in {**kit.unsupported, **kit.unsupported_legendary}.items():
            assert reason, (block.index, name)
            unsupported.append(f"{block.index}: {name} ({reason})")
        for move in (*kit.moves.values(), *kit.legendary.values()):
            _, events = run_monster_move(state, sources, "m:x", move, ["pc:a"])
            assert events, (block.index, move.name)
            ran += 1
        turns, kinds = 0, set()
        while state.active and turns < 6:  # past its surprised first round, the monster takes a turn
            state, events = take_action(state, sources, autopilot(state, sources, state.current))
            kinds |= {e.kind for e in events if e.actor == "m:x"}
            turns += 1
        assert "turn" in kinds or not state.active, block.index
        assert kinds & {"action", "legendary", "flee", "wait", "move", "dash"} or not state.active, (
            block.index
        )
    share = supported / total
    print(
        f"\nSRD monsters: {len(monsters)}; actions and legendary actions: {total}; run: {supported} ({share:.1%})"
    )
    print(f"unsupported ({len(unsupported)}): " + "; ".join(unsupported[:10]) + " ...")
    assert ran == supported
    assert share >= 0.90
