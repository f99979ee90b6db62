"""runs.start / wait / watch on real executions of the article's pipeline on the local endpoint."""

import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from pipeline_kit import article_lab

import labhelpers as lh
from labhelpers import pipelines, prerequisites, runs
from labhelpers.lab import _restore_environ

FINAL_LINE = "Source:Succeeded   Build:Succeeded   Deploy:Succeeded"


@pytest.fixture(scope="module")
def lab(endpoint):
    """The article's pipeline under its generated role; its first run has ended."""
    made = article_lab(endpoint, "w")
    runs.watch(made, timeout=60)
    yield made
    _restore_environ()


def test_start_and_wait_give_the_finished_execution(lab):
    execution_id = runs.start(lab)
    execution = runs.wait(lab, execution_id, timeout=60)
    assert execution["pipelineExecutionId"] == execution_id
    assert execution["status"] == "Succeeded"
    assert execution["pipelineName"] == lab.names.pipeline


def test_watch_prints_the_article_lines_once_per_change_then_the_links(lab, capsys):
    execution_id = runs.start(lab)
    final = runs.watch(lab, execution_id=execution_id, timeout=60)
    printed = capsys.readouterr().out.splitlines()
    lines = [line for line in printed if line.startswith("Source:")]
    assert lines[-1] == FINAL_LINE
    assert len(lines) == len(set(lines)) >= 2
    assert all(a != b for a, b in zip(lines, lines[1:], strict=False))
    ending = printed[len(lines) :]
    assert ending[0].startswith(f"Execution {execution_id} Succeeded in ")
    assert any(f"Build/Build build log: {lab.endpoint_url}/_lab/builds/" in line for line in ending)
    (page,) = final.page_urls
    assert f"  deployed page: {page}" in ending
    assert page.startswith(f"{lab.endpoint_url}/_lab/instances/{prerequisites.find_target(lab)}/")
    with urllib.request.urlopen(page, timeout=10) as response:
        assert "awscicd demo app" in response.read().decode()


def test_the_snapshot_shows_artifacts_durations_and_links(lab):
    snap = runs.snapshot(lab)
    assert snap.finished and snap.status == "Succeeded"
    assert snap.line() == FINAL_LINE
    source, build, deploy = snap.actions
    assert (source.outputs, build.inputs, build.outputs, deploy.inputs) == (
        ("SourceOutput",),
        ("SourceOutput",),
        ("BuildOutput",),
        ("BuildOutput",),
    )
    assert [a.provider for a in snap.actions] == ["CodeCommit", "CodeBuild", "CodeDeploy"]
    assert all(a.duration is not None and a.duration.total_seconds() >= 0 for a in snap.actions)
    assert snap.duration >= max(a.duration for a in snap.actions)
    assert build.log_url and lab.names.build_project in build.log_url
    assert deploy.external_id.startswith("d-") and deploy.page_urls == tuple(snap.page_urls)


def test_a_pipeline_that_does_not_exist_is_named_with_those_that_do(lab):
    for call in (runs.start, runs.watch, runs.snapshot):
        with pytest.raises(lh.LabError) as caught:
            call(lab, "no-such-pipeline")
        assert "no-such-pipeline" in str(caught.value) and lab.names.pipeline in str(caught.value)


def test_client_errors_pass_through_with_their_codes(lab):
    with pytest.raises(ClientError) as caught:
        runs.wait(lab, str(uuid.uuid4()), timeout=5)
    assert caught.value.response["Error"]["Code"] == "PipelineExecutionNotFoundException"


def test_a_wait_that_times_out_says_what_it_waited_for_and_where_to_look(lab):
    declaration = pipelines.article_pipeline(lab)
    pipeline = declaration["pipeline"]
    pipeline["name"] = f"{lab.names.pipeline}-gated"
    gate = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    pipeline["stages"].insert(1, {"name": "Approve", "actions": [{"name": "Approve", "actionTypeId": gate}]})
    lab.client("codepipeline").create_pipeline(**declaration)
    with pytest.raises(lh.LabError) as caught:
        runs.watch(lab, pipeline["name"], timeout=3)
    message = str(caught.value)
    assert "did not end within 3 s" in message
    assert "Source:Succeeded   Approve:InProgress  Build:None" in message
    assert "a manual approval waits in Approve/Approve" in message
    with pytest.raises(lh.LabError, match="waiting for Succeeded, Failed, Stopped or Superseded"):
        runs.wait(lab, runs.snapshot(lab, pipeline["name"]).execution_id, pipeline["name"], timeout=0.5)
    lab.client("codepipeline").delete_pipeline(name=pipeline["name"])


def test_the_status_line_pads_like_the_article():
    def stage(name, status):
        return runs.StageSnapshot(name, status, ())

    snap = runs.Snapshot(
        "p",
        "e",
        "InProgress",
        (stage("Source", "InProgress"), stage("Build", "None"), stage("Deploy", "None")),
    )
    assert snap.line() == "Source:InProgress  Build:None        Deploy:None"
    assert not snap.finished and snap.duration is None
