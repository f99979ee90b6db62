# The whole setup: `make lab` opens the lab, `make test` runs the full suite. Both create .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# JupyterLab refuses to run as root unless told to (containers and CI machines often are root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.lab-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.lab-installed

lab: $(VENV)/.lab-installed
	$(BIN)/labhelpers local start
	@echo "Opening JupyterLab on notebooks/ — start with 00_start_here.ipynb. Ctrl-C stops JupyterLab;"
	@echo "the local endpoint keeps running (labhelpers local stop ends it)."
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=notebooks $(ALLOW_ROOT)

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.test-installed
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/labhelpers local stop
	rm -rf $(VENV) build *.egg-info
