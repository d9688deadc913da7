"""A real service process for the SIGTERM test: ``python -m tests.mesh.slow_server`` (uses ``mesh.server.run``)."""

from mesh.server import run
from tests.mesh.echo_service import make_spec

if __name__ == "__main__":
    run(make_spec)
