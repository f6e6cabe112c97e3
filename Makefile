# The two commands: `make demo` (set up, prepare models and corpora, serve) and `make test`.
# `make install` installs the tested versions (requirements/lock.txt) into .venv; `make lock`
# writes that lock from .venv after a dependency changed; `make wheel` builds dist/*.whl with
# the browser app inside (hatch_build.py runs the frontend build).
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5050

.PHONY: demo test install lock wheel browser api lint typecheck test-python test-frontend bench clean

install:
	@bash scripts/install.sh

lock:
	@bash scripts/lock.sh

wheel: install
	$(BIN)/python -m pip wheel --no-deps -w dist .

browser:
	@bash scripts/install-browser.sh

demo: install
	$(BIN)/exbert prepare
	$(BIN)/exbert serve --port $(PORT)

test: install browser
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	cd frontend && npm test --silent
	$(BIN)/pytest -q tests/unit tests/integration tests/e2e

# The API contract: docs/openapi.json from the server's code, the frontend's types from it, its
# defaults and limits from src/exbert/view.py (tests/unit/server/test_api_contract.py fails on drift).
api: install
	$(BIN)/python -m exbert.server.openapi docs/openapi.json
	$(BIN)/python -m exbert.server.openapi --limits frontend/src/api/limits.ts
	cd frontend && npm run --silent gen:api

lint:
	$(BIN)/ruff check src tests benchmarks

typecheck:
	$(BIN)/mypy

test-python: install
	$(BIN)/pytest -q tests/unit tests/integration tests/e2e

test-frontend: install
	cd frontend && npm test --silent

bench: install
	$(BIN)/python benchmarks/bench_analyze.py
	$(BIN)/python benchmarks/bench_server.py

clean:
	rm -rf $(VENV) frontend/node_modules src/exbert/static dist build
