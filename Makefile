# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Development defaults for the development targets (not `serve`); the environment wins.
DEV_TARGETS := run demo migrate test test-postgres lint bench-schemas
$(DEV_TARGETS): export DJANGO_DEBUG ?= true
run demo migrate: export ACTIONS_ALLOW_PRIVATE_NETWORKS ?= true

.PHONY: run serve test test-postgres lint install migrate demo clean bench-schemas bench

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found); set PYTHON=..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --no-input

demo: migrate
	$(BIN)/python manage.py load_demo

run: demo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

# Production-style serving: debug off, static files through whitenoise, several workers.
# Needs DJANGO_SECRET_KEY, FIELD_ENCRYPTION_KEY, DJANGO_ALLOWED_HOSTS and SITE_URL (README).
serve: install
	DJANGO_DEBUG=false $(BIN)/python manage.py check --deploy
	DJANGO_DEBUG=false $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=false $(BIN)/python manage.py collectstatic --no-input -v0
	DJANGO_DEBUG=false $(BIN)/gunicorn -c config/gunicorn.conf.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install
	./scripts/ensure-chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	ACTIONS_ALLOW_PRIVATE_NETWORKS=false $(BIN)/pytest

# The whole suite again on PostgreSQL (the scale path): the database is created if missing.
PG_URL ?= postgres://postgres@127.0.0.1:5432/afarensis
test-postgres: install
	./scripts/ensure-postgres "$(PG_URL)"
	DATABASE_URL="$(PG_URL)" ACTIONS_ALLOW_PRIVATE_NETWORKS=false $(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

bench-schemas: install
	$(BIN)/python bench/schema_import.py

# End-to-end benchmark of the agent API: gunicorn on PostgreSQL, see BENCHMARKS.md.
# Needs PostgreSQL at 127.0.0.1:5432 and wrk (installed with apt-get when missing, as root).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)
