# The whole setup: `make lab` opens the lab, `make test` runs the full suite. Both create .venv and
# install exactly the versions in requirements/ (the lock); `make lock` writes it anew from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3
UV_VERSION := 0.13.9
PYTEST_ARGS ?=
# The learner's working copy of the notebooks (ignored by git): make lab opens it, never the tracked ones.
LAB_WORK ?= lab-work
# JupyterLab refuses to run as root unless told to (containers and CI machines often are root).
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
# LATEST=1 installs the newest versions pyproject.toml's ranges allow instead of the lock (make test-latest).
ifdef LATEST
LAB_REQUIREMENTS := --upgrade --upgrade-strategy eager -e .
TEST_REQUIREMENTS := --upgrade --upgrade-strategy eager -e '.[test]'
HUB_REQUIREMENTS := --upgrade --upgrade-strategy eager '.[classroom]'
else
LAB_REQUIREMENTS := -r requirements/lab.txt
TEST_REQUIREMENTS := -r requirements/test.txt
HUB_REQUIREMENTS := -r requirements/classroom.txt
endif
export LATEST

# Student copies: the notebooks without their solutions (nbgrader's BEGIN/END SOLUTION regions).
STUDENT ?= student
COURSE := build/nbgrader

# A class on one host: JupyterHub's environment, readable by every learner's Unix user (docs/instructor.md),
# on an interpreter they can run too (the system's; not one under /root, as pyenv's is).
HUB_PREFIX ?= /opt/codepipeline-lab
HUB_PYTHON ?= /usr/bin/python3

.PHONY: lab lab-install lab-notebooks student hub-install hub test test-latest lock lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==$(PIP_VERSION)

# What `make lab` installs, and nothing more: the lab and the aws CLI its notebooks call.
$(VENV)/.lab-installed: pyproject.toml requirements/lab.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(LAB_REQUIREMENTS)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

lab-install: $(VENV)/.lab-installed

$(VENV)/.test-installed: pyproject.toml requirements/test.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TEST_REQUIREMENTS)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.lab-installed

# nbgrader's own release step, in a course folder of its own under build/.
student: $(VENV)/.lab-installed
	rm -rf $(COURSE) && mkdir -p $(COURSE)/source/codepipeline-lab
	cp notebooks/*.ipynb $(COURSE)/source/codepipeline-lab/
	PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment codepipeline-lab --force --log-level=WARN \
		--CourseDirectory.root=$(abspath $(COURSE))
	rm -rf $(STUDENT) && cp -r $(COURSE)/release/codepipeline-lab $(STUDENT)

# Copies the student copies the working copy lacks; a learner's own edits are never overwritten.
lab-notebooks: student
	mkdir -p $(LAB_WORK)
	for nb in $(STUDENT)/*.ipynb; do [ -e "$(LAB_WORK)/$${nb##*/}" ] || cp "$$nb" $(LAB_WORK)/; done

lab: $(VENV)/.lab-installed lab-notebooks
	$(BIN)/labhelpers local start
	@echo "Opening JupyterLab on $(LAB_WORK)/, your copy of notebooks/ — start with 00_start_here.ipynb."
	@echo "Ctrl-C stops JupyterLab; the local endpoint keeps running (labhelpers local stop ends it)."
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser --notebook-dir=$(LAB_WORK) $(ALLOW_ROOT)

# The hub's environment from the lock (the lab itself not editable: learners never read this checkout), with
# nbgrader's instructor tools hidden from learners; the proxy from npm's lock, the student copies, and the
# hub's configuration.
hub-install:
	$(HUB_PYTHON) -m venv $(HUB_PREFIX)
	$(HUB_PREFIX)/bin/python -m pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(HUB_PREFIX)/bin/python -m pip install --quiet $(HUB_REQUIREMENTS)
	$(HUB_PREFIX)/bin/python -m pip install --quiet --no-deps --no-build-isolation .
	touch $(HUB_PREFIX)/.lab-installed
	for part in formgrader validate_assignment assignment_list course_list; do \
		$(HUB_PREFIX)/bin/jupyter server extension disable --sys-prefix --log-level=WARN \
			nbgrader.server_extensions.$$part || exit 1; done
	$(HUB_PREFIX)/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null
	mkdir -p $(HUB_PREFIX)/proxy $(HUB_PREFIX)/etc $(HUB_PREFIX)/share/codepipeline-lab
	cp classroom/package.json classroom/package-lock.json $(HUB_PREFIX)/proxy/
	npm ci --prefix $(HUB_PREFIX)/proxy --omit=dev --no-audit --no-fund --loglevel=error
	$(MAKE) --no-print-directory student VENV=$(HUB_PREFIX) STUDENT=$(HUB_PREFIX)/share/codepipeline-lab/notebooks
	cp classroom/jupyterhub_config.py classroom/learners.py $(HUB_PREFIX)/etc/

hub:
	@test -x $(HUB_PREFIX)/bin/jupyterhub || { echo "No hub in $(HUB_PREFIX): run make hub-install first."; exit 1; }
	cd $(HUB_PREFIX) && bin/jupyterhub -f etc/jupyterhub_config.py

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The suite against the newest releases the ranges allow: drift shows up here before a learner meets it.
test-latest:
	rm -f .venv-latest/.test-installed .venv-latest/.lab-installed
	$(MAKE) test VENV=.venv-latest LATEST=1

# The lock: every package, transitive ones included, for every platform, with hashes. lab.txt takes its
# versions from test.txt, and classroom.txt (the hub's) from lab.txt, so all run the same ones; the hub's
# proxy has npm's lock, classroom/package-lock.json.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet --upgrade --universal --python-version 3.11 --generate-hashes \
		pyproject.toml --extra test -o requirements/test.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		pyproject.toml -c requirements/test.txt -o requirements/lab.txt
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		pyproject.toml --extra classroom -c requirements/lab.txt -o requirements/classroom.txt
	cd classroom && npm install --package-lock-only --no-audit --no-fund

lint: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.test-installed
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/labhelpers local stop
	rm -rf $(VENV) .venv-latest build *.egg-info $(STUDENT)
