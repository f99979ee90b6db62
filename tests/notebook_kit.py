"""Running the lab's notebooks as a learner would: in order, top to bottom, on one fresh local endpoint, in a
kernel of the lab's own environment (what `make lab` installs, no test extras) with a PATH that holds no
other `aws` than the lab's."""

import json
import os
import shutil
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import nbformat
from lock_kit import lab_venv
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 120
KERNEL = "lab-environment"
SYSTEM_PATH = "/usr/bin:/bin"  # git and curl; never an aws of the machine's


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


@cache
def lab_bin() -> Path:
    """The scripts of the lab's environment (python, jupyter, aws, labhelpers), checked for its own aws."""
    scripts = lab_venv() / "bin"
    aws = shutil.which("aws", path=lab_path(scripts))
    assert aws == str(scripts / "aws"), f"the lab environment has no aws CLI of its own (found {aws})"
    return scripts


def lab_path(scripts: Path | None = None) -> str:
    """The PATH of a learner's kernel: the lab environment's scripts, then the system's."""
    return f"{scripts or lab_bin()}{os.pathsep}{SYSTEM_PATH}"


@cache
def lab_kernel_path() -> Path:
    """A Jupyter data folder holding one kernel spec: the lab environment's Python, its scripts first."""
    folder = lab_bin().parent / "test-kernels"
    spec = {
        "argv": [str(lab_bin() / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "codepipeline-lab (as make lab installs it)",
        "language": "python",
        "env": {"PATH": lab_path()},
    }
    (folder / "kernels" / KERNEL).mkdir(parents=True, exist_ok=True)
    (folder / "kernels" / KERNEL / "kernel.json").write_text(json.dumps(spec, indent=1))
    return folder


@contextmanager
def environ(values: dict[str, str]):
    """os.environ with `values`, for the kernels started meanwhile; as it was afterwards."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def lab_environment(home: Path, **settings: str):
    """The environment a kernel inherits: the lab's state folder, the local backend at fast pace (connect()
    in a notebook records it for the endpoint), the lab's kernel; `settings` add LAB_* variables."""
    local = dict(LABHELPERS_HOME=str(home), LAB_BACKEND="local", LAB_PACE="fast")
    return environ({**local, "JUPYTER_PATH": str(lab_kernel_path()), **settings})


def execute(path: Path, home: Path, *, allow_errors: bool = False, **settings: str) -> nbformat.NotebookNode:
    """Execute a notebook in its folder with the lab pointed at `home`; raises CellExecutionError on failure,
    unless `allow_errors` (then every cell runs and errors stay in the outputs). `settings` are LAB_*
    variables of the kernel's environment, e.g. LAB_SOURCE="connection".

    Cells tagged `raises-exception` may fail, as they teach an error. Nothing is written back to disk."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name=KERNEL,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    with lab_environment(home, **settings):
        client.execute()
    return notebook
