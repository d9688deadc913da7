"""VisualService over real gRPC: visual_svc in-process on a free loopback port, the tiny model, the stub."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from PIL import Image

from dungeonmaster.v1 import visual_pb2, visual_pb2_grpc
from mesh.channels import wait_for_serving
from mesh.server import RunningServer, start_server
from mesh.settings import Settings
from mesh.status import unpack_details
from tests.visual.conftest import visual_settings
from visual_svc.service import SERVICE_NAME, build_spec, build_studio
from visual_svc.studio import Studio

V = visual_pb2
WAIT = 60.0
OPTIONS = [("grpc.max_receive_message_length", 32 * 2**20)]


@dataclass
class Running:
    server: RunningServer
    stub: visual_pb2_grpc.VisualServiceStub
    health: health_pb2_grpc.HealthStub
    studio: Studio

    async def metric(self, name: str, labels: str = "") -> float:
        """A sample scraped from the server's own Prometheus endpoint (0 when absent)."""
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{self.server.metrics_port}/metrics", timeout=10)).text
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            key, _, value = line.rpartition(" ")
            if key == wanted:
                return float(value)
        return 0.0


@asynccontextmanager
async def serving(settings: Settings, *, wait_ready: bool = True) -> AsyncIterator[Running]:
    studio = build_studio(settings)
    async with start_server(build_spec(settings, studio=studio), settings, port=0, metrics_port=0) as srv:
        if wait_ready:
            await wait_for_serving(srv.address, SERVICE_NAME, wait_s=WAIT)
        async with grpc.aio.insecure_channel(srv.address, options=OPTIONS) as channel:
            yield Running(
                srv, visual_pb2_grpc.VisualServiceStub(channel), health_pb2_grpc.HealthStub(channel), studio
            )


def spec(**kw: Any) -> visual_pb2.ImageSpec:
    values: dict[str, Any] = {"prompt": "an old woman with a lantern", "steps": 3, "seed": 7}
    values.update(kw)
    return V.ImageSpec(**values)


def bad_fields(err: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    return [
        v.field
        for d in unpack_details(status)
        if isinstance(d, error_details_pb2.BadRequest)
        for v in d.field_violations
    ]


def decode(png: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


async def test_generate_image_returns_a_png_of_the_requested_size(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model)) as run:
        image = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(width=96, height=64)))).image
        img = decode(image.png)
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (96, 64))
        assert (image.width, image.height) == (96, 64)
        assert image.sha256 == hashlib.sha256(image.png).hexdigest()
        assert image.model == "tiny-sd" and image.seed == 7 and not image.cached and image.render_ms > 0
        assert image.style == "ashen-reach-painterly"
        assert (
            "an old woman with a lantern" in image.prompt
            and "muted painterly oil illustration" in image.prompt
        )
        assert "watermark" in image.negative_prompt
        assert json.loads(img.text["parameters"])["seed"] == 7
        native = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=0)))).image
        assert (native.width, native.height) == (64, 64)  # 0 = the model's native size
        assert native.seed > 0  # seed 0 picks one and reports it


async def test_same_seed_same_bytes_a_repeat_comes_from_the_cache(tiny_model: Path) -> None:
    settings = visual_settings(tiny_model)
    async with serving(settings) as run:
        first = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=11)))).image
        again = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=11)))).image
        other = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=12)))).image
        assert again.cached and again.render_ms == 0 and again.png == first.png
        assert not other.cached and other.sha256 != first.sha256
        assert await run.metric("dm_visual_cache_lookups_total", 'result="hit"') >= 1
    async with serving(settings) as fresh:  # a new process-like instance: empty cache, same model and seed
        rerender = (await fresh.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=11)))).image
        assert not rerender.cached and rerender.png == first.png


async def test_four_concurrent_requests_are_batched_and_match_unbatched_renders(tiny_model: Path) -> None:
    settings = visual_settings(tiny_model, visual_batch_window_ms=1000.0)
    prompts = ["a knight", "a red dragon", "a salt fen", "an iron sword"]
    async with serving(settings) as run:
        count = await run.metric("dm_visual_batch_size_count")
        total = await run.metric("dm_visual_batch_size_sum")
        calls = [
            run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(prompt=p, seed=20 + i)))
            for i, p in enumerate(prompts)
        ]
        batched = [r.image for r in await asyncio.wait_for(asyncio.gather(*calls), WAIT)]
        assert await run.metric("dm_visual_batch_size_count") - count == 1
        assert await run.metric("dm_visual_batch_size_sum") - total == 4
    async with serving(visual_settings(tiny_model, visual_batch_window_ms=0.0)) as alone:
        for i, p in enumerate(prompts):
            single = (
                await alone.stub.GenerateImage(V.GenerateImageRequest(spec=spec(prompt=p, seed=20 + i)))
            ).image
            assert not single.cached
            assert single.png == batched[i].png, p


async def test_stream_sends_progress_in_order_then_the_image(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model)) as run:
        events = [e async for e in run.stub.StreamImage(V.StreamImageRequest(spec=spec(steps=4, seed=3)))]
        kinds = [e.WhichOneof("event") for e in events]
        assert kinds[-1] == "image" and kinds.count("image") == 1
        progress = [e.progress for e in events[:-1]]
        assert progress[0].queue_position >= 1 and progress[0].step == 0
        steps = [p.step for p in progress if p.queue_position == 0]
        assert steps == [0, 1, 2, 3, 4]
        assert all(p.total_steps == 4 for p in progress)
        assert decode(events[-1].image.png).size == (64, 64)
        cached = [e async for e in run.stub.StreamImage(V.StreamImageRequest(spec=spec(steps=4, seed=3)))]
        assert [e.WhichOneof("event") for e in cached] == ["image"] and cached[0].image.cached


async def test_a_cancelled_stream_stops_its_render(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model, visual_batch_window_ms=0.0)) as run:
        stopped = await run.metric("dm_visual_cancelled_total", 'stage="running"')
        steps_before = await run.metric("dm_visual_steps_total")
        call = run.stub.StreamImage(V.StreamImageRequest(spec=spec(steps=150, seed=5)))
        async for event in call:
            if event.WhichOneof("event") == "progress" and event.progress.step >= 2:
                break
        call.cancel()
        # the next request runs only after the stopped batch has left the device
        follow = await asyncio.wait_for(
            run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(seed=6))), WAIT
        )
        assert follow.image.png
        assert await run.metric("dm_visual_cancelled_total", 'stage="running"') - stopped == 1
        ran = await run.metric("dm_visual_steps_total") - steps_before - 3
        assert 2 <= ran < 20, ran


async def test_no_model_is_not_serving_and_fails_precondition() -> None:
    async with serving(visual_settings(""), wait_ready=False) as run:
        status = await run.health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert "DM_VISUAL_MODEL_PATH" in run.studio.readiness().reason
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec()))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "DM_VISUAL_MODEL_PATH" in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            async for _ in run.stub.StreamImage(V.StreamImageRequest(spec=spec())):
                pass
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        # prompts need no model
        built = await run.stub.BuildImagePrompt(V.BuildImagePromptRequest(subject="a salt fen at dusk"))
        assert built.style == "ashen-reach-painterly" and built.prompt.startswith("a salt fen at dusk")


async def test_a_model_that_fails_to_load_reports_why(tmp_path: Path) -> None:
    async with serving(visual_settings(tmp_path), wait_ready=False) as run:
        await asyncio.wait_for(run.studio.wait_loaded(), WAIT)
        assert not run.studio.readiness().ready
        assert "no model_index.json" in run.studio.readiness().reason
        status = await run.health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
        assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec()))
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "failed to load" in (err.value.details() or "")


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"width": 100}, ["spec.width"]),
        ({"height": 1028}, ["spec.height"]),  # a multiple of 4 but not of 8
        ({"width": 2048}, ["spec.width"]),  # over the configured maximum (1024)
        ({"steps": 0}, ["spec.steps"]),
        ({"steps": 500}, ["spec.steps"]),
        ({"prompt": ""}, ["spec.prompt"]),
        ({"prompt": "x" * 2001}, ["spec.prompt"]),
        ({"scheduler": "lms"}, ["spec.scheduler"]),
        ({"seed": -4}, ["spec.seed"]),
        ({"world_id": "atlantis"}, ["spec.world_id"]),
        ({"lore_ref": "item:no-such-thing"}, ["spec.lore_ref"]),
        ({"width": 12, "steps": 0, "prompt": ""}, ["spec.prompt", "spec.width", "spec.steps"]),
    ],
)
async def test_bad_input_is_invalid_argument_naming_the_field(
    tiny_model: Path, changes: dict[str, Any], fields: list[str]
) -> None:
    async with serving(visual_settings(tiny_model)) as run:
        for call in ("unary", "stream"):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                if call == "unary":
                    await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(**changes)))
                else:
                    async for _ in run.stub.StreamImage(V.StreamImageRequest(spec=spec(**changes))):
                        pass
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert bad_fields(err.value) == fields
            for f in fields:
                assert f in (err.value.details() or "")


async def test_moderation_blocks_a_prompt_before_rendering(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model)) as run:
        batches = await run.metric("dm_visual_batch_size_count")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(prompt="a diagram of a pipe bomb")))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_fields(err.value) == ["spec.prompt"] and "S9" in (err.value.details() or "")
        assert await run.metric("dm_visual_batch_size_count") == batches


async def test_build_image_prompt_uses_the_lore(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model)) as run:
        item = await run.stub.BuildImagePrompt(V.BuildImagePromptRequest(lore_ref="item:hesper-lantern"))
        assert item.prompt.startswith("The Lantern of Saint Hesper, artifact, wondrous item")
        assert "single object" in item.prompt and "muted painterly oil illustration" in item.prompt
        portrait = await run.stub.BuildImagePrompt(
            V.BuildImagePromptRequest(
                kind=V.IMAGE_KIND_PORTRAIT,
                entity=V.ImageSubject(name="Maud Varrow", description="a stern fen priest", traits=["human"]),
            )
        )
        assert portrait.prompt.startswith("portrait of Maud Varrow, human, a stern fen priest")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await run.stub.BuildImagePrompt(V.BuildImagePromptRequest())
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(err.value) == ["subject"]


async def test_with_memory_down_the_image_is_still_returned(tiny_model: Path) -> None:
    async with serving(visual_settings(tiny_model)) as run:  # memory_addr points at a closed port
        failures = await run.metric("dm_visual_store_failures_total")
        image = (await run.stub.GenerateImage(V.GenerateImageRequest(spec=spec(campaign_id="17")))).image
        assert decode(image.png).size == (64, 64) and not image.stored
        assert await run.metric("dm_visual_store_failures_total") - failures == 1
