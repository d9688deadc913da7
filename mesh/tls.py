"""Mutual TLS for every port and channel inside the mesh (``tls_mode``: ``mutual`` by default, ``off`` to debug).

A service's server requires a client certificate signed by the mesh CA; every channel a service opens to
another presents this process's own certificate (``set_process_service`` is called by ``mesh.server`` when a
service starts, so ``mesh.channels`` knows which one). Certificates live under ``tls_dir`` (default
``<data_dir>/tls``) as ``ca.pem`` and ``<service>.pem`` / ``<service>.key``, written by ``python -m mesh.certs``
or mounted from a Secret in Kubernetes; explicit ``tls_*_file`` settings override the layout. Which caller may
use which service, and what its identity metadata is worth, is decided in ``mesh.identity``.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import grpc

from mesh.settings import Settings

log = logging.getLogger("mesh.tls")

#: Certificate of tools that are no service (health checks, the launcher): enough for health, nothing more.
OPERATOR = "operator"

_process_service = ""


def set_process_service(name: str) -> None:
    """Record which service this process is: its certificate is the one its channels present."""
    global _process_service
    _process_service = name


def process_service() -> str:
    """The service this process runs ("" in tools and tests that start none)."""
    return _process_service


def enabled(settings: Settings) -> bool:
    """True when the mesh runs mutual TLS (the default)."""
    return settings.tls_mode == "mutual"


def tls_dir(settings: Settings) -> Path:
    """Where the CA and the per-service certificates are."""
    return Path(settings.tls_dir) if settings.tls_dir else Path(settings.data_dir) / "tls"


def paths(settings: Settings, name: str) -> tuple[Path, Path, Path]:
    """(CA bundle, certificate, private key) of ``name``, honouring explicit ``tls_*_file`` settings."""
    base = tls_dir(settings)
    ca = Path(settings.tls_ca_file) if settings.tls_ca_file else base / "ca.pem"
    cert = Path(settings.tls_cert_file) if settings.tls_cert_file else base / f"{name}.pem"
    key = Path(settings.tls_key_file) if settings.tls_key_file else base / f"{name}.key"
    return ca, cert, key


def _read(settings: Settings, name: str) -> tuple[bytes, bytes, bytes]:
    files = paths(settings, name)
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"tls_mode=mutual but {', '.join(missing)} missing: run `python -m mesh.certs` (make run does) or "
            "mount the certificates; DM_TLS_MODE=off runs plaintext for debugging on loopback"
        )
    ca, cert, key = files
    return ca.read_bytes(), cert.read_bytes(), key.read_bytes()


def server_credentials(settings: Settings, service: str) -> grpc.ServerCredentials | None:
    """Credentials for ``service``'s port: its certificate, and a client certificate from the CA required."""
    if not enabled(settings):
        return None
    ca, cert, key = _read(settings, service)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def channel_credentials(settings: Settings, name: str = "") -> grpc.ChannelCredentials | None:
    """Credentials a channel presents: ``name``'s certificate (default: this process's service, else the
    operator's), verifying the server against the mesh CA; None when TLS is off."""
    if not enabled(settings):
        return None
    ca, cert, key = _read(settings, name or _process_service or OPERATOR)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def aio_channel(
    target: str,
    settings: Settings,
    *,
    options: list[tuple[str, Any]] | None = None,
    interceptors: list[Any] | None = None,
    name: str = "",
) -> grpc.aio.Channel:
    """A grpc.aio channel to ``target``: mutual TLS as configured, plaintext when off."""
    credentials = channel_credentials(settings, name)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=options, interceptors=interceptors)


def sync_channel(target: str, settings: Settings, *, name: str = "") -> grpc.Channel:
    """A blocking channel (tools: health checks, the launcher) with the same TLS rule."""
    credentials = channel_credentials(settings, name)
    if credentials is None:
        return grpc.insecure_channel(target)
    return grpc.secure_channel(target, credentials)


def warn_if_open(settings: Settings, service: str) -> None:
    """Log loudly when a service runs without TLS: anyone who reaches its port is trusted."""
    if enabled(settings):
        return
    level = logging.WARNING if _loopback(settings.host) else logging.ERROR
    log.log(
        level,
        "tls_mode=off: %s serves plaintext and trusts every caller's identity metadata (debugging only)",
        service,
        extra={"service": service, "host": settings.host},
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
