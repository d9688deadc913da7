"""Byte-exact forwarding of every module RPC: generic handlers whose (de)serializers are the identity.

A request arrives as bytes, passes the gate (which decodes a copy only when a policy needs a field), and the same
bytes go to the service; the service's reply bytes come back unchanged. Unary and streaming in both directions,
the caller's deadline (or the method's default) on the downstream call, cancellation passed through (a cancelled
handler cancels its downstream call), the caller's metadata forwarded with the verified identity, the downstream
status, message and rich details (grpc-status-details-bin) relayed as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import grpc

from gateway.access import OwnerLookup, Policy, policy_for
from gateway.gate import Gate, abort_unauthenticated
from gateway.keys import Principal, Unauthenticated
from gateway.routes import Route, module_routes
from gateway.upstream import Upstream

log = logging.getLogger("gateway.forwarding")

#: Trailing metadata the gateway's own interceptor sets; not copied from the downstream reply.
_OWN_TRAILERS = frozenset({"x-request-id"})


async def relay_error(context: grpc.aio.ServicerContext, exc: grpc.aio.AioRpcError) -> None:
    """End the call with the downstream status, message and trailing metadata (rich details included)."""
    await context.abort(exc.code(), exc.details() or "", tuple(exc.trailing_metadata() or ()))


#: Runs after a forwarded unary call succeeded: (request bytes, reply bytes, outgoing metadata); must not block.
AfterHook = Callable[[bytes, bytes, tuple[tuple[str, Any], ...]], None]


class Forwarder(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Serves every module RPC by forwarding its bytes to the owning service."""

    def __init__(self, gate: Gate, upstream: Upstream, after: dict[str, AfterHook] | None = None) -> None:
        self.gate = gate
        self.upstream = upstream
        self.after = after or {}
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        for path, route in module_routes().items():
            self._handlers[path] = self._handler(route, policy_for(route.full_service, route.name))

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        return self._handlers.get(handler_call_details.method)

    # --- per call ------------------------------------------------------------------------------------------

    def _check(
        self, route: Route, policy: Policy, context: grpc.aio.ServicerContext, first: bytes
    ) -> tuple[Principal, OwnerLookup | None, float, tuple[tuple[str, Any], ...]]:
        """Gate the call without waiting: principal, pending owner lookup, downstream timeout, outgoing metadata."""
        incoming = context.invocation_metadata()
        principal = self.gate.authenticate(incoming, context.peer())
        self.gate.check_size(len(first))
        lookup = self.gate.check(policy, principal, route.path, first, route.request_type)
        timeout = self.gate.timeout(route.path, context.time_remaining())
        return principal, lookup, timeout, self.gate.outgoing_metadata(incoming, principal)

    async def _admit(
        self, route: Route, policy: Policy, context: grpc.aio.ServicerContext, first: bytes
    ) -> tuple[float, tuple[tuple[str, Any], ...]]:
        """Gate the call (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED); timeout and metadata."""
        try:
            principal, lookup, timeout, metadata = self._check(route, policy, context, first)
        except Unauthenticated as exc:
            await abort_unauthenticated(context, exc)
            raise  # unreachable: abort raises
        if lookup is not None:
            await self.gate.check_owner(lookup, principal)
        return timeout, metadata

    def _handler(self, route: Route, policy: Policy) -> grpc.RpcMethodHandler:
        method = route.path
        upstream = self.upstream
        service = route.service

        if not route.client_streaming and not route.server_streaming:

            async def unary_unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
                timeout, metadata = await self._admit(route, policy, context, request)
                call = upstream.method(service, "unary_unary", method)(
                    request, timeout=timeout, metadata=metadata
                )
                try:
                    reply: bytes = await call
                except grpc.aio.AioRpcError as exc:
                    await relay_error(context, exc)
                    raise
                except asyncio.CancelledError:
                    call.cancel()
                    raise
                await _relay_metadata(call, context)
                hook = self.after.get(method)
                if hook is not None:
                    hook(request, reply, metadata)
                return reply

            return grpc.unary_unary_rpc_method_handler(unary_unary)

        if not route.client_streaming:

            async def unary_stream(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
                timeout, metadata = await self._admit(route, policy, context, request)
                call = upstream.method(service, "unary_stream", method)(
                    request, timeout=timeout, metadata=metadata
                )
                async with contextlib.aclosing(_relay_stream(call, context)) as relayed:
                    async for item in relayed:
                        yield item

            return grpc.unary_stream_rpc_method_handler(unary_stream)

        async def requests(
            context: grpc.aio.ServicerContext, iterator: AsyncIterator[bytes]
        ) -> tuple[AsyncIterator[bytes], float, tuple[tuple[str, Any], ...]] | None:
            """Gate on the first message (a stream's policy may need its fields); None for an empty stream."""
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                first = None
            timeout, metadata = await self._admit(route, policy, context, first if first is not None else b"")
            check = self.gate.check_size

            async def rest() -> AsyncIterator[bytes]:
                if first is not None:
                    yield first
                    async for item in iterator:
                        check(len(item))
                        yield item

            return rest(), timeout, metadata

        if not route.server_streaming:

            async def stream_unary(
                iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext
            ) -> bytes:
                gated = await requests(context, iterator)
                assert gated is not None
                body, timeout, metadata = gated
                call = upstream.method(service, "stream_unary", method)(
                    body, timeout=timeout, metadata=metadata
                )
                try:
                    reply: bytes = await call
                except grpc.aio.AioRpcError as exc:
                    await relay_error(context, exc)
                    raise
                except asyncio.CancelledError:
                    call.cancel()
                    raise
                await _relay_metadata(call, context)
                return reply

            return grpc.stream_unary_rpc_method_handler(stream_unary)

        async def stream_stream(
            iterator: AsyncIterator[bytes], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[bytes]:
            gated = await requests(context, iterator)
            assert gated is not None
            body, timeout, metadata = gated
            call = upstream.method(service, "stream_stream", method)(body, timeout=timeout, metadata=metadata)
            async with contextlib.aclosing(_relay_stream(call, context)) as relayed:
                async for item in relayed:
                    yield item

        return grpc.stream_stream_rpc_method_handler(stream_stream)


async def _relay_stream(call: Any, context: grpc.aio.ServicerContext) -> AsyncGenerator[bytes, None]:
    """Yield a downstream stream's messages; relay its metadata and error; cancel it if we stop early."""
    try:
        first = True
        async for item in call:
            if first:
                first = False
                initial = await call.initial_metadata()
                if initial:
                    await context.send_initial_metadata(initial)
            yield item
        await _relay_trailers(call, context)
    except grpc.aio.AioRpcError as exc:
        await relay_error(context, exc)
    finally:
        if not call.done():
            call.cancel()


async def _relay_metadata(call: Any, context: grpc.aio.ServicerContext) -> None:
    """Copy the downstream reply's trailing metadata onto ours (unary replies).

    Initial metadata is not relayed on unary replies: the services send none, and waiting for it is one more
    trip through the event loop on every call (streams relay it, as it arrives with their first message).
    """
    await _relay_trailers(call, context)


async def _relay_trailers(call: Any, context: grpc.aio.ServicerContext) -> None:
    trailing = await call.trailing_metadata()
    if trailing:
        extra = tuple((k, v) for k, v in trailing if k not in _OWN_TRAILERS)
        if extra:
            context.set_trailing_metadata((*tuple(context.trailing_metadata() or ()), *extra))
