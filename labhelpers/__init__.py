"""labhelpers: the helper library of the codepipeline lab. `import labhelpers as lh; lab = lh.connect()`.

Submodules (`lh.runs`, `lh.history`, ...) load on first use, so the CLI and the local endpoint, which
import this package too, never pay for pandas, matplotlib or ipywidgets. In a Jupyter kernel the live
pipeline view is loaded at once, so `runs.watch` shows it."""

import importlib

from .errors import AccountLimitError, DeclarationError, EndpointError, LabError
from .lab import Lab, Names, configure, connect
from .runs import has_widget_frontend

SUBMODULES = (
    "account_limits",
    "artifacts",
    "change_detection",
    "cleanup",
    "exercises",
    "history",
    "pipelines",
    "plots",
    "prerequisites",
    "propagation",
    "roles",
    "runs",
    "source",
    "widgets",
)
__all__ = [
    "connect",
    "configure",
    "Lab",
    "Names",
    "LabError",
    "EndpointError",
    "DeclarationError",
    "AccountLimitError",
    *SUBMODULES,
]


def __getattr__(name: str):
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")


if has_widget_frontend():  # the widgets register their view with runs: they depend on it, never the reverse
    importlib.import_module(".widgets.pipeline_view", __name__)
