# Every target creates the virtual environment it needs; `make test` is what CI runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv system-deps system-deps-fast test test-fast lint demo screenshots bench e2e-kind clean

venv: $(STAMP)

# The product (gameserver, gameroom_operator) and, as a separate development
# distribution, kubesandbox (its pytest plugin and the `kubesandbox` command).
$(STAMP): pyproject.toml kubesandbox/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' -e ./kubesandbox
	touch $(STAMP)

# Debian packages the tests drive for real (COMMAND=PACKAGE): installed when missing.
# prometheus brings promtool, which tests the chart's alerts; openssl makes kubesandbox's TLS
# certificate.
SYSTEM_DEPS_FAST := prometheus=prometheus openssl=openssl
SYSTEM_DEPS := chromium=chromium $(SYSTEM_DEPS_FAST)

## Installs the Debian packages the tests need (as root with apt-get), or says which are missing.
system-deps:
	@sh tools/system-deps.sh $(SYSTEM_DEPS)

system-deps-fast:
	@sh tools/system-deps.sh $(SYSTEM_DEPS_FAST)

# Test files run on this many pytest-xdist workers (most of the suite waits on servers and
# timers, so two workers fit two cores); each file stays on one worker (its fixtures, such as
# a sandbox with its operator, are built once). TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile

## Run the whole suite: unit, protocol, sandbox, operator integration and browser tests.
test: venv system-deps
	$(PY) -m pytest $(PYTEST_PARALLEL)

## Everything but the browser tests.
test-fast: venv system-deps-fast
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not browser"

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/hadolint Dockerfile tests/test_operator/standins/sickroom/Dockerfile
	$(VENV)/bin/shellcheck tools/*.sh

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

## The product on a kind cluster: image, chart, helm test, operator integration tests
## (needs docker, kind, helm, kubectl; untested on machines without a Docker engine).
e2e-kind: venv
	bash tools/e2e-kind.sh $(E2E_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
