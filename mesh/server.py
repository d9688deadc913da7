"""One way to run a mesh service: ``serve(spec)`` builds the grpc.aio server every service shares.

It adds grpc.health.v1 (per service name, NOT_SERVING until the spec's readiness check passes), server
reflection, the mesh layer of ``mesh.interceptors`` around every handler (request id, context, error mapping,
metrics, access log; applied once at registration rather than per call), message size limits
and keepalive settings matching ``mesh.channels``, a Prometheus endpoint, and graceful shutdown: on SIGTERM or
SIGINT every health status turns NOT_SERVING, the server stops accepting calls, in-flight calls get
``grace_period_s`` to finish, then ``spec.shutdown`` runs and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mesh import tls
from mesh.health import HealthMonitor, Readiness
from mesh.identity import CallerGuard
from mesh.interceptors import ServerInterceptor
from mesh.limits import Limits
from mesh.logs import configure_logging
from mesh.metrics import MetricsServer, RpcMetrics, service_ready_gauge, start_metrics_server
from mesh.settings import SERVICES, Settings, get_settings
from mesh.validation import RequestGuard

__all__ = ["Readiness", "RunningServer", "ServiceSpec", "run", "serve", "server_options", "start_server"]

log = logging.getLogger("mesh.server")

HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: Health name that is SERVING for as long as the process serves, whatever its dependencies say: the target of
#: liveness probes, so a pod whose dependency is down is taken out of rotation (readiness) but not restarted.
LIVENESS = "liveness"


@dataclass
class ServiceSpec:
    """What a service contributes to ``serve()``; everything else is shared."""

    name: str
    """Short name: "memory", "narrative", "encounter", "npc", "item", "visual", "gateway"."""
    service_names: list[str]
    """Full proto service names served (``dungeonmaster.v1.MemoryService``), for health and reflection."""
    register: Callable[[grpc.aio.Server], None]
    """Adds servicers / generic handlers (``add_XServicer_to_server(servicer, server)``); it may only add handlers."""
    readiness: Callable[[], Awaitable[Readiness]] | None = None
    """Polled every ``health_poll_s``; SERVING iff ready. None = ready as soon as the server starts."""
    startup: Callable[[], Awaitable[None]] | None = None
    """Runs before the server starts serving (open pools, warm models)."""
    shutdown: Callable[[], Awaitable[None]] | None = None
    """Runs after in-flight calls have drained (close pools)."""
    extra_reflection: list[str] = field(default_factory=list)
    """More service names to list in reflection."""
    health_details: Callable[[Readiness], None] | None = None
    """Called whenever readiness changes (reason / degraded components), e.g. to surface a degraded state."""
    server_credentials: grpc.ServerCredentials | None = None
    """TLS credentials for the listening port (e.g. the gateway's public port); None = plaintext."""
    max_request_bytes: int | None = None
    """Largest request message any method accepts, public ones included; None = ``max_message_bytes``."""


def server_options(settings: Settings) -> list[tuple[str, Any]]:
    """Server channel arguments; keepalive limits are consistent with ``mesh.channels.client_options``."""
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        # Clients ping every keepalive_time_s >= this interval, so they are never GOAWAY'd for too_many_pings.
        ("grpc.http2.min_ping_interval_without_data_ms", int(settings.keepalive_min_ping_interval_s * 1000)),
        ("grpc.http2.max_ping_strikes", 2),
        # A port already in use must fail loudly instead of two processes silently sharing it.
        ("grpc.so_reuseport", 0),
    ]


class _MethodTable(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Every method of the process in one dict, looked up by full method name, already wrapped by the mesh layer.

    grpc.aio pays per call for each generic handler it holds (measured with callgrind: ~12k instructions per
    extra service on every call) and for each interceptor, so the servicers, health and reflection share this
    single handler and the interceptor's wrapping is applied here once instead of on every call.
    """

    def __init__(self, table: dict[str, Any], interceptor: ServerInterceptor, opaque: list[Any]) -> None:
        self._table = {name: interceptor.wrap(handler, name) for name, handler in table.items()}
        self._interceptor = interceptor
        self._opaque = opaque

    def service(self, handler_call_details: Any) -> Any:
        handler = self._table.get(handler_call_details.method)
        if handler is None and self._opaque:
            handler = self._from_opaque(handler_call_details)
        return handler

    def _from_opaque(self, handler_call_details: Any) -> Any:
        """Handlers that are not a plain method dict are asked per call (rare; wrapped and cached per method)."""
        for generic in self._opaque:
            handler = generic.service(handler_call_details)
            if handler is not None:
                method: str = handler_call_details.method
                wrapped = self._interceptor.wrap(handler, method)
                if len(self._table) < 10_000:
                    self._table[method] = wrapped
                return wrapped
        return None


class _Registrar(grpc.aio.Server):  # type: ignore[misc]
    """Stands in for the server while servicers register, collecting their handlers for ``_MethodTable``.

    It is a ``grpc.aio.Server`` so generated ``add_*Servicer_to_server`` functions and grpcio-reflection
    (which checks the type) work unchanged; it only accepts handler registration.
    """

    def __init__(self) -> None:
        self._registered: dict[str, Any] = {}
        self._generic: list[Any] = []

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        self._generic.extend(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        for method, handler in method_handlers.items():
            self._registered.setdefault(f"/{service_name}/{method}", handler)

    def table(self, interceptor: ServerInterceptor) -> _MethodTable:
        """One table of every known method (registered handlers win, as in grpc), then opaque handlers."""
        table = dict(self._registered)
        opaque = []
        for generic in self._generic:
            methods = getattr(generic, "_method_handlers", None)  # grpc.method_handlers_generic_handler
            if isinstance(methods, dict):
                for name, handler in methods.items():
                    table.setdefault(name, handler)
            else:
                opaque.append(generic)
        return _MethodTable(table, interceptor, opaque)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "ServiceSpec.register may only add handlers; mesh.server binds and runs the server"
        )

    add_insecure_port = add_secure_port = start = stop = wait_for_termination = _refuse


class RunningServer:
    """A started service: its bound port, health servicer and shutdown; made by ``start_server``."""

    def __init__(
        self,
        spec: ServiceSpec,
        settings: Settings,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        monitor: HealthMonitor,
        port: int,
        metrics: MetricsServer | None,
        interceptor: ServerInterceptor,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.server = server
        self.health = health_servicer
        self.monitor = monitor
        self.port = port
        self.metrics = metrics
        self.interceptor = interceptor
        self._stopped = False

    @property
    def address(self) -> str:
        """``host:port`` a client dials."""
        return f"{self.settings.host}:{self.port}"

    @property
    def metrics_port(self) -> int | None:
        """The Prometheus HTTP port, or None when metrics are disabled."""
        return self.metrics.port if self.metrics is not None else None

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown (idempotent): all NOT_SERVING, refuse new calls, drain, ``spec.shutdown``."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.grace_period_s if grace is None else grace
        log.info("shutting down", extra={"service": self.spec.name, "grace_s": grace})
        await self.monitor.stop()
        await self.health.enter_graceful_shutdown()
        service_ready_gauge().labels(self.spec.name).set(0)
        try:
            stopping = asyncio.ensure_future(self.server.stop(grace))
            await asyncio.sleep(0)  # let stop() begin: from here new calls are refused
            log.info("draining in-flight calls", extra={"service": self.spec.name})
            await stopping
            self.interceptor.flush()
        finally:
            try:
                if self.spec.shutdown is not None:
                    await self.spec.shutdown()
            finally:
                if self.metrics is not None:
                    self.metrics.close()
        log.info("stopped", extra={"service": self.spec.name})


@contextlib.asynccontextmanager
async def start_server(
    spec: ServiceSpec,
    settings: Settings | None = None,
    *,
    port: int | None = None,
    metrics_port: int | None = None,
) -> AsyncIterator[RunningServer]:
    """Start ``spec`` in-process and stop it gracefully on exit.

    ``port`` overrides the configured gRPC port (0 = any free port). ``metrics_port`` overrides the configured
    metrics port: there, as for grpc, 0 means any free port, while a configured 0 disables metrics.
    """
    srv = await _start(spec, settings or get_settings(), port=port, metrics_port=metrics_port)
    try:
        yield srv
    finally:
        await srv.stop()


async def _start(
    spec: ServiceSpec, settings: Settings, *, port: int | None, metrics_port: int | None
) -> RunningServer:
    tls.set_process_service(spec.name)
    credentials = spec.server_credentials
    caller_guard = None
    if spec.name != "gateway":  # the gateway's public port authenticates by API key (gateway.keys)
        credentials = credentials or tls.server_credentials(settings, spec.name)
        caller_guard = CallerGuard(spec.name) if tls.enabled(settings) else None
        tls.warn_if_open(settings, spec.name)
    # Every request is decoded and checked once, in the guard, before a servicer sees it (mesh.validation).
    guard = RequestGuard(Limits(max_request_bytes=spec.max_request_bytes or settings.max_message_bytes))
    interceptor = ServerInterceptor(
        spec.name, metrics=RpcMetrics(spec.name), guard=guard, caller_guard=caller_guard
    )
    server = grpc.aio.server(
        options=server_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None,
    )
    registrar = _Registrar()
    spec.register(registrar)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)
    names = list(
        dict.fromkeys([*spec.service_names, *spec.extra_reflection, HEALTH_SERVICE, reflection.SERVICE_NAME])
    )
    reflection.enable_server_reflection(names, registrar)
    server.add_generic_rpc_handlers([registrar.table(interceptor)])

    if port is not None:
        wanted = port
    elif spec.name in SERVICES:
        wanted = settings.port_for(spec.name)
    else:
        raise ValueError(f"service {spec.name!r} has no configured port; pass port=")
    if credentials is not None:
        bound = server.add_secure_port(f"{settings.host}:{wanted}", credentials)
    else:
        bound = server.add_insecure_port(f"{settings.host}:{wanted}")
    if bound == 0:
        raise OSError(f"could not bind {settings.host}:{wanted} for {spec.name}")

    ready_gauge = service_ready_gauge().labels(spec.name)

    async def sink(name: str, serving: bool) -> None:
        await health_servicer.set(name, _SERVING if serving else _NOT_SERVING)
        if name == "":
            ready_gauge.set(1 if serving else 0)

    monitor = HealthMonitor(
        spec.name,
        spec.service_names,
        spec.readiness,
        sink,
        settings.health_poll_s,
        on_change=spec.health_details,
    )
    await monitor.mark_all(False)

    metrics: MetricsServer | None = None
    started = False
    try:
        if metrics_port is not None:
            metrics = start_metrics_server(settings.host, metrics_port)
        elif spec.name in SERVICES and settings.metrics_port_for(spec.name):
            metrics = start_metrics_server(settings.host, settings.metrics_port_for(spec.name))
        if spec.startup is not None:
            await spec.startup()
        await server.start()
        started = True
        await health_servicer.set(LIVENESS, _SERVING)
        monitor.start()
    except BaseException:
        if started:
            await monitor.stop()
        await server.stop(None)
        if metrics is not None:
            metrics.close()
        raise
    log.info(
        "serving",
        extra={
            "service": spec.name,
            "address": f"{settings.host}:{bound}",
            "metrics_port": metrics.port if metrics else None,
        },
    )
    return RunningServer(spec, settings, server, health_servicer, monitor, bound, metrics, interceptor)


async def serve(spec: ServiceSpec, settings: Settings | None = None, *, port: int | None = None) -> None:
    """Run ``spec`` until SIGTERM or SIGINT, then shut down gracefully and return."""
    settings = settings or get_settings()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("received %s", signal.Signals(signum).name, extra={"service": spec.name})
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with start_server(spec, settings, port=port):
            # Only a signal ends serving. (Do not also await server.wait_for_termination(): cancelling that
            # waiter cancels the future server.stop() waits on, which aborts the drain.)
            await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def run(spec_factory: Callable[[Settings], ServiceSpec]) -> None:
    """Entry point for ``python -m <service>``: configure logging, serve, exit 0 after a graceful stop."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        spec = spec_factory(settings)
        asyncio.run(serve(spec, settings))
    except Exception:
        log.exception("service failed")
        sys.exit(1)
    sys.exit(0)
