"""The C# client project: its Protobuf items cover the contracts and every C# name it uses exists.

No .NET SDK can be installed here, so the project is checked against what protoc's C# generator (Debian's
protobuf-compiler, the same generator Grpc.Tools wraps) makes of the contracts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dungeonmaster.v1 import gateway_pb2
from tests.support.procs import ROOT

PROJECT = ROOT / "clients" / "csharp" / "DungeonMaster.Client"


def test_project_generates_client_stubs_for_every_contract() -> None:
    tree = ET.parse(PROJECT / "DungeonMaster.Client.csproj")
    assert tree.getroot().get("Sdk") == "Microsoft.NET.Sdk.Web"
    packages = {p.get("Include") for p in tree.iter("PackageReference")}
    assert {"Grpc.Tools", "Grpc.Net.ClientFactory", "Google.Protobuf"} <= packages
    (item,) = list(tree.iter("Protobuf"))
    assert item.get("GrpcServices") == "Client"
    proto_root = (PROJECT / str(item.get("ProtoRoot"))).resolve()
    assert proto_root == ROOT / "protos"
    included = {p.resolve() for p in PROJECT.glob(str(item.get("Include")))}
    assert included == set((ROOT / "protos" / "dungeonmaster" / "v1").glob("*.proto"))


def test_every_csharp_name_used_exists_in_the_generated_code(tmp_path: Path) -> None:
    protoc = shutil.which("protoc")
    if protoc is None:
        pytest.fail("protoc (Debian protobuf-compiler) is required; .ci/run installs it")
    protos = sorted((ROOT / "protos" / "dungeonmaster" / "v1").glob("*.proto"))
    subprocess.run(
        [protoc, f"-I{ROOT / 'protos'}", f"--csharp_out={tmp_path}", *map(str, protos)],
        check=True,
        timeout=120,
    )
    generated = "\n".join(p.read_text() for p in tmp_path.glob("*.cs"))
    program = (PROJECT / "Program.cs").read_text()

    for cls in ("PlayTurnRequest", "PlayTurnResponse", "Party", "PartyMember", "GetStatusRequest"):
        assert re.search(rf"\bclass {cls}\b", generated), cls
        assert cls in program
    for prop in (
        "CampaignId",
        "TurnId",
        "Input",
        "Actor",
        "WantImage",
        "Members",
        "Name",
        "Level",
        "EventCase",
    ):
        assert re.search(rf"public [\w.<>]+ {prop} \{{", generated) or f"{prop} {{" in generated, prop
        assert prop in program
    # Every event case the contract defines is relayed to the browser (a new one fails here until mapped).
    used = set(re.findall(r"PlayTurnResponse\.EventOneofCase\.(\w+)", program))
    cases = {
        "".join(part.capitalize() for part in f.name.split("_"))
        for f in gateway_pb2.PlayTurnResponse.DESCRIPTOR.oneofs_by_name["event"].fields
    }
    assert used == cases
    gateway_cs = (tmp_path / "Gateway.cs").read_text()
    response_class = gateway_cs[gateway_cs.index("partial class PlayTurnResponse") :]
    enum = re.search(r"public enum EventOneofCase \{(.*?)\}", response_class, re.S)
    assert enum is not None and cases <= set(re.findall(r"(\w+) = \d+", enum.group(1)))
    # The service clients registered are the ones the contracts declare.
    for service in re.findall(r"AddGrpcClient<(\w+)\.\1Client>", program):
        assert re.search(rf"\bservice {service}\b", "\n".join(p.read_text() for p in protos)), service
