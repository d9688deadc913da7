"""Readiness: what a service reports about its dependencies, and the loop that polls it.

Kept free of grpc so domain code can build a ``Readiness``; ``mesh.server`` binds the monitor's decisions to the
grpc.health.v1 servicer. A service is NOT_SERVING until its readiness check says ready, and it may be
"degraded but serving" (e.g. the text model is down and the procedural backend answers instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("mesh.health")


@dataclass(frozen=True)
class Readiness:
    """Result of a readiness check.

    ``ready`` decides SERVING vs NOT_SERVING; ``reason`` says why (logged on every change); ``degraded`` names
    optional dependencies that are down while the service still serves; ``services`` overrides ``ready`` for
    individual full service names when one process serves several.
    """

    ready: bool
    reason: str = ""
    degraded: list[str] = field(default_factory=list)
    services: dict[str, bool] = field(default_factory=dict)

    def serving(self, service_name: str) -> bool:
        """Whether ``service_name`` should report SERVING under this result."""
        return self.services.get(service_name, self.ready)


ReadinessCheck = Callable[[], Awaitable[Readiness]]
#: Called with (full service name or "" for the whole server, serving?) whenever a status must be (re)set.
StatusSink = Callable[[str, bool], Awaitable[None]]

ALWAYS_READY = Readiness(ready=True, reason="no readiness check")


class HealthMonitor:
    """Polls a readiness check and pushes per-service SERVING/NOT_SERVING decisions to a sink.

    The overall status (service "") is SERVING only when every listed service is.
    """

    def __init__(
        self,
        service: str,
        service_names: Sequence[str],
        check: ReadinessCheck | None,
        sink: StatusSink,
        poll_s: float,
        on_change: Callable[[Readiness], None] | None = None,
        check_timeout_s: float | None = None,
    ) -> None:
        self._service = service
        self._names = list(service_names)
        self._check = check
        self._sink = sink
        self._poll_s = poll_s
        self._on_change = on_change
        self._timeout = check_timeout_s if check_timeout_s is not None else max(5.0, poll_s)
        self._task: asyncio.Task[None] | None = None
        self.current: Readiness = Readiness(ready=False, reason="starting")

    async def mark_all(self, serving: bool) -> None:
        """Set every listed service and the overall status at once."""
        for name in self._names:
            await self._sink(name, serving)
        await self._sink("", serving)

    async def check_once(self) -> Readiness:
        """Run the readiness check (bounded by a timeout; a failure counts as not ready) and apply it."""
        result = await self._evaluate()
        await self._apply(result)
        return result

    def start(self) -> None:
        """Begin polling in the background on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"health:{self._service}")

    async def stop(self) -> None:
        """Stop polling (statuses are left as they are; the server marks them NOT_SERVING on shutdown)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the sink failing must not kill health reporting
                log.exception("health update failed", extra={"service": self._service})
            await asyncio.sleep(self._poll_s)

    async def _evaluate(self) -> Readiness:
        if self._check is None:
            return ALWAYS_READY
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that lands just as the check
            # finishes, and stop() would then wait forever for a poller that never saw its cancellation.
            async with asyncio.timeout(self._timeout):
                return await self._check()
        except TimeoutError:
            return Readiness(ready=False, reason=f"readiness check timed out after {self._timeout:g}s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("readiness check raised", exc_info=True, extra={"service": self._service})
            return Readiness(ready=False, reason=f"readiness check failed: {type(exc).__name__}: {exc}")

    async def _apply(self, result: Readiness) -> None:
        previous, self.current = self.current, result
        statuses = {name: result.serving(name) for name in self._names}
        for name, serving in statuses.items():
            await self._sink(name, serving)
        await self._sink("", all(statuses.values()) if statuses else result.ready)
        if (previous.ready, previous.degraded, previous.services, previous.reason) != (
            result.ready,
            result.degraded,
            result.services,
            result.reason,
        ):
            log.log(
                logging.INFO if result.ready else logging.WARNING,
                "readiness changed: %s",
                "ready" if result.ready else "not ready",
                extra={
                    "service": self._service,
                    "ready": result.ready,
                    "reason": result.reason,
                    "degraded": list(result.degraded),
                },
            )
            if self._on_change is not None:
                self._on_change(result)
