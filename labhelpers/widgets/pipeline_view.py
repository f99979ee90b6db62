"""PipelineView: one execution's stages and actions, live — statuses in colour, durations, the artifacts
passed between stages, the newest lines of a running build's log, links to the build log, the deployment's
events, the commit, and the deployed page.

The state is a `runs.Snapshot` that `runs.watch` reads; the view is built once and updated from it.
Without a widget frontend it shows as text (the article's status line and one line per action) or HTML.

    view = lh.widgets.PipelineView()
    lh.runs.watch(lab, view=view)
"""

import html

import ipywidgets as widgets

from labhelpers.runs import ActionSnapshot, Snapshot, StageSnapshot, show_live_views_with
from labhelpers.widgets import link_html

__all__ = ["PipelineView", "render_html", "render_text"]

COLOURS = {
    "Succeeded": "#2e7d32",
    "InProgress": "#1565c0",
    "Failed": "#c62828",
    "Stopping": "#ef6c00",
    "Stopped": "#6d4c41",
    "Abandoned": "#757575",
    "Superseded": "#757575",
    "Cancelled": "#757575",
}
NOT_RUN_COLOUR = "#9e9e9e"
LOG_STYLE = (
    "margin:2px 0;padding:2px 4px;background:#f5f5f5;font-size:80%;max-width:40em;white-space:pre-wrap"
)
CSS_CLASS = "lab-pipeline-view"  # on the widget and on its HTML form, for browser tests and styling


def _seconds(span) -> str:
    return f"{span.total_seconds():.1f} s" if span is not None else ""


def _action_text(action: ActionSnapshot) -> str:
    parts = [f"{action.stage}/{action.name}", action.provider, action.status, _seconds(action.duration)]
    if action.inputs:
        parts.append(f"in: {', '.join(action.inputs)}")
    if action.outputs:
        parts.append(f"out: {', '.join(action.outputs)}")
    if action.token:
        parts.append("waiting for approval")
    if action.error:
        parts.append(f"error: {action.error}")
    if action.log_url:
        parts.append(f"{action.link_label}: {action.log_url}")
    parts += [f"page: {url}" for url in action.page_urls]
    return "  ".join(part for part in parts if part)


def render_text(snapshot: Snapshot) -> str:
    """The execution as text: a headline, the article's status line, then one line per action.

    Examples
    --------
    >>> print(render_text(runs.snapshot(lab)))  # doctest: +SKIP
    awscicd-pipeline  execution 6f1c...  Succeeded  (1.2 s)
    Source:Succeeded   Build:Succeeded   Deploy:Succeeded
      Source/Source  CodeCommit  Succeeded  0.1 s  out: SourceOutput
    ...
    """
    headline = f"{snapshot.pipeline}  execution {snapshot.execution_id}  {snapshot.status}"
    if snapshot.duration is not None:
        headline += f"  ({_seconds(snapshot.duration)})"
    lines = [headline, snapshot.line()]
    for action in snapshot.actions:
        lines.append(f"  {_action_text(action)}")
        lines += [f"    | {line}" for line in action.log_lines]
    if snapshot.status_summary:
        lines.append(f"  {snapshot.status_summary}")
    return "\n".join(lines)


def _badge(status: str) -> str:
    colour = COLOURS.get(status, NOT_RUN_COLOUR)
    return (
        f'<span style="background:{colour};color:white;border-radius:3px;padding:0 5px;'
        f'font-size:90%">{html.escape(status)}</span>'
    )


def _action_html(action: ActionSnapshot) -> str:
    rows = [f"<b>{html.escape(action.name)}</b> <small>{html.escape(action.provider)}</small>"]
    rows.append(f"{_badge(action.status)} {_seconds(action.duration)}")
    if action.token:
        rows.append("<i>waiting for approval</i>")
    if action.error:
        rows.append(f'<span style="color:{COLOURS["Failed"]}">{html.escape(action.error)}</span>')
    if action.log_url:
        rows.append(link_html(action.log_url, action.link_label))
    rows += [link_html(url, "deployed page") for url in action.page_urls]
    if action.log_lines:
        log = html.escape("\n".join(action.log_lines))
        rows.append(f'<pre style="{LOG_STYLE}">{log}</pre>')
    return '<div style="margin:4px 0">' + "<br>".join(rows) + "</div>"


def _stage_html(stage: StageSnapshot) -> str:
    """One stage as a card whose border shows its status."""
    colour = COLOURS.get(stage.status, NOT_RUN_COLOUR)
    duration = f" {_seconds(stage.duration)}" if stage.duration is not None else ""
    return (
        f'<div style="border:2px solid {colour};border-radius:6px;padding:6px 10px;min-width:150px">'
        f"<div><b>{html.escape(stage.name)}</b> {_badge(stage.status)}{duration}</div>"
        + "".join(_action_html(action) for action in stage.actions)
        + "</div>"
    )


def _handover_html(stage: StageSnapshot) -> str:
    """The arrow to the next stage, labelled with the artifacts this stage produces."""
    label = "<br>".join(html.escape(name) for action in stage.actions for name in action.outputs)
    return (
        '<div style="text-align:center;color:#555;padding:20px 6px 0">'
        f"<small>{label}</small><br>&#10230;</div>"
    )


def _headline_html(snapshot: Snapshot) -> str:
    duration = f" in {_seconds(snapshot.duration)}" if snapshot.duration is not None else ""
    summary = f"<br><small>{html.escape(snapshot.status_summary)}</small>" if snapshot.status_summary else ""
    return (
        f"<div><b>{html.escape(snapshot.pipeline)}</b> execution "
        f"<code>{html.escape(snapshot.execution_id)}</code> "
        f"{_badge(snapshot.status)}{duration}{summary}</div>"
    )


def _cards(snapshot: Snapshot) -> list[str]:
    """Stage cards left to right, with the artifacts handed over between them."""
    cards = []
    for index, stage in enumerate(snapshot.stages):
        if index:
            cards.append(_handover_html(snapshot.stages[index - 1]))
        cards.append(_stage_html(stage))
    return cards


def render_html(snapshot: Snapshot) -> str:
    """The execution as HTML: headline, then the stages left to right with artifacts between them.

    Examples
    --------
    >>> from IPython.display import HTML  # doctest: +SKIP
    >>> HTML(render_html(runs.snapshot(lab)))  # doctest: +SKIP
    """
    row = '<div style="display:flex;gap:4px;flex-wrap:wrap">' + "".join(_cards(snapshot)) + "</div>"
    return f'<div class="{CSS_CLASS}">{_headline_html(snapshot)}{row}</div>'


class PipelineView:
    """A live view of one execution; `update(snapshot)` redraws it. Display it in a notebook cell.

    Examples
    --------
    >>> view = PipelineView()
    >>> view.snapshot is None
    True
    """

    def __init__(self, snapshot: Snapshot | None = None):
        self.snapshot: Snapshot | None = None
        self.headline = widgets.HTML("<i>no execution yet</i>")
        self.stages = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([self.headline, self.stages])
        self.widget.add_class(CSS_CLASS)
        if snapshot is not None:
            self.update(snapshot)

    def update(self, snapshot: Snapshot) -> None:
        """Show `snapshot`: the stage row gets one HTML card per stage and one per hand-over between them."""
        self.snapshot = snapshot
        self.headline.value = _headline_html(snapshot)
        cards = _cards(snapshot)
        if len(self.stages.children) != len(cards):
            self.stages.children = [widgets.HTML() for _ in cards]
        for card, value in zip(self.stages.children, cards, strict=True):
            card.value = value

    def __repr__(self) -> str:
        return render_text(self.snapshot) if self.snapshot else "PipelineView: no execution yet"

    def _repr_html_(self) -> str:
        return render_html(self.snapshot) if self.snapshot else "<i>no execution yet</i>"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The live widget where a frontend renders widgets; the text and HTML forms everywhere else."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle.update({"text/plain": repr(self), "text/html": self._repr_html_()})
        return bundle


show_live_views_with(PipelineView)
