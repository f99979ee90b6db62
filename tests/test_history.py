"""history: executions, action and stage runs as DataFrames with fixed schemas, read from real runs on the
local endpoint through boto3; pagination counted call by call; DORA metrics on crafted histories."""

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pandas as pd
import pytest
from pipeline_kit import Kit, approval_stage

from labhelpers import history
from labhelpers.errors import LabError
from labhelpers.lab import Lab
from labhelpers.local import config


def make_lab(endpoint) -> Lab:
    session = boto3.Session(
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
        region_name=config.REGION,
    )
    return Lab("local", config.ACCOUNT, config.REGION, session, endpoint_url=endpoint.url)


def assert_schema(frame: pd.DataFrame, schema: dict) -> None:
    assert list(frame.columns) == list(schema)
    assert frame.dtypes.to_dict() == {
        name: pd.api.types.pandas_dtype(dtype) for name, dtype in schema.items()
    }


@pytest.fixture(scope="module")
def lab(endpoint):
    return make_lab(endpoint)


@pytest.fixture(scope="module")
def runs(endpoint):
    """Source → Approve: approved, rejected, approved, and one still waiting for its approval."""
    kit = Kit(endpoint, uuid.uuid4().hex[:8])
    commit = kit.setup()
    ids = []
    for answer, summary in (("Approved", "ok"), ("Rejected", "not today"), ("Approved", "ok")):
        ids.append(kit.start() if ids else kit.create(approval_stage()))
        kit.answer("Approve", kit.approval_token("Approve", ids[-1]), answer, summary)
        kit.wait_status(ids[-1], "Succeeded", "Failed")
    waiting = kit.start()
    kit.approval_token("Approve", waiting)
    yield kit, commit, [*ids, waiting]
    kit.codepipeline.delete_pipeline(name=kit.pipeline)


@pytest.mark.parametrize(
    ("frame", "schema"),
    [
        (history.executions_frame([]), history.EXECUTION_COLUMNS),
        (history.action_runs_frame([]), history.ACTION_RUN_COLUMNS),
        (history.stage_runs_frame(history.action_runs_frame([])), history.STAGE_RUN_COLUMNS),
    ],
    ids=["executions", "action_runs", "stage_runs"],
)
def test_empty_pages_give_frames_with_the_fixed_columns_and_dtypes(frame, schema):
    assert frame.empty
    assert_schema(frame, schema)


def test_executions_reads_every_run_with_its_status_trigger_and_timing(lab, runs):
    kit, commit, ids = runs
    frame = history.executions(lab, kit.pipeline)

    assert_schema(frame, history.EXECUTION_COLUMNS)
    assert frame["execution_id"].tolist() == ids  # oldest first
    assert frame["status"].tolist() == ["Succeeded", "Failed", "Succeeded", "InProgress"]
    assert frame["trigger_type"].tolist() == ["CreatePipeline"] + ["StartPipelineExecution"] * 3
    assert set(frame["source_revision"]) == {commit}
    assert set(frame["source_message"]) == {"first"}
    assert set(frame["execution_mode"]) == {"SUPERSEDED"}
    finished, running = frame.iloc[:3], frame.iloc[3]
    assert (finished["duration"] >= pd.Timedelta(0)).all()
    assert (finished["end"] == finished["start"] + finished["duration"]).all()
    assert pd.isna(running["end"]) and pd.isna(running["duration"])
    assert frame["start"].is_monotonic_increasing


def test_action_runs_reads_every_action_of_every_execution(lab, runs):
    kit, commit, ids = runs
    frame = history.action_runs(lab, kit.pipeline)

    assert_schema(frame, history.ACTION_RUN_COLUMNS)
    assert len(frame) == 8 and set(frame["execution_id"]) == set(ids)
    assert frame.groupby("execution_id")["stage"].agg(list).to_dict() == {
        i: ["Source", "Approve"] for i in ids
    }
    assert set(frame["run_order"]) == {1}
    sources = frame[frame["stage"] == "Source"]
    assert set(sources["provider"]) == {"CodeCommit"} and set(sources["status"]) == {"Succeeded"}
    assert set(sources["external_execution_id"]) == {commit}
    assert {variables["CommitId"] for variables in sources["output_variables"]} == {commit}
    (artifact,) = sources["output_artifacts"].iloc[0]
    assert artifact["name"] == "SourceOutput" and artifact["bucket"] == kit.bucket
    assert artifact["key"].startswith(f"{kit.pipeline[:20]}/")

    approvals = frame[frame["stage"] == "Approve"].set_index("execution_id")
    assert approvals["status"].tolist() == ["Succeeded", "Failed", "Succeeded", "InProgress"]
    assert set(approvals["category"]) == {"Approval"} and set(approvals["provider"]) == {"Manual"}
    rejected = approvals.loc[ids[1]]
    assert rejected["summary"] == "not today" and "not today" in rejected["error_message"]
    assert pd.notna(rejected["error_code"])
    assert pd.isna(approvals.loc[ids[3], "end"]) and pd.isna(approvals.loc[ids[3], "duration"])
    assert (frame["duration"].dropna() >= pd.Timedelta(0)).all()


def test_action_and_stage_runs_of_one_execution(lab, runs):
    kit, _, ids = runs
    actions = history.action_runs(lab, kit.pipeline, execution_id=ids[1])
    assert actions["execution_id"].unique().tolist() == [ids[1]]
    stages = history.stage_runs(lab, kit.pipeline, execution_id=ids[1])
    assert_schema(stages, history.STAGE_RUN_COLUMNS)
    assert stages[["stage", "status"]].values.tolist() == [["Source", "Succeeded"], ["Approve", "Failed"]]


def test_stage_runs_follow_their_actions(lab, runs):
    kit, _, ids = runs
    stages = history.stage_runs(lab, kit.pipeline)
    statuses = stages.pivot(index="execution_id", columns="stage", values="status").loc[ids]
    assert statuses["Source"].tolist() == ["Succeeded"] * 4
    assert statuses["Approve"].tolist() == ["Succeeded", "Failed", "Succeeded", "InProgress"]
    assert (stages["duration"].dropna() >= pd.Timedelta(0)).all()


T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def action(
    execution, stage, name, start, end, status="Succeeded", category="Build", variables=None, version=1
):
    """An action execution detail as ListActionExecutions returns it."""
    return {
        "pipelineExecutionId": execution,
        "actionExecutionId": uuid.uuid4().hex,
        "pipelineVersion": version,
        "stageName": stage,
        "actionName": name,
        "startTime": start,
        "lastUpdateTime": end,
        "status": status,
        "input": {"actionTypeId": {"category": category, "owner": "AWS", "provider": "X", "version": "1"}},
        "output": {"outputVariables": variables} if variables else {},
    }


def test_stage_status_comes_from_the_latest_attempt_of_each_action():
    details = [
        action("e1", "Build", "Unit", at(0), at(1), "Failed"),  # retried, then succeeded
        action("e1", "Build", "Unit", at(2), at(3)),
        action("e1", "Build", "Lint", at(0), at(4)),
        action("e2", "Build", "Unit", at(0), at(1), "Failed"),
        action("e2", "Build", "Lint", at(0), at(2)),
        action("e3", "Build", "Unit", at(0), at(1), "Abandoned"),
        action("e4", "Build", "Unit", at(0), at(1)),
        action("e4", "Build", "Lint", at(0), at(5), "InProgress"),
    ]
    declaration = {
        "stages": [{"name": "Build", "actions": [{"name": "Unit"}, {"name": "Lint", "runOrder": 2}]}]
    }
    runs = history.action_runs_frame(details, {1: declaration})
    assert runs.groupby("action")["run_order"].first().to_dict() == {"Lint": 2, "Unit": 1}

    stages = history.stage_runs_frame(runs).set_index("execution_id")
    assert stages["status"].to_dict() == {
        "e1": "Succeeded",
        "e2": "Failed",
        "e3": "Stopped",
        "e4": "InProgress",
    }
    assert stages.loc["e1", "duration"] == pd.Timedelta(minutes=4)
    assert pd.isna(stages.loc["e4", "end"])


def test_a_run_order_unknown_to_the_declarations_is_missing():
    runs = history.action_runs_frame(
        [action("e1", "Build", "Unit", at(0), at(1), version=7)], {1: {"stages": []}}
    )
    assert runs["run_order"].isna().all()


def test_pages_of_100_cover_every_action_in_a_few_calls(endpoint, lab):
    """101 PARALLEL executions waiting at an approval: 202 action runs, 3 pages of them, 2 of executions."""
    kit = Kit(endpoint, uuid.uuid4().hex[:8])
    kit.setup()
    kit.create(approval_stage(), mode="PARALLEL")
    try:
        for _ in range(100):
            kit.start()
        kit.wait_for(
            lambda: (
                sum(
                    1
                    for d in history.iter_action_executions(lab, kit.pipeline)
                    if d["stageName"] == "Approve"
                )
                == 101
            ),
            timeout=120,
            what="every execution to wait at its approval",
        )
        with history.CallCounter(lab) as counted:
            executions = history.executions(lab, kit.pipeline)
        assert len(executions) == 101 and executions["execution_id"].is_unique
        assert dict(counted.by_operation) == {"ListPipelineExecutions": 2}

        with history.CallCounter(lab) as counted:
            runs = history.action_runs(lab, kit.pipeline)
        assert len(runs) == 202 and runs["action_execution_id"].is_unique
        assert dict(counted.by_operation) == {"ListActionExecutions": 3, "GetPipeline": 1}
        assert counted.calls == 4
    finally:
        kit.codepipeline.delete_pipeline(name=kit.pipeline)


def test_call_counter_stops_counting_when_the_block_ends(lab, runs):
    kit, _, _ = runs
    with history.CallCounter(lab) as counted:
        next(history.iter_executions(lab, kit.pipeline))
    history.executions(lab, kit.pipeline)
    assert counted.calls == 1


def summary(execution, status, start, end):
    return {
        "pipelineExecutionId": execution,
        "status": status,
        "startTime": start,
        "lastUpdateTime": end,
        "trigger": {"triggerType": "StartPipelineExecution"},
    }


DAY = 24 * 60


def crafted_history() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three days: success, two failures, success without a Deploy stage, success, and one running."""
    executions = history.executions_frame(
        [
            summary("e1", "Succeeded", at(0), at(10)),
            summary("e2", "Failed", at(60), at(65)),
            summary("e3", "Failed", at(DAY), at(DAY + 5)),
            summary("e4", "Succeeded", at(DAY + 120), at(DAY + 150)),
            summary("e5", "Succeeded", at(2 * DAY - 120), at(2 * DAY - 100)),
            summary("e6", "InProgress", at(2 * DAY), at(2 * DAY + 1)),
        ]
    )

    def source(execution, start, committed, variable="CommitterDate"):
        date = committed.strftime("%Y-%m-%dT%H:%M:%SZ")
        return action(
            execution, "Source", "Source", start, start, category="Source", variables={variable: date}
        )

    runs = history.action_runs_frame(
        [
            source("e1", at(0), at(-10)),
            action("e1", "Deploy", "Deploy", at(5), at(8), category="Deploy"),
            source("e2", at(60), at(50)),
            source("e4", at(DAY + 120), at(DAY + 60), "AuthorDate"),  # as a connection source reports it
            source("e5", at(2 * DAY - 120), at(2 * DAY - 180)),
            action("e5", "Deploy", "Deploy", at(2 * DAY - 110), at(2 * DAY - 105), category="Deploy"),
        ]
    )
    return executions, runs


def test_metrics_on_a_crafted_history_give_the_known_answers():
    executions, runs = crafted_history()
    found = history.metrics(executions, runs)

    assert found.index.tolist() == [
        "deployment_frequency",
        "lead_time",
        "change_failure_rate",
        "time_to_restore",
    ]
    assert list(found.columns) == list(history.METRIC_COLUMNS)
    assert found.loc["deployment_frequency", "value"] == pytest.approx(1.0)  # 3 successes over 3 days
    # e1: commit -10 → Deploy end 8 (18 min); e4: no Deploy stage → execution end (1 h 30 min);
    # e5: commit -180 → Deploy end -105 (1 h 15 min). The median is 1 h 15 min.
    assert found.loc["lead_time", "value"] == pd.Timedelta(minutes=75)
    assert found.loc["lead_time", "sample_size"] == 3
    assert found.loc["change_failure_rate", "value"] == pytest.approx(2 / 5)
    assert found.loc["change_failure_rate", "text"] == "40%"
    # The outage starts when e2 ends (the first failure) and ends when e4 ends.
    assert found.loc["time_to_restore", "value"] == at(DAY + 150) - at(65)
    assert found.loc["time_to_restore", "text"] == "1.1 days"
    assert found["explanation"].str.len().min() > 40


def test_metrics_without_runs_or_history_say_not_available():
    executions, _ = crafted_history()
    assert pd.isna(history.metrics(executions).loc["lead_time", "value"])
    empty = history.metrics(history.executions_frame([]))
    assert empty["text"].tolist() == ["n/a"] * 4
    assert empty["sample_size"].tolist() == [0] * 4


def test_metrics_of_a_lab_read_its_history(lab, runs):
    kit, _, _ = runs
    found = history.metrics(lab, pipeline=kit.pipeline)
    assert found.loc["change_failure_rate", "value"] == pytest.approx(1 / 3)
    assert found.loc["deployment_frequency", "sample_size"] == 2
    assert found.loc["lead_time", "sample_size"] == 2 and found.loc["lead_time", "value"] >= pd.Timedelta(0)
    assert found.loc["time_to_restore", "sample_size"] == 1


def test_a_pipeline_that_does_not_exist_yet_says_which_notebook_makes_it(endpoint):
    lab = make_lab(endpoint)
    for read in (history.executions, history.action_runs):
        with pytest.raises(LabError, match="02_pipeline_json") as caught:
            read(lab, "never-created")
        assert "'never-created'" in str(caught.value)


def test_in_seconds_shows_each_duration_in_seconds_and_keeps_the_frame():
    executions, runs = crafted_history()
    shown = history.in_seconds(executions[["execution_id", "duration"]])
    assert list(shown.columns) == ["execution_id", "duration_s"]
    assert shown["duration_s"].tolist()[:5] == [600.0, 300.0, 300.0, 1800.0, 1200.0]
    assert pd.api.types.is_timedelta64_dtype(executions["duration"])  # the frame itself is untouched
    one_second = history.executions_frame(
        [summary("e9", "Succeeded", at(0), at(0) + timedelta(seconds=1.177))]
    )
    assert history.in_seconds(one_second)["duration_s"].tolist() == [1.2]
    assert "days" not in history.in_seconds(history.stage_runs_frame(runs)).to_string()
