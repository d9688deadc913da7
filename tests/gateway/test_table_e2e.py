"""A shared table through the real process mesh: four player keys and watchers on one campaign, two gateways.

Every service runs as its own process (started once for the module). Players play turns concurrently while
watchers follow the campaign; the campaign log read back by the DM is the reference order. Shown: every watcher
sees every event it may see exactly once in log order, whispers and DM-only content reach only their audience,
narration of two turns never interleaves, a watcher that reconnects with its last event id misses nothing and
sees nothing twice, a player cannot act for another's character, and two gateways keep one order.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from rich.console import Console

from dungeonmaster.v1 import (
    common_pb2,
    gateway_pb2,
    gateway_pb2_grpc,
    memory_pb2,
    memory_pb2_grpc,
)
from gateway import cli
from tests.gateway.realmesh import RealMesh, start_mesh
from tests.support.procs import ROOT, ServiceProcess, free_port, start_service

PLAYERS = ("p1", "p2", "p3", "p4")
KEYS = {
    "dm": ("dm", ["A"], {}),
    **{p: ("player", ["A"], {}) for p in (*PLAYERS, "p5")},
}
PARTY = common_pb2.Party(members=[common_pb2.PartyMember(name=n, level=3) for n in PLAYERS])
ACTIONS = ("I study the old map by the hearth", "I ask the innkeeper about the road north")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealMesh]:
    started = start_mesh(tmp_path_factory.mktemp("table-e2e"), KEYS)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def seats(mesh: RealMesh) -> dict[str, str]:
    """One character per player key, owned by that key's seat (created by the DM)."""
    out: dict[str, str] = {}
    with grpc.insecure_channel(mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        for i, key in enumerate(PLAYERS):
            reply = memory.CreateCharacter(
                memory_pb2.CreateCharacterRequest(
                    campaign_id=mesh.campaign_a,
                    character=memory_pb2.Character(name=f"Hero {i + 1}", level=3, owner=key),
                ),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
            assert reply.character.owner == key
            out[key] = reply.character.id
    return out


class Watcher:
    """A WatchCampaign stream read on a thread into a list (stopped by cancelling the call)."""

    def __init__(
        self, address: str, metadata: tuple[tuple[str, str], ...], campaign: str, after: str = ""
    ) -> None:
        self.channel = grpc.insecure_channel(address)
        stub = gateway_pb2_grpc.GameMasterServiceStub(self.channel)
        self.call = stub.WatchCampaign(
            gateway_pb2.WatchCampaignRequest(campaign_id=campaign, after_event_id=after), metadata=metadata
        )
        self.items: list[gateway_pb2.WatchCampaignResponse] = []
        self.error: grpc.RpcError | None = None
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for item in self.call:
                with self.lock:
                    self.items.append(item)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                self.error = exc

    def snapshot(self) -> list[gateway_pb2.WatchCampaignResponse]:
        with self.lock:
            return list(self.items)

    def events(self) -> list[memory_pb2.Event]:
        return [i.event for i in self.snapshot() if i.HasField("event")]

    def lives(self) -> list[memory_pb2.LiveUpdate]:
        return [i.live for i in self.snapshot() if i.HasField("live")]

    def wait(self, condition: Callable[[Watcher], bool], limit_s: float = 30.0) -> None:
        deadline = time.monotonic() + limit_s
        while not condition(self):
            assert self.error is None, self.error
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"watcher condition not met in {limit_s}s; saw {len(self.snapshot())} items"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        self.call.cancel()
        self.thread.join(10)
        self.channel.close()


def play(
    address: str, mesh: RealMesh, key: str, turn_id: str, text: str, **kw: object
) -> list[gateway_pb2.PlayTurnResponse]:
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
        request = gateway_pb2.PlayTurnRequest(
            campaign_id=mesh.campaign_a, turn_id=turn_id, input=text, actor=key, party=PARTY, seed=7, **kw
        )
        return list(stub.PlayTurn(request, metadata=mesh.auth(key), timeout=120))


def full_log(mesh: RealMesh) -> list[memory_pb2.Event]:
    """The whole campaign log as the DM sees it, in sequence order."""
    out: list[memory_pb2.Event] = []
    token = ""
    with grpc.insecure_channel(mesh.gateway) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        while True:
            page = memory.ListEvents(
                memory_pb2.ListEventsRequest(
                    campaign_id=mesh.campaign_a,
                    audience=common_pb2.AUDIENCE_DM,
                    page_size=500,
                    page_token=token,
                ),
                metadata=mesh.auth("dm"),
                timeout=30,
            )
            out.extend(page.events)
            token = page.next_page_token
            if not token:
                break
    return sorted(out, key=lambda e: e.sequence)


def visible_to(log: list[memory_pb2.Event], key: str) -> list[int]:
    """Sequences of the events a key may see: the player audience, and whispers only when sent to it."""
    if key == "dm":
        return [e.sequence for e in log]
    return [
        e.sequence
        for e in log
        if e.audience != common_pb2.AUDIENCE_DM and (not e.recipients or key in e.recipients)
    ]


def turn_of(event: memory_pb2.Event) -> str:
    return str(json.loads(event.metadata_json or "{}").get("turn_id", ""))


def assert_turns_never_interleave(log: list[memory_pb2.Event], watchers: dict[str, Watcher]) -> None:
    # In the log: each turn's events form one unbroken run of sequences.
    spans: dict[str, list[int]] = {}
    for e in log:
        if turn_of(e):
            spans.setdefault(turn_of(e), []).append(e.sequence)
    ranges = sorted((min(s), max(s), t) for t, s in spans.items())
    for (_, end, a), (start, _, b) in itertools.pairwise(ranges):
        assert end < start, f"turns {a} and {b} overlap in the log"
    # Live: between a turn's start and end, only that turn's chunks.
    for name, watcher in watchers.items():
        current = ""
        for live in watcher.lives():
            if live.kind == memory_pb2.LIVE_KIND_TURN_STARTED:
                assert current == "", f"{name}: {live.turn_id} started inside {current}"
                current = live.turn_id
            elif live.kind == memory_pb2.LIVE_KIND_NARRATION:
                assert live.turn_id == current, f"{name}: a chunk of {live.turn_id} inside {current}"
            elif live.kind == memory_pb2.LIVE_KIND_TURN_ENDED:
                assert live.turn_id == current
                current = ""


def test_four_players_and_watchers_see_one_order_and_nothing_private(
    mesh: RealMesh, seats: dict[str, str]
) -> None:
    start = len(full_log(mesh))
    after = str(full_log(mesh)[-1].sequence) if start else ""
    viewers = ("dm", "p5", *PLAYERS)
    watchers = {v: Watcher(mesh.gateway, mesh.auth(v), mesh.campaign_a, after) for v in viewers}
    try:
        jobs: list[tuple[str, str, str, bool]] = []
        for round_ in range(2):
            for key in PLAYERS:
                private = key == "p2" and round_ == 1
                jobs.append((key, f"t4-{key}-{round_}", ACTIONS[round_], private))
        with grpc.insecure_channel(mesh.gateway) as channel:
            memory = memory_pb2_grpc.MemoryServiceStub(channel)
            for rid, event in (
                (
                    "dm-secret",
                    memory_pb2.Event(content="The innkeeper is a spy.", audience=common_pb2.AUDIENCE_DM),
                ),
                ("dm-note-p3", memory_pb2.Event(content="You alone hear a whisper.", recipients=["p3"])),
            ):
                event.kind = memory_pb2.EVENT_KIND_NOTE
                memory.RecordEvent(
                    memory_pb2.RecordEventRequest(campaign_id=mesh.campaign_a, request_id=rid, event=event),
                    metadata=mesh.auth("dm"),
                    timeout=30,
                )

        def run(job: tuple[str, str, str, bool]) -> list[gateway_pb2.PlayTurnResponse]:
            key, turn_id, text, private = job
            return play(
                mesh.gateway,
                mesh,
                key,
                turn_id,
                text,
                character_ids=[seats[key]],
                private=private,
                max_tokens=120,
            )

        with ThreadPoolExecutor(len(jobs)) as pool:
            streams = list(pool.map(run, jobs))
        for stream in streams:
            assert stream[-1].WhichOneof("event") == "done"

        log = [e for e in full_log(mesh) if e.sequence > int(after or 0)]
        assert {turn_of(e) for e in log if turn_of(e)} == {j[1] for j in jobs}
        for viewer, watcher in watchers.items():
            want = visible_to(log, viewer)
            watcher.wait(lambda w, want=want: len(w.events()) >= len(want))
            time.sleep(0.2)  # anything extra (a duplicate) would arrive now
            assert [e.sequence for e in watcher.events()] == want, viewer
        # Whispers and DM-only content reach only their audience.
        for key in ("p5", *PLAYERS):
            seen = watchers[key].events()
            assert all(e.audience != common_pb2.AUDIENCE_DM for e in seen)
            assert all(not e.recipients or list(e.recipients) == [key] for e in seen)
            assert all(not u.recipients or list(u.recipients) == [key] for u in watchers[key].lives())
        private_turn = "t4-p2-1"
        assert any(u.turn_id == private_turn for u in watchers["p2"].lives())
        assert any(u.turn_id == private_turn for u in watchers["dm"].lives())
        for key in ("p5", "p1", "p3", "p4"):
            assert not any(u.turn_id == private_turn for u in watchers[key].lives())
            assert not any(turn_of(e) == private_turn for e in watchers[key].events())
        assert "You alone hear a whisper." in [e.content for e in watchers["p3"].events()]
        # Every public turn's narration reached the spectator live, chunk by chunk, as recorded.
        spectator = watchers["p5"]
        for e in log:
            if e.kind == memory_pb2.EVENT_KIND_DM_NARRATION and turn_of(e) != private_turn:
                chunks = [
                    u.text
                    for u in spectator.lives()
                    if u.turn_id == turn_of(e) and u.kind == memory_pb2.LIVE_KIND_NARRATION
                ]
                assert " ".join("".join(chunks).split()) == " ".join(e.content.split())
        assert_turns_never_interleave(log, watchers)
    finally:
        for watcher in watchers.values():
            watcher.stop()


def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(
    mesh: RealMesh, seats: dict[str, str]
) -> None:
    before = full_log(mesh)
    after = str(before[-1].sequence) if before else ""
    first = Watcher(mesh.gateway, mesh.auth("p5"), mesh.campaign_a, after)
    with ThreadPoolExecutor(1) as pool:
        turn = pool.submit(
            play, mesh.gateway, mesh, "p1", "rc-1", ACTIONS[0], character_ids=[seats["p1"]], max_tokens=2000
        )
        first.wait(lambda w: any(u.kind == memory_pb2.LIVE_KIND_TURN_STARTED for u in w.lives()))
        first.stop()  # mid-turn
        seen_first = first.snapshot()
        last_id = seen_first[-1].event_id
        turn.result(timeout=120)
    log = [e for e in full_log(mesh) if e.sequence > int(after or 0)]
    narration = [e for e in log if e.kind == memory_pb2.EVENT_KIND_DM_NARRATION and turn_of(e) == "rc-1"]
    assert narration and narration[0].sequence > int(last_id), "the watcher left before the turn was recorded"
    second = Watcher(mesh.gateway, mesh.auth("p5"), mesh.campaign_a, last_id)
    try:
        want = visible_to(log, "p5")
        second.wait(lambda w: bool(w.events()) and w.events()[-1].sequence >= want[-1])
        time.sleep(0.2)
        got = [e.sequence for e in first.events()] + [e.sequence for e in second.events()]
        assert got == want  # every event once, in log order, across the reconnect
    finally:
        second.stop()


def test_a_player_may_not_act_for_another_players_character(mesh: RealMesh, seats: dict[str, str]) -> None:
    with pytest.raises(grpc.RpcError) as denied:
        play(mesh.gateway, mesh, "p1", "steal-1", ACTIONS[0], character_ids=[seats["p2"]])
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert seats["p2"] in (denied.value.details() or "")
    # The DM acts for anyone; a player for their own character.
    assert play(mesh.gateway, mesh, "dm", "dm-for-p2", ACTIONS[0], character_ids=[seats["p2"]])[-1].HasField(
        "done"
    )
    assert play(mesh.gateway, mesh, "p2", "p2-own", ACTIONS[0], character_ids=[seats["p2"]])[-1].HasField(
        "done"
    )
    with grpc.insecure_channel(mesh.gateway) as channel:
        stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
        with pytest.raises(grpc.RpcError) as bad:
            next(
                iter(
                    stub.WatchCampaign(
                        gateway_pb2.WatchCampaignRequest(campaign_id=mesh.campaign_a, after_event_id="x1"),
                        metadata=mesh.auth("p1"),
                        timeout=10,
                    )
                )
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "after_event_id" in (bad.value.details() or "")
        with pytest.raises(grpc.RpcError) as other:
            next(
                iter(
                    stub.WatchCampaign(
                        gateway_pb2.WatchCampaignRequest(campaign_id=mesh.campaign_b),
                        metadata=mesh.auth("p1"),
                        timeout=10,
                    )
                )
            )
        assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_two_gateways_keep_one_order(mesh: RealMesh, seats: dict[str, str], tmp_path: Path) -> None:
    env = dict(mesh.gateway_env, DM_GATEWAY_PORT=str(free_port()))
    second: ServiceProcess = start_service("gateway", env, tmp_path / "gw2", timeout=120)
    before = full_log(mesh)
    after = str(before[-1].sequence) if before else ""
    watchers = {
        "gw1": Watcher(mesh.gateway, mesh.auth("dm"), mesh.campaign_a, after),
        "gw2": Watcher(second.address, mesh.auth("dm"), mesh.campaign_a, after),
    }
    try:
        jobs = [
            (mesh.gateway if i % 2 == 0 else second.address, key, f"gw-{key}-{r}")
            for r in range(2)
            for i, key in enumerate(PLAYERS)
        ]
        with ThreadPoolExecutor(len(jobs)) as pool:
            done = list(
                pool.map(
                    lambda j: play(
                        j[0], mesh, j[1], j[2], ACTIONS[0], character_ids=[seats[j[1]]], max_tokens=120
                    ),
                    jobs,
                )
            )
        assert all(s[-1].HasField("done") for s in done)
        log = [e for e in full_log(mesh) if e.sequence > int(after or 0)]
        assert {turn_of(e) for e in log if turn_of(e)} == {j[2] for j in jobs}
        for watcher in watchers.values():
            watcher.wait(lambda w: len(w.events()) >= len(log))
            assert [e.sequence for e in watcher.events()] == [e.sequence for e in log]
            watcher.wait(
                lambda w: sum(u.kind == memory_pb2.LIVE_KIND_TURN_ENDED for u in w.lives()) >= len(jobs)
            )
            ended = [u.turn_id for u in watcher.lives() if u.kind == memory_pb2.LIVE_KIND_TURN_ENDED]
            # Both gateways' watchers see every turn, in the order the log recorded them.
            starts = sorted(
                {turn_of(e): e.sequence for e in reversed(log) if turn_of(e)}.items(), key=lambda t: t[1]
            )
            assert ended == [t for t, _ in starts]
        assert_turns_never_interleave(log, watchers)
    finally:
        for watcher in watchers.values():
            watcher.stop()
        second.stop()


def test_terminal_client_watches_another_players_turn(mesh: RealMesh, seats: dict[str, str]) -> None:
    before = full_log(mesh)
    after = str(before[-1].sequence) if before else ""
    out = io.StringIO()
    console = Console(file=out, width=400, color_system=None)
    argv = ["--gateway", mesh.gateway, "--key", mesh.keys["p5"], "watch", "--campaign", mesh.campaign_a]
    codes: list[int] = []
    watcher = threading.Thread(
        target=lambda: codes.append(cli.main([*argv, "--after", after, "--count", "2"], console=console))
    )
    watcher.start()
    time.sleep(0.5)  # let the watch open before the turn starts, so its narration comes live
    play(mesh.gateway, mesh, "p3", "cli-watch-1", ACTIONS[1], character_ids=[seats["p3"]], max_tokens=60)
    watcher.join(60)
    assert codes == [0]
    text = out.getvalue()
    assert "— p3's turn —" in text
    log = [e for e in full_log(mesh) if e.sequence > int(after or 0)]
    action = next(e for e in log if e.kind == memory_pb2.EVENT_KIND_PLAYER_ACTION)
    narration = next(e for e in log if e.kind == memory_pb2.EVENT_KIND_DM_NARRATION)
    assert f"#{action.sequence} player action p3: {ACTIONS[1]}" in text
    assert " ".join(narration.content.split())[:40] in " ".join(text.split())


def test_node_watcher_follows_and_resumes(mesh: RealMesh, seats: dict[str, str]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required (installed by make setup / .ci/run)")
    modules = ROOT / "tests" / "interop" / "node_modules"
    if not (modules / "@grpc" / "grpc-js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=modules.parent, check=True, timeout=300)
    env = dict(
        os.environ,
        NODE_PATH=str(modules),
        DM_GATEWAY_ADDR=mesh.gateway,
        DM_WATCH_KEY=mesh.keys["p5"],
        DM_PLAYER_KEY=mesh.keys["p4"],
        DM_CAMPAIGN=mesh.campaign_a,
        DM_CHARACTER=seats["p4"],
    )
    here = Path(__file__).parent
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(here / "watch_campaign.test.js")],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "pass 1" in result.stdout, result.stdout[-3000:]
