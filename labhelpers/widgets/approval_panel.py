"""ApprovalPanel: a pending manual approval (its token, what it asks) with Approve / Reject buttons.

The state is a `runs.Approval`; the buttons and the headless `approve()` / `reject()` both answer
through `runs.answer`. A notebook shows the panel, then goes on with a deterministic default:

    panel = lh.widgets.ApprovalPanel(lab, stage="Approve")
    panel
    panel.approve("Reviewed in the lab")
"""

import html

import ipywidgets as widgets
from botocore.exceptions import ClientError

from labhelpers import runs
from labhelpers.errors import LabError
from labhelpers.lab import Lab
from labhelpers.widgets import link_html

__all__ = ["ApprovalPanel"]

REJECT_SUMMARY = "Rejected in the lab notebook"


def _describe(state: runs.Approval) -> list[tuple[str, str]]:
    """(label, value) pairs: what the reviewer needs to know."""
    where = f"{state.pipeline} / {state.stage} / {state.action}"
    if state.waiting:
        status = "waiting for an answer"
    elif state.status == runs.NOT_RUN:
        status = "has not run yet"
    else:
        status = state.status
    rows = [("approval", where), ("status", status)]
    if state.execution_id:
        rows.append(("execution", state.execution_id))
    if state.token:
        rows.append(("token", state.token))
    if state.custom_data:
        rows.append(("custom data", state.custom_data))
    if state.link:
        rows.append(("review", state.link))
    if state.summary and not state.waiting:
        rows.append(("summary", state.summary))
    if state.answered_by and not state.waiting:
        rows.append(("answered by", state.answered_by))
    return rows


class ApprovalPanel:
    """A manual approval of `pipeline` (the lab's by default) in `stage`, with buttons to answer it.

    Examples
    --------
    >>> panel = ApprovalPanel(lab, stage="Approve")  # doctest: +SKIP
    >>> panel.approve("Looks good").status  # doctest: +SKIP
    'Succeeded'
    """

    def __init__(
        self, lab: Lab, pipeline: str | None = None, stage: str = "Approve", action: str | None = None
    ):
        self.lab, self.pipeline, self.stage, self.action = lab, pipeline, stage, action
        self.info = widgets.HTML()
        self.summary = widgets.Textarea(
            placeholder="Why approve or reject? (the summary)", description="Summary"
        )
        self.approve_button = widgets.Button(description="Approve", button_style="success", icon="check")
        self.reject_button = widgets.Button(description="Reject", button_style="danger", icon="times")
        self.message = widgets.HTML()
        self.approve_button.on_click(lambda _: self._clicked(approve=True))
        self.reject_button.on_click(lambda _: self._clicked(approve=False))
        self.widget = widgets.VBox(
            [self.info, self.summary, widgets.HBox([self.approve_button, self.reject_button]), self.message]
        )
        self.widget.add_class("lab-approval-panel")
        self.answered_here: str | None = None  # the run whose approval this panel answered
        self.state: runs.Approval = runs.approval(lab, pipeline, stage, action)
        self._show()

    def refresh(self) -> runs.Approval:
        """Read the approval again (a new run may be waiting now)."""
        self.state = runs.approval(self.lab, self.pipeline, self.stage, self.action)
        self._show()
        return self.state

    def approve(self, summary: str = runs.APPROVAL_SUMMARY, *, timeout: float = 120.0) -> runs.Approval:
        """Approve, waiting up to `timeout` s for the approval to be pending; the approval's new state."""
        return self._answer(True, summary, timeout)

    def reject(self, summary: str = REJECT_SUMMARY, *, timeout: float = 120.0) -> runs.Approval:
        """Reject, waiting up to `timeout` s for the approval to be pending; the approval's new state."""
        return self._answer(False, summary, timeout)

    def _answer(self, approve: bool, summary: str, timeout: float) -> runs.Approval:
        current = self.refresh()
        answered_here = self.answered_here is not None and current.execution_id == self.answered_here
        if answered_here and not current.waiting and self.answered_here == self._newest_run():
            # Answered with this panel's buttons: the notebook's own answer has nothing left to do.
            print(
                f"The approval of run {current.execution_id} was already answered in the panel: "
                f"{current.status}, {current.summary!r}."
            )
            return current
        self.state = runs.answer(
            self.lab,
            self.pipeline,
            self.stage,
            self.state.action,
            approve=approve,
            summary=summary,
            timeout=timeout,
        )
        self.answered_here = self.state.execution_id
        verb = "Approved" if approve else "Rejected"
        self.message.value = f"<b>{verb}</b>: {html.escape(summary)}"
        self._show()
        return self.state

    def _newest_run(self) -> str | None:
        """The pipeline's newest execution: a run started after the one answered here is answered anew."""
        newest = self.lab.client("codepipeline").list_pipeline_executions(
            pipelineName=self.pipeline or self.lab.names.pipeline, maxResults=1
        )["pipelineExecutionSummaries"]
        return newest[0]["pipelineExecutionId"] if newest else None

    def _clicked(self, *, approve: bool) -> None:
        default = runs.APPROVAL_SUMMARY if approve else REJECT_SUMMARY
        try:
            self._answer(approve, self.summary.value.strip() or default, timeout=0)
        except (LabError, ClientError) as error:
            self.message.value = f'<span style="color:#c62828">{html.escape(str(error))}</span>'

    def _show(self) -> None:
        self.info.value = self._repr_html_()
        self.approve_button.disabled = self.reject_button.disabled = not self.state.waiting

    def __repr__(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in _describe(self.state))

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left;padding-right:8px'>{html.escape(label)}</th>"
            f"<td>{link_html(value, value) if label == 'review' else html.escape(value)}</td></tr>"
            for label, value in _describe(self.state)
        )
        return f"<table>{rows}</table>"

    def _repr_mimebundle_(self, **kwargs) -> dict:
        """The live panel where a frontend renders widgets; the text and HTML forms everywhere else."""
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle.update({"text/plain": repr(self), "text/html": self._repr_html_()})
        return bundle
