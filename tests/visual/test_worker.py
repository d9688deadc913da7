"""The render worker on the tiny model: batching, per-request seeds, progress, cancellation, back-pressure."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from mesh.errors import ResourceExhausted, Unavailable
from mesh.metrics import REGISTRY
from visual_svc.pipeline import BatchItem, DiffusersRenderer
from visual_svc.spec import Progress, RenderParams
from visual_svc.worker import RenderWorker

P = RenderParams(64, 64, 3, 7.0, "dpmpp-2m-karras")
WAIT = 60.0  # generous bound for a loaded 2-core machine; every wait below ends as soon as its event happens


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
async def worker(renderer: DiffusersRenderer) -> AsyncIterator[RenderWorker]:
    w = RenderWorker(renderer, max_batch=4, window_s=0.5, max_queue=8, device="cpu")
    w.start()
    try:
        yield w
    finally:
        await w.close()


async def test_four_concurrent_requests_ride_in_one_batch_with_their_own_seeds(
    worker: RenderWorker, renderer: DiffusersRenderer
) -> None:
    count, total = sample("dm_visual_batch_size_count"), sample("dm_visual_batch_size_sum")
    items = [BatchItem(f"a grey tower ruin {i}", "", 100 + i) for i in range(4)]
    results = await asyncio.wait_for(asyncio.gather(*(worker.render(P, it) for it in items)), WAIT)
    assert [r.batch_size for r in results] == [4, 4, 4, 4]
    assert sample("dm_visual_batch_size_count") - count == 1
    assert sample("dm_visual_batch_size_sum") - total == 4
    for item, result in zip(items, results, strict=True):
        alone = renderer.render(P, [item], lambda _s: None, lambda: False)[0]
        assert np.array_equal(alone, result.pixels)
    assert len({r.pixels.tobytes() for r in results}) == 4


async def test_incompatible_requests_are_not_batched(worker: RenderWorker) -> None:
    other = RenderParams(64, 64, 2, 7.0, "dpmpp-2m-karras")
    a, b = await asyncio.wait_for(
        asyncio.gather(worker.render(P, BatchItem("a", "", 1)), worker.render(other, BatchItem("b", "", 2))),
        WAIT,
    )
    assert (a.batch_size, b.batch_size) == (1, 1)


async def test_progress_arrives_in_order_queue_then_steps(worker: RenderWorker) -> None:
    events: list[Progress] = []
    steps = RenderParams(64, 64, 5, 7.0, "euler-a")
    result = await asyncio.wait_for(worker.render(steps, BatchItem("a knight", "", 5), events.append), WAIT)
    assert events[0] == Progress(0, 5, 1)  # queued, first in line
    assert events[1] == Progress(0, 5, 0)  # rendering
    assert [e.step for e in events[2:]] == [1, 2, 3, 4, 5]
    assert all(e.total_steps == 5 and e.queue_position == 0 for e in events[1:])
    assert result.pixels.shape == (64, 64, 3)


async def test_a_cancelled_queued_request_is_dropped(worker: RenderWorker) -> None:
    long = RenderParams(64, 64, 12, 7.0, "dpmpp-2m-karras")
    dropped = sample("dm_visual_cancelled_total", {"stage": "queued"})
    steps_before = sample("dm_visual_steps_total")
    started = asyncio.Event()
    first = asyncio.create_task(
        worker.render(long, BatchItem("a", "", 1), lambda p: p.step and started.set())
    )
    await asyncio.wait_for(started.wait(), WAIT)
    queued_events: list[Progress] = []
    second = asyncio.create_task(worker.render(P, BatchItem("b", "", 2), queued_events.append))
    await asyncio.sleep(0)  # let it enqueue behind the running batch
    assert worker.queue_depth == 1 and queued_events == [Progress(0, P.steps, 1)]
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert worker.queue_depth == 0
    assert sample("dm_visual_cancelled_total", {"stage": "queued"}) - dropped == 1
    await asyncio.wait_for(first, WAIT)
    assert sample("dm_visual_steps_total") - steps_before == long.steps  # the dropped one never ran a step


async def test_a_cancelled_running_request_stops_at_the_next_step(worker: RenderWorker) -> None:
    long = RenderParams(64, 64, 150, 7.0, "dpmpp-2m-karras")
    stopped = sample("dm_visual_cancelled_total", {"stage": "running"})
    steps_before = sample("dm_visual_steps_total")
    two_steps = asyncio.Event()
    task = asyncio.create_task(
        worker.render(long, BatchItem("a", "", 1), lambda p: p.step >= 2 and two_steps.set())
    )
    await asyncio.wait_for(two_steps.wait(), WAIT)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sample("dm_visual_cancelled_total", {"stage": "running"}) - stopped == 1
    # The next request runs only once the stopped batch has left the device.
    await asyncio.wait_for(worker.render(P, BatchItem("b", "", 2)), WAIT)
    ran = sample("dm_visual_steps_total") - steps_before - P.steps
    assert 2 <= ran < 20, ran  # stopped within a step or so of the cancel, far from 150


async def test_a_full_queue_refuses_with_resource_exhausted(renderer: DiffusersRenderer) -> None:
    w = RenderWorker(renderer, max_batch=4, window_s=0.0, max_queue=1, device="cpu")
    w.start()
    long = RenderParams(64, 64, 10, 7.0, "dpmpp-2m-karras")
    try:
        started = asyncio.Event()
        running = asyncio.create_task(
            w.render(long, BatchItem("a", "", 1), lambda p: p.step and started.set())
        )
        await asyncio.wait_for(started.wait(), WAIT)
        waiting = asyncio.create_task(w.render(P, BatchItem("b", "", 2)))
        await asyncio.sleep(0)
        with pytest.raises(ResourceExhausted) as err:
            await w.render(P, BatchItem("c", "", 3))
        assert err.value.retry_after_s is not None and err.value.retry_after_s >= 1.0
        await asyncio.wait_for(asyncio.gather(running, waiting), WAIT)
    finally:
        await w.close()


async def test_close_fails_waiting_requests_and_refuses_new_ones(renderer: DiffusersRenderer) -> None:
    w = RenderWorker(renderer, max_batch=4, window_s=0.0, max_queue=8, device="cpu")
    w.start()
    long = RenderParams(64, 64, 150, 7.0, "dpmpp-2m-karras")
    started = asyncio.Event()
    running = asyncio.create_task(w.render(long, BatchItem("a", "", 1), lambda p: p.step and started.set()))
    await asyncio.wait_for(started.wait(), WAIT)
    waiting = asyncio.create_task(w.render(P, BatchItem("b", "", 2)))
    await asyncio.sleep(0)
    await asyncio.wait_for(w.close(), WAIT)  # the running batch stops at its next step, so this is quick
    for task in (running, waiting):
        with pytest.raises(Unavailable):
            await asyncio.wait_for(task, WAIT)
    with pytest.raises(Unavailable):
        await w.render(P, BatchItem("c", "", 3))


async def test_a_failed_render_reaches_its_callers_and_the_worker_goes_on(worker: RenderWorker) -> None:
    bad = RenderParams(
        60, 64, 2, 7.0, "dpmpp-2m-karras"
    )  # diffusers refuses sizes that are not multiples of 8
    with pytest.raises(ValueError, match="divisible by 8"):
        await asyncio.wait_for(worker.render(bad, BatchItem("a", "", 1)), WAIT)
    ok = await asyncio.wait_for(worker.render(P, BatchItem("a", "", 1)), WAIT)
    assert ok.pixels.shape == (64, 64, 3)


async def test_a_dead_batching_loop_fails_waiting_callers(
    renderer: DiffusersRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = RenderWorker(renderer, max_batch=4, window_s=0.0, max_queue=8, device="cpu")

    async def broken(first: object) -> list[object]:
        raise RuntimeError("a bug in the batching loop")

    monkeypatch.setattr(w, "_gather", broken)
    w.start()
    try:
        with pytest.raises(Unavailable, match="stopped"):
            await asyncio.wait_for(w.render(P, BatchItem("a", "", 1)), WAIT)
        with pytest.raises(Unavailable):
            await w.render(P, BatchItem("b", "", 2))
    finally:
        await w.close()
