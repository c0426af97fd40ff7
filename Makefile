# Two commands matter: `make demo` (reference exercise, embedded) and `make test` (everything).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
S      ?= sichuan-earthquake

.PHONY: venv demo test lint types unit test-integration e2e sim schemas asyncapi example-report reliability clean

# The dev tools and the `bench` extra (PyVRP, VROOM: only `hinterland bench routing` uses them).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hinterland exercise run $(S)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy contracts services simulations

test: lint types
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/contracts tests/component

test-integration: $(STAMP)
	$(BIN)/pytest -m integration

e2e: $(STAMP)
	$(BIN)/pytest -m e2e

sim: $(STAMP)
	$(BIN)/hinterland exercise run $(S)

schemas: $(STAMP)
	$(BIN)/hinterland schemas export contracts/schemas

asyncapi: $(STAMP)
	$(BIN)/hinterland asyncapi --out contracts/asyncapi.json

# The fault-injection and load suite (about an hour for 20 seeds; `make test` runs a short one).
reliability: $(STAMP)
	$(PY) -m simulations.reliability --seeds 20 --events 10000 --rate 70 --json out/reliability.json

# The committed example after-action report is made by the command, never by hand.
example-report: $(STAMP)
	$(BIN)/hinterland exercise run sichuan-earthquake --out out/example
	mkdir -p docs/examples
	cp out/example/sichuan-earthquake-seed42/report.html docs/examples/sichuan-earthquake-report.html

clean:
	rm -rf $(VENV) out simulations/out
