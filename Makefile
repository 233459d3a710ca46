# Two commands: `make run` runs the product, `make test` runs every check and test.
# Both create .venv (Python 3.11+) and install the project on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint unit integration bench install clean

run: $(STAMP)
	$(BIN)/eventpulse up

test: lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || \
		{ echo "benchmarks need wrk (Debian/Ubuntu: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m benchmarks

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "EventPulse needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,notebooks]'
	@# the browser tests drive the system's Chromium (Playwright downloads no browser)
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; } || \
		{ echo "the browser tests need Chromium (Debian/Ubuntu, as root: apt-get install chromium)"; exit 1; }
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
