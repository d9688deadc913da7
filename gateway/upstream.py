"""Channels from the gateway to the services: one per service, reused, with retries for idempotent RPCs only.

Unlike ``mesh.channels.Channels`` these carry no client interceptor: the gateway sets each call's metadata and
timeout itself (it must strip what arrived from outside and add the caller's verified identity), and an
interceptor layer would cost a coroutine hop on every forwarded call. Reconnect backoff is capped so a service
that restarts is used again within about a second, and TLS (optionally mutual) is used when configured.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import grpc

from gateway.routes import MODULES, idempotent_paths
from mesh import tls
from mesh.channels import client_options, service_config
from mesh.settings import Settings


def channel_options(settings: Settings) -> list[tuple[str, Any]]:
    """Keepalive and sizes as every mesh client, the idempotent-only retry policy, short reconnect backoff."""
    backoff_ms = int(settings.gateway_reconnect_backoff_max_s * 1000)
    options = [
        *client_options(settings),
        ("grpc.service_config", json.dumps(service_config(idempotent_paths(), settings))),
        ("grpc.initial_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.min_reconnect_backoff_ms", min(100, backoff_ms)),
        ("grpc.max_reconnect_backoff_ms", backoff_ms),
    ]
    if settings.gateway_upstream_tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.gateway_upstream_tls_server_name))
    return options


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """TLS credentials for calls to services (with a client certificate for mutual TLS), or None for plaintext.

    Explicit ``gateway_upstream_tls_*`` files win; otherwise the mesh's own mutual TLS (``mesh.tls``) applies.
    """
    if not settings.gateway_upstream_tls_ca_file:
        return tls.channel_credentials(settings, "gateway")
    cert = settings.gateway_upstream_tls_cert_file
    key = settings.gateway_upstream_tls_key_file
    if bool(cert) != bool(key):
        raise ValueError("gateway_upstream_tls_cert_file and gateway_upstream_tls_key_file go together")
    return grpc.ssl_channel_credentials(
        root_certificates=Path(settings.gateway_upstream_tls_ca_file).read_bytes(),
        private_key=Path(key).read_bytes() if key else None,
        certificate_chain=Path(cert).read_bytes() if cert else None,
    )


class Upstream:
    """The gateway's channels to the services, created on the running loop at first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.options = channel_options(settings)
        self.credentials = channel_credentials(settings)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._methods: dict[tuple[str, str, str], tuple[grpc.aio.Channel, Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def address(self, service: str) -> str:
        """Where ``service`` (short name) is reached."""
        return self.settings.addr_for(service)

    def channel(self, service: str) -> grpc.aio.Channel:
        """The channel to ``service`` (short name); call from a coroutine on the serving loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # channels are bound to the loop they were made on
            self._channels = {}
            self._loop = loop
        channel = self._channels.get(service)
        if channel is None:
            target = self.address(service)
            if self.credentials is None:
                channel = grpc.aio.insecure_channel(target, options=self.options)
            else:
                channel = grpc.aio.secure_channel(target, self.credentials, options=self.options)
            self._channels[service] = channel
        return channel

    def method(self, service: str, kind: str, path: str) -> Any:
        """The cached bytes-in, bytes-out multicallable for ``path`` (``kind``: "unary_unary", ...).

        Cached per channel: building a multicallable on every call costs more than the forwarding logic itself.
        """
        channel = self.channel(service)
        key = (service, kind, path)
        hit = self._methods.get(key)
        if hit is None or hit[0] is not channel:
            hit = self._methods[key] = (channel, getattr(channel, kind)(path))
        return hit[1]

    def warm(self) -> None:
        """Create every module service's channel now and let it start connecting."""
        for service in MODULES:
            self.channel(service).get_state(try_to_connect=True)

    async def close(self) -> None:
        """Close every channel (pending calls are cancelled)."""
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()
