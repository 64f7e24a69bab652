# Every target creates the virtual environment it needs; `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv system-deps test test-fast lint demo screenshots bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests drive for real (COMMAND=PACKAGE): installed when missing.
SYSTEM_DEPS := chromium=chromium

## Installs the Debian packages the tests need (as root with apt-get), or says which are missing.
system-deps:
	@sh tools/system-deps.sh $(SYSTEM_DEPS)

## Run the whole suite: unit, protocol, sandbox, operator integration and browser tests.
test: venv system-deps
	$(PY) -m pytest

## Everything but the browser tests.
test-fast: venv
	$(PY) -m pytest -m "not browser"

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

## Offline demo: kubesandbox + operator + a playable room.
demo: venv
	$(PY) -m gameroom_operator.demo

## Regenerate the README screenshots under docs/screenshots/.
screenshots: venv system-deps
	SCREENSHOTS_DIR=docs/screenshots $(PY) -m pytest tests/test_webclient -m browser

## Benchmarks with their peers (see bench/README.md).
bench: venv
	$(PY) bench/fanout.py
	$(PY) bench/sandbox.py
	$(PY) bench/reconcile.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
