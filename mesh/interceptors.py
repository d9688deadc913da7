"""The server interceptor every mesh service runs behind.

Per call it: reads ``x-request-id`` (or makes one) and echoes it in trailing metadata; puts the request id,
method, deadline and caller identity into ``mesh.context``; maps exceptions to rich statuses (``mesh.status``);
records Prometheus metrics; writes one JSON access log line (method, code, latency).

It is one layer rather than a chain because every Python interceptor layer costs a coroutine hop per call.
``mesh.server`` applies it without grpc's interceptor machinery at all: it wraps each method handler once, when
the handlers are registered (``wrap``), which saves grpc's per-call ``intercept_service`` round trip. Used as an
ordinary ``grpc.aio`` interceptor it caches wrapped handlers per method. Both unary and streaming handlers are
wrapped; for streaming responses the error mapping also covers failures mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import grpc

from mesh import errors
from mesh.context import (
    REQUEST_ID_KEY,
    deadline_var,
    identity_var,
    method_var,
    parse_identity,
    request_id_var,
    safe_request_id,
)
from mesh.logs import AccessLog
from mesh.metrics import RpcMetrics
from mesh.status import ErrorStatus, to_grpc_status
from mesh.validation import Rejected, RequestGuard, checked_iterator, checked_stream

log = logging.getLogger("mesh.server")

#: Methods whose access lines are DEBUG rather than INFO (probes would drown the real traffic).
QUIET_PREFIXES: tuple[str, ...] = ("/grpc.health.v1.", "/grpc.reflection.")

_CODE_NAMES = {code: code.name for code in grpc.StatusCode}
_OK = grpc.StatusCode.OK
_CANCELLED = grpc.StatusCode.CANCELLED
_DEADLINE = grpc.StatusCode.DEADLINE_EXCEEDED
_END = object()

AbortError: type[BaseException] = grpc.aio.AbortError
Handler = Any  # grpc.RpcMethodHandler: untyped in grpcio


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Request id, context, error mapping, metrics and access log for one service.

    Either pass it to ``grpc.aio.server(interceptors=[...])`` or wrap handlers up front with ``wrap``.
    """

    def __init__(
        self,
        service: str,
        *,
        metrics: RpcMetrics | None = None,
        quiet_prefixes: Sequence[str] = QUIET_PREFIXES,
        guard: RequestGuard | None = None,
        caller_guard: Callable[[Any, str], None] | None = None,
    ) -> None:
        self._service = service
        self._guard = guard
        #: Called first in every call (``mesh.identity.CallerGuard``): raises to refuse the caller.
        self._caller_guard = caller_guard
        self._metrics = metrics
        self._quiet = tuple(quiet_prefixes)
        self._cache: dict[str, tuple[Handler, Handler]] = {}
        self._access = AccessLog(service)

    def flush(self) -> None:
        """Write out buffered access log lines (called when the server stops)."""
        self._access.flush()

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Handler]],
        handler_call_details: Any,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        hit = self._cache.get(method)
        if hit is not None and hit[0] is handler:
            return hit[1]
        wrapped = self.wrap(handler, method)
        self._cache[method] = (handler, wrapped)
        return wrapped

    # --- wrapping ---------------------------------------------------------------------------------------------

    def wrap(self, handler: Handler, method: str) -> Handler:
        """``handler`` (a grpc.RpcMethodHandler for ``method``) with this layer around its behaviour.

        With a request guard, requests are decoded and checked by ``mesh.validation`` and a rejected one ends
        the call here with its clean error before the servicer runs.
        """
        if self._guard is not None:
            handler = self._guard.guard(handler)
        codecs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary_response(handler.unary_unary, method), **codecs
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._unary_response(handler.stream_unary, method, streaming_request=True), **codecs
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream_response(handler.unary_stream, method), **codecs
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_response(handler.stream_stream, method, streaming_request=True), **codecs
            )
        return handler

    def _unary_response(
        self, behavior: Callable[..., Any], method: str, *, streaming_request: bool = False
    ) -> Callable[..., Awaitable[Any]]:
        is_async = inspect.iscoroutinefunction(behavior)
        check = self._guard is not None
        loud = not method.startswith(self._quiet)

        async def wrapper(request: Any, context: Any) -> Any:
            start = time.perf_counter()
            rid = self._begin(context, method)
            code = _OK
            try:
                if self._caller_guard is not None:
                    self._caller_guard(context, method)
                if check:
                    request = _checked(request, streaming_request)
                if is_async:
                    return await behavior(request, context)
                return await asyncio.to_thread(behavior, request, context)
            except AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = _cancel_code()
                raise
            except Exception as exc:
                status = self._error_status(exc, rid, method)
                code = status.code
                await context.abort(status.code, status.details, status.trailing_metadata)
            finally:
                if code is _OK:
                    code = context.code() or _OK
                self._finish(method, code, start, context, loud, rid)

        return wrapper

    def _stream_response(
        self, behavior: Callable[..., Any], method: str, *, streaming_request: bool = False
    ) -> Callable[..., Awaitable[None]]:
        loud = not method.startswith(self._quiet)
        check = self._guard is not None
        is_async_gen = inspect.isasyncgenfunction(behavior)
        is_async = inspect.iscoroutinefunction(behavior)

        async def wrapper(request: Any, context: Any) -> None:
            # A coroutine that writes, not a generator grpc iterates: when the call is cancelled while a message
            # is being sent, grpc cancels this task and ``aclosing`` closes the servicer's generator at once, so
            # its cleanup (closing a model stream, cancelling a downstream call) runs now, not at collection.
            start = time.perf_counter()
            rid = self._begin(context, method)
            code = _OK
            try:
                if self._caller_guard is not None:
                    self._caller_guard(context, method)
                if check:
                    request = _checked(request, streaming_request)
                if is_async_gen:
                    async with contextlib.aclosing(behavior(request, context)) as stream:
                        async for item in stream:
                            await context.write(item)
                elif is_async:
                    await behavior(request, context)  # writes with context.write()
                else:
                    iterator: Iterator[Any] = iter(await asyncio.to_thread(behavior, request, context))
                    while (item := await asyncio.to_thread(next, iterator, _END)) is not _END:
                        await context.write(item)
            except AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except asyncio.CancelledError:
                code = _cancel_code()
                raise
            except Exception as exc:
                status = self._error_status(exc, rid, method)
                code = status.code
                await context.abort(status.code, status.details, status.trailing_metadata)
            finally:
                if code is _OK:
                    code = context.code() or _OK
                self._finish(method, code, start, context, loud, rid)

        return wrapper

    # --- per call ---------------------------------------------------------------------------------------------

    def _begin(self, context: Any, method: str) -> str:
        """Set the call's context variables and echo the request id; returns the request id."""
        rid = ""
        identity_seen = False
        metadata = context.invocation_metadata()
        if metadata:
            for key, value in metadata:
                if key == REQUEST_ID_KEY:
                    rid = value if isinstance(value, str) else value.decode("ascii", "replace")
                elif key.startswith("x-dm-"):
                    identity_seen = True
        rid = safe_request_id(rid)
        request_id_var.set(rid)
        method_var.set(method)
        remaining = context.time_remaining()
        if remaining is not None:
            deadline_var.set(time.monotonic() + remaining)
        if identity_seen:  # otherwise the call's fresh task context already holds ANONYMOUS
            identity_var.set(parse_identity(metadata))
        context.set_trailing_metadata(((REQUEST_ID_KEY, rid),))
        return rid

    def _error_status(self, exc: Exception, rid: str, method: str) -> ErrorStatus:
        """The status to end the call with; unexpected exceptions are logged with their traceback here."""
        if not isinstance(exc, errors.DomainError):
            log.error(
                "unhandled exception in %s",
                method,
                exc_info=exc,
                extra={"service": self._service, "request_id": rid},
            )
        return to_grpc_status(exc, rid)

    def _finish(
        self, method: str, code: grpc.StatusCode, start: float, context: Any, loud: bool, rid: str
    ) -> None:
        elapsed = time.perf_counter() - start
        name = _CODE_NAMES.get(code, "UNKNOWN")
        if self._metrics is not None:
            self._metrics.observe(method, name, elapsed)
        level = logging.INFO if loud else logging.DEBUG
        if self._access.enabled(level):
            self._access.emit(level, method, name, elapsed, rid, context.peer())


def _checked(request: Any, streaming: bool) -> Any:
    """Raise a rejected request's error; a client stream is wrapped to raise at its first rejected message."""
    if streaming:
        if hasattr(request, "__aiter__"):
            return checked_stream(request)
        return checked_iterator(request)
    if request.__class__ is Rejected:
        raise request.error
    return request


def _cancel_code() -> grpc.StatusCode:
    """CANCELLED, or DEADLINE_EXCEEDED when the call was cancelled because its deadline passed."""
    deadline = deadline_var.get()
    if deadline is not None and time.monotonic() >= deadline:
        return _DEADLINE
    return _CANCELLED
