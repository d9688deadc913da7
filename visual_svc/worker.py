"""One render worker per device: an asyncio queue in front of a single render thread.

The event loop never blocks: rendering runs on the worker's own thread. The oldest waiting request leads the next
batch; compatible requests (same size, steps, guidance, scheduler) that arrive within ``window_s`` of it ride
along, up to ``max_batch``. Each request keeps its own seed, so batching never changes its image. A caller that
goes away is dropped from the queue, or, if its batch is running and every caller of that batch is gone, the
batch stops at the next denoising step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from mesh.errors import ResourceExhausted, Unavailable
from mesh.metrics import counter, gauge, histogram
from visual_svc.pipeline import BatchItem, Pixels, RenderCancelled, Renderer
from visual_svc.spec import Progress, RenderParams

log = logging.getLogger("visual_svc.worker")

ProgressSink = Callable[[Progress], None]
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)


@dataclass(frozen=True, slots=True)
class Rendered:
    """Pixels of one request and how its batch went."""

    pixels: Pixels
    render_ms: float
    batch_size: int


@dataclass(eq=False)
class _Job:
    params: RenderParams
    item: BatchItem
    on_progress: ProgressSink | None
    future: asyncio.Future[Rendered]
    enqueued: float
    cancelled: threading.Event = field(default_factory=threading.Event)
    position: int = 0

    def emit(self, progress: Progress) -> None:
        if self.on_progress is not None and not self.future.done():
            self.on_progress(progress)


class RenderWorker:
    """Batches compatible requests into pipeline calls on one device."""

    def __init__(
        self,
        renderer: Renderer,
        *,
        max_batch: int,
        window_s: float,
        max_queue: int,
        device: str = "device",
    ) -> None:
        self.renderer = renderer
        self.max_batch = max(1, min(max_batch, renderer.batch_size or max_batch))
        self.window_s = window_s
        self.max_queue = max_queue
        self.device = device
        self._pending: list[_Job] = []
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"render-{device}")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_batch_s = 0.0
        self._queue_depth = gauge("dm_visual_queue_depth", "Image requests waiting for the render worker.")
        self._batch_size = histogram(
            "dm_visual_batch_size", "Requests per pipeline call (padding excluded).", buckets=BATCH_BUCKETS
        )
        self._batch_seconds = histogram("dm_visual_batch_seconds", "Wall time of one pipeline call (s).")
        self._steps = counter("dm_visual_steps_total", "Denoising steps run (one per batch step).")
        self._cancelled = counter(
            "dm_visual_cancelled_total", "Requests whose caller left, by where they were.", ("stage",)
        )

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"render-worker-{self.device}"
            )
            self._task.add_done_callback(self._loop_ended)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        """A batching loop that dies of a bug must not leave callers waiting forever."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("render worker stopped", exc_info=task.exception())
        self._closing = True
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(Unavailable("the image worker stopped", "WORKER_STOPPED", "visual"))
        self._pending.clear()

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    async def render(
        self, params: RenderParams, item: BatchItem, on_progress: ProgressSink | None = None
    ) -> Rendered:
        """Queue one image and wait for it; cancelling the caller drops or stops it."""
        if self._closing or self._task is None:
            raise Unavailable("the image worker is not running", "WORKER_STOPPED", "visual")
        if len(self._pending) >= self.max_queue:
            retry = max(1.0, self._last_batch_s * len(self._pending) / self.max_batch)
            raise ResourceExhausted(
                f"image queue is full ({len(self._pending)} waiting)", retry_after_s=retry
            )
        loop = asyncio.get_running_loop()
        job = _Job(params, item, on_progress, loop.create_future(), time.monotonic())
        self._pending.append(job)
        self._queue_depth.set(len(self._pending))
        job.position = len(self._pending)
        job.emit(Progress(0, params.steps, job.position))
        self._arrived.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _abandon(self, job: _Job) -> None:
        job.cancelled.set()
        if job in self._pending:
            self._pending.remove(job)
            self._queue_depth.set(len(self._pending))
            self._cancelled.labels("queued").inc()
            self._arrived.set()
        else:
            self._cancelled.labels("running").inc()

    async def close(self) -> None:
        """Refuse new work, fail what waits, stop the running batch at its next step, release the thread."""
        self._closing = True
        for job in self._pending:
            if not job.future.done():
                job.future.set_exception(
                    Unavailable("the image service is shutting down", "SHUTDOWN", "visual")
                )
        self._pending.clear()
        self._queue_depth.set(0)
        if self._task is not None:
            self._task.cancel()
            # a loop that died of an error was logged by _loop_ended already
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)

    async def _run(self) -> None:
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            first = self._pending[0]
            batch = await self._gather(first)
            if not batch:
                continue
            for job in batch:
                self._pending.remove(job)
            self._queue_depth.set(len(self._pending))
            for pos, job in enumerate(self._pending, start=1):
                if job.position != pos:
                    job.position = pos
                    job.emit(Progress(0, job.params.steps, pos))
            await self._run_batch(batch)

    async def _gather(self, first: _Job) -> list[_Job]:
        """Wait up to the window after ``first`` arrived for compatible requests; [] if ``first`` left."""
        while True:
            if not self._pending or self._pending[0] is not first:
                return []
            compatible = [j for j in self._pending if j.params == first.params][: self.max_batch]
            left = first.enqueued + self.window_s - time.monotonic()
            if len(compatible) >= self.max_batch or left <= 0:
                return compatible
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def _run_batch(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        params = batch[0].params
        for job in batch:
            job.position = 0
            job.emit(Progress(0, params.steps, 0))

        def on_step(step: int) -> None:
            self._steps.inc()
            loop.call_soon_threadsafe(self._emit_step, batch, step, params.steps)

        def should_stop() -> bool:
            return self._closing or all(job.cancelled.is_set() for job in batch)

        self._batch_size.observe(len(batch))
        started = time.perf_counter()
        try:
            pixels = await loop.run_in_executor(
                self._executor, self.renderer.render, params, [j.item for j in batch], on_step, should_stop
            )
        except (RenderCancelled, asyncio.CancelledError) as exc:
            log.info(
                "batch stopped", extra={"batch": len(batch), "device": self.device, "closing": self._closing}
            )
            reason = "the image service is shutting down" if self._closing else "the render was stopped"
            self._fail(batch, Unavailable(reason, "RENDER_STOPPED", "visual"))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        except Exception as exc:
            log.exception("render failed", extra={"batch": len(batch), "device": self.device})
            self._fail(batch, _render_error(exc))
            return
        finally:
            elapsed = time.perf_counter() - started
            self._batch_seconds.observe(elapsed)
            self._last_batch_s = elapsed
        ms = elapsed * 1000.0
        for job, px in zip(batch, pixels, strict=True):
            if not job.future.done():
                job.future.set_result(Rendered(px, ms, len(batch)))

    @staticmethod
    def _emit_step(batch: list[_Job], step: int, total: int) -> None:
        for job in batch:
            job.emit(Progress(step, total, 0))

    @staticmethod
    def _fail(batch: list[_Job], exc: Exception) -> None:
        for job in batch:
            if not job.future.done():
                job.future.set_exception(exc)


def _render_error(exc: Exception) -> Exception:
    """Out-of-memory is the caller's to retry smaller; anything else stays an internal error."""
    if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
        return ResourceExhausted(
            "the image device ran out of memory; try a smaller size or fewer steps at once"
        )
    return exc
