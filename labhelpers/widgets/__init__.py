"""ipywidgets views over the helper library's plain data; each has a text and HTML fallback.

Each view loads on first use, so the live pipeline view does not pay for pandas and matplotlib."""

import html
import importlib

VIEWS = {
    "ApprovalPanel": "approval_panel",
    "ArtifactDiffView": "artifact_diff_view",
    "DiffState": "artifact_diff_view",
    "HistoryExplorer": "history_explorer",
    "HistoryState": "history_explorer",
    "PipelineView": "pipeline_view",
}
__all__ = [*VIEWS, "link_html"]
LINK_STYLE = "color:#1565c0;text-decoration:underline;cursor:pointer"


def link_html(url: str, text: str) -> str:
    """A link that looks like one (notebook styles may hide links in widgets) and opens a new tab."""
    return (
        f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer" '
        f'style="{LINK_STYLE}">{html.escape(text)}</a>'
    )


def __getattr__(name: str):
    if name in VIEWS:
        return getattr(importlib.import_module(f".{VIEWS[name]}", __name__), name)
    raise AttributeError(f"module 'labhelpers.widgets' has no attribute {name!r}")
