# A new machine needs only Python 3.11+ and pip: every target creates the
# virtualenv and installs the project into it first: `make run` only what serving needs,
# the other targets the test extras too (each step has its stamp).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.run-stamp
TEST_STAMP := $(VENV)/.test-stamp
# Tests run in parallel processes (pytest-xdist), one per CPU, at most four; PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= auto
PORT ?= 8080

.PHONY: run test lint bench screenshots clean

$(RUN_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("senderid needs Python 3.11 or newer; set PYTHON=python3.11" if sys.version_info < (3, 11) else 0)'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

# The development server: SQLite, the demo account and key, the console's address and a
# development admin token printed; logs as text on a terminal.
run: $(RUN_STAMP)
	$(VENV)/bin/senderid serve --demo --port $(PORT)

test: $(TEST_STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

# Style and types: ruff (imports, unused names, pyupgrade, bugbear) and mypy (strict on the
# domain, the store and the client).
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks peers
	$(VENV)/bin/mypy

# The console's pictures in docs/screenshots (a test run writes them to a temporary folder).
screenshots: $(TEST_STAMP)
	SENDERID_TEST_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q -p no:cacheprovider tests/console/test_console_browser.py -k test_screenshots

bench: $(TEST_STAMP)
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
