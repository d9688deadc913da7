"""``python -m memory_svc`` serves; ``python -m memory_svc ingest|reindex|sql|migrate ...`` runs a command."""

import sys

if len(sys.argv) > 1:
    from memory_svc.cli import main

    sys.exit(main(sys.argv[1:]))

from memory_svc.service import build_spec
from mesh.server import run

run(build_spec)
