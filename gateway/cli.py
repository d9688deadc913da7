"""Terminal client for people: play a campaign, build things, ingest a world, mint API keys.

    python -m gateway.cli new-key --id alice --role player --campaign 1
    python -m gateway.cli ingest worlds/ashen-reach
    python -m gateway.cli new-campaign --world ashen-reach --name "The Drowned Shrine"
    python -m gateway.cli play                        # the demo campaign, as its first hero
    python -m gateway.cli play --once "I search the body for clues"
    python -m gateway.cli play --campaign 1 --party "Ash:3:fighter,Bree:3:rogue"
    python -m gateway.cli watch --campaign 1
    python -m gateway.cli character new               # asks for name, class, race, level
    python -m gateway.cli character new --name Wren --class ranger --race elf --subrace high-elf --level 2
    python -m gateway.cli character show 7
    python -m gateway.cli encounter --party "Ash:3,Bree:3" --terrain swamp --difficulty hard
    python -m gateway.cli npc --archetype merchant
    python -m gateway.cli item --rarity rare
    python -m gateway.cli status

The key comes from ``--key`` or ``DM_API_KEY`` (a gateway in dev mode, with no keys configured, needs none);
the address from ``--gateway`` or the settings (``DM_GATEWAY_ADDR``). Every call goes through the gateway.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.text import Text

from dungeonmaster.v1 import (
    common_pb2,
    encounter_pb2,
    encounter_pb2_grpc,
    gateway_pb2,
    gateway_pb2_grpc,
    item_pb2,
    item_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
    npc_pb2,
    npc_pb2_grpc,
)
from gateway.cards import check_line, encounter_card, item_card, npc_card, sheet_card, status_table
from gateway.combat_card import combat_card
from gateway.keys import ROLES, hash_key, new_key
from lore.world_folder import world_documents
from mesh.character_proto import sheet_pb
from mesh.demo import DEMO_CAMPAIGN, DEMO_PARTY
from mesh.settings import get_settings
from rules.sheets import CharacterSheet

TIMEOUT_S = 120.0
DEFAULT_PARTY = "Ash:3:fighter,Bree:3:rogue,Cor:3:cleric,Dov:3:wizard"
DIFFICULTIES = {
    name.removeprefix("DIFFICULTY_").lower(): value for name, value in encounter_pb2.Difficulty.items()
}
RARITIES = {
    name.removeprefix("RARITY_").lower().replace("_", "-"): value for name, value in item_pb2.Rarity.items()
}


def parse_party(text: str) -> common_pb2.Party:
    """``"Ash:3:fighter,Bree:3"`` -> a Party (level defaults to 1)."""
    party = common_pb2.Party()
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, _, rest = entry.partition(":")
        level, _, cls = rest.partition(":")
        party.members.add(name=name.strip(), level=int(level or 1), character_class=cls.strip())
    return party


class Client:
    """A channel to the gateway with the caller's key on every call."""

    def __init__(self, address: str, key: str, ca_file: str = "") -> None:
        if ca_file:
            creds = grpc.ssl_channel_credentials(Path(ca_file).read_bytes())
            self.channel = grpc.secure_channel(address, creds)
        else:
            self.channel = grpc.insecure_channel(address)
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {key}"),) if key else ()
        self.memory = memory_pb2_grpc.MemoryServiceStub(self.channel)
        self.gm = gateway_pb2_grpc.GameMasterServiceStub(self.channel)
        self.encounters = encounter_pb2_grpc.EncounterServiceStub(self.channel)
        self.npcs = npc_pb2_grpc.NpcServiceStub(self.channel)
        self.items = item_pb2_grpc.ItemServiceStub(self.channel)

    def kw(self, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        return {"metadata": self.metadata, "timeout": timeout}


# --- commands --------------------------------------------------------------------------------------------------


def cmd_new_key(args: argparse.Namespace, console: Console) -> int:
    """Print a fresh key (shown once) and the record to add to DM_GATEWAY_API_KEYS (which stores only its hash)."""
    key = new_key()
    record = {"id": args.id, "sha256": hash_key(key), "role": args.role, "campaigns": args.campaign or ["*"]}
    console.print("key (give it to the caller; it is stored nowhere):", style="bold")
    console.print(key, soft_wrap=True)
    console.print("record for DM_GATEWAY_API_KEYS (a JSON list of these):", style="bold")
    console.print(json.dumps(record), soft_wrap=True, markup=False, highlight=False)
    return 0


def cmd_status(client: Client, args: argparse.Namespace, console: Console) -> int:
    status = client.gm.GetStatus(gateway_pb2.GetStatusRequest(), **client.kw(10))
    console.print(status_table(status))
    return 0 if status.serving else 1


def cmd_ingest(client: Client, args: argparse.Namespace, console: Console) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        console.print(f"[red]{folder} is not a folder[/]")
        return 2
    info, docs = world_documents(folder)
    world = client.memory.CreateWorld(
        memory_pb2.CreateWorldRequest(slug=info["slug"], name=info["name"], description=info["description"]),
        **client.kw(),
    ).world

    def requests() -> Iterator[memory_pb2.IngestLoreRequest]:
        for i, doc in enumerate(docs):
            console.print(f"  {doc.relative_to(folder)}", style="dim")
            yield memory_pb2.IngestLoreRequest(
                world_id=world.slug if i == 0 else "",
                path=str(doc.relative_to(folder)),
                content=doc.read_text(encoding="utf-8"),
                delete_missing=i == 0 and not args.keep_missing,
            )

    result = client.memory.IngestLore(requests(), **client.kw(600))
    console.print(
        f"world [bold]{world.slug}[/] ({world.id}): {result.documents} documents, {result.chunks} chunks — "
        f"{result.created} new, {result.updated} changed, {result.unchanged} unchanged, {result.deleted} deleted, "
        f"{result.queued_for_embedding} queued for embedding"
    )
    return 0


def cmd_new_campaign(client: Client, args: argparse.Namespace, console: Console) -> int:
    campaign = client.memory.CreateCampaign(
        memory_pb2.CreateCampaignRequest(world_id=args.world, name=args.name, description=args.description),
        **client.kw(),
    ).campaign
    console.print(f"campaign [bold]{campaign.id}[/] “{escape(campaign.name)}” in world {campaign.world_id}")
    console.print(f"play it: python -m gateway.cli play --campaign {campaign.id}", style="dim")
    return 0


LIVE = memory_pb2


class TableView:
    """Prints a campaign as it happens: whose turn, narration live, then what the log recorded.

    Turns in ``own`` (the ones this terminal plays) are skipped: their stream is already on screen. A recorded
    narration whose chunks were shown live is not printed again.
    """

    def __init__(self, console: Console, own: set[str] | None = None) -> None:
        self.console = console
        self.own = own if own is not None else set()
        self.live_turns: set[str] = set()
        self.last_id = ""
        self.events = 0

    def show(self, item: gateway_pb2.WatchCampaignResponse) -> None:
        self.last_id = item.event_id or self.last_id
        if item.HasField("live"):
            self._live(item.live)
        elif item.HasField("event"):
            self.events += 1
            self._event(item.event)

    def _live(self, live: memory_pb2.LiveUpdate) -> None:
        if live.turn_id in self.own:
            return
        whisper = " (whisper)" if live.recipients else ""
        if live.kind == LIVE.LIVE_KIND_TURN_STARTED:
            self.live_turns.add(live.turn_id)
            self.console.print(Text(f"— {live.actor or 'someone'}'s turn{whisper} —", style="bold magenta"))
        elif live.kind == LIVE.LIVE_KIND_NARRATION:
            self.console.print(escape(live.text), end="", soft_wrap=True)
        elif live.kind == LIVE.LIVE_KIND_IMAGE:
            self.console.print(Text(f"[image ready: {live.ref}]", style="blue"))
        elif live.kind == LIVE.LIVE_KIND_TURN_ENDED:
            self.console.print()

    def _event(self, event: memory_pb2.Event) -> None:
        turn = str(json.loads(event.metadata_json or "{}").get("turn_id", ""))
        if turn and turn in self.own:
            return
        if event.kind == memory_pb2.EVENT_KIND_DM_NARRATION and turn in self.live_turns:
            return
        kind = memory_pb2.EventKind.Name(event.kind).removeprefix("EVENT_KIND_").lower().replace("_", " ")
        who = f"{event.actor}: " if event.actor else ""
        whisper = " (whisper)" if event.recipients else ""
        self.console.print(
            Text(f"#{event.sequence} {kind}{whisper} ", style="dim") + Text(f"{who}{event.content}")
        )


def follow(
    client: Client,
    campaign: str,
    view: TableView,
    after: str = "",
    count: int = 0,
    stop: threading.Event | None = None,
) -> int:
    """Follow a campaign, reconnecting from the last event id when the stream drops; ``count`` > 0 stops after
    that many log events. Returns 0, or 1 when the gateway refuses the watch."""
    view.last_id = after
    backoff = 0.5
    while stop is None or not stop.is_set():
        call = client.gm.WatchCampaign(
            gateway_pb2.WatchCampaignRequest(campaign_id=campaign, after_event_id=view.last_id),
            metadata=client.metadata,
        )
        try:
            for item in call:
                view.show(item)
                backoff = 0.5
                if (count and view.events >= count) or (stop is not None and stop.is_set()):
                    call.cancel()
                    return 0
        except grpc.RpcError as exc:
            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                if exc.code() != grpc.StatusCode.CANCELLED:
                    view.console.print(f"[red]{exc.code().name}: {escape(exc.details() or '')}[/]")
                    return 1
                return 0
            view.console.print(Text(f"(reconnecting after #{view.last_id or 0})", style="dim"))
            time.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
    return 0


def cmd_watch(client: Client, args: argparse.Namespace, console: Console) -> int:
    console.print(f"[bold]Watching campaign {args.campaign}[/] — Ctrl-C to leave.")
    try:
        return follow(client, args.campaign, TableView(console), args.after, args.count)
    except KeyboardInterrupt:
        return 0


def play_turn(client: Client, args: argparse.Namespace, console: Console, text: str, out_dir: Path) -> bool:
    """Play one turn, streaming the narration; cards that arrive mid-narration wait for its end.

    Returns False when the gateway refused the turn.
    """
    turn_id = uuid.uuid4().hex
    own: set[str] | None = getattr(args, "own_turns", None)
    if own is not None:
        own.add(turn_id)
    request = gateway_pb2.PlayTurnRequest(
        campaign_id=args.campaign,
        session_id=args.session,
        turn_id=turn_id,
        input=text,
        actor=args.actor,
        party=parse_party(args.party),
        want_image=args.images,
        seed=args.seed,
        character_id=args.character,
        private=args.whisper,
    )
    narrating = False
    held: list[RenderableType] = []

    def show(item: RenderableType) -> None:
        (held.append if narrating else console.print)(item)

    try:
        for reply in client.gm.PlayTurn(request, **client.kw(args.deadline)):
            kind = reply.WhichOneof("event")
            if kind == "narration":
                console.print(escape(reply.narration.text), end="", soft_wrap=True)
                narrating = True
            elif kind == "check":
                show(check_line(reply.check.result))
            elif kind == "combat":
                show(combat_card(reply.combat))
            elif kind == "encounter":
                show(encounter_card(reply.encounter.encounter))
            elif kind == "npc":
                show(npc_card(reply.npc.npc, reply.npc.character_id))
            elif kind == "item":
                show(item_card(reply.item.item))
            elif kind == "image":
                path = out_dir / f"{reply.image.sha256 or uuid.uuid4().hex}.png"
                path.write_bytes(reply.image.image.png)
                show(Text(f"image: {path}", style="blue"))
            elif kind == "warning":
                show(Text(f"⚠ {reply.warning.component}: {reply.warning.message}", style="yellow"))
            elif kind == "context" and args.verbose:
                show(Text(f"context: {len(reply.context.pieces)} pieces", style="dim"))
            elif kind == "done":
                if narrating:
                    console.print()
                    narrating = False
                for item in held:
                    console.print(item)
                held.clear()
                done = reply.done
                why = "; ".join(done.plan_reasons) or "narration only"
                if args.verbose:  # where the time went is for developers, not for the table
                    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(done.timings_ms.items()))
                    why = f"{why} — {timings}"
                console.print(Text(f"({why}{', replayed' if done.replayed else ''})", style="dim"))
    except grpc.RpcError as exc:
        if narrating:
            console.print()
        for item in held:
            console.print(item)
        console.print(f"[red]{exc.code().name}: {escape(exc.details() or '')}[/]")
        return False
    return True


def find_demo(client: Client) -> tuple[str, dict[str, str]]:
    """The demo campaign's id and its heroes (name -> id), or ("", {}) when there is none."""
    token = ""
    while True:
        page = client.memory.ListCampaigns(
            memory_pb2.ListCampaignsRequest(page_size=1000, page_token=token), **client.kw(30)
        )
        campaign = next((c for c in page.campaigns if c.name == DEMO_CAMPAIGN), None)
        if campaign is not None:
            break
        token = page.next_page_token
        if not token:
            return "", {}
    reply = client.memory.ListCharacters(
        memory_pb2.ListCharactersRequest(campaign_id=campaign.id, is_npc=False, page_size=100),
        **client.kw(30),
    )
    heroes: dict[str, str] = {}
    for character in reply.characters:
        heroes.setdefault(character.name, character.id)
    return campaign.id, heroes


def join_demo(client: Client, args: argparse.Namespace, console: Console) -> bool:
    """With no campaign given, play the demo campaign as its first hero; False when there is no demo."""
    campaign_id, heroes = find_demo(client)
    if not campaign_id:
        console.print(
            "[red]no --campaign given and no demo campaign found[/] (start the mesh with `make run`, "
            "or give --campaign)"
        )
        return False
    args.campaign = campaign_id
    if not args.character and heroes:
        first = next((heroes[name] for name, _ in DEMO_PARTY if name in heroes), next(iter(heroes.values())))
        args.character = first
        args.actor = args.actor or next(name for name, cid in heroes.items() if cid == first)
    return True


def cmd_play(client: Client, args: argparse.Namespace, console: Console) -> int:
    if not args.campaign and not join_demo(client, args, console):
        return 1
    if args.party is None:  # a party stored in memory is used as is; else the classic four for encounters
        args.party = "" if args.character else DEFAULT_PARTY
    args.actor = args.actor or ("" if args.character else "Adventurer")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.once:
        return 0 if play_turn(client, args, console, args.once, out_dir) else 1
    who = escape(args.actor or "your character")
    console.print(f"[bold]Campaign {args.campaign}[/] — type what {who} does; /quit to leave.")
    # Other players' turns appear as they happen, from the campaign's live stream.
    args.own_turns = set()
    stop = threading.Event()
    latest = client.memory.ListEvents(
        memory_pb2.ListEventsRequest(campaign_id=args.campaign, page_size=1), **client.kw(10)
    ).events
    after = str(latest[0].sequence) if latest else ""
    watcher = threading.Thread(
        target=follow,
        args=(client, args.campaign, TableView(console, args.own_turns), after),
        kwargs={"stop": stop},
        daemon=True,
    )
    if not args.solo:
        watcher.start()
    try:
        while True:
            try:
                text = console.input("[bold cyan]> [/]").strip()
            except (EOFError, KeyboardInterrupt):
                console.print()
                return 0
            if text in ("/quit", "/exit"):
                return 0
            if text == "/status":
                cmd_status(client, args, console)
            elif text:
                play_turn(client, args, console, text, out_dir)
    finally:
        stop.set()


def cmd_encounter(client: Client, args: argparse.Namespace, console: Console) -> int:
    reply = client.encounters.GenerateEncounter(
        encounter_pb2.GenerateEncounterRequest(
            party=parse_party(args.party),
            terrain=args.terrain,
            region=args.region,
            world_id=args.world,
            difficulty=DIFFICULTIES[args.difficulty],
            theme=args.theme,
            seed=args.seed,
        ),
        **client.kw(),
    )
    console.print(encounter_card(reply.encounter))
    if reply.unmet_reason:
        console.print(f"[yellow]{escape(reply.unmet_reason)}[/]")
    return 0


def cmd_npc(client: Client, args: argparse.Namespace, console: Console) -> int:
    reply = client.npcs.GenerateNpc(
        npc_pb2.GenerateNpcRequest(
            world_id=args.world,
            archetype=args.archetype,
            rank=args.rank,
            region=args.region,
            seed=args.seed,
            campaign_id=args.campaign,
            save=args.save,
        ),
        **client.kw(),
    )
    console.print(npc_card(reply.npc, reply.character_id))
    return 0


def cmd_item(client: Client, args: argparse.Namespace, console: Console) -> int:
    reply = client.items.GenerateItem(
        item_pb2.GenerateItemRequest(
            world_id=args.world,
            rarity=RARITIES[args.rarity],
            theme=args.theme,
            allow_curse=args.curse,
            seed=args.seed,
        ),
        **client.kw(),
    )
    console.print(item_card(reply.item))
    return 0


# --- arguments -------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m gateway.cli", description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=settings.gateway_addr, help="gateway address (host:port)")
    parser.add_argument("--key", default=os.environ.get("DM_API_KEY", ""), help="API key (or DM_API_KEY)")
    parser.add_argument("--ca", default="", help="PEM CA to verify a TLS gateway (plaintext when empty)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("new-key", help="mint an API key and print its settings record")
    p.add_argument("--id", required=True, help="key id (logged, sent downstream)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--campaign", action="append", help="campaign id it may touch (repeat); default: all")

    sub.add_parser("status", help="which services serve, which are degraded")

    p = sub.add_parser("ingest", help="create a world from a lore folder and ingest its documents")
    p.add_argument("folder")
    p.add_argument("--keep-missing", action="store_true", help="keep entries of documents not sent")

    p = sub.add_parser("new-campaign", help="create a campaign in a world")
    p.add_argument("--world", default=settings.default_world)
    p.add_argument("--name", required=True)
    p.add_argument("--description", default="")

    p = sub.add_parser(
        "play", help="play turns interactively (or one with --once); the demo campaign by default"
    )
    p.add_argument("--campaign", default="", help="campaign id (default: the demo campaign)")
    p.add_argument("--character", default="", help="memory id of your character (rolls its checks)")
    p.add_argument("--session", default="")
    p.add_argument("--actor", default="", help="who acts (default: the character's name)")
    p.add_argument("--party", default=None, help='party of levels, e.g. "Ash:3:fighter,Bree:3:rogue"')
    p.add_argument("--images", action="store_true", help="ask for a picture each turn")
    p.add_argument("--out", default="dm-images", help="folder for received images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deadline", type=float, default=120.0, help="seconds per turn")
    p.add_argument("--once", default="", help="play this one action and exit")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--whisper", action="store_true", help="private turns: only you and the DM see them")
    p.add_argument("--solo", action="store_true", help="do not show other players' turns")

    p = sub.add_parser("watch", help="follow a campaign live (every player's turn as it happens)")
    p.add_argument("--campaign", required=True)
    p.add_argument("--after", default="", help="resume after this event id")
    p.add_argument("--count", type=int, default=0, help="stop after this many log events (0: follow forever)")

    p = sub.add_parser("character", help="build a player character, or show one's sheet")
    chars = p.add_subparsers(dest="character_command", required=True)
    c = chars.add_parser(
        "new", help="build a character by the SRD rules and store it (asks for what is missing)"
    )
    c.add_argument("--campaign", default="", help="campaign id (default: the demo campaign)")
    c.add_argument("--name", default="")
    c.add_argument("--class", dest="character_class", default="")
    c.add_argument("--race", default="")
    c.add_argument("--subrace", default=None, help='subrace index ("" for none)')
    c.add_argument("--level", type=int, default=0)
    c.add_argument("--background-skills", default="", help='two skills, e.g. "insight,religion"')
    c.add_argument("--pregenerated", action="store_true", help="let the rules choose scores, skills and kit")
    c.add_argument("--seed", type=int, default=0)
    c = chars.add_parser("show", help="print a stored character's sheet")
    c.add_argument("id", help="memory id of the character")

    p = sub.add_parser("encounter", help="build an encounter")
    p.add_argument("--party", default="Ash:3,Bree:3,Cor:3,Dov:3")
    p.add_argument("--terrain", default="")
    p.add_argument("--region", default="")
    p.add_argument("--world", default="")
    p.add_argument("--difficulty", default="medium", choices=[d for d in DIFFICULTIES if d != "unspecified"])
    p.add_argument("--theme", default="")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("npc", help="generate an NPC")
    p.add_argument("--world", default="")
    p.add_argument("--archetype", default="")
    p.add_argument("--rank", default="")
    p.add_argument("--region", default="")
    p.add_argument("--campaign", default="")
    p.add_argument("--save", action="store_true", help="save into the campaign's memory")
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("item", help="forge a magic item")
    p.add_argument("--world", default="")
    p.add_argument("--rarity", default="uncommon", choices=[r for r in RARITIES if r != "unspecified"])
    p.add_argument("--theme", default="")
    p.add_argument("--curse", action="store_true", help="allow a curse")
    p.add_argument("--seed", type=int, default=0)
    return parser


def _ask(console: Console, prompt: str, choices: Sequence[str] = (), default: str = "") -> str:
    """Prompt until the answer is one of ``choices`` (any non-empty answer when there are none)."""
    hint = f" [{default}]" if default else ""
    while True:
        answer = console.input(f"{prompt}{hint}: ").strip().lower() or default
        if answer and (not choices or answer in choices):
            return answer
        if choices:
            console.print(f"choose one of: {', '.join(choices)}", style="yellow")


def cmd_character_new(client: Client, args: argparse.Namespace, console: Console) -> int:
    """Build a character by the rules and store it in a campaign; asks for whatever the flags did not give."""
    from rules.classes import load_character_data

    data = load_character_data()
    campaign = args.campaign or find_demo(client)[0]
    if not campaign:
        console.print("[red]give --campaign (no demo campaign found)[/]")
        return 1
    name = args.name or console.input("Name: ").strip()
    cls = args.character_class or _ask(console, "Class", sorted(data.classes), "fighter")
    race = args.race or _ask(console, "Race", sorted(data.races), "human")
    subraces = sorted(s for s, sub in data.subraces.items() if sub.race == race)
    subrace = (
        args.subrace if args.subrace is not None else (_ask(console, "Subrace", subraces) if subraces else "")
    )
    level = args.level or int(_ask(console, "Level", [str(n) for n in range(1, 21)], "1"))
    request = npc_pb2.BuildCharacterRequest(
        campaign_id=campaign,
        name=name,
        character_class=cls,
        race=race,
        subrace=subrace,
        level=level,
        background_skills=[s for s in args.background_skills.split(",") if s],
        pregenerated=args.pregenerated,
        save=True,
        seed=args.seed,
    )
    reply = client.npcs.BuildCharacter(request, **client.kw())
    console.print(sheet_card(reply.sheet, reply.character_id))
    console.print(
        f"play as {escape(reply.sheet.name)}: python -m gateway.cli play --campaign {campaign} "
        f"--character {reply.character_id}",
        style="dim",
    )
    return 0


def cmd_character_show(client: Client, args: argparse.Namespace, console: Console) -> int:
    """Print a stored character's sheet."""
    character = client.memory.GetCharacter(
        memory_pb2.GetCharacterRequest(character_id=args.id), **client.kw(30)
    ).character
    if not character.sheet_json:
        console.print(f"[yellow]{escape(character.name)} has no character sheet (not a player character)[/]")
        return 1
    sheet = sheet_pb(CharacterSheet.from_json(json.loads(character.sheet_json)))
    console.print(sheet_card(sheet, character.id))
    return 0


def cmd_character(client: Client, args: argparse.Namespace, console: Console) -> int:
    if args.character_command == "new":
        return cmd_character_new(client, args, console)
    return cmd_character_show(client, args, console)


COMMANDS = {
    "status": cmd_status,
    "ingest": cmd_ingest,
    "new-campaign": cmd_new_campaign,
    "play": cmd_play,
    "watch": cmd_watch,
    "character": cmd_character,
    "encounter": cmd_encounter,
    "npc": cmd_npc,
    "item": cmd_item,
}


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = console or Console()
    if args.command == "new-key":
        return cmd_new_key(args, console)
    client = Client(args.gateway, args.key, args.ca)
    try:
        return COMMANDS[args.command](client, args, console)
    except grpc.RpcError as exc:
        console.print(f"[red]{exc.code().name}: {escape(exc.details() or '')}[/]")
        return 1
    finally:
        client.channel.close()


if __name__ == "__main__":
    sys.exit(main())
