"""The pace: at `teach` the local endpoint holds each step of a run so a learner can watch it, seen here as a
learner's client sees it, by polling with boto3; at `fast` nothing is held; a stop ends a hold at once."""

import json
import os
import subprocess
import time
import uuid

import pytest
from conftest import BIN
from pipeline_kit import Kit

import labhelpers as lh
from labhelpers import pipelines, prerequisites
from labhelpers.lab import _restore_environ
from labhelpers.local import config, process
from labhelpers.roles import trust_policy

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
STAGES = ("Source", "Build", "Deploy")


def seen(probe, what: str, timeout: float = 60):
    return Kit.wait_for(probe, timeout, what)


@pytest.fixture(scope="module")
def teach_home(tmp_path_factory):
    """The state folder of the module's own endpoint, stopped at the end."""
    home = tmp_path_factory.mktemp("pacehome")
    yield home
    process.stop(config.Layout(home))


@pytest.fixture(scope="module")
def teach(teach_home):
    """The article's prerequisites and pipeline role, on the module's endpoint at teach pace."""
    lab = lh.connect(home=str(teach_home), pace="teach", prefix=f"p{uuid.uuid4().hex[:6]}", quiet=True)
    try:
        prerequisites.ensure(lab)
        iam = lab.client("iam")
        role = lab.names.pipeline_role
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust_policy()))
        iam.put_role_policy(RoleName=role, PolicyName="all", PolicyDocument=ADMIN)
        yield lab
    finally:
        _restore_environ()


class Watcher:
    """Polls an execution of the article's pipeline as a learner's client does, keeping each sight."""

    def __init__(self, lab):
        self.lab = lab
        self.codepipeline, self.codebuild = lab.client("codepipeline"), lab.client("codebuild")
        self.codedeploy, self.logs = lab.client("codedeploy"), lab.client("logs")
        self.sights: list[dict] = []

    def action(self, stage: str) -> dict:
        state = self.codepipeline.get_pipeline_state(name=self.lab.names.pipeline)
        found = next(s for s in state["stageStates"] if s["stageName"] == stage)
        return found["actionStates"][0].get("latestExecution", {})

    def look(self, execution_id: str) -> dict:
        """What a client sees now; the execution's status first, so an ended one's stages show final."""
        status = self.codepipeline.get_pipeline_execution(
            pipelineName=self.lab.names.pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]["status"]
        state = self.codepipeline.get_pipeline_state(name=self.lab.names.pipeline)
        stages = {
            s["stageName"]: s.get("latestExecution", {})
            for s in state["stageStates"]
            if s.get("latestExecution", {}).get("pipelineExecutionId") == execution_id
        }
        sight = {
            "at": time.monotonic(),
            "execution": status,
            "stages": tuple(stages.get(n, {}).get("status") for n in STAGES),
        }
        actions = {
            s["stageName"]: s["actionStates"][0].get("latestExecution", {}) for s in state["stageStates"]
        }
        build_id = stages.get("Build") and actions["Build"].get("externalExecutionId")
        if build_id:
            build = self.codebuild.batch_get_builds(ids=[build_id])["builds"][0]
            sight["build"] = (build["buildStatus"], build["currentPhase"], self.log_lines(build["logs"]))
        deployment_id = stages.get("Deploy") and actions["Deploy"].get("externalExecutionId")
        if deployment_id:
            sight["deploy"] = tuple(e["status"] for e in self.lifecycle(deployment_id))
        return sight

    def log_lines(self, logs: dict) -> int:
        """How many lines of the build's log CloudWatch Logs has (its group comes as the build starts)."""
        try:
            found = self.logs.get_log_events(
                logGroupName=logs["groupName"], logStreamName=logs["streamName"], startFromHead=True
            )
        except self.logs.exceptions.ResourceNotFoundException:
            return 0
        return len(found["events"])

    def lifecycle(self, deployment_id: str) -> list[dict]:
        (target,) = self.codedeploy.list_deployment_targets(deploymentId=deployment_id)["targetIds"]
        found = self.codedeploy.get_deployment_target(deploymentId=deployment_id, targetId=target)
        return found["deploymentTarget"]["instanceTarget"]["lifecycleEvents"]

    def watch(self, execution_id: str, timeout: float = 90) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sights.append(self.look(execution_id))
            if self.sights[-1]["execution"] != "InProgress":
                return self.sights
            time.sleep(0.05)
        raise AssertionError(f"the execution still runs after {timeout} s: {self.sights[-1]}")


@pytest.fixture(scope="module")
def teach_run(teach):
    """The article's pipeline created at teach pace, its first run watched from start to end."""
    started = time.monotonic()
    teach.client("codepipeline").create_pipeline(**pipelines.article_pipeline(teach))
    watcher = Watcher(teach)
    execution_id = seen(lambda: latest_execution(teach, teach.names.pipeline), "the first execution")
    sights = watcher.watch(execution_id)
    return {"sights": sights, "wall": sights[-1]["at"] - started, "id": execution_id, "watcher": watcher}


def latest_execution(lab, name: str, status: str | None = None) -> str | None:
    """The newest execution of pipeline `name` (with that status, if given)."""
    found = lab.client("codepipeline").list_pipeline_executions(pipelineName=name)
    return next(
        (
            s["pipelineExecutionId"]
            for s in found["pipelineExecutionSummaries"]
            if status in (None, s["status"])
        ),
        None,
    )


def first(sights: list[dict], wanted) -> int:
    return next(index for index, sight in enumerate(sights) if wanted(sight))


def test_a_teach_run_shows_each_stage_in_progress_in_turn(teach_run):
    sights = teach_run["sights"]
    assert sights[-1]["execution"] == "Succeeded", sights[-1]
    source = first(sights, lambda s: s["stages"][0] == "InProgress")
    build = first(sights, lambda s: s["stages"][1] == "InProgress")
    deploy = first(sights, lambda s: s["stages"][2] == "InProgress")
    done = first(sights, lambda s: s["stages"] == ("Succeeded",) * 3)
    assert source < build < deploy < done
    states = [s["stages"] for s in sights]
    assert len([a for a, b in zip(states, states[1:], strict=False) if a != b]) >= 3
    source_seen = [s["at"] for s in sights if s["stages"][0] == "InProgress"]
    assert source_seen[-1] - source_seen[0] >= 2.0, "the Source action is held about 3 s"
    assert 12 <= teach_run["wall"] <= 40, f"the article's run at teach took {teach_run['wall']:.1f} s"


def test_a_teach_build_log_grows_line_by_line_and_its_phase_moves(teach_run):
    running = [s["build"] for s in teach_run["sights"] if s.get("build", ("",))[0] == "IN_PROGRESS"]
    counts = [count for _, _, count in running]
    assert counts == sorted(counts), "the log only grows"
    assert len(set(counts)) >= 6, f"CloudWatch Logs grew in steps, seen: {sorted(set(counts))}"
    phases = list(dict.fromkeys(phase for _, phase, _ in running))
    assert len(phases) >= 3, phases
    assert phases.index("PRE_BUILD") < phases.index("BUILD"), phases


def test_a_teach_deployment_steps_through_its_lifecycle_events(teach_run):
    steps = [s["deploy"] for s in teach_run["sights"] if "deploy" in s]
    part_done = [events for events in steps if "Succeeded" in events and events[-1] != "Succeeded"]
    assert part_done, steps
    for events in steps:  # in lifecycle order: done, then the one running, then those to come
        assert list(events) == sorted(events, key=("Succeeded", "InProgress", "Pending").index), events
    assert len(set(steps)) >= 7, "the events were seen one after another"
    watcher = teach_run["watcher"]
    deploy = watcher.action("Deploy")["externalExecutionId"]
    for event in watcher.lifecycle(deploy):
        took = (event["endTime"] - event["startTime"]).total_seconds()
        assert took >= 0.6, f"{event['lifecycleEventName']} took {took:.2f} s"


def source_seconds(lab, home, pace: str, name: str) -> float:
    """A pipeline of the article's Source and a manual approval, run with `pace` in the pace file: how long
    its Source action stayed InProgress. The approval is answered as soon as it waits, and is not held."""
    config.Layout(home).pace_file.write_text(pace)
    declaration = pipelines.article_pipeline(lab)
    approval = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    stages = [
        declaration["pipeline"]["stages"][0],
        {"name": "Approve", "actions": [{"name": "Approve", "actionTypeId": approval}]},
    ]
    declaration["pipeline"].update(name=name, stages=stages)
    codepipeline = lab.client("codepipeline")
    codepipeline.create_pipeline(**declaration)

    def token():
        state = codepipeline.get_pipeline_state(name=name)["stageStates"][1]
        return state["actionStates"][0].get("latestExecution", {}).get("token")

    codepipeline.put_approval_result(
        pipelineName=name,
        stageName="Approve",
        actionName="Approve",
        result={"status": "Approved", "summary": "seen"},
        token=seen(token, "the approval waiting"),
    )
    answered = time.monotonic()
    execution_id = seen(lambda: latest_execution(lab, name, "Succeeded"), "the run Succeeded")
    assert time.monotonic() - answered < 1.0, "an approval is not held"
    actions = codepipeline.list_action_executions(
        pipelineName=name, filter={"pipelineExecutionId": execution_id}
    )
    source = next(d for d in actions["actionExecutionDetails"] if d["stageName"] == "Source")
    return (source["lastUpdateTime"] - source["startTime"]).total_seconds()


def test_fast_holds_nothing_and_a_garbled_pace_file_falls_back_to_the_endpoints_lab_pace(teach, teach_home):
    try:
        assert source_seconds(teach, teach_home, "teach", "pace-teach") >= 2.9
        assert source_seconds(teach, teach_home, "fast", "pace-fast") < 1.0
        # The endpoint was started from this process, with LAB_PACE=fast (conftest): a file it cannot read
        # as a pace falls back to that.
        assert source_seconds(teach, teach_home, "sl\x00w", "pace-garbled") < 1.0
    finally:
        config.record_pace(config.Layout(teach_home), "teach")


def test_stopping_an_execution_during_the_source_hold_ends_the_hold_at_once(teach, teach_run):
    watcher = teach_run["watcher"]
    codepipeline = watcher.codepipeline
    execution_id = codepipeline.start_pipeline_execution(name=teach.names.pipeline)["pipelineExecutionId"]
    seen(lambda: watcher.look(execution_id)["stages"][0] == "InProgress", "Source InProgress")
    asked = time.monotonic()
    codepipeline.stop_pipeline_execution(
        pipelineName=teach.names.pipeline, pipelineExecutionId=execution_id, reason="seen enough"
    )
    seen(lambda: watcher.look(execution_id)["execution"] == "Stopped", "the execution Stopped", 10)
    assert time.monotonic() - asked < 2.0


def test_stop_build_during_the_paced_log_ends_it_at_once(teach, teach_run):
    watcher = teach_run["watcher"]
    execution_id = watcher.codepipeline.start_pipeline_execution(name=teach.names.pipeline)[
        "pipelineExecutionId"
    ]

    def logging():
        status, _, lines = watcher.look(execution_id).get("build", ("", "", 0))
        return status == "IN_PROGRESS" and lines >= 3

    seen(logging, "the build's log begin")
    build_id = watcher.action("Build")["externalExecutionId"]
    asked = time.monotonic()
    stopped = watcher.codebuild.stop_build(id=build_id)["build"]
    assert time.monotonic() - asked < 2.0
    assert stopped["buildStatus"] == "STOPPED"
    ended = seen(
        lambda: (found := watcher.look(execution_id)["execution"]) != "InProgress" and found, "its end"
    )
    assert ended == "Failed"


def test_stop_deployment_during_a_lifecycle_hold_ends_it_at_once(teach, teach_run):
    watcher = teach_run["watcher"]
    build = next(
        d
        for d in watcher.codepipeline.list_action_executions(
            pipelineName=teach.names.pipeline, filter={"pipelineExecutionId": teach_run["id"]}
        )["actionExecutionDetails"]
        if d["stageName"] == "Build"
    )
    location = build["output"]["outputArtifacts"][0]["s3location"]
    deployment_id = watcher.codedeploy.create_deployment(
        applicationName=teach.names.application,
        deploymentGroupName=teach.names.deployment_group,
        revision={
            "revisionType": "S3",
            "s3Location": {"bucket": location["bucket"], "key": location["key"], "bundleType": "zip"},
        },
    )["deploymentId"]
    seen(lambda: watcher.lifecycle(deployment_id)[1]["status"] == "InProgress", "DownloadBundle InProgress")
    asked = time.monotonic()
    watcher.codedeploy.stop_deployment(deploymentId=deployment_id)

    def status():
        return watcher.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]["status"]

    assert seen(lambda: status() in ("Stopped", "Succeeded", "Failed") and status(), "its end", 10) == (
        "Stopped"
    )
    assert time.monotonic() - asked < 2.0
    assert watcher.lifecycle(deployment_id)[-1]["status"] == "Skipped"


def test_the_pace_is_the_argument_else_lab_pace_else_the_stored_setting_else_teach(
    teach, teach_home, monkeypatch, capsys
):
    home = str(teach_home)
    layout = config.Layout(teach_home)
    monkeypatch.delenv("LAB_PACE")

    def pace(**options) -> str:
        lab = lh.connect(home=home, prefix=teach.prefix, quiet=True, **options)
        assert layout.pace_file.read_text().strip() == lab.pace, "connect() records the pace for the endpoint"
        return lab.pace

    try:
        with pytest.raises(lh.LabError, match="'teach'.*'fast'.*LAB_PACE=fast.*configure --pace fast"):
            lh.connect(home=home, pace="slow", quiet=True)
        assert pace() == "teach"
        configured = subprocess.run(
            [str(BIN / "labhelpers"), "configure", "--pace", "fast", "--home", home],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "pace       fast" in configured.stdout
        assert pace() == "fast"
        monkeypatch.setenv("LAB_PACE", "teach")
        assert pace() == "teach"
        assert pace(pace="fast") == "fast"
        monkeypatch.setenv("LAB_PACE", "slow")
        with pytest.raises(lh.LabError, match="unknown pace 'slow'"):
            lh.connect(home=home, quiet=True)
        lh.connect(home=home, pace="teach")
        assert "pace teach" in capsys.readouterr().out
    finally:
        layout.settings.unlink(missing_ok=True)
        config.record_pace(layout, "teach")
        _restore_environ()


def test_the_endpoint_reads_the_pace_file_else_its_lab_pace_else_teach(tmp_path, monkeypatch):
    layout = config.Layout(tmp_path)
    monkeypatch.delenv("LAB_PACE")
    assert config.pace(layout) == "teach"
    monkeypatch.setenv("LAB_PACE", "fast")
    assert config.pace(layout) == "fast"
    assert process.endpoint_environment(os.environ)["LAB_PACE"] == "fast", "the endpoint keeps LAB_PACE"
    config.record_pace(layout, "teach")
    assert config.pace(layout) == "teach"
    layout.pace_file.write_bytes(b"\xff\xfe")
    assert config.pace(layout) == "fast"


def test_on_aws_the_pace_is_aws_own_and_the_local_setting_is_untouched(monkeypatch, tmp_path):
    from moto import mock_aws

    for name, value in {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_REGION": config.REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        with mock_aws():
            lab = lh.connect("aws", pace="fast", home=str(tmp_path), quiet=True)
    finally:
        _restore_environ()
    assert lab.pace == "aws"
    assert not config.Layout(tmp_path).pace_file.exists()
