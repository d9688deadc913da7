"""`make run` (python -m mesh.launcher) on a fresh data directory: all seven services start, the table shows their
addresses and log files, the sample world and the demo campaign are created, one `play --once` with no other
setup gives a narrated turn with a check, and Ctrl-C stops them all."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from mesh.demo import DEMO_PARTY, ensure_demo
from tests.support.procs import ROOT, SERVICES, health_status, mesh_env, tls_credentials


def test_launcher_starts_every_service_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    # As `make run` runs by default: mutual TLS between the services (the launcher makes the certificates).
    env = mesh_env(tmp_path / "data", {"DM_LOG_LEVEL": "INFO", "DM_TLS_MODE": "mutual"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh.launcher", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "gateway ready at" in line:
                break
        output = "".join(lines)
        assert "gateway ready at" in output, output
        for name in SERVICES:
            address = f"127.0.0.1:{env[f'DM_{name.upper()}_PORT']}"
            assert f"{name}" in output and address in output, (name, output)
            assert str(tmp_path / "data" / "logs" / f"{name}.log") in output, output
            credentials = None if name == "gateway" else tls_credentials(env)
            assert health_status(address, "liveness", credentials=credentials) is not None, name
        # The JSON logs went to the files, not over the table.
        assert '"level"' not in output, output
        assert '"level": "INFO"' in (tmp_path / "data" / "logs" / "memory.log").read_text()
        assert "demo campaign" in output and "created world ashen-reach" in output, output

        # A newcomer's first turn: no campaign, no character, no key given.
        played = subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "play",
                "--once",
                "I search the body for clues",
                "--seed",
                "5",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        turn = played.stdout
        assert played.returncode == 0, turn + played.stderr
        first = DEMO_PARTY[0][0]
        check_at = turn.index(f"🎲 {first}: Investigation (Int)")
        assert re.search(r"vs DC 15 → (CRITICAL|SUCCESS|FAILURE|FUMBLE)", turn), turn
        assert "you search the body for clues" in turn[check_at:], turn  # the narration, after the check

        # Starting again finds everything in place: nothing is created twice.
        with grpc.insecure_channel(f"127.0.0.1:{env['DM_GATEWAY_PORT']}") as gateway:
            again = ensure_demo(gateway, ROOT / "worlds" / "ashen-reach")
        assert again.created == [] and list(again.characters) == [n for n, _ in DEMO_PARTY]
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, "".join(lines) + rest
    for name in SERVICES:
        assert health_status(f"127.0.0.1:{env[f'DM_{name.upper()}_PORT']}", timeout=0.5) is None, name
