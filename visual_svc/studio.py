"""The image service's domain: request -> lore prompt -> moderation -> cache or render -> PNG -> asset.

The model loads in the background at start-up (health stays NOT_SERVING with the reason until it is ready);
with no model configured every render is refused with FAILED_PRECONDITION saying how to configure one, and
nothing fakes an image. Storing in memory is best-effort: a failure is logged and counted, and the caller
still gets the image.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from mesh.errors import FailedPrecondition, InvalidArgument, Unavailable
from mesh.health import Readiness
from mesh.metrics import counter
from mesh.moderation import Decision, Moderator
from mesh.settings import Settings
from visual_svc.cache import CachedImage, ImageCache, cache_key
from visual_svc.pipeline import BatchItem, Renderer
from visual_svc.png import encode_png, sha256_hex
from visual_svc.ports import AssetRecord, MemoryPort
from visual_svc.prompts import PromptBuilder, lore_subject
from visual_svc.spec import (
    MAX_SEED,
    BuiltPrompt,
    ImageKind,
    ImageRequest,
    ImageResult,
    Progress,
    RenderParams,
    SubjectRef,
)
from visual_svc.styles import StyleBook
from visual_svc.worker import ProgressSink, RenderWorker

log = logging.getLogger("visual_svc.studio")

HOW_TO_CONFIGURE = (
    "no image model is configured: set DM_VISUAL_MODEL_PATH to a local diffusers Stable Diffusion folder "
    "(SD 1.5 or SDXL, with model_index.json) or a single .safetensors checkpoint (with DM_VISUAL_MODEL_CONFIG "
    "naming a diffusers config folder when offline), then restart the visual service"
)
#: (sha256, campaign) pairs already stored, remembered so a cached repeat does not resend the PNG.
_STORED_MEMORY = 4096

RendererLoader = Callable[[], tuple[Renderer, str]]
"""Loads the model (blocking, on a worker thread); returns the renderer and the device it runs on."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    kind: ImageKind
    built: BuiltPrompt
    params: RenderParams
    seed: int
    key: str


class Studio:
    """Turns image requests into PNGs on one device."""

    def __init__(
        self,
        settings: Settings,
        *,
        styles: StyleBook,
        memory: MemoryPort | None,
        moderator: Moderator | None,
        loader: RendererLoader | None,
    ) -> None:
        self.settings = settings
        self.styles = styles
        self.memory = memory
        self.moderator = moderator
        self.prompts = PromptBuilder()
        self.cache = ImageCache(settings.visual_cache_mb * 2**20)
        self._loader = loader
        self._state = "off" if loader is None else "loading"
        self._reason = HOW_TO_CONFIGURE if loader is None else "image model not loaded yet"
        self._renderer: Renderer | None = None
        self._worker: RenderWorker | None = None
        self._load_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stored: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._images = counter("dm_visual_images_total", "Images returned, by source.", ("source",))
        self._store_failures = counter(
            "dm_visual_store_failures_total",
            "Images that could not be stored in memory (the caller still got them).",
        )

    # --- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Begin loading the model in the background; health reports the progress."""
        if self._loader is not None and self._load_task is None:
            self._load_task = asyncio.get_running_loop().create_task(
                self._load(self._loader), name="load-image-model"
            )

    async def _load(self, loader: RendererLoader) -> None:
        self._state, self._reason = "loading", "loading the image model"
        started = time.perf_counter()
        try:
            renderer, device = await asyncio.to_thread(loader)
        except Exception as exc:
            log.exception("image model failed to load")
            self._state, self._reason = "failed", f"image model failed to load: {exc}"
            return
        worker = RenderWorker(
            renderer,
            max_batch=self.settings.visual_max_batch,
            window_s=self.settings.visual_batch_window_ms / 1000.0,
            max_queue=self.settings.visual_max_queue,
            device=device,
        )
        worker.start()
        self._renderer, self._worker = renderer, worker
        self._state = "ready"
        self._reason = (
            f"image model {renderer.model} ready on {device} ({time.perf_counter() - started:.1f}s to load)"
        )
        log.info(self._reason)

    async def wait_loaded(self) -> None:
        """Wait until loading has finished (either way)."""
        if self._load_task is not None:
            await asyncio.shield(self._load_task)

    def readiness(self) -> Readiness:
        """SERVING only with a loaded model; the reason says what is missing."""
        return Readiness(ready=self._state == "ready", reason=self._reason)

    async def close(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._load_task
        if self._worker is not None:
            await self._worker.close()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def _ready(self) -> tuple[Renderer, RenderWorker]:
        if self._renderer is not None and self._worker is not None:
            return self._renderer, self._worker
        if self._state == "loading":
            raise Unavailable("the image model is still loading; retry shortly", "MODEL_LOADING", "visual")
        if self._state == "failed":
            raise FailedPrecondition(
                f"{self._reason}; fix DM_VISUAL_MODEL_PATH and restart the visual service"
            )
        raise FailedPrecondition(HOW_TO_CONFIGURE)

    # --- prompts --------------------------------------------------------------------------------------------------

    async def build_prompt(
        self, ref: SubjectRef, negative: str = "", prefix: str = ""
    ) -> tuple[ImageKind, BuiltPrompt]:
        """Resolve the subject (request, memory or lore), dress it in the world's style, fit it to CLIP."""
        # load_world stats the lore folder to notice edits: file I/O, so off the event loop
        ws = await asyncio.to_thread(self.styles.for_world, ref.world_id, f"{prefix}world_id")
        kind, subject = ref.kind, ref.entity
        inferred = ImageKind.SCENE
        if ref.lore_ref.strip():
            if ws.world is None:
                raise InvalidArgument([(f"{prefix}lore_ref", f"world {ws.world_id!r} has no lore loaded")])
            inferred, subject = lore_subject(ws.world, ref.lore_ref, f"{prefix}lore_ref")
        elif ref.character_id:
            inferred, subject = ImageKind.PORTRAIT, await self._memory().character_subject(ref.character_id)
        elif ref.location_id:
            inferred = ImageKind.LOCATION
            subject = await self._memory().location_subject(ws.world_id, ref.location_id)
        elif ref.entity:
            inferred = ImageKind.SCENE
        final_kind = kind or inferred
        return final_kind, self.prompts.build(final_kind, subject, ref.text, ws.style, negative)

    def _memory(self) -> MemoryPort:
        if self.memory is None:
            raise FailedPrecondition("memory_svc is not configured, so memory ids cannot be looked up")
        return self.memory

    async def _screen(self, built: BuiltPrompt, campaign_id: str, prefix: str) -> None:
        if self.moderator is None:
            return
        decision = await self.moderator.screen(f"{built.prompt}\n{built.negative_prompt}", "input")
        counter(
            "dm_moderation_decisions_total",
            "Moderation decisions, by direction, outcome and backend.",
            ("direction", "allowed", "backend"),
        ).labels(decision.direction, str(decision.allowed).lower(), decision.backend).inc()
        self._spawn(self._log_decision(decision, campaign_id))
        if not decision.allowed:
            raise InvalidArgument([(f"{prefix}prompt", decision.reason or "blocked by content moderation")])

    async def _log_decision(self, decision: Decision, campaign_id: str) -> None:
        if self.memory is None:
            return
        try:
            await self.memory.log_moderation(decision, campaign_id)
        except Exception:  # the decision is already enforced; a lost log line must not fail the image
            counter(
                "dm_moderation_log_failures_total",
                "Moderation decisions that could not be written to memory.",
            ).inc()
            log.exception("could not write a moderation decision to memory")

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- images ---------------------------------------------------------------------------------------------------

    async def _prepare(self, req: ImageRequest, renderer: Renderer, prefix: str) -> _Prepared:
        kind, built = await self.build_prompt(req.subject, req.negative_prompt, prefix)
        await self._screen(built, req.campaign_id, prefix)
        width = req.width or renderer.native_size[0]
        height = req.height or renderer.native_size[1]
        if max(width, height) > self.settings.visual_max_size:
            field = "width" if width > self.settings.visual_max_size else "height"
            raise InvalidArgument(
                [
                    (
                        f"{prefix}{field}",
                        f"the model's native size exceeds the configured maximum {self.settings.visual_max_size}",
                    )
                ]
            )
        seed = req.seed or secrets.randbelow(MAX_SEED) + 1
        scheduler = req.scheduler or self.settings.visual_default_scheduler
        params = RenderParams(width, height, req.steps, float(req.guidance_scale), scheduler)
        key = cache_key(
            renderer.fingerprint,
            built.prompt,
            built.negative_prompt,
            width,
            height,
            req.steps,
            req.guidance_scale,
            scheduler,
            seed,
        )
        return _Prepared(kind, built, params, seed, key)

    async def generate(
        self, req: ImageRequest, on_progress: ProgressSink | None = None, prefix: str = ""
    ) -> ImageResult:
        """Render (or fetch from the cache) one image; ``on_progress`` hears queue and step progress."""
        renderer, worker = self._ready()
        prep = await self._prepare(req, renderer, prefix)
        p = prep.params
        hit = self.cache.get(prep.key)
        if hit is not None:
            self._images.labels("cache").inc()
            png, sha, render_ms = hit.png, hit.sha256, 0.0
        else:
            rendered = await worker.render(
                p, BatchItem(prep.built.prompt, prep.built.negative_prompt, prep.seed), on_progress
            )
            png = encode_png(rendered.pixels, self._png_text(renderer, prep))
            sha = sha256_hex(png)
            self.cache.put(prep.key, CachedImage(png, sha))
            render_ms = rendered.render_ms
            self._images.labels("render").inc()
        stored = False
        if req.campaign_id:
            stored = await self._store(png, sha, prep, req.campaign_id, renderer.model)
        return ImageResult(
            png=png,
            sha256=sha,
            width=p.width,
            height=p.height,
            prompt=prep.built.prompt,
            negative_prompt=prep.built.negative_prompt,
            seed=prep.seed,
            model=renderer.model,
            style=prep.built.style,
            cached=hit is not None,
            render_ms=render_ms,
            stored=stored,
        )

    async def stream(self, req: ImageRequest, prefix: str = "") -> AsyncIterator[Progress | ImageResult]:
        """Progress events in order, then the image; closing the iterator cancels the render."""
        queue: asyncio.Queue[Progress] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(self.generate(req, queue.put_nowait, prefix))
        try:
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            yield task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    @staticmethod
    def _png_text(renderer: Renderer, prep: _Prepared) -> dict[str, str]:
        p = prep.params
        return {
            "Software": "dungeonmaster visual_svc",
            "prompt": prep.built.prompt,
            "negative_prompt": prep.built.negative_prompt,
            "parameters": json.dumps(
                {
                    "model": renderer.model,
                    "seed": prep.seed,
                    "steps": p.steps,
                    "guidance_scale": round(p.guidance_scale, 4),
                    "scheduler": p.scheduler,
                    "width": p.width,
                    "height": p.height,
                    "style": prep.built.style,
                },
                sort_keys=True,
            ),
        }

    async def _store(self, png: bytes, sha: str, prep: _Prepared, campaign_id: str, model: str) -> bool:
        """Best-effort asset storage; False (logged, counted) when memory could not take it in time."""
        mark = (sha, campaign_id)
        if mark in self._stored:
            self._stored.move_to_end(mark)
            return True
        if self.memory is None:
            return False
        p = prep.params
        metadata = {
            "prompt": prep.built.prompt,
            "negative_prompt": prep.built.negative_prompt,
            "seed": prep.seed,
            "steps": p.steps,
            "guidance_scale": round(p.guidance_scale, 4),
            "scheduler": p.scheduler,
            "model": model,
            "style": prep.built.style,
        }
        record = AssetRecord(
            png, sha, prep.kind.value, p.width, p.height, json.dumps(metadata, sort_keys=True), campaign_id
        )
        try:
            await asyncio.wait_for(self.memory.put_asset(record), self.settings.visual_store_timeout_s)
        except Exception as exc:
            self._store_failures.inc()
            log.warning(
                "image not stored in memory; returning it anyway",
                extra={"campaign_id": campaign_id, "sha256": sha, "error": f"{type(exc).__name__}: {exc}"},
            )
            return False
        self._stored[mark] = None
        while len(self._stored) > _STORED_MEMORY:
            self._stored.popitem(last=False)
        return True
