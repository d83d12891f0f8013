# The two commands: `make run` serves the demo portal; `make test` passes the tests.
# Both install into .venv first. DATABASE_URL / CELERY_BROKER_URL switch to PostgreSQL / Redis.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test install install-dev lint check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when the pinned requirements change.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_reference
	$(BIN)/python manage.py load_framework fixtures/frameworks/qmd-2026.1.json --publish
	$(BIN)/python manage.py load_framework fixtures/frameworks/qmd-2026.2.json --publish
	$(BIN)/python manage.py load_demo
	PORT=$(PORT) scripts/run_dev.sh

lint: install-dev
	$(BIN)/ruff check .
	DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run --settings=portal.settings.test

test: install-dev
	scripts/install_browser.sh
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Index engine; national scale (issue 13): make bench BENCH_ARGS="--enterprises 1000000 --fanout 1,2,4"
bench: install-dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache

.PHONY: load-bench
# Public pages and open-data API under load (bench/load.py): gunicorn on the portal_bench
# database of `make bench` (run that first), Redis cache, wrk (apt-get install -y wrk).
load-bench: install-dev
	$(BIN)/python bench/load.py

.PHONY: import-bench
# Enterprise and paper-filing imports (bench/imports.py): 20,000 rows against a COPY floor and
# the schema's own write floor; DATABASE_URL chooses the database (default portal_bench).
import-bench: install-dev
	$(BIN)/python bench/imports.py
