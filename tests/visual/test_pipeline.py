"""The diffusers pipeline on the tiny random-weight model, loaded through the same code path as a real model."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visual_svc.cache import CachedImage, ImageCache, cache_key
from visual_svc.devices import PlanOptions, plan_for, probe
from visual_svc.pipeline import (
    BatchItem,
    DiffusersRenderer,
    RenderCancelled,
    load_renderer,
    model_fingerprint,
)
from visual_svc.png import encode_png, sha256_hex
from visual_svc.spec import SCHEDULERS, RenderParams

STEPS = 3


def params(
    width: int = 64, height: int = 64, steps: int = STEPS, scheduler: str = "dpmpp-2m-karras"
) -> RenderParams:
    return RenderParams(width, height, steps, 7.0, scheduler)


def render_one(r: DiffusersRenderer, prompt: str, seed: int, p: RenderParams | None = None) -> np.ndarray:
    return r.render(p or params(), [BatchItem(prompt, "blurry", seed)], lambda _s: None, lambda: False)[0]


def test_tiny_model_loads_like_a_real_one(renderer: DiffusersRenderer, tiny_model: Path) -> None:
    assert type(renderer.pipe).__name__ == "StableDiffusionPipeline"
    assert renderer.model == "tiny-sd"
    assert renderer.native_size == (64, 64)
    assert renderer.fingerprint.endswith("/cpu/float32/fixed4/whole")
    # the transformers 5 trap: a tokenizer built from vocab files can silently have 2 tokens
    assert len(renderer.pipe.tokenizer) > 100
    ids = renderer.pipe.tokenizer("a dark knight").input_ids
    assert len(ids) == 5, ids  # start, three whole-word tokens, end
    assert model_fingerprint(tiny_model) == renderer.fingerprint.split("/")[0]


@pytest.mark.parametrize(("width", "height"), [(64, 64), (96, 64), (64, 128)])
def test_renders_valid_pngs_of_the_requested_size(
    renderer: DiffusersRenderer, width: int, height: int
) -> None:
    pixels = render_one(renderer, "a red dragon over a castle", 7, params(width, height))
    assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8
    png = encode_png(pixels, {"prompt": "a red dragon over a castle"})
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        assert img.format == "PNG" and img.mode == "RGB" and img.size == (width, height)
        assert img.text["prompt"] == "a red dragon over a castle"
        assert np.array_equal(np.asarray(img), pixels)
    assert pixels.std() > 1.0  # a real render, not a blank canvas


def test_same_seed_gives_byte_identical_png_and_another_seed_does_not(renderer: DiffusersRenderer) -> None:
    a = encode_png(render_one(renderer, "an old priest with a lantern", 42))
    b = encode_png(render_one(renderer, "an old priest with a lantern", 42))
    c = encode_png(render_one(renderer, "an old priest with a lantern", 43))
    assert a == b
    assert sha256_hex(a) == sha256_hex(b)
    assert a != c


def test_batched_and_unbatched_give_the_same_image(renderer: DiffusersRenderer) -> None:
    items = [
        BatchItem("a salt fen at dusk", "", 11),
        BatchItem("an iron sword", "blurry", 12),
        BatchItem("a grey tower ruin", "", 13),
    ]
    batched = renderer.render(params(), items, lambda _s: None, lambda: False)
    assert len(batched) == 3
    for item, pixels in zip(items, batched, strict=True):
        alone = renderer.render(params(), [item], lambda _s: None, lambda: False)[0]
        assert np.array_equal(alone, pixels), item
    # and a request's image does not depend on who it rode with
    other = renderer.render(
        params(), [BatchItem("a red dragon", "", 99), items[1]], lambda _s: None, lambda: False
    )
    assert np.array_equal(other[1], batched[1])


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_renders_and_reports_each_step(renderer: DiffusersRenderer, scheduler: str) -> None:
    seen: list[int] = []
    out = renderer.render(
        params(steps=4, scheduler=scheduler), [BatchItem("a knight", "", 1)], seen.append, lambda: False
    )
    assert seen == [1, 2, 3, 4]
    assert out[0].shape == (64, 64, 3)
    assert (
        type(renderer.pipe.scheduler).__name__
        == {
            "dpmpp-2m-karras": "DPMSolverMultistepScheduler",
            "euler-a": "EulerAncestralDiscreteScheduler",
            "ddim": "DDIMScheduler",
            "pndm": "PNDMScheduler",
        }[scheduler]
    )


def test_default_scheduler_is_dpm_solver_pp_2m_karras(renderer: DiffusersRenderer) -> None:
    renderer.render(params(steps=2), [BatchItem("a knight", "", 1)], lambda _s: None, lambda: False)
    config = renderer.pipe.scheduler.config
    assert (config.algorithm_type, config.solver_order, config.use_karras_sigmas) == ("dpmsolver++", 2, True)
    assert config.beta_schedule == "scaled_linear"  # the model's own noise schedule is kept


def test_should_stop_ends_the_run_at_the_next_step(renderer: DiffusersRenderer) -> None:
    seen: list[int] = []
    with pytest.raises(RenderCancelled):
        renderer.render(params(steps=20), [BatchItem("a knight", "", 1)], seen.append, lambda: len(seen) >= 2)
    assert seen == [1, 2]


def test_fixed_batch_size_is_enforced(renderer: DiffusersRenderer) -> None:
    too_many = [BatchItem("a knight", "", i) for i in range(5)]
    with pytest.raises(ValueError, match="fixed batch size 4"):
        renderer.render(params(), too_many, lambda _s: None, lambda: False)


def test_bfloat16_on_cpu_loads_and_renders(tiny_model: Path) -> None:
    plan = plan_for(probe("cpu"), PlanOptions(dtype="bfloat16", pad_batches="never"))
    r = load_renderer(tiny_model, plan, name="tiny-bf16")
    assert str(r.pipe.unet.dtype) == "torch.bfloat16"
    pixels = r.render(params(steps=2), [BatchItem("a knight", "", 3)], lambda _s: None, lambda: False)[0]
    assert pixels.shape == (64, 64, 3) and pixels.std() > 1.0
    assert r.fingerprint.endswith("/cpu/bfloat16/var/whole")


def test_unusable_model_paths_say_what_is_wrong(tmp_path: Path) -> None:
    from mesh.errors import FailedPrecondition

    plan = plan_for(probe("cpu"), PlanOptions(dtype="float32"))
    with pytest.raises(FailedPrecondition, match="does not exist"):
        load_renderer(tmp_path / "missing", plan)
    with pytest.raises(FailedPrecondition, match=r"no model_index\.json"):
        load_renderer(tmp_path, plan)
    (tmp_path / "model.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(FailedPrecondition, match=r"only \.safetensors"):
        load_renderer(tmp_path / "model.ckpt", plan)
    other = tmp_path / "flux"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(FailedPrecondition, match="not supported"):
        load_renderer(other, plan)


def test_cache_key_covers_every_input_and_the_cache_evicts_by_bytes() -> None:
    base = ("m", "p", "n", 64, 64, 20, 7.0, "ddim", 1)
    key = cache_key(*base)
    assert cache_key(*base) == key
    for i in range(len(base)):
        changed = list(base)
        changed[i] = changed[i] + 1 if isinstance(changed[i], int | float) else changed[i] + "x"
        assert cache_key(*changed) != key, f"input {i} is not in the key"
    assert cache_key("m", "p", "n", 64, 64, 20, 7.000001, "ddim", 1) == key  # float32 noise does not split it
    cache = ImageCache(max_bytes=250)
    for i in range(3):
        cache.put(f"k{i}", CachedImage(bytes(100), f"s{i}"))
    assert cache.get("k0") is None and cache.get("k1") is not None and cache.get("k2") is not None
    assert cache.size_bytes == 200
    cache.put("huge", CachedImage(bytes(300), "h"))
    assert cache.get("huge") is None


def test_an_sdxl_model_loads_and_renders_through_the_same_path(tmp_path: Path) -> None:
    from tests.visual.tiny_sd import build_tiny_sdxl

    folder = build_tiny_sdxl(tmp_path / "tiny-sdxl")
    r = load_renderer(
        folder, plan_for(probe("cpu"), PlanOptions(dtype="float32", pad_batches="always", max_batch=2))
    )
    assert r.is_xl and r.native_size == (64, 64) and type(r.pipe).__name__ == "StableDiffusionXLPipeline"
    p = params(steps=2)
    items = [BatchItem("a grey tower", "", 5), BatchItem("an iron blade", "", 6)]
    both = r.render(p, items, lambda _s: None, lambda: False)
    alone = r.render(p, [items[1]], lambda _s: None, lambda: False)[0]
    assert both[1].shape == (64, 64, 3) and both[1].std() > 1.0
    assert np.array_equal(alone, both[1])
    # padding chosen by "auto" is dropped for SDXL (a lone 1024 px request would pay for four)
    auto = dataclasses.replace(
        plan_for(probe("cpu"), PlanOptions(dtype="float32")), batch_size=4, pad_is_auto=True
    )
    unpadded = load_renderer(folder, auto)
    assert unpadded.batch_size is None and "SDXL" in unpadded.plan.notes[-1]
    # in fp16 the SDXL VAE is kept in fp32, as diffusers does, because it overflows in fp16
    half = load_renderer(folder, plan_for(probe("cpu"), PlanOptions(dtype="float16")))
    assert str(half.pipe.unet.dtype) == "torch.float16" and str(half.pipe.vae.dtype) == "torch.float32"
