"""Chaos under load against a real mesh: players keep playing turns while services are killed and the network
between the gateway and one service misbehaves; then the campaign log is audited.

Shared by ``tests/security/test_chaos.py`` (bounded) and ``bench/chaos.py`` (longer, prints figures). A player
retries a failed turn with the same ``turn_id`` (the idempotency key) a bounded number of times, so a turn the
client saw acknowledged must be in the log exactly once, and a turn it gave up on must be completed by a later
retry, never left half-written.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from dungeonmaster.v1 import common_pb2, gateway_pb2, gateway_pb2_grpc, memory_pb2, memory_pb2_grpc
from tests.gateway.realmesh import RealMesh, start_mesh
from tests.support.faults import ThreadedProxy

#: Module services killed in turn (the gateway is the players' entry point and stays up).
VICTIMS = ("memory", "narrative", "encounter", "npc", "item", "visual")
#: Attempts a player makes at one turn before moving on (its client-side retry budget).
MAX_ATTEMPTS = 4
#: Codes that mean a server failed instead of answering; never acceptable, chaos or not.
FORBIDDEN = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
PARTY = common_pb2.Party(members=[common_pb2.PartyMember(name=n, level=3) for n in ("Ash", "Bree", "Cor")])
ACTIONS = (
    "I search the ruined shrine for tracks.",
    "We follow the river toward the old mill.",
    "I ask the innkeeper about the missing caravan.",
    "We set up camp and keep watch through the night.",
)


@dataclass
class Ledger:
    """What the players saw, shared by their threads."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    """turn_id -> attempts it took."""
    abandoned: list[tuple[str, str]] = field(default_factory=list)
    """(turn_id, text) of turns given up after ``MAX_ATTEMPTS``."""
    failures: collections.Counter[str] = field(default_factory=collections.Counter)
    forbidden: list[tuple[str, str, str]] = field(default_factory=list)
    attempts: int = 0
    samples: dict[str, str] = field(default_factory=dict)
    """A sample error message per failure code (for the report)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def turns_started(self) -> int:
        return len(self.acknowledged) + len(self.abandoned)


@dataclass
class Recovery:
    """One service killed and restarted, as the gateway saw it."""

    service: str
    degradation_seen: bool
    restart_s: float
    """SIGKILL until the new process answers its health check."""
    recovered_s: float
    """SIGKILL until the gateway reports the service as it did before the kill."""
    resumed_s: float = float("nan")
    """SIGKILL until the next turn a player saw acknowledged (NaN when not measured or none came)."""


def play(channel: grpc.Channel, mesh: RealMesh, key: str, turn_id: str, text: str, timeout: float) -> None:
    """One PlayTurn attempt; returns when Done arrived, raises the call's error otherwise."""
    stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
    request = gateway_pb2.PlayTurnRequest(
        campaign_id=mesh.campaign_a, turn_id=turn_id, input=text, actor="Ash", party=PARTY, seed=7
    )
    done = False
    for reply in stub.PlayTurn(request, metadata=mesh.auth(key), timeout=timeout):
        done = done or reply.HasField("done")
    if not done:
        raise RuntimeError(f"turn {turn_id} ended without Done")


def play_until_acknowledged(
    channel: grpc.Channel, mesh: RealMesh, key: str, turn_id: str, text: str, ledger: Ledger, timeout: float
) -> bool:
    """Play one turn, retrying with the same turn_id up to ``MAX_ATTEMPTS``; True when acknowledged."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        with ledger.lock:
            ledger.attempts += 1
        try:
            play(channel, mesh, key, turn_id, text, timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            with ledger.lock:
                ledger.failures[code.name] += 1
                ledger.samples.setdefault(code.name, (exc.details() or "")[:300])
                if code in FORBIDDEN:
                    ledger.forbidden.append((turn_id, code.name, (exc.details() or "")[:200]))
            time.sleep(0.2 * attempt)
            continue
        except RuntimeError as exc:  # a stream that ended without Done: a broken contract, not a clean error
            with ledger.lock:
                ledger.forbidden.append((turn_id, "NO_DONE", str(exc)))
            continue
        with ledger.lock:
            ledger.acknowledged[turn_id] = attempt
        return True
    with ledger.lock:
        ledger.abandoned.append((turn_id, text))
    return False


class Players:
    """``count`` threads, each playing turns back to back until stopped."""

    def __init__(self, mesh: RealMesh, key: str, count: int, prefix: str, timeout: float = 8.0) -> None:
        self.mesh = mesh
        self.key = key
        self.ledger = Ledger()
        self.timeout = timeout
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(f"{prefix}{i}",), daemon=True) for i in range(count)
        ]

    def _run(self, name: str) -> None:
        with grpc.insecure_channel(self.mesh.gateway) as channel:
            n = 0
            while not self._stop.is_set():
                play_until_acknowledged(
                    channel,
                    self.mesh,
                    self.key,
                    f"{name}-t{n}",
                    ACTIONS[n % len(ACTIONS)],
                    self.ledger,
                    self.timeout,
                )
                n += 1

    def __enter__(self) -> Players:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def gateway_view(channel: grpc.Channel) -> dict[str, bool]:
    """Service short name -> serving, as the gateway's GetStatus reports it (empty when it does not answer)."""
    stub = gateway_pb2_grpc.GameMasterServiceStub(channel)
    try:
        reply = stub.GetStatus(gateway_pb2.GetStatusRequest(), timeout=2)
    except grpc.RpcError:
        return {}
    return {s.name.rsplit(".", 1)[-1].removesuffix("Service").lower(): s.serving for s in reply.services}


def wait_for(condition: Callable[[], bool], bound_s: float, step_s: float = 0.1) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return condition()


def kill_and_restart(
    mesh: RealMesh,
    name: str,
    channel: grpc.Channel,
    acknowledged: Callable[[], int] | None = None,
    bound_s: float = 90.0,
) -> Recovery:
    """SIGKILL ``name``, watch the gateway notice, restart it on its port and data, watch the gateway recover,
    then (given the players' acknowledged-turn count) wait until turns are acknowledged again."""
    before = gateway_view(channel).get(name, False)
    started = time.monotonic()
    mesh.procs[name].stop(signal.SIGKILL)
    seen = not before or wait_for(lambda: gateway_view(channel).get(name) is False, 10.0)
    mesh.restart(name, timeout=bound_s)
    restart_s = time.monotonic() - started
    wait_for(lambda: gateway_view(channel).get(name, False) == before, bound_s)
    recovered_s = time.monotonic() - started
    resumed_s = float("nan")
    if acknowledged is not None:
        count = acknowledged()
        if wait_for(lambda: acknowledged() > count, bound_s):
            resumed_s = time.monotonic() - started
    return Recovery(name, seen, restart_s, recovered_s, resumed_s)


def proxy_faults(proxy: ThreadedProxy, hold_s: float = 1.5) -> dict[str, float]:
    """Latency, resets and a black hole in turn; returns how long each lasted."""
    spans: dict[str, float] = {}
    start = time.monotonic()
    proxy.set_latency(0.25)
    time.sleep(hold_s)
    proxy.set_latency(0.0)
    spans["latency 250 ms"] = time.monotonic() - start
    start = time.monotonic()
    for _ in range(3):
        proxy.reset()
        time.sleep(hold_s / 3)
    spans["3 resets"] = time.monotonic() - start
    start = time.monotonic()
    proxy.set_black_hole(True)
    time.sleep(hold_s)
    proxy.set_black_hole(False)
    proxy.reset()  # connections frozen in the hole would otherwise wait for keepalive to notice
    spans["black hole"] = time.monotonic() - start
    return spans


def campaign_log(mesh: RealMesh, campaign_id: str) -> list[memory_pb2.Event]:
    """Every event of the campaign, read straight from memory."""
    events: list[memory_pb2.Event] = []
    with grpc.insecure_channel(mesh.procs["memory"].address) as channel:
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        token = ""
        while True:
            reply = memory.ListEvents(
                memory_pb2.ListEventsRequest(campaign_id=campaign_id, page_size=1000, page_token=token),
                timeout=30,
            )
            events.extend(reply.events)
            token = reply.next_page_token
            if not token:
                return events


def audit(events: list[memory_pb2.Event], acknowledged: set[str]) -> list[str]:
    """Problems in the log: an acknowledged turn not recorded exactly once, a duplicate, a half-written turn."""
    problems: list[str] = []
    by_request = collections.Counter(e.request_id for e in events if e.request_id)
    problems += [f"{rid} recorded {n} times" for rid, n in by_request.items() if n > 1]
    for turn_id in sorted(acknowledged):
        for part in ("action", "narration"):
            count = by_request.get(f"{turn_id}/{part}", 0)
            if count != 1:
                problems.append(f"acknowledged turn {turn_id}: {part} recorded {count} times")
    started = {rid.rsplit("/", 1)[0] for rid in by_request if rid.endswith("/action")}
    narrated = {rid.rsplit("/", 1)[0] for rid in by_request if rid.endswith("/narration")}
    problems += [f"turn {t} half-written: action without narration" for t in sorted(started - narrated)]
    return problems


@contextmanager
def chaos_mesh(root: Path, proxied_service: str = "memory") -> Iterator[tuple[RealMesh, ThreadedProxy]]:
    """A plaintext mesh whose gateway reaches ``proxied_service`` through a fault proxy; always stopped."""
    mesh = start_mesh(root, {"player": ("dm", ["A"], {"rate_per_s": 10_000.0, "burst": 10_000})})
    proxy: ThreadedProxy | None = None
    try:
        port = int(mesh.env[f"DM_{proxied_service.upper()}_PORT"])
        proxy = ThreadedProxy("127.0.0.1", port).start()
        mesh.procs["gateway"].stop()
        mesh.gateway_env[f"DM_{proxied_service.upper()}_ADDR"] = proxy.address
        mesh.restart("gateway")
        yield mesh, proxy
    finally:
        mesh.stop_all()
        if proxy is not None:
            proxy.stop()
