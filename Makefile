# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

# Tests run in parallel (pytest-xdist): most of the suite's time is spent waiting on real processes
# (daemon start-up, broker restarts, a receiver's retries), not computing, so more workers than cores
# pay. Measured on the project's 2-core machine (bench/RESULTS.md, "Test suite"): serial 409 s,
# -n 2 (= auto here) 265-298 s, -n 3 246 s, -n 4 143 s, -n 6 162 s. Four is where it stops getting
# faster: beyond it the workers only queue for the two cores.
# PYTEST_WORKERS=0 runs serially; `loadgroup` keeps the tests that share one peer on one worker.
PYTEST_WORKERS ?= 4

.PHONY: run test lint venv test-deps clean

run: $(BIN)/tripwired
	$(BIN)/tripwired run $(ARGS)

test: $(BIN)/pytest test-deps lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: $(BIN)/pytest
	$(BIN)/ruff check agent tests scripts bench
	$(BIN)/ruff format --check agent tests scripts bench
	$(BIN)/mypy --strict agent

test-deps:
	scripts/install-test-deps

venv: $(BIN)/tripwired

$(BIN)/tripwired: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(BIN)/pytest: pyproject.toml $(BIN)/tripwired
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
