# The two commands: `make run` (the whole stack) and `make test` (lint, then the whole suite).
# Both create .venv, install the locked dependencies (requirements*.lock) and the project, and make
# sure PostgreSQL and Redis answer (scripts/bootstrap.py starts or installs local ones when needed).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DB ?= $(or $(ZOHOSYNC_TEST_DB),zohosync_test)
# pytest-xdist processes: 4 on a 2-core machine. The tests that start real processes spend part of their time
# waiting (a worker booting, an inspect timeout) while the others keep the cores busy, but every process
# collects (imports) the whole suite, ~3.5 s of CPU (a fresh checkout's asserts are rewritten once between
# them: tests/conftest.py). Measured 2026-12-03, warm, same machine, alternated: 3 -> 91-97 s, 4 -> 82-86 s
# (130-148 busy core-s), 5 -> 84-87 s (155-162 busy core-s). Whole files go to one process (--dist loadfile:
# a module's worker processes start once), long files first (tests/conftest.py orders them;
# --no-loadscope-reorder keeps that order). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 4
PYTEST_ARGS := -q -p no:cacheprovider --dist loadfile --no-loadscope-reorder --durations=10
# The project compiled once, on every core, before the test processes start: in a fresh checkout each
# xdist process and each worker, beat or receiver it starts would otherwise compile it again.
COMPILE := $(BIN)/python -m compileall -q -j 0 webhook_app tasks models zoho zoho_sandbox migrations scripts bench \
	tests/support $(wildcard *.py)
# Not compiled: what no process imports (pip, setuptools, the libraries' own test suites, selenium's DevTools
# bindings and its other browsers, SQLAlchemy's other databases, pygments' lexers but the few rich loads, which
# their first importer compiles), and hypothesis, which pytest rewrites into its own byte-code.
SITE_SKIP := -x 'site-packages/(pip|setuptools|pkg_resources|_distutils_hack|hypothesis)/|site-packages/.*/(tests|_tests|test|testing|devtools)/|site-packages/pygments/lexers/|site-packages/sqlalchemy/dialects/(mysql|mssql|oracle|sqlite)/|site-packages/selenium/webdriver/(firefox|ie|safari|edge|webkitgtk|wpewebkit)/|site-packages/wcwidth/table_grapheme'
# Byte-code caches on, even where the shell turns them off: every test's worker, beat and receiver
# process would otherwise compile the project again, and every xdist worker re-rewrite the tests.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-faults lint bench install services migrate lock clean chromium

# The venv is made without pip; scripts/install_lock.py has pip (the machine's, else ensurepip's) install uv from
# the lock, and uv install the whole hashed lock (~1-4 s where pip takes ~18 s); uv then installs the project
# (editable, built with the lock's setuptools). A changed lock is brought up to date the same way.
# Nothing is compiled on install: compileall then compiles, on every core, what the suite's processes import
# (SITE_SKIP says what it leaves out).
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@$(PYTHON) scripts/install_lock.py requirements-dev.lock $(VENV)
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@$(BIN)/python -m compileall -q -j 0 $(SITE_SKIP) $(VENV)/lib/python3*/site-packages
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

# Chromium for the dashboard's browser test, installed (when missing) by a detached process while the venv is filled
# and the tests run: ~12 s of apt-get on a fresh machine off the critical path. The test waits for it.
chromium:
	@$(PYTHON) scripts/ensure_chromium.py --background

test: chromium install
	$(BIN)/ruff check .
	$(BIN)/python scripts/bootstrap.py --database $(TEST_DB)
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
