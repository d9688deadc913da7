from mesh.server import run
from npc_svc.service import build_spec

run(build_spec)
