"""Chaos under load: every module service SIGKILLed and restarted once, and latency, resets and a black hole
between the gateway and memory, while three players keep playing procedural turns.

Then: no acknowledged turn lost or duplicated, no turn left half-written once its retries are done, no
INTERNAL/UNKNOWN seen by a player, the gateway reported each outage and recovered within the bound, and the
players' retries stayed within their budget. The figures are printed (``-s`` shows them).
"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from tests.support.chaos import (
    MAX_ATTEMPTS,
    VICTIMS,
    Players,
    audit,
    campaign_log,
    chaos_mesh,
    kill_and_restart,
    play_until_acknowledged,
    proxy_faults,
)

#: Longest a service may take from SIGKILL until the gateway reports it as before (s).
RECOVERY_BOUND_S = 45.0
PLAYERS = 3


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_turns_survive_killed_services_and_network_faults(tmp_path: Path) -> None:
    with chaos_mesh(tmp_path) as (mesh, proxy), grpc.insecure_channel(mesh.gateway) as channel:
        with Players(mesh, "player", PLAYERS, "p") as players:
            time.sleep(1.0)
            count = lambda: len(players.ledger.acknowledged)  # noqa: E731
            recoveries = [kill_and_restart(mesh, name, channel, count) for name in VICTIMS]
            spans = proxy_faults(proxy)
            time.sleep(1.0)
        ledger = players.ledger
        acknowledged_under_chaos = len(ledger.acknowledged)
        started = ledger.turns_started()
        attempts = ledger.attempts
        for turn_id, text in list(ledger.abandoned):  # the players come back in calm and finish their turns
            assert play_until_acknowledged(channel, mesh, "player", turn_id, text, ledger, 20.0), turn_id
        problems = audit(campaign_log(mesh, mesh.campaign_a), set(ledger.acknowledged))

    print(f"\nturns started {started}, acknowledged under chaos {acknowledged_under_chaos}, ")
    print(
        f"attempts {attempts} ({attempts / max(started, 1):.2f} per turn), failed attempts {dict(ledger.failures)}"
    )
    print("sample errors", ledger.samples)
    for r in recoveries:
        print(
            f"{r.service:10s} restart {r.restart_s:5.1f} s, gateway recovered {r.recovered_s:5.1f} s, "
            f"turns acknowledged again {r.resumed_s:5.1f} s"
        )
    print(
        "proxy faults", {k: round(v, 1) for k, v in spans.items()}, f"connections {proxy.proxy.connections}"
    )

    assert not problems, problems[:20]
    assert not ledger.forbidden, ledger.forbidden[:10]
    assert acknowledged_under_chaos >= len(VICTIMS)
    for r in recoveries:
        assert r.degradation_seen, f"the gateway never reported {r.service} down"
        assert r.recovered_s <= RECOVERY_BOUND_S, r
        assert r.resumed_s <= RECOVERY_BOUND_S, r  # NaN (turns never resumed) fails too
    assert attempts <= MAX_ATTEMPTS * started  # each turn within its retry budget: no storm
