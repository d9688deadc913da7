"""What a combatant declares on its turn."""

from __future__ import annotations

from dataclasses import dataclass

#: Every kind of declared action, with what it costs.
KINDS: dict[str, str] = {
    "attack": "action (each attack of Extra Attack is declared or listed as a target)",
    "offhand": "bonus action: two-weapon fighting with a light weapon",
    "cast": "action or bonus action, by the spell",
    "dash": "action",
    "disengage": "action",
    "dodge": "action",
    "help": "action",
    "hide": "action",
    "use": "action: drink or give a potion",
    "stabilize": "action: Wisdom (Medicine) DC 10 on a dying ally within 5 ft",
    "second_wind": "bonus action (fighter)",
    "action_surge": "free: one more action (fighter)",
    "rage": "bonus action (barbarian)",
    "move": "movement: to engaged, near or far",
    "flee": "action: leave the fight from the far band",
    "end_turn": "free",
}


@dataclass(frozen=True, slots=True)
class Declared:
    """``actor`` does ``kind``; ``targets`` are combatant ids; ``end_turn`` ends the turn afterwards."""

    actor: str
    kind: str
    targets: tuple[str, ...] = ()
    weapon: str = ""
    spell: str = ""
    slot_level: int = 0
    item: str = ""
    position: str = ""
    end_turn: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "actor": self.actor,
            "kind": self.kind,
            "targets": list(self.targets),
            "weapon": self.weapon,
            "spell": self.spell,
            "slot_level": self.slot_level,
            "item": self.item,
            "position": self.position,
            "end_turn": self.end_turn,
        }
