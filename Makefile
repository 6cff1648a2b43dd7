# exitflow: `make run` serves the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench lint system-deps venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# System packages WeasyPrint needs: Pango (usually present) and a CJK font.
system-deps:
	@sh scripts/system-deps.sh

run: venv system-deps
	$(VENV)/bin/exitflow init-db
	$(VENV)/bin/exitflow seed-demo --if-empty --advance-to appraised
	EXITFLOW_SCHEDULER=$${EXITFLOW_SCHEDULER:-embedded} $(VENV)/bin/exitflow serve --host $(HOST) --port $(PORT)

test: venv
	@EXITFLOW_NEEDS_BROWSER=1 sh scripts/system-deps.sh
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: venv system-deps
	$(PY) -m bench

lint: venv
	$(VENV)/bin/ruff check states workflow notices tests bench
	$(VENV)/bin/ruff format --check states workflow notices tests bench

clean:
	rm -rf $(VENV) .pytest_cache
