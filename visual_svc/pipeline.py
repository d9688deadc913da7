"""The diffusers Stable Diffusion pipeline (SD 1.5 or SDXL): loading, device tuning, and one batched render.

A model is a local diffusers folder (``model_index.json``) or a single ``.safetensors`` checkpoint. Rendering
is synchronous and meant for the one worker thread of a device (``worker.RenderWorker``); it keeps each image
independent of its batch-mates: every item has its own CPU generator (the same noise on any device), batches
can be padded to a fixed size (``DevicePlan.batch_size``) because kernels choose per-batch-size algorithms, and
the VAE decodes each image alone. A step callback reports progress and stops the run when every caller left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from mesh.errors import FailedPrecondition
from visual_svc.devices import DevicePlan
from visual_svc.schedulers import make_scheduler
from visual_svc.spec import RenderParams

log = logging.getLogger("visual_svc.pipeline")

Pixels = npt.NDArray[np.uint8]
PIPELINE_CLASSES = ("StableDiffusionPipeline", "StableDiffusionXLPipeline")
_EDGE_BYTES = 1 << 20


class RenderCancelled(Exception):
    """Raised inside the denoising loop to abandon a batch whose callers all went away."""


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One image of a batch."""

    prompt: str
    negative_prompt: str
    seed: int


class Renderer(Protocol):
    """What the worker needs from a loaded model."""

    model: str
    fingerprint: str
    native_size: tuple[int, int]
    batch_size: int | None
    """Fixed batch size every call is padded to, or None for batches of any size."""

    def render(
        self,
        params: RenderParams,
        items: Sequence[BatchItem],
        on_step: Callable[[int], None],
        should_stop: Callable[[], bool],
    ) -> list[Pixels]:
        """Render ``items`` (all sharing ``params``) to HxWx3 uint8 arrays, in order."""
        ...


@contextlib.contextmanager
def _release_memory_on_oom() -> Iterator[None]:
    """After a CUDA out-of-memory error, hand the cached blocks back so the next (smaller) batch can run."""
    try:
        yield
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError":
            import torch

            torch.cuda.empty_cache()
        raise


def model_fingerprint(path: Path, config_dir: str = "") -> str:
    """A short hash naming the exact model: config and tokenizer files by content, weights by size and edges.

    Hashing gigabytes of weights on every start would cost seconds to minutes; the first and last MiB of each
    weight file plus its size tell retrained checkpoints apart in practice.
    """
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    if config_dir:
        files += sorted(p for p in Path(config_dir).rglob("*.json") if p.is_file())
    for f in files:
        rel = f.name if f == path else str(f.relative_to(path if path.is_dir() else f.parent))
        h.update(rel.encode())
        if f.suffix in (".json", ".txt", ".model"):
            h.update(f.read_bytes())
            continue
        size = f.stat().st_size
        h.update(str(size).encode())
        with f.open("rb") as fh:
            h.update(fh.read(_EDGE_BYTES))
            if size > 2 * _EDGE_BYTES:
                fh.seek(size - _EDGE_BYTES)
                h.update(fh.read(_EDGE_BYTES))
    return h.hexdigest()[:16]


def _is_sdxl_checkpoint(path: Path) -> bool:
    """SDXL checkpoints carry a second text encoder under ``conditioner.embedders.1``."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        return any(k.startswith("conditioner.embedders.1.") for k in fh.keys())


def _torch_dtype(name: str) -> Any:
    import torch

    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[name]


def _load_pipeline(path: Path, config_dir: str, dtype: Any) -> Any:
    import diffusers

    if path.is_dir():
        index_path = path / "model_index.json"
        if not index_path.is_file():
            raise FailedPrecondition(f"{path} is not a diffusers model folder (no model_index.json)")
        index = json.loads(index_path.read_text())
        class_name = index.get("_class_name", "")
        if class_name not in PIPELINE_CLASSES:
            raise FailedPrecondition(
                f"{path}: pipeline {class_name!r} is not supported; use {' or '.join(PIPELINE_CLASSES)}"
            )
        kwargs: dict[str, Any] = {}
        if "safety_checker" in index:
            # Prompts are screened by the moderation layer before rendering; the CLIP checker would cost ~1 GB.
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        cls = getattr(diffusers, class_name)
        return cls.from_pretrained(str(path), torch_dtype=dtype, local_files_only=True, **kwargs)
    if path.is_file():
        if path.suffix != ".safetensors":
            raise FailedPrecondition(
                f"{path}: only .safetensors checkpoints are loaded (pickled .ckpt files can run code)"
            )
        xl = _is_sdxl_checkpoint(path)
        cls = diffusers.StableDiffusionXLPipeline if xl else diffusers.StableDiffusionPipeline
        kwargs = {"config": config_dir, "local_files_only": True} if config_dir else {}
        if not xl:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        return cls.from_single_file(str(path), torch_dtype=dtype, **kwargs)
    raise FailedPrecondition(f"image model path {path} does not exist")


class DiffusersRenderer:
    """A loaded, device-tuned Stable Diffusion pipeline."""

    def __init__(self, pipe: Any, plan: DevicePlan, model: str, fingerprint: str) -> None:
        self.pipe = pipe
        self.plan = plan
        self.model = model
        self.fingerprint = fingerprint
        self.batch_size = plan.batch_size
        self.is_xl = type(pipe).__name__ == "StableDiffusionXLPipeline"
        size = int(pipe.unet.config.sample_size) * int(pipe.vae_scale_factor)
        self.native_size = (size, size)
        self._base_scheduler_config = pipe.scheduler.config
        self._schedulers: dict[str, Any] = {}

    def _scheduler(self, name: str) -> Any:
        sched = self._schedulers.get(name)
        if sched is None:
            sched = self._schedulers[name] = make_scheduler(name, self._base_scheduler_config)
        return sched

    def render(
        self,
        params: RenderParams,
        items: Sequence[BatchItem],
        on_step: Callable[[int], None],
        should_stop: Callable[[], bool],
    ) -> list[Pixels]:
        import torch

        n = len(items)
        size = self.batch_size or n
        if not 0 < n <= size:
            raise ValueError(f"batch of {n} does not fit the fixed batch size {size}")
        # Padding rows cost compute but keep every call the same shape (see DevicePlan.batch_size).
        rows = [*items, *[BatchItem("", "", 0)] * (size - n)]
        generators = [torch.Generator("cpu").manual_seed(item.seed) for item in rows]
        steps = params.steps
        done = 0

        def callback(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            nonlocal done
            if should_stop():
                raise RenderCancelled
            # Some schedulers take more model calls than steps (PNDM): report in requested steps.
            step = min(steps, math.ceil((i + 1) * steps / max(1, int(pipe.num_timesteps))))
            if step > done:
                done = step
                on_step(step)
            return kwargs

        self.pipe.scheduler = self._scheduler(params.scheduler)
        with torch.inference_mode(), _release_memory_on_oom():
            out = self.pipe(
                prompt=[r.prompt for r in rows],
                negative_prompt=[r.negative_prompt for r in rows],
                height=params.height,
                width=params.width,
                num_inference_steps=steps,
                guidance_scale=params.guidance_scale,
                generator=generators,
                output_type="latent",
                callback_on_step_end=callback,
            )
            latents = out.images
            return [self._decode(latents[j : j + 1]) for j in range(n)]

    def _decode(self, latent: Any) -> Pixels:
        """Decode one latent alone (batch-independent, and the peak memory of one image)."""
        vae = self.pipe.vae
        cfg = vae.config
        latent = latent.to(dtype=vae.dtype)
        mean, std = getattr(cfg, "latents_mean", None), getattr(cfg, "latents_std", None)
        if self.is_xl and mean is not None and std is not None:
            shape = (1, len(mean), 1, 1)
            m = latent.new_tensor(mean).view(shape)
            s = latent.new_tensor(std).view(shape)
            latent = latent * s / cfg.scaling_factor + m
        else:
            latent = latent / cfg.scaling_factor
        image = vae.decode(latent, return_dict=False)[0]
        arr = self.pipe.image_processor.postprocess(image, output_type="np")[0]
        pixels: Pixels = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
        return pixels


def tune_pipeline(pipe: Any, plan: DevicePlan) -> None:
    """Move ``pipe`` (already in ``plan.dtype``) to the device and apply the plan's attention/memory options."""
    import torch

    pipe.set_progress_bar_config(disable=True)
    # The dtype again, module by module: a load racing another one in the process can leave a module's
    # parameters partly in the default dtype (seen as a bfloat16 input meeting a float32 bias in the VAE).
    pipe.to(device=plan.device, dtype=_torch_dtype(plan.dtype), silence_dtype_warnings=True)
    is_xl = type(pipe).__name__ == "StableDiffusionXLPipeline"
    if is_xl and pipe.vae.dtype == torch.float16 and getattr(pipe.vae.config, "force_upcast", False):
        pipe.vae.to(torch.float32)  # the SDXL VAE overflows in fp16; decoding in fp32 is what diffusers does
    if plan.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        from diffusers.models.attention_processor import AttnProcessor2_0

        # PyTorch SDPA: flash / memory-efficient attention kernels.
        pipe.unet.set_attn_processor(AttnProcessor2_0())  # type: ignore[no-untyped-call]
        pipe.vae.set_attn_processor(AttnProcessor2_0())  # type: ignore[no-untyped-call]
    if plan.vae_slicing:
        pipe.vae.enable_slicing()
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
    if plan.channels_last and plan.is_cuda:
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
    if plan.compile:
        pipe.unet = torch.compile(pipe.unet, fullgraph=True)


def load_renderer(
    path: str | Path, plan: DevicePlan, *, config_dir: str = "", name: str = ""
) -> DiffusersRenderer:
    """Load the model at ``path`` and tune it for ``plan``; raises FailedPrecondition for unusable paths."""
    from diffusers.utils import logging as dlogging

    dlogging.disable_progress_bar()
    started = time.perf_counter()
    model_path = Path(path).expanduser()
    pipe = _load_pipeline(model_path, config_dir, _torch_dtype(plan.dtype))
    if plan.pad_is_auto and type(pipe).__name__ == "StableDiffusionXLPipeline":
        # A batch of 4 at 1024 px costs ~4x a batch of 1 even on big cards: padding would slow lone requests.
        note = "SDXL: batches not padded (compute-bound at its native 1024 px)"
        plan = dataclasses.replace(plan, batch_size=None, notes=(*plan.notes, note))
    tune_pipeline(pipe, plan)
    default_name = model_path.stem if model_path.is_file() else model_path.name
    fingerprint = f"{model_fingerprint(model_path, config_dir)}/{plan.numerics()}"
    renderer = DiffusersRenderer(pipe, plan, name or default_name, fingerprint)
    log.info(
        "image model loaded",
        extra={
            "model": renderer.model,
            "device": plan.device,
            "dtype": plan.dtype,
            "xl": renderer.is_xl,
            "native_size": renderer.native_size,
            "notes": list(plan.notes),
            "load_s": round(time.perf_counter() - started, 2),
        },
    )
    return renderer


def warm_up(renderer: Renderer, steps: int = 2) -> float:
    """Render throw-away batches at the native size (compiles graphs, loads kernels); returns seconds."""
    started = time.perf_counter()
    w, h = renderer.native_size
    params = RenderParams(w, h, steps, 7.0, "dpmpp-2m-karras")
    sizes = [renderer.batch_size] if renderer.batch_size else [1, 2]
    for n in sizes:
        renderer.render(
            params, [BatchItem("warm-up", "", i) for i in range(n)], lambda _s: None, lambda: False
        )
    return time.perf_counter() - started
