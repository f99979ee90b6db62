"""The lab itself: every notebook runs top to bottom, in order, on a fresh local endpoint, each twice in a row
(a learner runs a notebook again), then the whole sequence once more after 99's cleanup; and each follows
the house rules (name, one H1, a parameters cell, stripped outputs, no input(), listed in the README)."""

import json
import re
import time

import nbformat
import pytest
from notebook_kit import NOTEBOOKS, ROOT, execute, notebook_paths

from labhelpers.local import config, process

NAME = re.compile(r"^\d\d_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")
PATHS = notebook_paths()
# Each notebook twice in a row, then the whole sequence again after 99_cleanup.
RUNS = [(path, "again" if again else "first") for path in PATHS for again in (False, True)]
RUNS += [(path, "after cleanup") for path in PATHS]


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("notebook-lab")
    yield home
    process.stop(config.Layout(home))


def test_there_are_notebooks():
    assert len(PATHS) >= 9, [p.name for p in PATHS]


def errors_in(executed) -> list:
    """The error outputs of cells not tagged `raises-exception`."""
    return [
        output
        for cell in executed.cells
        if cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", [])
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


@pytest.mark.parametrize("path, when", RUNS, ids=[f"{path.stem}-{when}" for path, when in RUNS])
def test_notebook_runs_top_to_bottom(path, when, lab_home):
    started = time.monotonic()
    executed = execute(path, lab_home)
    seconds = time.monotonic() - started
    assert not errors_in(executed), errors_in(executed)
    assert seconds <= 60, f"{path.name} took {seconds:.0f} s; a notebook must run in 60 s or less"


@pytest.fixture(scope="module")
def connection_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("notebook-lab-connection")
    yield home
    process.stop(config.Layout(home))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_with_a_connection_source_every_notebook_runs_too(path, connection_home):
    """The lab with `source="connection"` (for AWS accounts without CodeCommit): locally the connection
    serves the lab's own repository, so every notebook runs as on CodeCommit, pushes and all."""
    executed = execute(path, connection_home, LAB_SOURCE="connection")
    assert not errors_in(executed), errors_in(executed)
    if path.name == "02_pipeline_json.ipynb":
        printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
        assert "starts awscicd-pipeline through the connection" in printed


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_follows_the_house_rules(path):
    assert NAME.match(path.name), f"{path.name}: name notebooks NN_snake_case.ipynb"
    notebook = nbformat.read(path, as_version=4)
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    titles = [line for line in markdown.splitlines() if re.match(r"^# \S", line)]
    assert len(titles) == 1, f"{path.name}: exactly one H1, found {titles}"
    for heading in ("## Overview", "## Summary", "What's next"):
        assert heading in markdown, f"{path.name}: missing '{heading}'"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any("parameters" in c.metadata.get("tags", []) for c in code), f"{path.name}: no parameters cell"
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name}: strip outputs"
        assert "input(" not in cell.source, f"{path.name}: no input() — notebooks run unattended"
    assert "widgets" not in notebook.metadata, f"{path.name}: strip saved widget state"


def test_the_readme_lists_every_notebook():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in PATHS if p.name not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_notebooks_are_valid_json_with_a_python_kernel():
    for path in PATHS:
        data = json.loads(path.read_text())
        assert data["metadata"]["kernelspec"]["name"] == "python3", path.name
    assert NOTEBOOKS.is_dir()
