"""The C# client's watcher: every C# name its watch endpoint uses exists in what protoc generates.

No .NET SDK can be installed here, so, like the turn endpoint's test, the watcher is checked against the code
protoc's C# generator (the one Grpc.Tools wraps) makes of the contracts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dungeonmaster.v1 import gateway_pb2
from tests.support.procs import ROOT

PROGRAM = ROOT / "clients" / "csharp" / "DungeonMaster.Client" / "Program.cs"


def test_watch_endpoint_uses_only_generated_names(tmp_path: Path) -> None:
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc (Debian protobuf-compiler) is required; .ci/run installs it")
    protos = sorted((ROOT / "protos" / "dungeonmaster" / "v1").glob("*.proto"))
    subprocess.run(
        [protoc, f"-I{ROOT / 'protos'}", f"--csharp_out={tmp_path}", *map(str, protos)],
        check=True,
        timeout=120,
    )
    gateway_cs = (tmp_path / "Gateway.cs").read_text()
    program = PROGRAM.read_text()
    for cls in ("WatchCampaignRequest", "WatchCampaignResponse"):
        assert re.search(rf"\bclass {cls}\b", gateway_cs), cls
        assert f"new {cls}" in program or f"{cls}." in program, cls
    for prop in ("AfterEventId", "EventId", "ItemCase", "Private", "CharacterIds"):
        assert re.search(rf"public [\w.:<>]+ {prop} \{{", gateway_cs), prop
        assert prop in program, prop
    # Every item case of the stream is relayed (a new one fails here until it is mapped).
    used = set(re.findall(r"WatchCampaignResponse\.ItemOneofCase\.(\w+)", program))
    cases = {
        "".join(part.capitalize() for part in f.name.split("_"))
        for f in gateway_pb2.WatchCampaignResponse.DESCRIPTOR.oneofs_by_name["item"].fields
    }
    assert used == cases
    response = gateway_cs[gateway_cs.index("partial class WatchCampaignResponse") :]
    enum = re.search(r"public enum ItemOneofCase \{(.*?)\}", response, re.S)
    assert enum is not None and cases <= set(re.findall(r"(\w+) = \d+", enum.group(1)))
    assert "gm.WatchCampaign(" in program and "Last-Event-ID" in program
