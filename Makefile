# The two commands of the README: `make demo` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo dev test test-storage lint screenshots

$(BIN)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/tgstats demo

dev: $(BIN)/.installed
	$(BIN)/tgstats dev

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

# The storage tests again, against the server named by TGSTATS_TEST_DATABASE_URL.
test-storage: $(BIN)/.installed
	$(BIN)/pytest -m storage

# The README's pictures of the UI, taken by the browser test.
screenshots: $(BIN)/.installed
	TGSTATS_README_IMAGES=docs/images $(BIN)/pytest tgstats_dagster_tests/e2e/test_browser.py
