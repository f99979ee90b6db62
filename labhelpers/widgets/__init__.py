"""ipywidgets views over the helper library's plain data; each has a text and HTML fallback."""

from .approval_panel import ApprovalPanel
from .artifact_diff_view import ArtifactDiffView, DiffState
from .history_explorer import HistoryExplorer, HistoryState
from .pipeline_view import PipelineView

__all__ = [
    "ApprovalPanel",
    "ArtifactDiffView",
    "DiffState",
    "HistoryExplorer",
    "HistoryState",
    "PipelineView",
]
