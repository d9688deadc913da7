"""`python -m mesh.healthcheck HOST:PORT [SERVICE]`: exit 0 when the service reports SERVING (container healthchecks)."""

from __future__ import annotations

import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh import tls
from mesh.settings import get_settings


def check(address: str, service: str = "", timeout: float = 3.0) -> bool:
    """True when ``service`` at ``address`` answers SERVING within ``timeout`` seconds."""
    # Module services take mutual TLS only; the gateway's public port is checked as clients reach it.
    public = service.endswith(".GameMasterService")
    with grpc.insecure_channel(address) if public else tls.sync_channel(address, get_settings()) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as err:
            print(f"{address} {service or '(server)'}: {err.code().name}", file=sys.stderr)
            return False
    ok: bool = reply.status == health_pb2.HealthCheckResponse.SERVING
    if not ok:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        print(f"{address} {service or '(server)'}: {name}", file=sys.stderr)
    return ok


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    return 0 if check(argv[0], argv[1] if len(argv) > 1 else "") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
