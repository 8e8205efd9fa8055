# The two commands: `make run` (the whole stack) and `make test` (lint, then the whole suite).
# Both create .venv, install the locked dependencies (requirements*.lock) and the project, and make
# sure PostgreSQL and Redis answer (scripts/bootstrap.py starts or installs local ones when needed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DB ?= $(or $(ZOHOSYNC_TEST_DB),zohosync_test)
# pytest-xdist processes: 6 on a 2-core machine, because the tests that start real processes spend much of
# their time waiting (a worker booting, an inspect timeout) while the others keep the cores busy (measured:
# 4 -> 97 s, 6 -> 86 s, 8 -> 91 s). Whole files go to one process (--dist loadfile: a module's worker
# processes start once), long files first (tests/conftest.py orders them; --no-loadscope-reorder keeps that
# order). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 6
PYTEST_ARGS := -q -p no:cacheprovider --dist loadfile --no-loadscope-reorder --durations=10
# The project compiled once, on every core, before the test processes start: in a fresh checkout each
# xdist process and each worker, beat or receiver it starts would otherwise compile it again.
COMPILE := $(BIN)/python -m compileall -q -j 0 webhook_app tasks models zoho zoho_sandbox migrations scripts bench \
	tests/support $(wildcard *.py)
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Byte-code caches on, even where the shell turns them off: every test's worker, beat and receiver
# process would otherwise compile the project again, and every xdist worker re-rewrite the tests.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-faults lint bench install services migrate lock clean

# The venv is made without pip (ensurepip takes ~5 s) and the machine's pip (22.3+) fills it from the lock,
# the lock's own pip included; with no such pip, ensurepip gives the venv one (python3-venv when missing).
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || \
	  $(PYTHON) -m pip --python $(BIN)/python --quiet --disable-pip-version-check install -r requirements-dev.lock \
	    2>/dev/null || $(BIN)/python -m ensurepip --default-pip >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && $(BIN)/python -m ensurepip --default-pip; \
	  else echo "Python's venv module is missing: install it (sudo apt-get install python3-venv) and retry." >&2; exit 1; fi; }
	$(PIP) install -r requirements-dev.lock
	$(PIP) install --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

services: install
	$(BIN)/python scripts/bootstrap.py

migrate: services
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/zohosync stack

lint: install
	$(BIN)/ruff check .

test: install
	$(BIN)/ruff check .
	$(BIN)/python scripts/bootstrap.py --database $(TEST_DB)
	$(BIN)/python scripts/ensure_chromium.py
	@$(COMPILE)
	ZOHOSYNC_TEST_DB=$(TEST_DB) $(BIN)/python -m pytest $(PYTEST_ARGS) -n $(PYTEST_WORKERS) -m "not slow"

# The fault and soak runs (tests marked `slow`): workers SIGKILLed, brokers emptied, PostgreSQL and Redis
# restarted under webhook load, beats taking over, messages purged, the initial pull under live webhooks.
# Minutes of CPU, so not in `make test`; run them before changing the pipeline, healing or coordination.
test-faults: install
	$(BIN)/python scripts/bootstrap.py --database $(TEST_DB)
	@$(COMPILE)
	ZOHOSYNC_TEST_DB=$(TEST_DB) $(BIN)/python -m pytest $(PYTEST_ARGS) -n $(PYTEST_WORKERS) -m slow

bench: migrate
	$(BIN)/python -m bench

# Pin every dependency (with hashes) after a change to pyproject.toml: the deployable set
# (requirements.lock, also the Dockerfile's) and, within it, the development set.
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links --extra dev --constraint requirements.lock \
	  --output-file requirements-dev.lock pyproject.toml

clean:
	-test -x $(BIN)/python && $(BIN)/python scripts/bootstrap.py --stop
	rm -rf $(VENV) .run *.egg-info
