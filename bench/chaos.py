"""Chaos under load, measured: turns/s calm vs while every module service is SIGKILLed and restarted in turn
and the network between the gateway and memory misbehaves, acknowledged-and-lost turns (must be 0), and the
recovery time of each service, on a real mesh (every service its own process, procedural narration), and the
cost of mutual TLS per call (``bench/tls.py``, run after the chaos phases; ``--no-tls`` skips it).

    .venv/bin/python bench/chaos.py [--players 4] [--calm-s 20] [--json]

Phases: calm (``--calm-s`` seconds of turns), chaos (kill + restart each service, then proxy latency, resets
and a black hole, players playing throughout), then the players finish the turns they gave up on and the
campaign log is audited. Recovery per service: SIGKILL until the new process answers health, until the
gateway reports it as before, and until a player sees a turn acknowledged again. The cost of mutual TLS per
call is measured by ``bench/tls.py`` (plaintext and mTLS arms in one run), whose figures this report includes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder holds bench/gateway.py, which would shadow the gateway package: import from the root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from tests.support.chaos import (  # noqa: E402
    VICTIMS,
    Players,
    audit,
    campaign_log,
    chaos_mesh,
    kill_and_restart,
    play_until_acknowledged,
    proxy_faults,
)


def _tls_cost() -> dict[str, object]:
    """Both arms of bench/tls.py in one child run, so the ratio comes from one machine state."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "tls.py"), "--json", "--rounds", "8"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    parsed: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=4)
    parser.add_argument("--calm-s", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-tls", action="store_true", help="skip the mutual-TLS cost measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, chaos_mesh(Path(tmp)) as (mesh, proxy):
        with grpc.insecure_channel(mesh.gateway) as channel:
            with Players(mesh, "player", args.players, "calm") as calm:
                time.sleep(args.calm_s)
            calm_rate = len(calm.ledger.acknowledged) / args.calm_s

            with Players(mesh, "player", args.players, "chaos") as players:
                chaos_start = time.monotonic()
                count = lambda: len(players.ledger.acknowledged)  # noqa: E731
                recoveries = [kill_and_restart(mesh, name, channel, count) for name in VICTIMS]
                spans = proxy_faults(proxy)
                chaos_s = time.monotonic() - chaos_start
                chaos_acked = len(players.ledger.acknowledged)
            ledger = players.ledger
            started, attempts = ledger.turns_started(), ledger.attempts
            finished = sum(
                play_until_acknowledged(channel, mesh, "player", t, text, ledger, 30.0)
                for t, text in list(ledger.abandoned)
            )
            acknowledged = set(calm.ledger.acknowledged) | set(ledger.acknowledged)
            problems = audit(campaign_log(mesh, mesh.campaign_a), acknowledged)

    lost = [p for p in problems if p.startswith("acknowledged turn")]
    result = {
        "players": args.players,
        "calm_turns_per_s": round(calm_rate, 2),
        "chaos_turns_per_s": round(chaos_acked / chaos_s, 2),
        "chaos_s": round(chaos_s, 1),
        "turns_started_under_chaos": started,
        "acknowledged_under_chaos": chaos_acked,
        "failed_attempts": dict(ledger.failures),
        "attempts_per_turn": round(attempts / max(started, 1), 2),
        "abandoned_then_finished": f"{finished}/{len(ledger.abandoned)}",
        "acknowledged_and_lost_or_duplicated": len(lost),
        "log_problems": len(problems),
        "internal_or_unknown": len(ledger.forbidden) + len(calm.ledger.forbidden),
        "recovery_s": {
            r.service: {
                "restart": round(r.restart_s, 1),
                "gateway_recovered": round(r.recovered_s, 1),
                "turns_again": round(r.resumed_s, 1),
                "degradation_reported": r.degradation_seen,
            }
            for r in recoveries
        },
        "proxy_faults_s": {k: round(v, 1) for k, v in spans.items()},
    }
    if not args.no_tls:
        result["tls"] = _tls_cost()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"players {args.players}; calm {result['calm_turns_per_s']} turns/s; under chaos "
        f"{result['chaos_turns_per_s']} turns/s over {result['chaos_s']} s"
    )
    print(
        f"under chaos: {started} turns started, {chaos_acked} acknowledged, failed attempts "
        f"{result['failed_attempts']}, {result['attempts_per_turn']} attempts per turn; "
        f"abandoned then finished {result['abandoned_then_finished']}"
    )
    print(
        f"acknowledged-and-lost or duplicated: {len(lost)} (must be 0); other log problems: "
        f"{len(problems) - len(lost)}; INTERNAL/UNKNOWN seen: {result['internal_or_unknown']}"
    )
    tls = result.get("tls")
    if isinstance(tls, dict):
        rates = tls["calls_per_s"]
        print(
            f"mutual TLS cost: {rates['plaintext']} calls/s plaintext vs {rates['mutual']} with mTLS "
            f"(ratio {tls['mutual_over_plaintext']}, {tls['per_call_cost_us']} us per call; new connection "
            f"{tls['new_connection_ms']['plaintext']} ms vs {tls['new_connection_ms']['mutual']} ms)"
        )
    for name, r in result["recovery_s"].items():
        print(
            f"  {name:10s} restart {r['restart']:5.1f} s  gateway recovered {r['gateway_recovered']:5.1f} s  "
            f"turns again {r['turns_again']:5.1f} s  degradation reported {r['degradation_reported']}"
        )
    print("  proxy faults (s):", result["proxy_faults_s"])
    for problem in problems[:10]:
        print("  PROBLEM", problem)


if __name__ == "__main__":
    main()
