from mesh.server import run
from visual_svc.service import build_spec

run(build_spec)
