"""`make run` (python -m mesh.launcher): all seven services start, addresses are printed, Ctrl-C stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.procs import ROOT, SERVICES, health_status, mesh_env


def test_launcher_starts_every_service_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data")
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
            assert health_status(address, "liveness") is not None, name
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, "".join(lines) + rest
    for name in SERVICES:
        assert health_status(f"127.0.0.1:{env[f'DM_{name.upper()}_PORT']}", timeout=0.5) is None, name
