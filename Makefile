# The project's vocabulary. `make run` and `make test` work on a fresh clone with only Python.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: run canary client test test-fast lint fmt check pytest e2e fuzz newman bench bench-judge bench-slow-clients migrate seed clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

## run: install, migrate, load demo data, print a demo token, serve on the embedded defaults.
run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Demo token (acme): $$($(PY) manage.py demo_token | tail -n 1)"
	@$(PY) manage.py demo_operator | tail -n 1
	LOCAL_LANE=stable $(VENV)/bin/gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT) portal.config.wsgi

## canary: what `make run` does, plus a canary server of a newer version, the controller, a
## little traffic and a rollout on the fast demo plan (BROKEN=1: a canary that fails under
## traffic, rolled back; MIGRATION=breaking: a canary whose migration drops a column stable
## reads, stopped by the migration gate; MIGRATION=expand: one that only adds a column, on a
## throwaway database var/canary-migration.sqlite3). Serves until Ctrl-C.
canary: $(VENV)/.runtime
	$(if $(MIGRATION),rm -f var/canary-migration.sqlite3 && mkdir -p var)
	$(CANARY_DB) $(PY) manage.py migrate --noinput
	$(CANARY_DB) $(PY) manage.py seed_demo
	@echo "Demo token (acme): $$($(CANARY_DB) $(PY) manage.py demo_token | tail -n 1)"
	@$(CANARY_DB) $(PY) manage.py demo_operator | tail -n 1
	$(CANARY_DB) $(PY) manage.py canary_demo --host $(HOST) --port $(PORT) $(if $(filter-out 0,$(BROKEN)),--broken) $(if $(MIGRATION),--migration $(MIGRATION))

CANARY_DB = $(if $(MIGRATION),DATABASE_URL=sqlite:///$(CURDIR)/var/canary-migration.sqlite3)

## test: lint, types, Django checks, migrations check, then the whole pytest suite.
test: lint check pytest

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/djlint --lint templates ops/templates

check: $(VENV)/.dev
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run

## pytest: the unit suite on both cores (pytest-xdist; one process when REDIS_URL is set, as
## the tests share that Redis database), then the live and browser suites one test at a time
## (they start real servers and time them). UNIT_ONLY=1: the unit suite alone.
PYTEST_WORKERS ?= $(if $(REDIS_URL),0,2)
pytest: $(VENV)/.dev
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -m "not live and not browser"
	$(if $(UNIT_ONLY),,$(VENV)/bin/pytest -m "live or browser")

## test-fast: the unit suite on both cores (pytest-xdist), without the live and browser suites.
test-fast: $(VENV)/.dev
	$(VENV)/bin/pytest -n auto -m "not live and not browser"

## e2e: the staff console in Debian's Chromium (Playwright); screenshots in artifacts/.
e2e: $(VENV)/.dev
	$(VENV)/bin/pytest -m browser

## fmt: apply the formatter and the linter's safe fixes.
fmt: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## fuzz: schemathesis against a live gunicorn, every operation, with a real token.
fuzz: $(VENV)/.dev
	$(VENV)/bin/python scripts/fuzz.py

## newman: the Postman collection (postman/) with newman against a live gunicorn.
newman: $(VENV)/.dev
	$(VENV)/bin/python scripts/newman.py

## bench: wrk against gunicorn on PostgreSQL + Redis with 1M contacts; writes BENCHMARKS.md.
bench: $(VENV)/.dev
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) scripts/benchmark.py

## bench-judge: how often the judge holds up an identical canary on a busy machine (about 15
## minutes); its section of BENCHMARKS.md.
bench-judge: $(VENV)/.dev
	$(PY) scripts/judge_noise.py

## bench-slow-clients: 50 slow clients of each shape against another tenant, the shipped worker
## beside gunicorn's stock one, with and without nginx (about 8 minutes); its section of
## BENCHMARKS.md.
bench-slow-clients: $(VENV)/.dev
	command -v nginx >/dev/null || (apt-get update -qq && apt-get install -y -qq nginx)
	$(PY) scripts/slow_clients.py

## client: a Python client generated from the schema (openapi-python-client), in artifacts/.
client: $(VENV)/.dev
	mkdir -p artifacts
	$(PY) manage.py spectacular --file artifacts/schema.yaml
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/openapi-python-client generate \
		--path artifacts/schema.yaml --output-path artifacts/portal-api-client --overwrite
	@echo "Install it with: pip install ./artifacts/portal-api-client"

migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

clean:
	rm -rf $(VENV) db.sqlite3* media var staticfiles artifacts postman/node_modules .pytest_cache .mypy_cache .ruff_cache
