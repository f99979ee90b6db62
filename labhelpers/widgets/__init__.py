"""ipywidgets views over the helper library's plain data; each has a text and HTML fallback.

Each view loads on first use, so the live pipeline view does not pay for pandas and matplotlib."""

import importlib

VIEWS = {
    "ApprovalPanel": "approval_panel",
    "ArtifactDiffView": "artifact_diff_view",
    "DiffState": "artifact_diff_view",
    "HistoryExplorer": "history_explorer",
    "HistoryState": "history_explorer",
    "PipelineView": "pipeline_view",
}
__all__ = list(VIEWS)


def __getattr__(name: str):
    if name in VIEWS:
        return getattr(importlib.import_module(f".{VIEWS[name]}", __name__), name)
    raise AttributeError(f"module 'labhelpers.widgets' has no attribute {name!r}")
