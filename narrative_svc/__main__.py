from mesh.server import run
from narrative_svc.service import build_spec

run(build_spec)
