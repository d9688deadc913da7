"""A non-Python client: Node.js @grpc/grpc-js loads our .proto files and calls every service."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.procs import ServiceProcess

HERE = Path(__file__).parent


def test_node_grpc_js_client_calls_every_service(mesh: dict[str, ServiceProcess]) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is required for the interop tests (installed by make setup / .ci/run)")
    if not (HERE / "node_modules" / "@grpc" / "grpc-js").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300)
    env = dict(os.environ, DM_INTEROP_ADDRS=json.dumps({n: sp.address for n, sp in mesh.items()}))
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(HERE / "mesh_client.test.js")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# pass 7" in result.stdout or "pass 7" in result.stdout, result.stdout[-3000:]
