# Dungeon Master mesh — developer commands. Everything runs from the project virtualenv (.venv).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
PROTOS := $(wildcard protos/dungeonmaster/v1/*.proto)

.PHONY: setup protos run test lint typecheck bench vllm clean-data help

help:
	@echo "make setup   - create .venv, install the project, fetch SRD data, install test tools"
	@echo "make run     - start all seven services on loopback with embedded defaults"
	@echo "make test    - run the whole test suite"
	@echo "make lint    - ruff, mypy, buf lint"
	@echo "make protos  - regenerate Python stubs from protos/"
	@echo "make bench   - run the benchmarks under bench/"
	@echo "make vllm    - build a CPU vLLM virtualenv and serve a tiny random model (tests use the same)"

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	$(PYTHON) scripts/fetch_srd.py
	bash scripts/setup_system.sh

protos:
	rm -f dungeonmaster/v1/*_pb2*.py dungeonmaster/v1/*_pb2*.pyi
	PATH="$(abspath $(BIN)):$$PATH" $(PYTHON) -m grpc_tools.protoc -Iprotos \
		--python_out=. --grpc_python_out=. --mypy_out=. --mypy_grpc_out=. $(PROTOS)

run: $(BIN)/python
	$(PYTHON) -m mesh.launcher

test:
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/buf lint protos

bench:
	@for b in bench/*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

vllm:
	$(PYTHON) -m mesh.text.local_vllm serve
