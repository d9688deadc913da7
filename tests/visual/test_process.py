"""``python -m visual_svc`` as a real process, configured only through DM_* environment variables."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from dungeonmaster.v1 import visual_pb2, visual_pb2_grpc
from tests.support.procs import health_status, mesh_env, start_service

pytestmark = pytest.mark.slow


def test_the_service_process_serves_the_configured_model_and_stops_cleanly(
    tiny_model: Path, tmp_path: Path
) -> None:
    env = mesh_env(
        tmp_path / "data",
        {
            "DM_VISUAL_MODEL_PATH": str(tiny_model),
            "DM_VISUAL_DEVICE": "cpu",
            "DM_VISUAL_DTYPE": "float32",
            "OMP_NUM_THREADS": "1",
        },
    )
    sp = start_service("visual", env, tmp_path / "logs")
    try:
        with grpc.insecure_channel(sp.address) as channel:
            stub = visual_pb2_grpc.VisualServiceStub(channel)
            spec = visual_pb2.ImageSpec(prompt="a grey tower ruin", steps=2, seed=9)
            image = stub.GenerateImage(visual_pb2.GenerateImageRequest(spec=spec), timeout=60).image
        assert image.png.startswith(b"\x89PNG") and image.sha256 == hashlib.sha256(image.png).hexdigest()
        assert (image.width, image.height, image.model) == (64, 64, "tiny-sd")
    finally:
        assert sp.stop(signal.SIGTERM) == 0, sp.log()[-3000:]


def test_without_a_model_the_process_runs_but_is_not_serving(tmp_path: Path) -> None:
    env = mesh_env(tmp_path / "data", {"DM_VISUAL_MODEL_PATH": ""})
    sp = start_service("visual", env, tmp_path / "logs", want_serving=False)
    try:
        assert health_status(sp.address, sp.service_name) == health_pb2.HealthCheckResponse.NOT_SERVING
        with grpc.insecure_channel(sp.address) as channel:
            stub = visual_pb2_grpc.VisualServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.GenerateImage(
                    visual_pb2.GenerateImageRequest(spec=visual_pb2.ImageSpec(prompt="x", steps=2)),
                    timeout=30,
                )
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # type: ignore[attr-defined]
    finally:
        assert sp.stop(signal.SIGTERM) == 0, sp.log()[-3000:]
