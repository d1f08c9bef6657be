# Two commands on a fresh machine: `make run` (service on embedded defaults with demo knowledge)
# and `make test` (the whole suite: lint, types, tests on SQLite and PostgreSQL).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Defaults for `make run` only; the tests set their own settings.
RUN_ENV := REPLY_DATA_DIR=$${REPLY_DATA_DIR:-data} \
	REPLY_BOOTSTRAP_ADMIN_KEY=$${REPLY_BOOTSTRAP_ADMIN_KEY:-dev-admin-key-change-me} \
	REPLY_LOAD_DEMO_KNOWLEDGE=$${REPLY_LOAD_DEMO_KNOWLEDGE:-true}

.PHONY: run worker test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain requirement would pull GBs of CUDA packages.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(RUN_ENV) $(BIN)/python -m service

worker: $(STAMP)
	$(BIN)/python -m service worker

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy service

test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/python bench/triage.py
	$(BIN)/python bench/retrieval.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
