"""HistoryExplorer: pick an execution of a pipeline, see its timeline, its actions and its artifacts.

The state is a plain `HistoryState` (DataFrames read from `history` and `artifacts`); the widget is a
thin view built once and updated from it. Without a widget frontend it shows as text or HTML.

    lh.widgets.HistoryExplorer(lab)
"""

import base64
import html
import io
from dataclasses import dataclass, field

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from labhelpers import history, plots
from labhelpers.artifacts import ARTIFACT_COLUMNS, of_execution
from labhelpers.lab import Lab

__all__ = ["HistoryExplorer", "HistoryState"]

ACTION_VIEW = ["stage", "action", "provider", "status", "start", "duration", "summary", "error_message"]
ARTIFACT_VIEW = ["artifact", "stage", "action", "bucket", "key", "size"]


def _empty(schema: dict) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in schema.items()})


@dataclass(eq=False)  # DataFrames have no single truth value to compare
class HistoryState:
    """What the explorer shows: the executions, the one selected, its action/stage runs and artifacts."""

    lab: Lab
    pipeline: str | None = None
    executions: pd.DataFrame = field(default_factory=lambda: _empty(history.EXECUTION_COLUMNS))
    selected: str | None = None
    action_runs: pd.DataFrame = field(default_factory=lambda: _empty(history.ACTION_RUN_COLUMNS))
    stage_runs: pd.DataFrame = field(default_factory=lambda: _empty(history.STAGE_RUN_COLUMNS))
    artifacts: pd.DataFrame = field(default_factory=lambda: _empty(ARTIFACT_COLUMNS))

    @property
    def pipeline_name(self) -> str:
        return self.pipeline or self.lab.names.pipeline

    def refresh(self) -> None:
        """Read the executions again; keep the selection if it still exists, else select the newest."""
        self.executions = history.executions(self.lab, self.pipeline)
        known = self.executions["execution_id"].tolist()
        self.select(self.selected if self.selected in known else (known[-1] if known else None))

    def select(self, execution_id: str | None) -> None:
        """Read the runs and artifacts of `execution_id` (None: nothing selected)."""
        self.selected = execution_id
        if execution_id is None:
            self.action_runs = _empty(history.ACTION_RUN_COLUMNS)
            self.stage_runs = _empty(history.STAGE_RUN_COLUMNS)
            self.artifacts = _empty(ARTIFACT_COLUMNS)
            return
        self.action_runs = history.action_runs(self.lab, self.pipeline, execution_id)
        self.stage_runs = history.stage_runs_frame(self.action_runs)
        self.artifacts = of_execution(self.lab, execution_id, self.pipeline)

    def options(self) -> list[tuple[str, str]]:
        """(label, execution id) for each execution, newest first."""
        rows = self.executions.iloc[::-1]
        return [(_option_label(row), row.execution_id) for row in rows.itertuples(index=False)]

    def headline(self) -> str:
        count = len(self.executions)
        text = f"{self.pipeline_name}: {count} execution{'s' if count != 1 else ''}"
        if self.selected is None:
            return text + "; none selected"
        row = self.executions.set_index("execution_id").loc[self.selected]
        took = (
            "still running" if pd.isna(row["duration"]) else f"took {row['duration'].total_seconds():.1f} s"
        )
        return (
            f"{text}; showing {self.selected[:8]}: {row['status']}, {took}, "
            f"{len(self.action_runs)} action run(s), {len(self.artifacts)} artifact(s)"
        )


def _option_label(row) -> str:
    message = f" · {row.source_message[:40]}" if isinstance(row.source_message, str) else ""
    return f"{row.start:%Y-%m-%d %H:%M:%S} · {row.status} · {row.execution_id[:8]}{message}"


def _readable(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`columns` of `frame` with times as HH:MM:SS (UTC) and durations in seconds, for tables."""
    shown = history.in_seconds(frame[columns])
    for name in shown:
        if isinstance(shown[name].dtype, pd.DatetimeTZDtype):
            shown[name] = shown[name].dt.strftime("%H:%M:%S")
    return shown


def _table_html(frame: pd.DataFrame, columns: list[str], nothing: str) -> str:
    if frame.empty:
        return f"<p><i>{html.escape(nothing)}</i></p>"
    return _readable(frame, columns).to_html(index=False, na_rep="", border=0)


def _timeline_output(runs: pd.DataFrame) -> dict:
    """A timeline chart of `runs` as a PNG display output (drawn without pyplot, so nothing leaks)."""
    figure = Figure(figsize=(8, 1.5 + 0.35 * max(len(runs), 1)))
    plots.timeline(runs, ax=figure.subplots())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(buffer.getvalue()).decode(),
            "text/plain": f"<timeline of {len(runs)} action run(s)>",
        },
        "metadata": {},
    }


class HistoryExplorer:
    """Pick an execution (newest first) and see its timeline, its actions and its artifacts.

    Parameters
    ----------
    lab : Lab
    pipeline : str, optional
        The pipeline's name; the lab's pipeline by default.

    Attributes
    ----------
    state : HistoryState
        The data shown; `picker`, `timeline`, `actions`, `artifacts` and `widget` are its views.

    Examples
    --------
    >>> explorer = HistoryExplorer(lab)  # doctest: +SKIP
    >>> explorer  # the widget in JupyterLab, a text summary elsewhere  # doctest: +SKIP
    >>> explorer.refresh()  # after another run  # doctest: +SKIP
    """

    def __init__(self, lab: Lab, pipeline: str | None = None):
        self.state = HistoryState(lab, pipeline)
        self.picker = widgets.Dropdown(description="Execution", layout=widgets.Layout(width="70%"))
        self.refresh_button = widgets.Button(description="Refresh", tooltip="Read the history again")
        self.headline = widgets.HTML()
        self.timeline = widgets.Output()
        self.actions = widgets.HTML()
        self.artifacts = widgets.HTML()
        self.tabs = widgets.Tab(
            children=[self.timeline, self.actions, self.artifacts],
            titles=("Timeline", "Actions", "Artifacts"),
        )
        self.widget = widgets.VBox(
            [widgets.HBox([self.picker, self.refresh_button]), self.headline, self.tabs]
        )
        self._updating = False
        self.picker.observe(self._picked, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        """Read the history again and update every view."""
        self.state.refresh()
        self._updating = True
        try:
            self.picker.options = self.state.options()
            self.picker.value = self.state.selected
        finally:
            self._updating = False
        self._show_selected()

    def _picked(self, change) -> None:
        if not self._updating and change["new"] != self.state.selected:
            self.state.select(change["new"])
            self._show_selected()

    def _show_selected(self) -> None:
        state = self.state
        self.headline.value = f"<b>{html.escape(state.headline())}</b>"
        self.timeline.outputs = (_timeline_output(state.action_runs),)
        self.actions.value = _table_html(state.action_runs, ACTION_VIEW, "No action has run yet.")
        self.artifacts.value = _table_html(
            state.artifacts, ARTIFACT_VIEW, "This execution produced no artifact."
        )

    def __repr__(self) -> str:
        lines = [f"HistoryExplorer — {self.state.headline()}"]
        if not self.state.action_runs.empty:
            lines.append(_readable(self.state.action_runs, ACTION_VIEW[:6]).to_string(index=False))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        state = self.state
        return (
            f"<h4>HistoryExplorer — {html.escape(state.headline())}</h4>"
            + _table_html(state.action_runs, ACTION_VIEW, "No action has run yet.")
            + _table_html(state.artifacts, ARTIFACT_VIEW, "This execution produced no artifact.")
        )

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The live widget where a widget frontend runs; the text and HTML above everywhere else."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle.update({"text/plain": repr(self), "text/html": self._repr_html_()})
        return bundle
