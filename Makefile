# natster: `make demo` runs the main story, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test lint demo screenshots bundle clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

demo: install
	$(BIN)/python scripts/demo.py

# The main screens of the web UI, from the browser tests (needs /usr/bin/chromium).
screenshots: install
	NATSTER_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_web_browser.py

# The web app's service worker, from js/ (needs node and npm; the built file is committed,
# so installing natster never needs them). tests/test_bundle.py says when it is stale.
bundle:
	cd js && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
