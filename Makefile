# The two commands: `make run` (the whole stack) and `make test` (the whole suite).
# Both create .venv, install the project, and make sure PostgreSQL and Redis answer
# (starting or installing local ones when needed) before doing anything else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TEST_DB ?= zohosync_test

.PHONY: run test bench install services migrate clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "Python's venv module is missing: install it (sudo apt-get install python3-venv) and retry." >&2; exit 1; fi; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

services: install
	$(BIN)/python scripts/ensure_services.py

migrate: services
	$(BIN)/alembic upgrade head

run: migrate
	$(BIN)/zohosync stack

test: install
	$(BIN)/python scripts/ensure_services.py --database $(TEST_DB)
	$(BIN)/python scripts/ensure_chromium.py
	ZOHOSYNC_TEST_DB=$(TEST_DB) $(BIN)/python -m pytest -q -p no:cacheprovider

bench: migrate
	$(BIN)/python -m bench

clean:
	-test -x $(BIN)/python && $(BIN)/python scripts/ensure_services.py --stop
	rm -rf $(VENV) .run *.egg-info
