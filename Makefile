# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench load install clean

$(BIN)/crispml: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/crispml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.load-installed: $(VENV)/.test-installed
	$(BIN)/python -m pip install -q -e '.[test,load]'
	touch $@

$(VENV)/.bench-installed: $(VENV)/.test-installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

install: $(BIN)/crispml

## Run the reference scenario on the full 284,807 rows (SQLite and a folder under CRISPML_HOME).
demo: $(BIN)/crispml
	$(BIN)/crispml demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench load
	$(BIN)/ruff format --check src tests bench load
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/vulture

## Lint, type-check, check the layering, then run the tests on SQLite and PostgreSQL.
test: $(VENV)/.test-installed lint
	scripts/ensure-postgres
	scripts/ensure-test-tools
	@# Bytecode for every server and command the tests start, also where PYTHONDONTWRITEBYTECODE is set:
	@# else each of those processes compiles crispml's sources again (about 0.3 s of CPU each).
	$(BIN)/python -m compileall -q src
	$(BIN)/pytest -q -n 2 --dist loadfile --durations=25

## Benchmarks beside their bare baselines; JSON results under bench/results/.
bench: $(VENV)/.bench-installed
	scripts/ensure-postgres
	scripts/ensure-bench-tools
	$(BIN)/python -m bench.run

## Load test: PostgreSQL, HAProxy over 1, 2 then 3 servers, Locust; report and plot under load/results/.
load: $(VENV)/.load-installed
	scripts/ensure-postgres
	scripts/ensure-test-tools
	$(BIN)/python -m load.run

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

## A longer randomized run of the property-based API tests; `make test` runs them derandomized.
.PHONY: fuzz
fuzz: $(VENV)/.test-installed
	CRISPML_FUZZ=$${CRISPML_FUZZ:-300} $(BIN)/pytest -q tests/api/test_schemathesis.py

## The container image (podman; a Debian base and the wheelhouse built here when no registry or index answers).
## Not part of `make test`: it takes minutes. IMAGE=crispml:latest BASE_IMAGE=... to change them.
.PHONY: image image-test
image: $(BIN)/crispml
	PYTHON=$(BIN)/python scripts/build-image

## The image's `crispml serve`, run by chroot in its exported file system: /readyz, then one score persisted.
image-test: image
	scripts/test-image
