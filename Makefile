# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit evalscores bench install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.dev-installed

demo: install
	$(BIN)/steward demo

lint: dev
	$(BIN)/ruff check app handlers tests bench
	$(BIN)/ruff format --check app handlers tests bench

typecheck: dev
	$(BIN)/mypy

# The suite twice: in file order, then shuffled, so an order-dependence shows at once. The
# shuffle's seed is printed; `make unit SEED=N` replays that order.
ifndef SEED
SEED := $(shell date +%s)
endif
unit: dev
	$(BIN)/pytest -q -p no:randomly
	@echo "random order: --randomly-seed=$(SEED)"
	$(BIN)/pytest -q -p randomly --randomly-seed=$(SEED)

# The offline engine over the bundled evaluation set: scores printed, exit 1 below the floors
# in app/evaluation/floors.json (a throwaway Valkey; nothing recorded).
evalscores: dev
	$(BIN)/python -m app.evaluation.floors

test: lint typecheck unit evalscores

bench: install
	$(BIN)/python bench/ack.py

clean:
	rm -rf $(VENV) .steward .pytest_cache .mypy_cache .ruff_cache
