"""labhelpers: the helper library of the codepipeline lab. `import labhelpers as lh; lab = lh.connect()`.

Submodules (`lh.runs`, `lh.history`, ...) load on first use, so the CLI and the local endpoint, which
import this package too, never pay for pandas, matplotlib or ipywidgets."""

import importlib

from .errors import DeclarationError, EndpointError, LabError
from .lab import Lab, Names, connect

SUBMODULES = (
    "artifacts",
    "cleanup",
    "history",
    "pipelines",
    "plots",
    "prerequisites",
    "roles",
    "runs",
    "widgets",
)
__all__ = ["connect", "Lab", "Names", "LabError", "EndpointError", "DeclarationError", *SUBMODULES]


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")
