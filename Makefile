# The two commands a newcomer needs are `make run` and `make test`; `make help` lists the rest.
PYTHON ?= python3.11
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
AXE := tests/browser/axe/node_modules/axe-core/axe.min.js
RUN_INSTALLED := $(VENV)/.installed-run

.DEFAULT_GOAL := help
.PHONY: help install run test compose-test lint format requirements clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is not Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements/local.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements/local.txt
	@touch $@

# The quick start needs only the runtime: the test tools (a browser driver, the Compose binary) would slow it down.
$(RUN_INSTALLED): requirements/production.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements/production.txt
	@touch $@

install: $(INSTALLED)  ## Create .venv and install the pinned development requirements

run: $(RUN_INSTALLED)  ## Start web, worker and beat on embedded defaults at http://localhost:8000 (Ctrl-C stops all)
	@mkdir -p .run/broker/queue .run/broker/processed .run/broker/control
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py migrate --noinput --database emulator
	@printf '\n  Open http://localhost:$(PORT)/ and sign up: any email, a password of 8+ characters.\n'
	@printf '  Password-reset emails are printed here. Ctrl-C stops web, worker and beat.\n\n'
	@PATH="$(CURDIR)/$(BIN):$$PATH" WEB_ADDRESS=$(HOST):$(PORT) $(BIN)/python scripts/run_dev.py Procfile.dev

test: $(INSTALLED) $(AXE)  ## Run the suite on real PostgreSQL and Redis (throwaway ones unless DATABASE_URL / CELERY_BROKER_URL are set)
	scripts/with-test-services $(BIN)/pytest $(PYTEST_ARGS)

# axe-core, which the browser tests inject into pages to check accessibility, at the version the lockfile pins. Without
# npm the rest of the suite still runs, and those tests fail naming what is missing.
$(AXE): tests/browser/axe/package.json tests/browser/axe/package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --prefix tests/browser/axe --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the accessibility tests need it to install axe-core (Debian: apt-get install npm)"; fi

# The real stack on a Docker daemon: tests/compose/stack_test.py builds the image, brings the demo up under a project of
# its own on free ports, checks it over HTTP and removes it (docs/operations.md, "Proving the stack").
compose-test: $(INSTALLED)  ## Build the image and prove the production stack on a running Docker daemon (a few minutes)
	@docker info >/dev/null 2>&1 || { echo "compose-test needs a running Docker daemon with the Compose v2 plugin (docker info failed); here, ../shared/tools/docker-stack up starts one"; exit 1; }
	DOCKER_BUILDKIT=0 $(BIN)/pytest -c tests/compose/pytest.ini --rootdir . tests/compose/stack_test.py $(PYTEST_ARGS)

.PHONY: bench
bench: $(INSTALLED)  ## Benchmarks on throwaway PostgreSQL and Redis (under 10 minutes); writes docs/benchmarks.md
	scripts/with-test-services $(BIN)/python -m bench.run

lint: $(INSTALLED)  ## Ruff (lint and format check) and Django's system checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py check --fail-level WARNING

format: $(INSTALLED)  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# In this order: production.in is constrained by base.txt, local.in by production.txt. The image's lock carries hashes,
# so that its `pip install --no-deps` takes exactly the files that were pinned.
requirements: $(INSTALLED)  ## Re-pin requirements/*.txt from requirements/*.in
	cd requirements && for name in base production local; do \
	  ../$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
	    $$(if [ $$name = production ]; then echo --generate-hashes; fi) --output-file $$name.txt $$name.in; \
	done

clean:  ## Remove the virtualenv, the SQLite database and the quick start's runtime files
	rm -rf $(VENV) .run db.sqlite3 db.sqlite3-* emulator.sqlite3 emulator.sqlite3-* staticfiles tests/browser/axe/node_modules

.PHONY: faults
faults: $(INSTALLED)  ## The fault suite: refreshes under injected faults on PostgreSQL, Redis, a worker and beat of its own; 0 lost
	$(BIN)/python -m tests.faults.run
