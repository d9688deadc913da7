"""The terminal client against an in-process gateway: keys, status, ingest, campaigns, a played turn, cards."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from rich.console import Console

from gateway.cli import main, parse_party
from gateway.keys import KeyRing
from tests.gateway.conftest import KEYS, Rig, base_settings
from tests.support.procs import ROOT


async def run_cli(rig: Rig | None, *argv: str, key: str = "dm-all") -> tuple[int, str]:
    """Run the CLI in a thread (its gRPC client is synchronous) and capture what it printed."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=140, force_terminal=False, color_system=None)
    prefix = ["--gateway", rig.gateway.address, "--key", KEYS[key][0]] if rig is not None else []
    code = await asyncio.to_thread(main, [*prefix, *argv], console)
    return code, buffer.getvalue()


async def test_new_key_mints_a_key_the_gateway_accepts() -> None:
    code, out = await run_cli(None, "new-key", "--id", "alice", "--role", "player", "--campaign", "camp-a")
    assert code == 0
    lines = out.splitlines()
    key = lines[lines.index("key (give it to the caller; it is stored nowhere):") + 1].strip()
    record = json.loads(lines[-1])
    assert (
        record["role"] == "player" and record["campaigns"] == ["camp-a"] and key not in out.split(key, 1)[1]
    )
    ring = KeyRing.from_settings(base_settings(gateway_api_keys=[record]))
    principal = ring.authenticate((("x-api-key", key),))
    assert (
        principal.key_id == "alice" and principal.may_access("camp-a") and not principal.may_access("camp-b")
    )


async def test_status_ingest_and_new_campaign(rig: Rig) -> None:
    code, out = await run_cli(rig, "status")
    assert code == 0 and "SERVING" in out and "memory" in out and "visual" in out
    code, out = await run_cli(rig, "ingest", str(ROOT / "worlds" / "ashen-reach"), key="service-all")
    assert code == 0, out
    docs = len(list((ROOT / "worlds" / "ashen-reach").rglob("*.md")))
    assert f"{docs} documents" in out and "ashen-reach" in out
    assert rig.fakes.log.last("CreateWorld").role == "service"
    code, out = await run_cli(rig, "new-campaign", "--world", "ashen-reach", "--name", "The Drowned Shrine")
    assert code == 0 and "campaign camp-3" in out and "play --campaign camp-3" in out
    code, out = await run_cli(rig, "new-campaign", "--name", "Nope", key="player-a")
    assert code == 1 and "PERMISSION_DENIED" in out


async def test_play_once_renders_narration_cards_and_image(rig: Rig, tmp_path: Path) -> None:
    rig.fakes.servicers["visual"].model = True
    code, out = await run_cli(
        rig,
        "play",
        "--campaign",
        "camp-a",
        "--once",
        "I approach the merchant, then attack the goblins",
        "--images",
        "--out",
        str(tmp_path),
        "--seed",
        "5",
    )
    assert code == 0, out
    assert (
        "You i approach the merchant, then attack the goblins and the world answers." in out
    )  # streamed, whole
    assert "Maren Holt" in out and "Secret (DM only)" in out  # NPC card, as a DM sees it
    assert "Ambush in the grassland" in out  # encounter card
    images = await asyncio.to_thread(lambda: list(tmp_path.glob("*.png")))
    assert len(images) == 1 and f"image: {images[0]}" in out.replace("\n", "")
    assert (await asyncio.to_thread(images[0].read_bytes)).startswith(b"\x89PNG")
    assert "starts a fight" in out and "meets someone" in out  # the plan's reasons in the closing line

    code, out = await run_cli(
        rig,
        "play",
        "--campaign",
        "camp-a",
        "--once",
        "I greet the guard",
        "--out",
        str(tmp_path),
        key="player-a",
    )
    assert code == 0 and "Maren Holt" in out and "Secret" not in out
    code, out = await run_cli(rig, "play", "--campaign", "camp-b", "--once", "I look", key="player-a")
    assert code == 1 and "PERMISSION_DENIED" in out


async def test_builder_commands_render_cards(rig: Rig) -> None:
    code, out = await run_cli(rig, "encounter", "--terrain", "swamp", "--difficulty", "hard", "--seed", "4")
    assert code == 0 and "Ambush in the swamp" in out
    assert rig.fakes.log.last("GenerateEncounter").role == "dm"
    code, out = await run_cli(rig, "npc", "--archetype", "merchant", "--seed", "4")
    assert code == 0 and "Maren Holt" in out and "merchant" in out
    code, out = await run_cli(rig, "item", "--rarity", "very-rare", "--seed", "4")
    assert code == 0 and "Lantern of Tides" in out and "very rare" in out


def test_parse_party() -> None:
    party = parse_party("Ash:3:fighter, Bree:5 ,Cor")
    assert [(m.name, m.level, m.character_class) for m in party.members] == [
        ("Ash", 3, "fighter"),
        ("Bree", 5, ""),
        ("Cor", 1, ""),
    ]
