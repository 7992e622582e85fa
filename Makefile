# Everything runs from .venv, created on first use with nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint typecheck pytest demo bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check tenantops tests bench
	$(BIN)/ruff format --check tenantops tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash demo/run.sh

bench: $(STAMP)
	$(BIN)/python bench/validate_fleet.py
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/plan_fleet.py
	$(BIN)/python bench/v2_calls.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info

.PHONY: proto
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I protos --python_out=tenantops/_pb --pyi_out=tenantops/_pb protos/session_context.proto
