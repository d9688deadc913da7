#!/usr/bin/env bash
# Download the wheel the GPU benchmark needs on a machine that has torch and transformers but no network:
# diffusers (pure Python). Carry the folder (default build/gpu-wheels, git-ignored) to the GPU machine, then
#   pip install --no-deps build/gpu-wheels/*.whl && python bench/visual.py --device cuda
set -euo pipefail
dest="${1:-build/gpu-wheels}"
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || py=python3
mkdir -p "$dest"
"$py" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dest" "diffusers==0.42.1"
ls -l "$dest"
