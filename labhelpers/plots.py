"""Charts of the execution history: they take the DataFrames of `history` and return matplotlib Axes.

    lh.plots.timeline(lh.history.stage_runs(lab, execution_id=run_id))
    lh.plots.durations(lh.history.stage_runs(lab))
    lh.plots.outcomes(lh.history.executions(lab))

Each takes ``ax=None`` (a new figure then) and never calls ``plt.show()``. Timelines measure time from
each execution's start, in seconds (minutes past two); durations are in seconds.
"""

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

__all__ = ["STATUS_COLOURS", "durations", "outcomes", "timeline"]

STATUS_COLOURS = {
    "Succeeded": "tab:green",
    "Failed": "tab:red",
    "InProgress": "tab:blue",
    "Stopping": "tab:orange",
    "Stopped": "tab:gray",
    "Abandoned": "tab:gray",
    "Superseded": "tab:purple",
    "Cancelled": "tab:brown",
    "Skipped": "lightgray",
}
OTHER_COLOUR = "tab:olive"
EMPTY_MESSAGE = "No runs yet: start the pipeline, then read the history again"
MINUTES_AFTER = 120  # seconds: a longer span is drawn in minutes


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.subplots(figsize=(9, 3.5))[1]


def _empty(ax: Axes, title: str) -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, EMPTY_MESSAGE, transform=ax.transAxes, ha="center", va="center", color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _colour(status) -> str:
    return STATUS_COLOURS.get(status, OTHER_COLOUR)


def _status_legend(ax: Axes, statuses) -> None:
    present = list(dict.fromkeys(statuses))
    ax.legend(
        handles=[Patch(color=_colour(status), label=status) for status in present],
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        frameon=False,
    )


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz="UTC"))
    ax.set_xlabel("start (UTC)")


def _row_labels(frame: pd.DataFrame) -> pd.Series:
    """``Build`` or ``Build · Build``, prefixed with the execution's id when there are several; the
    execution's id alone for an executions frame."""
    if "stage" not in frame:
        return frame["execution_id"].str[:8]
    labels = frame["stage"].astype(str)
    if "action" in frame:
        labels = labels + " · " + frame["action"].astype(str)
    if frame["execution_id"].nunique() > 1:
        labels = frame["execution_id"].str[:8] + " " + labels
    return labels


def _unit(seconds: float) -> tuple[str, float]:
    """Seconds for spans up to two minutes, minutes beyond: (unit, seconds per unit)."""
    return ("min", 60.0) if seconds > MINUTES_AFTER else ("s", 1.0)


def timeline(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """A Gantt chart of stage or action runs: one bar each, coloured by status, placed in time since the
    start of its execution, so a one-second run and a ten-minute run both fill the axis.

    Parameters
    ----------
    frame : DataFrame
        A stage runs or action runs frame of `history`, for one execution or many, or an executions
        frame (one bar per execution). A run still in progress is drawn up to now.
    ax : Axes, optional
        Where to draw; a new figure's Axes by default.

    Examples
    --------
    >>> timeline(history.stage_runs(lab, execution_id=run_id))  # doctest: +SKIP
    <Axes: title={'center': 'Timeline of execution 1f0e2a3b'}, xlabel='time since the execution started (s)'>
    """
    ax = _axes(ax)
    runs = frame.dropna(subset=["start"]).sort_values("start", kind="stable").reset_index(drop=True)
    if runs.empty:
        return _empty(ax, "Timeline")
    executions = runs["execution_id"].unique()
    ends = runs["end"].fillna(pd.Timestamp.now(tz="UTC"))
    origins = runs.groupby("execution_id")["start"].transform("min")
    lefts = (runs["start"] - origins).dt.total_seconds()
    widths = (ends - runs["start"]).dt.total_seconds()
    span = max((lefts + widths).max(), 1e-3)
    unit, size = _unit(span)
    ax.barh(
        range(len(runs)),
        widths / size,
        left=lefts / size,
        height=0.6,
        color=[_colour(status) for status in runs["status"]],
        edgecolor="black",
        linewidth=0.5,
    )
    ax.set_xlim(0, span / size * 1.02)
    ax.set_yticks(range(len(runs)), _row_labels(runs).tolist())
    ax.invert_yaxis()  # the first run on top
    _status_legend(ax, runs["status"])
    if len(executions) == 1:
        ax.set_title(f"Timeline of execution {executions[0][:8]}")
        ax.set_xlabel(f"time since the execution started ({unit})")
    else:
        ax.set_title(f"Timeline of {len(executions)} executions")
        ax.set_xlabel(f"time since each execution started ({unit})")
    return ax


def durations(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """How long each stage (or action, or execution) took, run after run: one line each.

    Parameters
    ----------
    frame : DataFrame
        A stage runs, action runs or executions frame of `history`; runs in progress are left out.
    ax : Axes, optional
        Where to draw; a new figure's Axes by default.

    Examples
    --------
    >>> durations(history.stage_runs(lab))  # doctest: +SKIP
    <Axes: title={'center': 'Durations by stage'}, xlabel='start (UTC)', ylabel='duration (s)'>
    """
    ax = _axes(ax)
    finished = frame.dropna(subset=["start", "duration"]).sort_values("start", kind="stable")
    if "action" in frame:
        kind, groups = "action", finished["stage"].astype(str) + " · " + finished["action"].astype(str)
    elif "stage" in frame:
        kind, groups = "stage", finished["stage"]
    else:
        kind, groups = "execution", pd.Series("execution", index=finished.index)
    title = f"Durations by {kind}"
    if finished.empty:
        return _empty(ax, title)
    for name, runs in finished.groupby(groups, sort=False):
        ax.plot(
            runs["start"].dt.tz_convert("UTC").dt.tz_localize(None),
            runs["duration"].dt.total_seconds(),
            marker="o",
            label=name,
        )
    _time_axis(ax)
    ax.set_ylabel("duration (s)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title)
    return ax


def outcomes(frame: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """How many runs ended in each status: stacked bars per execution when the history spans a day or
    less, per day (UTC) when it spans more.

    Parameters
    ----------
    frame : DataFrame
        An executions frame of `history` (or stage or action runs).
    ax : Axes, optional
        Where to draw; a new figure's Axes by default.

    Examples
    --------
    >>> outcomes(history.executions(lab))  # doctest: +SKIP
    <Axes: title={'center': 'Outcomes per execution'}, xlabel='execution (oldest first)', ylabel='runs'>
    """
    ax = _axes(ax)
    runs = frame.dropna(subset=["start"]).sort_values("start", kind="stable")
    if runs.empty:
        return _empty(ax, "Outcomes")
    if runs["start"].iloc[-1] - runs["start"].iloc[0] > pd.Timedelta(days=1):
        title, xlabel = "Outcomes per day", "day (UTC)"
        keys = runs["start"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")
    else:
        title, xlabel = "Outcomes per execution", "execution (oldest first)"
        keys = runs["execution_id"].str[:8]
    counts = pd.crosstab(keys, runs["status"]).reindex(keys.unique())  # in order of time
    ordered = [s for s in STATUS_COLOURS if s in counts] + [s for s in counts if s not in STATUS_COLOURS]
    positions = range(len(counts))
    bottom = pd.Series(0, index=counts.index)
    for status in ordered:
        ax.bar(positions, counts[status], bottom=bottom, color=_colour(status), label=status, width=0.6)
        bottom = bottom + counts[status]
    ax.set_xticks(positions, counts.index.tolist(), rotation=90 if len(counts) > 8 else 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title)
    return ax
