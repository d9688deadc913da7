#!/usr/bin/env bash
# System tools the test suite needs beyond Python: protoc with the C# generator (Debian protobuf-compiler),
# Node.js + npm for the non-Python client tests. Installs only what is missing; needs root for apt-get.
set -euo pipefail
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "please install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
cd "$(dirname "$0")/../tests/interop"
npm ci --no-audit --no-fund --loglevel=error
