"""Running the lab's notebooks as a learner would: in order, top to bottom, on one fresh local endpoint."""

import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 120


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@contextmanager
def lab_environment(home: Path):
    """The environment a kernel inherits: the lab's state folder and the local backend."""
    saved = dict(os.environ)
    os.environ.update(LABHELPERS_HOME=str(home), LAB_BACKEND="local")
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, home: Path) -> nbformat.NotebookNode:
    """Execute a notebook in its folder with the lab pointed at `home`; raises CellExecutionError on failure.

    Cells tagged `raises-exception` may fail, as they teach an error. Nothing is written back to disk."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    with lab_environment(home):
        client.execute()
    return notebook
