"""How long each notebook takes to run headless, top to bottom, in order, on a fresh local endpoint: at the
`teach` pace a learner gets (the default), or at `fast` with --pace fast. The figures are the floor of a
class's timetable: a learner reads, predicts and answers on top of them.

Run: .venv/bin/python bench/notebooks.py [--pace teach|fast]. Nothing is written back to the notebooks."""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from labhelpers.local import config, process

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pace", default="teach", choices=("teach", "fast"))
    pace = parser.parse_args().pace
    with tempfile.TemporaryDirectory(prefix="bench-notebooks-") as home:
        os.environ.update(LABHELPERS_HOME=home, LAB_BACKEND="local", LAB_PACE=pace)
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # the aws CLI
        total = 0.0
        try:
            for path in sorted(NOTEBOOKS.glob("*.ipynb")):
                notebook = nbformat.read(path, as_version=4)
                where = {"metadata": {"path": str(NOTEBOOKS)}}
                client = NotebookClient(notebook, timeout=600, resources=where)
                started = time.monotonic()
                client.execute()
                seconds = time.monotonic() - started
                total += seconds
                print(f"{path.stem:28} {seconds:6.1f} s", flush=True)
        finally:
            process.stop(config.Layout(Path(home)))
        print(f"{'all notebooks':28} {total:6.1f} s  at {pace} pace, headless")


if __name__ == "__main__":
    main()
