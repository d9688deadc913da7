#!/usr/bin/env bash
# Wheels the GPU benchmark needs on a machine that has torch and transformers but no network.
#
# diffusers itself (pure Python, --no-deps), plus insurance for its other requirements in case the GPU image
# lacks them: pure-Python wheels (requests and its deps, importlib_metadata) and Pillow for CPython 3.10-3.13
# on manylinux x86_64. Carry the folder (default build/gpu-wheels, git-ignored) to the GPU machine and run
#   python bench/visual.py --device cuda --wheels build/gpu-wheels
# which puts on sys.path only the wheels whose packages are missing there (no pip needed).
set -euo pipefail
dest="${1:-build/gpu-wheels}"
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || py=python3
mkdir -p "$dest"
get() { "$py" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dest" "$@"; }
get "diffusers==0.42.1"
get importlib_metadata zipp requests urllib3 idna certifi charset-normalizer
for v in 3.10 3.11 3.12 3.13; do
  get --python-version "$v" --implementation cp --platform manylinux_2_28_x86_64 pillow
done
ls -l "$dest"
