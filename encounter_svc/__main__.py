from encounter_svc.service import build_spec
from mesh.server import run

run(build_spec)
