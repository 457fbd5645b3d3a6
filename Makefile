# natster: `make demo` runs the main story, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Compiled bytecode is kept in .venv/pycache, even where PYTHONDONTWRITEBYTECODE is set
# (as on the machine these numbers come from): without it each Python process compiled
# what it imports again, each pytest process every test module (collecting took 4.8 s
# against 2.2 s, and a test run starts 7 of them, and natster hundreds of times).
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(CURDIR)/$(VENV)/pycache

.PHONY: install test check lint lint-js format demo screenshots bundle clean

# Tests run in 4 processes (most of a test's time is waiting on servers, so 4 beat 2 on
# 2 cores), each test file in one of them (a module's shared hub or browser is made once).
# The cluster tests run beside them in a process of their own at normal priority, the
# others at nice 5: raft's elections are timed, and a node catching up on a starved
# machine once took 17 s for a write when all ran alike. (With the slow tests in that
# process too, it ran 237 s alone and the suite ~40 s longer.) Their output follows the
# others'. Before them, alone, what measures the wall clock to a few milliseconds (the
# emulated link's own check: a round trip read 87 ms for 60 beside the rest).
PARALLEL := -n 4 --dist loadfile
TIMED    := -m "cluster and not quiet" -p no:cacheprovider
TIMED_LOG := .pytest-timed.log
# Test files live in memory where there is room (8 GiB free in /dev/shm): the tests that
# write GiBs then never hold up the disk under raft's fsyncs.
TEST_TMP := $(shell df -k --output=avail /dev/shm 2>/dev/null | awk 'NR==2 && $$1 > 8388608 {print "TMPDIR=/dev/shm"}')

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: lint
	$(TEST_TMP) $(BIN)/pytest -q -p no:cacheprovider -m quiet
	@$(TEST_TMP) $(BIN)/pytest -q $(TIMED) > $(TIMED_LOG) 2>&1 & timed=$$!; \
	$(TEST_TMP) nice -n 5 $(BIN)/pytest -q $(PARALLEL) -m "not cluster and not quiet"; \
	rest=$$?; \
	wait $$timed; timed_rc=$$?; \
	echo "--- the cluster tests, run beside:"; cat $(TIMED_LOG); \
	test $$rest -eq 0 && test $$timed_rc -eq 0

# The loop while working: every module's tests but the browser, cluster, slow and heavy,
# in 3 processes (its tests wait less on servers: 4 took ~25 more CPU-seconds and 89-96 s
# against 87-92 s, three runs each).
check: lint
	$(TEST_TMP) $(BIN)/pytest -q -n 3 --dist loadfile -m "not slow and not browser and not cluster and not heavy"

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory lint-js; \
	else echo "no node here: the JS checks are left to .ci/run"; fi

# The browser code (js/src, and the page's modules in the package): prettier, ESLint,
# and TypeScript checking the JS (no build step: the page runs the files as they are).
JS_TOOLS := js/node_modules/.installed
JS_FILES := js/src js/build.mjs eslint.config.mjs src/natster/web/static/*.js \
	src/natster/web/static/*.css

$(JS_TOOLS): js/package-lock.json
	cd js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_TOOLS)

format: install $(JS_TOOLS)
	$(BIN)/ruff format src tests bench scripts
	js/node_modules/.bin/prettier --write --log-level warn $(JS_FILES)

lint-js: $(JS_TOOLS)
	js/node_modules/.bin/prettier --check --log-level warn $(JS_FILES)
	js/node_modules/.bin/eslint js/src src/natster/web/static js/build.mjs eslint.config.mjs
	js/node_modules/.bin/tsc -p js/tsconfig.json
	js/node_modules/.bin/tsc -p js/tsconfig.static.json

demo: install
	$(BIN)/python scripts/demo.py

# The main screens of the web UI, from the browser tests (needs /usr/bin/chromium).
screenshots: install
	NATSTER_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_web_browser.py

# The web app's service worker, from js/ (needs node and npm; the built file is committed,
# so installing natster never needs them), with js/src/contract.js written first from the
# Python definitions. tests/test_bundle.py says when either is stale.
bundle: install $(JS_TOOLS)
	$(BIN)/python -m natster.web._contract js/src/contract.js
	cd js && node build.mjs

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache $(TIMED_LOG)
