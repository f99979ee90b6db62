"""Start, wait for and watch a pipeline execution; answer its manual approvals.

execution_id = lh.runs.start(lab)
lh.runs.watch(lab)                  # a live view in Jupyter, the article's status lines elsewhere
lh.runs.wait(lab, execution_id)     # the execution when it ends

The state is plain data (`Snapshot`, `Approval`) read through boto3; widgets only show it.
"""

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from . import account_limits, source
from .errors import LabError
from .lab import Lab, pipeline_not_found
from .local import config

__all__ = [
    "Approval",
    "ActionSnapshot",
    "Snapshot",
    "StageSnapshot",
    "answer",
    "approval",
    "deployed_pages",
    "has_widget_frontend",
    "show_live_views_with",
    "snapshot",
    "start",
    "wait",
    "watch",
]
# What `watch` shows in Jupyter: a view class that widgets register here, so the widgets depend on this
# module and never the reverse. Until one is registered, `watch` prints the article's status lines.
_live_views: list[Callable] = []


def show_live_views_with(view_class: Callable) -> None:
    """Make `watch` show a `view_class()` in Jupyter (labhelpers registers widgets.PipelineView)."""
    _live_views[:] = [view_class]


ENDED = ("Succeeded", "Failed", "Stopped", "Superseded", "Cancelled")
NOT_RUN = "None"
DEFAULT_TIMEOUT = 900.0
LOG_LINES = 12  # the newest lines of a running build's log that a snapshot carries
APPROVAL_SUMMARY = "Approved in the lab notebook"


class _Backoff:
    """Poll intervals that start short and grow, back to short when something changed."""

    def __init__(self, lab: Lab, most: float = 5.0):
        self.first = 0.2 if lab.is_local else 2.0
        self.most = most
        self.interval = self.first

    def reset(self):
        self.interval = self.first

    def sleep(self, deadline: float):
        time.sleep(max(0.0, min(self.interval, deadline - time.monotonic())))
        self.interval = min(self.interval * 1.5, self.most)


# -- the state of one execution ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSnapshot:
    """One action of the execution as it stands: status, timing, artifacts, links."""

    stage: str
    name: str
    provider: str
    status: str = NOT_RUN
    started: datetime | None = None
    duration: timedelta | None = None
    summary: str | None = None
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    external_id: str | None = None
    log_url: str | None = None
    page_urls: tuple[str, ...] = ()
    error: str | None = None
    token: str | None = None
    log_lines: tuple[str, ...] = ()  # the newest lines of the build's log, while a CodeBuild action runs

    @property
    def link_label(self) -> str:
        """What `log_url` (the action's externalExecutionUrl) leads to, locally and in the console."""
        labels = {
            "CodeBuild": "build log",
            "CodeDeploy": "deployment events",
            "CodeCommit": "commit",
            "Manual": "review",
        }
        return labels.get(self.provider, "details")


@dataclass(frozen=True)
class StageSnapshot:
    """One stage of the execution: its status in this execution and its actions."""

    name: str
    status: str
    actions: tuple[ActionSnapshot, ...]

    @property
    def duration(self) -> timedelta | None:
        spans = [a for a in self.actions if a.started and a.duration is not None]
        if not spans:
            return None
        return max(a.started + a.duration for a in spans) - min(a.started for a in spans)


@dataclass(frozen=True)
class Snapshot:
    """An execution of a pipeline as `get_pipeline_state` and `list_action_executions` show it."""

    pipeline: str
    execution_id: str
    status: str
    stages: tuple[StageSnapshot, ...]
    status_summary: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    taken: datetime = field(default_factory=lambda: datetime.now(UTC))
    seen: tuple[str, ...] = ()  # from `watch`: each status line it saw, in order

    @property
    def finished(self) -> bool:
        return self.status in ENDED

    @property
    def duration(self) -> timedelta | None:
        """From the first action's start to the last one's end (or to now, while it runs)."""
        return (self.ended or self.taken) - self.started if self.started else None

    @property
    def actions(self) -> list[ActionSnapshot]:
        return [action for stage in self.stages for action in stage.actions]

    @property
    def page_urls(self) -> list[str]:
        return [url for action in self.actions for url in action.page_urls]

    def line(self) -> str:
        """The article's status line: `Source:Succeeded   Build:InProgress  Deploy:None`."""
        cells = [f"{stage.name}:{stage.status}" for stage in self.stages]
        widths = [len(f"{stage.name}:InProgress") for stage in self.stages]
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()

    def progress(self) -> tuple:
        """What changes when the execution moves on (durations aside)."""
        return (self.status, tuple((a.stage, a.name, a.status, a.token, a.page_urls) for a in self.actions))

    def __str__(self) -> str:
        return self.line()


def _utc(value) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def _artifact_names(listed) -> tuple[str, ...]:
    return tuple(artifact["name"] for artifact in listed or [])


@dataclass
class _BuildLog:
    """Where a build's log is (no group: it has none) and how far it has been read."""

    group: str | None
    stream: str | None
    token: str | None = None  # GetLogEvents' nextForwardToken
    lines: deque = field(default_factory=lambda: deque(maxlen=LOG_LINES))


class _Reader:
    """Reads one pipeline's executions; keeps its declaration, the pages of finished deployments and how
    far the logs of running builds have been read."""

    def __init__(self, lab: Lab, pipeline: str | None):
        self.lab = lab
        self.name = pipeline or lab.names.pipeline
        self.codepipeline = lab.client("codepipeline")
        self.declaration = _declaration(lab, self.name)
        self.pages: dict[str, tuple[str, ...]] = {}
        self.logs: dict[str, _BuildLog] = {}

    def latest(self, deadline: float) -> str:
        """The newest execution's id; waits for the first one of a pipeline just created."""
        backoff = _Backoff(self.lab)
        while True:
            found = self.codepipeline.list_pipeline_executions(pipelineName=self.name, maxResults=1)
            if found["pipelineExecutionSummaries"]:
                return found["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
            if time.monotonic() >= deadline:
                raise LabError(
                    f"the pipeline {self.name} has no execution yet: start one with runs.start(lab), "
                    "or push a commit to its source branch"
                )
            backoff.sleep(deadline)

    def execution(self, execution_id: str) -> dict:
        return self.codepipeline.get_pipeline_execution(
            pipelineName=self.name, pipelineExecutionId=execution_id
        )["pipelineExecution"]

    def snapshot(self, execution_id: str) -> Snapshot:
        execution = self.execution(execution_id)
        state = self.codepipeline.get_pipeline_state(name=self.name)
        details = {}
        pages = self.codepipeline.get_paginator("list_action_executions").paginate(
            pipelineName=self.name, filter={"pipelineExecutionId": execution_id}
        )
        for page in pages:
            for detail in page["actionExecutionDetails"]:
                key = (detail["stageName"], detail["actionName"])
                if key not in details or _utc(detail["startTime"]) > _utc(details[key]["startTime"]):
                    details[key] = detail
        states = {stage["stageName"]: stage for stage in state["stageStates"]}
        taken = datetime.now(UTC)
        stages = tuple(
            self._stage(stage, states.get(stage["name"], {}), details, execution_id, taken)
            for stage in self.declaration["stages"]
        )
        ran = [a for s in stages for a in s.actions if a.started and a.duration is not None]
        ended = max((a.started + a.duration for a in ran), default=None)
        return Snapshot(
            pipeline=self.name,
            execution_id=execution_id,
            status=execution["status"],
            stages=stages,
            status_summary=execution.get("statusSummary"),
            started=min((a.started for a in ran), default=None),
            ended=ended if execution["status"] in ENDED else None,
            taken=taken,
        )

    def _stage(self, declared: dict, state: dict, details: dict, execution_id: str, taken) -> StageSnapshot:
        ours = state.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
        action_states = {a["actionName"]: a.get("latestExecution", {}) for a in state.get("actionStates", [])}
        actions = tuple(
            self._action(declared["name"], action, details.get((declared["name"], action["name"])), taken)
            for action in declared["actions"]
        )
        if ours:
            status = state["latestExecution"]["status"]
            actions = tuple(_with_token(a, action_states.get(a.name, {})) for a in actions)
        else:
            status = _overall([a.status for a in actions])
        return StageSnapshot(declared["name"], status, actions)

    def _action(self, stage: str, declared: dict, detail: dict | None, taken: datetime) -> ActionSnapshot:
        type_id = declared["actionTypeId"]
        base = ActionSnapshot(
            stage=stage,
            name=declared["name"],
            provider=type_id["provider"],
            inputs=_artifact_names(declared.get("inputArtifacts")),
            outputs=_artifact_names(declared.get("outputArtifacts")),
        )
        if detail is None:
            return base
        result = detail.get("output", {}).get("executionResult", {})
        started, status = _utc(detail.get("startTime")), detail["status"]
        ended = _utc(detail.get("lastUpdateTime")) if status != "InProgress" else taken
        external_id = result.get("externalExecutionId")
        pages = ()
        if type_id["provider"] == "CodeDeploy" and status == "Succeeded" and external_id:
            if external_id not in self.pages:
                self.pages[external_id] = tuple(deployed_pages(self.lab, external_id))
            pages = self.pages[external_id]
        building = type_id["provider"] == "CodeBuild" and status == "InProgress" and external_id
        return replace(
            base,
            status=status,
            started=started,
            duration=ended - started if started and ended else None,
            summary=result.get("externalExecutionSummary"),
            external_id=external_id,
            log_url=self._with_page_token(result.get("externalExecutionUrl")),
            page_urls=pages,
            error=(result.get("errorDetails") or {}).get("message"),
            log_lines=self._newest_log_lines(external_id) if building else (),
        )

    def _with_page_token(self, url: str | None) -> str | None:
        """The local endpoint's pages of builds, deployments and commits need its page token, new at each
        start and readable in its state folder only: added here, to show the link. Other links stay."""
        lab = self.lab
        if not (url and lab.is_local and lab.home and url.startswith(f"{lab.endpoint_url}/_lab/")):
            return url
        try:
            token = config.Layout(Path(lab.home)).page_token.read_text()
        except FileNotFoundError:
            return url
        return f"{url}?{urlencode({'token': token})}"

    def _newest_log_lines(self, build_id: str) -> tuple[str, ...]:
        """The build's newest log lines: one GetLogEvents call a poll, from where the last one ended (its
        group and stream from one BatchGetBuilds call)."""
        log = self.logs.get(build_id)
        if log is None:
            found = self.lab.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
            place = found[0].get("logs", {}) if found else {}
            if place.get("groupName") and place.get("streamName"):
                log = self.logs[build_id] = _BuildLog(place["groupName"], place["streamName"])
            elif place.get("cloudWatchLogs", {}).get("status") == "DISABLED":
                log = self.logs[build_id] = _BuildLog(None, None)
            else:
                return ()  # on AWS, the build gets its stream once it is provisioned
        if log.group is None:
            return ()
        logs = self.lab.client("logs")
        where = {"nextToken": log.token, "startFromHead": True} if log.token else {"startFromHead": False}
        try:
            page = logs.get_log_events(logGroupName=log.group, logStreamName=log.stream, **where)
        except logs.exceptions.ResourceNotFoundException:
            return ()  # the build has not opened its stream yet
        log.lines.extend(line for event in page["events"] for line in event["message"].splitlines())
        log.token = page["nextForwardToken"]
        return tuple(log.lines)


def _with_token(action: ActionSnapshot, latest: dict) -> ActionSnapshot:
    if action.status != "InProgress" or not latest.get("token"):
        return action
    return replace(action, token=latest["token"])


def _overall(statuses: list[str]) -> str:
    """A stage's status from its actions' statuses in this execution."""
    for status in ("InProgress", "Failed", "Stopped", "Abandoned"):
        if status in statuses:
            return status
    return "Succeeded" if statuses and all(s == "Succeeded" for s in statuses) else NOT_RUN


def _declaration(lab: Lab, name: str) -> dict:
    """The pipeline's declaration; a pipeline that does not exist is a LabError naming those that do."""
    codepipeline = lab.client("codepipeline")
    try:
        return codepipeline.get_pipeline(name=name)["pipeline"]
    except codepipeline.exceptions.PipelineNotFoundException:
        raise pipeline_not_found(lab, name) from None


def deployed_pages(lab: Lab, deployment_id: str) -> list[str]:
    """The web pages of the instances a CodeDeploy deployment deployed to.

    Local: the endpoint serves each instance's web root at `/_lab/instances/<id>/`. AWS: the instance's
    public DNS name (or address), port 80.

    Examples
    --------
    >>> deployed_pages(lab, "d-OJRPBJOOK")  # doctest: +SKIP
    ['http://127.0.0.1:34879/_lab/instances/i-5ab12c9a734838c58/']
    """
    pages = (
        lab.client("codedeploy")
        .get_paginator("list_deployment_instances")
        .paginate(deploymentId=deployment_id)
    )
    instance_ids = [instance for page in pages for instance in page["instancesList"]]
    if not instance_ids:
        return []
    if lab.is_local:
        return [f"{lab.endpoint_url}/_lab/instances/{instance}/" for instance in instance_ids]
    reservations = lab.client("ec2").describe_instances(InstanceIds=instance_ids)["Reservations"]
    hosts = [i.get("PublicDnsName") or i.get("PublicIpAddress") for r in reservations for i in r["Instances"]]
    return [f"http://{host}/" for host in hosts if host]


def snapshot(lab: Lab, pipeline: str | None = None, execution_id: str | None = None) -> Snapshot:
    """The execution as it stands now (the latest one by default).

    Examples
    --------
    >>> print(snapshot(lab).line())  # doctest: +SKIP
    Source:Succeeded   Build:Succeeded   Deploy:Succeeded
    """
    reader = _Reader(lab, pipeline)
    return reader.snapshot(execution_id or reader.latest(time.monotonic()))


# -- start, wait, watch ------------------------------------------------------------------------------------


def start(lab: Lab, pipeline: str | None = None) -> str:
    """Start an execution of the pipeline (the lab's by default); return its id.

    Examples
    --------
    >>> execution_id = start(lab)  # doctest: +SKIP
    """
    reader = _Reader(lab, pipeline)
    return reader.codepipeline.start_pipeline_execution(name=reader.name)["pipelineExecutionId"]


def wait(
    lab: Lab, execution_id: str, pipeline: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> dict:
    """Poll the execution until it ends; return it as `get_pipeline_execution` does (`status` and all).

    Raises LabError after `timeout` seconds, saying where the execution stands and where to look, and
    AccountLimitError when the run failed because the account's CodeBuild quota let no build start, and a
    LabError with the console's steps when its connection source's connection awaits its handshake.

    Examples
    --------
    >>> wait(lab, start(lab))["status"]  # doctest: +SKIP
    'Succeeded'
    """
    reader = _Reader(lab, pipeline)
    deadline, backoff = time.monotonic() + timeout, _Backoff(lab)
    while True:
        execution = reader.execution(execution_id)
        if execution["status"] == "Failed":
            _explain_failure(reader, reader.snapshot(execution_id))
        if execution["status"] in ENDED:
            return execution
        if time.monotonic() >= deadline:
            raise LabError(_still_running(reader.snapshot(execution_id), timeout))
        backoff.sleep(deadline)


def _explain_failure(reader: _Reader, snap: Snapshot) -> None:
    """The lab's words for a run that failed for a reason of the account: AccountLimitError when CodeBuild's
    quota refused a build; LabError with the console's steps when a connection source's connection has not
    been through its handshake (PENDING) or needs it again."""
    for action in snap.actions:
        if action.status != "Failed":
            continue
        if account_limits.is_build_refusal(action.error):
            raise account_limits.build_quota_error(
                reader.lab.region,
                action.error,
                needed=account_limits.parallel_builds(reader.declaration),
                what=f"the build of {action.stage}/{action.name}",
            )
        if action.provider == "CodeStarSourceConnection":
            _explain_connection(reader, action)


def _explain_connection(reader: _Reader, action: ActionSnapshot) -> None:
    """Raise LabError with the console's steps if the failed source action's connection is not AVAILABLE."""
    configuration = _configuration(reader.declaration, action.stage, action.name)
    connections = reader.lab.client("codeconnections")
    try:
        connection = connections.get_connection(ConnectionArn=configuration["ConnectionArn"])["Connection"]
    except connections.exceptions.ResourceNotFoundException:  # the action's own error says so
        return
    if connection["ConnectionStatus"] != "AVAILABLE":
        raise LabError(
            f"{action.stage}/{action.name} of {reader.name} failed ({action.error}): "
            + source.handshake(
                reader.lab,
                connection,
                repository=configuration.get("FullRepositoryId"),
                then=f"start the run again: runs.start(lab, {reader.name!r})",
            )
        )


def _configuration(declaration: dict, stage: str, action: str) -> dict:
    """The configuration of `stage`/`action` in the pipeline's declaration."""
    actions = next(s["actions"] for s in declaration["stages"] if s["name"] == stage)
    return next(a for a in actions if a["name"] == action).get("configuration", {})


def _still_running(snap: Snapshot, timeout: float) -> str:
    """What a timed-out wait was waiting for, and what to look at."""
    busy = [a for a in snap.actions if a.status == "InProgress"]
    if any(a.token for a in busy):
        action = next(a for a in busy if a.token)
        hint = (
            f"a manual approval waits in {action.stage}/{action.name}: answer it with "
            f"widgets.ApprovalPanel(lab, {snap.pipeline!r}, {action.stage!r}, {action.name!r}).approve()"
        )
    elif busy:
        action = busy[0]
        where = f" (its log: {action.log_url})" if action.log_url else ""
        hint = f"look at {action.stage}/{action.name}, still InProgress{where}, or wait longer with timeout="
    else:
        hint = "look at the execution with runs.watch(lab) or the console, or wait longer with timeout="
    return (
        f"the execution {snap.execution_id} of {snap.pipeline} did not end within {timeout:g} s "
        f"(waiting for Succeeded, Failed, Stopped or Superseded); it is {snap.status}: {snap.line()}. {hint}"
    )


def has_widget_frontend() -> bool:
    """True inside a Jupyter kernel, where ipywidgets can reach a frontend; False in a terminal.

    Examples
    --------
    >>> has_widget_frontend()
    False
    """
    ipython = sys.modules.get("IPython")  # a kernel has imported it; importing it here would cost ~0.2 s
    shell = ipython.get_ipython() if ipython else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def watch(
    lab: Lab,
    pipeline: str | None = None,
    execution_id: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    view=None,
) -> Snapshot:
    """Follow an execution (the latest by default) until it ends; return its last snapshot, whose `seen`
    holds the status lines the watch saw, in order.

    In Jupyter a `widgets.PipelineView` shows the stages and actions live: statuses in colour, durations,
    the artifacts between stages, the build log and the deployed page. Elsewhere, the article's status
    line is printed each time it changes. Pass `view=` to update a view of your own instead. A run that
    failed because the account's CodeBuild quota let no build start raises AccountLimitError once shown;
    one whose connection source awaits its handshake, a LabError with the console's steps.

    Examples
    --------
    >>> watch(lab)  # doctest: +SKIP
    Source:InProgress  Build:None        Deploy:None
    Source:Succeeded   Build:InProgress  Deploy:None
    ...
    """
    reader = _Reader(lab, pipeline)
    deadline = time.monotonic() + timeout
    execution_id = execution_id or reader.latest(deadline)
    handle = None
    if view is None and _live_views and has_widget_frontend():
        view, handle = _displayed_view(_live_views[0])
    backoff, shown, printed, seen = _Backoff(lab), None, None, []
    while True:
        snap = reader.snapshot(execution_id)
        if not seen or seen[-1] != snap.line():
            seen.append(snap.line())
        snap = replace(snap, seen=tuple(seen))
        if view is not None:
            view.update(snap)
            if handle is not None and snap.finished:
                handle.update(view)  # the saved text/HTML fallback shows the end, not the start
        elif snap.line() != printed:
            printed = snap.line()
            print(printed)
        if snap.progress() != shown:
            shown = snap.progress()
            backoff.reset()
        if snap.finished:
            if view is None:
                print(_ending(snap))
            _explain_failure(reader, snap)
            return snap
        if time.monotonic() >= deadline:
            raise LabError(_still_running(snap, timeout))
        backoff.sleep(deadline)


def _displayed_view(view_class: Callable):
    from IPython.display import display

    view = view_class()
    return view, display(view, display_id=True)


def _ending(snap: Snapshot) -> str:
    lines = [f"Execution {snap.execution_id} {snap.status} in {snap.duration.total_seconds():.1f} s"]
    if snap.status_summary:
        lines.append(f"  {snap.status_summary}")
    lines += [f"  {a.stage}/{a.name} {a.link_label}: {a.log_url}" for a in snap.actions if a.log_url]
    lines += [f"  deployed page: {url}" for url in snap.page_urls]
    return "\n".join(lines)


# -- manual approvals ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """A manual approval action: whether it waits for an answer (its token) and what it asks."""

    pipeline: str
    stage: str
    action: str
    status: str = NOT_RUN
    execution_id: str | None = None
    token: str | None = None
    custom_data: str | None = None
    link: str | None = None
    summary: str | None = None
    answered_by: str | None = None

    @property
    def waiting(self) -> bool:
        return self.status == "InProgress" and bool(self.token)


def _approval_action(declaration: dict, stage: str, action: str | None) -> dict:
    stages = {s["name"]: s for s in declaration["stages"]}
    if stage not in stages:
        raise LabError(
            f"the pipeline {declaration['name']} has no stage {stage!r}; its stages: {', '.join(stages)}"
        )
    manual = [a for a in stages[stage]["actions"] if a["actionTypeId"]["provider"] == "Manual"]
    chosen = [a for a in manual if action in (None, a["name"])]
    if not chosen:
        raise LabError(
            f"the stage {stage} of {declaration['name']} has no manual approval action"
            f"{f' named {action!r}' if action else ''}: add one (category Approval, provider Manual) or "
            f"pass the name of one of {[a['name'] for a in manual] or 'its approval actions'}"
        )
    return chosen[0]


def _read_approval(reader: _Reader, declared: dict, stage: str) -> Approval:
    states = reader.codepipeline.get_pipeline_state(name=reader.name)["stageStates"]
    stage_state = next((s for s in states if s["stageName"] == stage), {})
    actions = stage_state.get("actionStates", [])
    latest = next((a.get("latestExecution", {}) for a in actions if a["actionName"] == declared["name"]), {})
    configuration = declared.get("configuration", {})
    return Approval(
        pipeline=reader.name,
        stage=stage,
        action=declared["name"],
        status=latest.get("status", NOT_RUN),
        execution_id=stage_state.get("latestExecution", {}).get("pipelineExecutionId"),
        token=latest.get("token"),
        custom_data=configuration.get("CustomData"),
        link=configuration.get("ExternalEntityLink"),
        summary=latest.get("summary"),
        answered_by=latest.get("lastUpdatedBy"),
    )


def approval(
    lab: Lab, pipeline: str | None = None, stage: str = "Approve", action: str | None = None
) -> Approval:
    """The approval action as it stands: waiting (with its token) or not, and what it asks the reviewer.

    `action` defaults to the stage's only manual approval action.

    Examples
    --------
    >>> approval(lab, stage="Approve").waiting  # doctest: +SKIP
    True
    """
    reader = _Reader(lab, pipeline)
    return _read_approval(reader, _approval_action(reader.declaration, stage, action), stage)


def answer(
    lab: Lab,
    pipeline: str | None = None,
    stage: str = "Approve",
    action: str | None = None,
    *,
    approve: bool,
    summary: str = APPROVAL_SUMMARY,
    timeout: float = 120.0,
) -> Approval:
    """Approve or reject the approval; waits up to `timeout` s for it to be waiting first. Returns its state.

    Examples
    --------
    >>> answer(lab, stage="Approve", approve=True, summary="Looks good").status  # doctest: +SKIP
    'Succeeded'
    """
    reader = _Reader(lab, pipeline)
    declared = _approval_action(reader.declaration, stage, action)
    deadline, backoff = time.monotonic() + timeout, _Backoff(lab)
    current = _read_approval(reader, declared, stage)
    while not current.waiting:
        if time.monotonic() >= deadline:
            raise LabError(
                f"no approval waits in {current.stage}/{current.action} of {current.pipeline} "
                f"(its last status: {current.status}): start a run with runs.start(lab) and answer once the "
                "stage is InProgress"
            )
        backoff.sleep(deadline)
        current = _read_approval(reader, declared, stage)
    reader.codepipeline.put_approval_result(
        pipelineName=current.pipeline,
        stageName=current.stage,
        actionName=current.action,
        result={"summary": summary, "status": "Approved" if approve else "Rejected"},
        token=current.token,
    )
    # The answer shows in the state within seconds; a click with timeout=0 still waits that long.
    settled, answered = max(deadline, time.monotonic() + 15), _read_approval(reader, declared, stage)
    backoff.reset()
    while answered.waiting and answered.token == current.token and time.monotonic() < settled:
        backoff.sleep(settled)
        answered = _read_approval(reader, declared, stage)
    return answered
