"""The terminal client's view of a fight step: the rolls as they fell, the initiative order and HP bars.

A pure function from the stream's ``CombatTurnEvent`` to a ``rich`` renderable, testable without a terminal.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from dungeonmaster.v1 import encounter_pb2, gateway_pb2

#: Cells of an HP bar.
BAR_WIDTH = 20

#: Step events shown as lines (the initiative rolls are shown in the order instead).
SHOWN = ("attack", "damage", "cast", "heal", "save", "condition", "death_save", "flee", "end")


def hp_bar(hit_points: int, maximum: int, width: int = BAR_WIDTH) -> str:
    """ "[#########-----------]  9/20": filled in proportion, at least one cell while above 0 HP."""
    hp = max(0, hit_points)
    top = max(1, maximum)
    filled = min(width, round(width * hp / top))
    if hp > 0:
        filled = max(1, filled)
    return f"[{'#' * filled}{'-' * (width - filled)}] {hp:>3}/{maximum}"


def roll_text(roll: encounter_pb2.CombatRoll) -> str:
    """ "attack d20 [14, 3] +5 = 19 vs 15": the dice, the modifier, the total and what it was against."""
    sign = f" {'+' if roll.modifier >= 0 else '-'}{abs(roll.modifier)}" if roll.modifier else ""
    against = f" vs {roll.against}" if roll.against else ""
    return f"{roll.kind} {roll.notation or 'd20'} {list(roll.dice)}{sign} = {roll.total}{against}"


def combat_card(event: gateway_pb2.CombatTurnEvent) -> RenderableType:
    """The step's rolls and results, then everyone in initiative order with HP bars; whose turn is next."""
    state = event.state
    by_id = {c.id: c for c in state.combatants}
    lines: list[RenderableType] = []
    for step in event.events:
        if step.kind not in SHOWN or not step.text:
            continue
        line = Text(f"⚔ {step.text}")
        if step.rolls:
            line.append("  (" + "; ".join(roll_text(r) for r in step.rolls) + ")", style="dim")
        lines.append(line)
    lines.append(Text(f"Initiative order — round {state.round}", style="bold"))
    for cid in state.order:
        c = by_id.get(cid)
        if c is None:
            continue
        mark = "▶" if cid == state.current and state.status == "active" else " "
        down = " dead" if c.dead else " fled" if c.fled else " down" if c.hit_points <= 0 else ""
        conditions = f" ({', '.join(c.conditions)})" if c.conditions else ""
        style = "green" if c.side == "party" else "red"
        row = Text(f"{mark} {c.initiative:>2} ")
        row.append(f"{c.name:<16}", style=style)
        row.append(f" {hp_bar(c.hit_points, c.max_hit_points)} AC {c.armor_class}{down}{conditions}")
        lines.append(row)
    if event.fallen:
        lines.append(Text("Fell: " + ", ".join(event.fallen), style="bold red"))
    if state.status == "active":
        lines.append(Text(f"Next: {event.next_actor}", style="bold"))
    else:
        xp = sum(a.xp for a in state.xp_awarded)
        lines.append(
            Text(f"The fight is over: {state.status}" + (f" ({xp} XP awarded)" if xp else ""), style="bold")
        )
    title = "Combat starts" if event.started else "Combat"
    return Panel(Group(*lines), title=title, border_style="red")
