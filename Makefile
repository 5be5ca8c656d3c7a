# controlplane: the two commands a newcomer runs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: help install install-dev system-deps run test bench lint fmt lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when the lock or the package metadata changes.
$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the locked dependencies and the package

install-dev: $(VENV)/.installed-dev ## install, plus the test and lint tools

system-deps: ## Install what the tests need outside Python (PostgreSQL, node, chromium) when missing
	@scripts/system-deps.sh

run: install ## Migrate the SQLite default and serve on 127.0.0.1:8000 with gunicorn
	$(BIN)/controlplane db upgrade
	@scripts/next-steps.sh "$(HOST)" "$(PORT)"
	exec $(BIN)/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - wsgi:app

test: install-dev system-deps ## Run the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest

bench: install ## Load /connect/token and the peer (node oidc-provider): RS256, ES256, 1 and 1,000,000 apps
	bench/run.sh

lint: install-dev ## ruff (check + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: install-dev ## Format and autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: install-dev ## Regenerate requirements.txt and requirements-dev.txt from pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links -o requirements.txt pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --extra dev -o requirements-dev.txt pyproject.toml

clean: ## Remove the virtualenv and caches (keeps instance/, your local database)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
