"""ArtifactDiffView: what differs between two artifacts, and the unified diff of the file you pick.

The state is a plain `DiffState` (an `ArtifactDiff` and the picked path); the widget is a thin view
updated from it. Without a widget frontend it shows as text or HTML.

    lh.widgets.ArtifactDiffView(lab, found.loc["SourceOutput"], found.loc["BuildOutput"])
"""

import html
from dataclasses import dataclass

import ipywidgets as widgets

from labhelpers import artifacts
from labhelpers.lab import Lab

__all__ = ["ArtifactDiffView", "DiffState"]


@dataclass
class DiffState:
    """The diff shown and the file picked in it (the first that differs, by default)."""

    diff: artifacts.ArtifactDiff
    path: str | None = None

    def __post_init__(self):
        if self.path is None:
            frame = self.diff.frame
            differing = frame.loc[frame["change"] != "same", "path"]
            chosen = differing if not differing.empty else frame["path"]
            self.path = chosen.iloc[0] if not chosen.empty else None

    def options(self) -> list[tuple[str, str]]:
        return [(f"{row.path} ({row.change})", row.path) for row in self.diff.frame.itertuples()]

    def text(self) -> str:
        """The picked file's unified diff, or a sentence saying why there is none."""
        if self.path is None:
            return "Both artifacts are empty."
        return self.diff.unified(self.path) or f"{self.path} is the same in both artifacts."


class ArtifactDiffView:
    """The diff table of two artifacts and a file picker that shows the unified diff of one file.

    Parameters
    ----------
    lab : Lab
    a, b : row, dict, str or bytes
        What `artifacts.diff` takes: rows of `artifacts.of_execution`, s3location dicts, s3:// URIs.

    Examples
    --------
    >>> found = lh.artifacts.of_execution(lab, run_id).set_index("artifact")  # doctest: +SKIP
    >>> ArtifactDiffView(lab, found.loc["SourceOutput"], found.loc["BuildOutput"])  # doctest: +SKIP
    """

    def __init__(self, lab: Lab, a, b):
        self.state = DiffState(artifacts.diff(lab, a, b))
        self.table = widgets.HTML(self.state.diff._repr_html_())
        self.picker = widgets.Dropdown(
            description="File", options=self.state.options(), value=self.state.path
        )
        self.text = widgets.HTML()
        self.widget = widgets.VBox([self.table, self.picker, self.text])
        self.picker.observe(self._picked, names="value")
        self._show_text()

    def _picked(self, change) -> None:
        self.state.path = change["new"]
        self._show_text()

    def _show_text(self) -> None:
        self.text.value = f"<pre>{html.escape(self.state.text())}</pre>"

    def __repr__(self) -> str:
        return f"{self.state.diff!r}\n\n{self.state.text()}"

    def _repr_html_(self) -> str:
        return self.state.diff._repr_html_() + f"<pre>{html.escape(self.state.text())}</pre>"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The live widget where a widget frontend runs; the text and HTML above everywhere else."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle.update({"text/plain": repr(self), "text/html": self._repr_html_()})
        return bundle
