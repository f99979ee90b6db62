"""Execution history as DataFrames: executions, action runs, stage runs and DORA-style metrics.

Each listing comes twice: a paginator that yields the API's dicts unchanged (``iter_*``) and a function
that returns a DataFrame with a fixed column list and dtypes, the same when empty. Frames are in
chronological order (oldest first), timestamps are UTC, durations are timedeltas.

    runs = lh.history.action_runs(lab)                # every action of every execution, ~N/100 calls
    lh.history.stage_runs_frame(runs)                 # the stages, derived without another call
    lh.history.metrics(lab)                           # deployment frequency, lead time, ...
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError

from .lab import Lab, pipeline_not_found

__all__ = [
    "ACTION_RUN_COLUMNS",
    "EXECUTION_COLUMNS",
    "METRIC_COLUMNS",
    "STAGE_RUN_COLUMNS",
    "CallCounter",
    "action_runs",
    "action_runs_frame",
    "executions",
    "executions_frame",
    "in_seconds",
    "iter_action_executions",
    "iter_executions",
    "metrics",
    "stage_runs",
    "stage_runs_frame",
]

PAGE_SIZE = 100  # the most ListPipelineExecutions and ListActionExecutions return per call
RUNNING = ("InProgress", "Stopping")
TEXT, UTC_TIME, DURATION = "str", "datetime64[ns, UTC]", "timedelta64[ns]"

EXECUTION_COLUMNS = {
    "execution_id": TEXT,
    "status": TEXT,
    "trigger_type": TEXT,
    "trigger_detail": TEXT,
    "source_revision": TEXT,
    "source_message": TEXT,
    "start": UTC_TIME,
    "end": UTC_TIME,
    "duration": DURATION,
    "execution_mode": TEXT,
    "status_summary": TEXT,
}
ACTION_RUN_COLUMNS = {
    "execution_id": TEXT,
    "action_execution_id": TEXT,
    "stage": TEXT,
    "action": TEXT,
    "run_order": "Int64",
    "category": TEXT,
    "provider": TEXT,
    "status": TEXT,
    "start": UTC_TIME,
    "end": UTC_TIME,
    "duration": DURATION,
    "external_execution_id": TEXT,
    "external_execution_url": TEXT,
    "summary": TEXT,
    "error_code": TEXT,
    "error_message": TEXT,
    "input_artifacts": object,  # [{"name", "bucket", "key"}, ...]
    "output_artifacts": object,
    "output_variables": object,  # {name: value}
}
STAGE_RUN_COLUMNS = {
    "execution_id": TEXT,
    "stage": TEXT,
    "status": TEXT,
    "start": UTC_TIME,
    "end": UTC_TIME,
    "duration": DURATION,
}
METRIC_COLUMNS = {"value": object, "text": TEXT, "sample_size": "int64", "explanation": TEXT}

# A stage's status from its actions' latest runs: the highest rank wins.
_STAGE_STATUS_RANK = {"Succeeded": 0, "Abandoned": 1, "Failed": 2, "InProgress": 3}
_STAGE_STATUS = {0: "Succeeded", 1: "Stopped", 2: "Failed", 3: "InProgress"}


class CallCounter:
    """Count the API calls made through a Lab's clients while the ``with`` block runs.

    Parameters
    ----------
    lab : Lab
    services : tuple of str
        The services whose calls count (retries of one call count once).

    Examples
    --------
    >>> with CallCounter(lab) as counter:  # doctest: +SKIP
    ...     runs = action_runs(lab)
    >>> counter.calls, dict(counter.by_operation)  # doctest: +SKIP
    (4, {'GetPipeline': 1, 'ListActionExecutions': 3})
    """

    def __init__(self, lab: Lab, services: tuple[str, ...] = ("codepipeline", "s3")):
        self.lab = lab
        self.services = services
        self.by_operation: Counter[str] = Counter()
        self._hook_id = f"labhelpers-call-counter-{id(self)}"

    @property
    def calls(self) -> int:
        return sum(self.by_operation.values())

    def _count(self, model, **_):
        self.by_operation[model.name] += 1

    def __enter__(self) -> "CallCounter":
        for service in self.services:
            self.lab.client(service).meta.events.register("before-call", self._count, unique_id=self._hook_id)
        return self

    def __exit__(self, *_):
        for service in self.services:
            self.lab.client(service).meta.events.unregister("before-call", unique_id=self._hook_id)


def _pipeline_name(lab: Lab, pipeline: str | None) -> str:
    return pipeline or lab.names.pipeline


def _pages(lab: Lab, operation: str, result_key: str, **params) -> Iterator[dict]:
    codepipeline = lab.client("codepipeline")
    paginator = codepipeline.get_paginator(operation)
    try:
        for page in paginator.paginate(**params, PaginationConfig={"PageSize": PAGE_SIZE}):
            yield from page.get(result_key, [])
    except codepipeline.exceptions.PipelineNotFoundException:
        raise pipeline_not_found(lab, params["pipelineName"]) from None


def iter_executions(lab: Lab, pipeline: str | None = None) -> Iterator[dict]:
    """Yield the pipeline's execution summaries as ListPipelineExecutions returns them (newest first).

    Parameters
    ----------
    lab : Lab
    pipeline : str, optional
        The pipeline's name; the lab's pipeline (``lab.names.pipeline``) by default.

    Examples
    --------
    >>> next(iter_executions(lab))["status"]  # doctest: +SKIP
    'Succeeded'
    """
    yield from _pages(
        lab,
        "list_pipeline_executions",
        "pipelineExecutionSummaries",
        pipelineName=_pipeline_name(lab, pipeline),
    )


def iter_action_executions(
    lab: Lab, pipeline: str | None = None, execution_id: str | None = None
) -> Iterator[dict]:
    """Yield action execution details as ListActionExecutions returns them (newest first).

    Without `execution_id` the pages run over every action of every execution of the pipeline, 100
    per call, so a whole history costs about one call per 100 actions.

    Parameters
    ----------
    lab : Lab
    pipeline : str, optional
        The pipeline's name; the lab's pipeline by default.
    execution_id : str, optional
        Only the actions of this execution.

    Examples
    --------
    >>> [d["actionName"] for d in iter_action_executions(lab, execution_id=run_id)]  # doctest: +SKIP
    ['Deploy', 'Build', 'Source']
    """
    params = {"pipelineName": _pipeline_name(lab, pipeline)}
    if execution_id:
        params["filter"] = {"pipelineExecutionId": execution_id}
    yield from _pages(lab, "list_action_executions", "actionExecutionDetails", **params)


def _utc(value) -> pd.Timestamp | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _frame(rows: list[dict], schema: Mapping[str, object]) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly `schema`'s columns and dtypes, by start; `duration` is end - start."""
    given = {name: dtype for name, dtype in schema.items() if name != "duration"}
    columns = {name: pd.Series([row.get(name) for row in rows], dtype=object) for name in given}
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(rows))).astype(given)
    if "duration" in schema:
        frame["duration"] = (frame["end"] - frame["start"]).astype(DURATION)
    return frame[list(schema)].sort_values("start", kind="stable", ignore_index=True)


def _execution_row(summary: dict) -> dict:
    revision = (summary.get("sourceRevisions") or [{}])[0]
    trigger = summary.get("trigger") or {}
    status = summary.get("status")
    return {
        "execution_id": summary.get("pipelineExecutionId"),
        "status": status,
        "trigger_type": trigger.get("triggerType"),
        "trigger_detail": trigger.get("triggerDetail"),
        "source_revision": revision.get("revisionId"),
        "source_message": revision.get("revisionSummary"),
        "start": _utc(summary.get("startTime")),
        "end": None if status in RUNNING else _utc(summary.get("lastUpdateTime")),
        "execution_mode": summary.get("executionMode"),
        "status_summary": summary.get("statusSummary"),
    }


def executions_frame(summaries: Iterable[dict]) -> pd.DataFrame:
    """Execution summaries (ListPipelineExecutions dicts) as a DataFrame with EXECUTION_COLUMNS.

    `source_revision` and `source_message` are the first source action's commit and message; `end` and
    `duration` are NaT while the execution runs.

    Examples
    --------
    >>> executions_frame([]).columns.tolist()[:3]
    ['execution_id', 'status', 'trigger_type']
    """
    return _frame([_execution_row(summary) for summary in summaries], EXECUTION_COLUMNS)


def executions(lab: Lab, pipeline: str | None = None) -> pd.DataFrame:
    """The pipeline's executions, oldest first, one row each (columns: EXECUTION_COLUMNS).

    Examples
    --------
    >>> frame = executions(lab)  # doctest: +SKIP
    >>> in_seconds(frame[["status", "trigger_type", "duration"]]).tail(1)  # doctest: +SKIP
          status            trigger_type  duration_s
    2  Succeeded  StartPipelineExecution         1.5
    """
    return executions_frame(iter_executions(lab, pipeline))


def _artifacts(listed) -> list[dict]:
    return [{"name": item.get("name"), **(item.get("s3location") or {})} for item in listed or []]


def _action_row(detail: dict, run_orders: Mapping[tuple, int]) -> dict:
    given, produced = detail.get("input") or {}, detail.get("output") or {}
    type_id = given.get("actionTypeId") or {}
    result = produced.get("executionResult") or {}
    error = result.get("errorDetails") or {}
    stage, action, status = detail.get("stageName"), detail.get("actionName"), detail.get("status")
    return {
        "execution_id": detail.get("pipelineExecutionId"),
        "action_execution_id": detail.get("actionExecutionId"),
        "stage": stage,
        "action": action,
        "run_order": run_orders.get((detail.get("pipelineVersion"), stage, action)),
        "category": type_id.get("category"),
        "provider": type_id.get("provider"),
        "status": status,
        "start": _utc(detail.get("startTime")),
        "end": None if status == "InProgress" else _utc(detail.get("lastUpdateTime")),
        "external_execution_id": result.get("externalExecutionId"),
        "external_execution_url": result.get("externalExecutionUrl"),
        "summary": result.get("externalExecutionSummary"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "input_artifacts": _artifacts(given.get("inputArtifacts")),
        "output_artifacts": _artifacts(produced.get("outputArtifacts")),
        "output_variables": dict(produced.get("outputVariables") or {}),
    }


def _run_orders(declarations: Mapping[int, dict]) -> dict[tuple, int]:
    return {
        (version, stage["name"], action["name"]): action.get("runOrder", 1)
        for version, declaration in declarations.items()
        for stage in declaration.get("stages", [])
        for action in stage.get("actions", [])
    }


def action_runs_frame(
    details: Iterable[dict], declarations: Mapping[int, dict] | None = None
) -> pd.DataFrame:
    """Action execution details (ListActionExecutions dicts) as a DataFrame with ACTION_RUN_COLUMNS.

    Parameters
    ----------
    details : iterable of dict
    declarations : mapping of int to dict, optional
        Pipeline declarations by version, for the `run_order` column (<NA> where unknown).

    Examples
    --------
    >>> action_runs_frame([]).dtypes["start"]
    datetime64[ns, UTC]
    """
    run_orders = _run_orders(declarations or {})
    return _frame([_action_row(detail, run_orders) for detail in details], ACTION_RUN_COLUMNS)


def _declarations(lab: Lab, pipeline: str, versions: set) -> dict[int, dict]:
    """The pipeline's declaration at each version (one GetPipeline call each); versions gone are left out."""
    found = {}
    for version in sorted(v for v in versions if v is not None):
        try:
            answer = lab.client("codepipeline").get_pipeline(name=pipeline, version=version)
        except ClientError as error:
            if error.response["Error"]["Code"] != "PipelineVersionNotFoundException":
                raise
            continue
        found[version] = answer["pipeline"]
    return found


def action_runs(lab: Lab, pipeline: str | None = None, execution_id: str | None = None) -> pd.DataFrame:
    """Every action run of the pipeline (or of one execution), oldest first (columns: ACTION_RUN_COLUMNS).

    The whole history costs about one ListActionExecutions call per 100 action runs, plus one
    GetPipeline call per pipeline version seen (for `run_order`). A retried action has one row per attempt.

    Examples
    --------
    >>> runs = action_runs(lab)  # doctest: +SKIP
    >>> runs.groupby(["stage", "status"]).size()  # doctest: +SKIP
    """
    name = _pipeline_name(lab, pipeline)
    details = list(iter_action_executions(lab, name, execution_id))
    versions = {detail.get("pipelineVersion") for detail in details}
    return action_runs_frame(details, _declarations(lab, name, versions))


def stage_runs_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Stage runs derived from an action runs frame (columns: STAGE_RUN_COLUMNS).

    A stage's status comes from the latest attempt of each of its actions: InProgress if one runs,
    else Failed if one failed, else Stopped if one was abandoned, else Succeeded. It starts with its
    first action and ends with its last (NaT while running).

    Examples
    --------
    >>> stage_runs_frame(action_runs_frame([])).columns.tolist()
    ['execution_id', 'stage', 'status', 'start', 'end', 'duration']
    """
    if runs.empty:
        return _frame([], STAGE_RUN_COLUMNS)
    keys = ["execution_id", "stage"]
    latest = runs.sort_values("start", kind="stable").drop_duplicates([*keys, "action"], keep="last")
    rank = (
        latest["status"]
        .map(_STAGE_STATUS_RANK)
        .fillna(0)
        .astype(int)
        .groupby([latest[k] for k in keys])
        .max()
    )
    spans = runs.groupby(keys).agg(start=("start", "min"), end=("end", "max"))
    stages = spans.join(rank.rename("rank")).reset_index()
    stages["status"] = stages["rank"].map(_STAGE_STATUS)
    stages.loc[stages["status"] == "InProgress", "end"] = pd.NaT
    return _frame(stages.to_dict("records"), STAGE_RUN_COLUMNS)


def stage_runs(lab: Lab, pipeline: str | None = None, execution_id: str | None = None) -> pd.DataFrame:
    """Every stage run of the pipeline (or of one execution), oldest first (columns: STAGE_RUN_COLUMNS).

    Examples
    --------
    >>> stage_runs(lab).pivot(index="execution_id", columns="stage", values="status")  # doctest: +SKIP
    """
    return stage_runs_frame(action_runs(lab, pipeline, execution_id))


def in_seconds(frame: pd.DataFrame, decimals: int = 1) -> pd.DataFrame:
    """A copy of `frame` to show: each timedelta column ``x`` becomes ``x_s``, in seconds (floats).

    Frames keep timedelta durations, to compute with; this is for reading them.

    Examples
    --------
    >>> in_seconds(executions(lab)[["status", "duration"]]).tail(1)  # doctest: +SKIP
          status  duration_s
    2  Succeeded         1.5
    """
    spans = [name for name in frame if pd.api.types.is_timedelta64_dtype(frame[name])]
    shown = frame.assign(**{name: frame[name].dt.total_seconds().round(decimals) for name in spans})
    return shown.rename(columns={name: f"{name}_s" for name in spans})


def _readable(span) -> str:
    if pd.isna(span):
        return "n/a"
    seconds = span.total_seconds()
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _commit_times(runs: pd.DataFrame) -> pd.Series:
    """Per execution, the latest commit date its source actions report (a UTC Series).

    CodeCommit reports CommitterDate; a connection source (GitHub, GitLab...) only AuthorDate."""
    sources = runs[runs["category"] == "Source"]
    dates = sources["output_variables"].map(
        lambda found: found.get("CommitterDate") or found.get("AuthorDate")
    )
    stamps = pd.to_datetime(dates, utc=True, errors="coerce").astype(UTC_TIME)
    return stamps.groupby(sources["execution_id"]).max().dropna()


def _deploy_ends(runs: pd.DataFrame, deploy_stage: str) -> pd.Series:
    stages = stage_runs_frame(runs)
    deployed = stages[(stages["stage"] == deploy_stage) & (stages["status"] == "Succeeded")]
    return deployed.groupby("execution_id")["end"].max()


def _restore_times(finished: pd.DataFrame) -> list[pd.Timedelta]:
    """For each streak of failures, from the end of its first failure to the end of the next success."""
    restores, broken_since = [], None
    for status, end in zip(finished["status"], finished["end"], strict=True):
        if status == "Failed" and broken_since is None:
            broken_since = end
        elif status == "Succeeded" and broken_since is not None:
            restores.append(end - broken_since)
            broken_since = None
    return restores


def _metric_rows(frame: pd.DataFrame, runs: pd.DataFrame | None, deploy_stage: str) -> dict[str, dict]:
    finished = frame[~frame["status"].isin(RUNNING)].sort_values("start", kind="stable")
    succeeded = finished[finished["status"] == "Succeeded"]
    failed = finished[finished["status"] == "Failed"]

    days = 0
    if not frame.empty:
        last = frame["end"].max() if frame["end"].notna().any() else frame["start"].max()
        days = (last.normalize() - frame["start"].min().normalize()).days + 1
    frequency = len(succeeded) / days if days else np.nan

    lead_times = pd.Series([], dtype=DURATION)
    if runs is not None and not runs.empty:
        ends = succeeded.set_index("execution_id")["end"]
        ends = _deploy_ends(runs, deploy_stage).reindex(ends.index).fillna(ends)
        lead_times = (ends - _commit_times(runs)).dropna()
    lead_time = lead_times.median() if len(lead_times) else pd.NaT

    failure_rate = len(failed) / len(finished) if len(finished) else np.nan
    restores = _restore_times(finished)
    restore = pd.Series(restores, dtype=DURATION).median() if restores else pd.NaT

    return {
        "deployment_frequency": {
            "value": frequency,
            "text": "n/a" if np.isnan(frequency) else f"{frequency:.2f} per day",
            "sample_size": len(succeeded),
            "explanation": f"Successful executions per day, over the {days} calendar day(s) (UTC) from the "
            "first execution's start to the last one's end. More often means smaller, safer changes.",
        },
        "lead_time": {
            "value": lead_time,
            "text": _readable(lead_time),
            "sample_size": len(lead_times),
            "explanation": "Median time from a commit (the source action's CommitterDate) to the end of the "
            f"succeeded {deploy_stage} stage, or of the execution when it has none. How long a change "
            "waits before users see it.",
        },
        "change_failure_rate": {
            "value": failure_rate,
            "text": "n/a" if np.isnan(failure_rate) else f"{failure_rate:.0%}",
            "sample_size": len(finished),
            "explanation": "Failed executions divided by all finished ones (running executions are left "
            "out). How often a change breaks the pipeline.",
        },
        "time_to_restore": {
            "value": restore,
            "text": _readable(restore),
            "sample_size": len(restores),
            "explanation": "Median time from the end of a failed execution (the first of a run of failures) "
            "to the end of the next succeeded one. How fast the pipeline is green again.",
        },
    }


def metrics(
    source: "Lab | pd.DataFrame",
    runs: pd.DataFrame | None = None,
    *,
    pipeline: str | None = None,
    deploy_stage: str = "Deploy",
) -> pd.DataFrame:
    """DORA-style delivery metrics, one row each, with a short explanation.

    Parameters
    ----------
    source : Lab or DataFrame
        A Lab (the history is read from it), or an executions frame.
    runs : DataFrame, optional
        An action runs frame, for the lead time (commit dates and the deploy stage's end). Read from
        the Lab when `source` is one.
    pipeline : str, optional
        The pipeline's name when `source` is a Lab; the lab's pipeline by default.
    deploy_stage : str
        The stage whose end counts as "deployed"; the execution's end where it is missing.

    Returns
    -------
    DataFrame
        Indexed by metric (deployment_frequency, lead_time, change_failure_rate, time_to_restore);
        columns value (a float or a Timedelta; NaN/NaT without data), text, sample_size, explanation.

    Examples
    --------
    >>> metrics(lab).loc["change_failure_rate", "text"]  # doctest: +SKIP
    '25%'
    >>> metrics(executions_frame([]))["text"].tolist()
    ['n/a', 'n/a', 'n/a', 'n/a']
    """
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        frame, runs = executions(source, pipeline), action_runs(source, pipeline)
    rows = _metric_rows(frame, runs, deploy_stage)
    names = pd.Index(list(rows), name="metric")
    return pd.DataFrame(
        {
            column: pd.Series([row[column] for row in rows.values()], index=names, dtype=object).astype(dtype)
            for column, dtype in METRIC_COLUMNS.items()
        }
    )
