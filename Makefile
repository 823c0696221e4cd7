# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

export DO_NOT_TRACK := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DAGSTER_HOME := $(CURDIR)/dagster_home
export DATAOPS_PROJECT_DIR := $(CURDIR)

PYTHON_PATHS := dataops_assets tests $(wildcard bench)

.PHONY: setup run ui test lint typecheck demo-data bench clean browser

setup: $(STAMP)

# Bytecode up front: with PYTHONDONTWRITEBYTECODE set (as on our CI machines) nothing caches it, and every
# tap, dbt and Dagster process would compile ~1,000 modules from source first (seconds each time).
COMPILE = PYTHONDONTWRITEBYTECODE= $(BIN)/python -m compileall -q -j 0 $(VENV)/lib dataops_assets > /dev/null || true

# uv resolves and installs the whole stack in seconds; plain pip is the fallback if uv cannot be had.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv || true
	if [ -x $(BIN)/uv ]; then $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'; \
	else $(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'; fi
	$(COMPILE)
	touch $(STAMP)

demo-data: setup
	$(BIN)/dataops demo generate

run: demo-data
	$(BIN)/dataops demo run

ui: setup
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

lint: setup
	$(BIN)/ruff check $(PYTHON_PATHS)
	$(BIN)/ruff format --check $(PYTHON_PATHS)

typecheck: setup
	$(BIN)/mypy

# The browser test drives Debian's chromium through its chromedriver (no browser download). CI runs as root
# on a fresh machine, so `make test` installs them there, or wherever they are missing; otherwise it is a no-op.
CHROMIUM_PACKAGES := chromium chromium-driver
BROWSER_NEEDED := $(if $(filter true,$(CI)),yes,$(if $(wildcard /usr/bin/chromium),,yes))

browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium and chromedriver are installed"; \
	else apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(CHROMIUM_PACKAGES); fi

test: setup lint typecheck $(if $(BROWSER_NEEDED),browser)
	$(BIN)/pytest -n 2 --dist loadgroup

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf .dataops dagster_home/storage dagster_home/history dagster_home/schedules dagster_home/logs
