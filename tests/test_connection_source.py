"""The connection source (`lab.source == "connection"`), for AWS accounts that may no longer create CodeCommit
repositories: chosen once like the prefix, the pipeline's source is the learner's GitHub repository through
the lab's CodeConnections connection. On AWS (moto in-process; CodeConnections, which moto lacks, answered
by Stubber as AWS documents) the lab never calls CodeCommit, explains the console handshake and the push of
the demo app, and reports both until they are done. The local route runs whole in test_notebooks."""

import io
import os
import re
import subprocess
import tempfile
from contextlib import redirect_stdout
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import test_aws_mode
from botocore.stub import Stubber
from conftest import BIN
from test_account_limits import EXECUTION, stub_failed_run
from test_notebook_checks_on_aws import run_cell

import labhelpers as lh
from labhelpers import change_detection, cleanup, pipelines, prerequisites, roles, runs, source

REPOSITORY = "learner-7/awscicd-app"
CONNECTION_ARN = f"arn:aws:codeconnections:{test_aws_mode.REGION}:{test_aws_mode.ACCOUNT}:connection/0f1e"


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """test_aws_mode's AWS route under moto, with a connection source; GitHub is a folder of bare
    repositories, and the state folder (where the demo app waits to be pushed) is the test's."""
    monkeypatch.setenv("LAB_SOURCE", "connection")
    monkeypatch.setenv("LAB_SOURCE_REPOSITORY", REPOSITORY)
    monkeypatch.setenv("LABHELPERS_HOME", str(tmp_path / "state"))
    github = tmp_path / "github"
    monkeypatch.setattr(source, "GITHUB", github.as_uri())
    yield from test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path)


def connection(lab, status: str) -> dict:
    return {
        "ConnectionName": lab.names.connection,
        "ConnectionArn": CONNECTION_ARN,
        "ProviderType": "GitHub",
        "ConnectionStatus": status,
    }


def stub_connections(lab, *answers: tuple[str, str]) -> Stubber:
    """CodeConnections as AWS answers ensure_connection() each time: ("absent" | "listed", status)."""
    stubber = Stubber(lab.client("codeconnections"))
    for found, status in answers:
        listed = [connection(lab, status)] if found == "listed" else []
        stubber.add_response("list_connections", {"Connections": listed}, {"MaxResults": 100})
        if found == "absent":
            stubber.add_response(
                "create_connection",
                {"ConnectionArn": CONNECTION_ARN},
                {"ProviderType": "GitHub", "ConnectionName": lab.names.connection},
            )
        stubber.add_response(
            "get_connection", {"Connection": connection(lab, status)}, {"ConnectionArn": CONNECTION_ARN}
        )
    stubber.activate()
    return stubber


def no_codecommit(lab) -> Stubber:
    """A CodeCommit that fails the test on any call: the account may have none."""
    stubber = Stubber(lab.client("codecommit"))
    stubber.activate()
    return stubber


def ensure(lab) -> tuple[dict, str]:
    printed = io.StringIO()
    with redirect_stdout(printed):
        made = prerequisites.ensure(lab)
    return made.set_index("resource")["status"].to_dict(), printed.getvalue()


def test_a_connection_source_on_aws_must_name_the_learners_repository(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_SOURCE", "connection")
    with pytest.raises(lh.LabError, match="--source connection --repository your-user/awscicd-app"):
        next(test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path))
    monkeypatch.setenv("LAB_SOURCE_REPOSITORY", "no-owner")
    with pytest.raises(lh.LabError, match="write it as owner/name"):
        next(test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path))
    monkeypatch.setenv("LAB_SOURCE", "github")
    with pytest.raises(lh.LabError, match="'codecommit'.*'connection'"):
        next(test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path))


def test_on_aws_prerequisites_explain_the_handshake_and_the_push_until_both_are_done(lab, tmp_path):
    assert lab.banner().endswith(f"Source: GitHub {REPOSITORY} through a connection.")
    codecommit = no_codecommit(lab)
    connections = stub_connections(lab, ("absent", "PENDING"), ("listed", "PENDING"), ("listed", "AVAILABLE"))
    statuses, printed = ensure(lab)
    connection_row = "CodeConnections connection (GitHub)"
    assert statuses[connection_row] == "PENDING: finish its handshake (printed above)"
    assert statuses["GitHub repository"] == "no branch main: push the demo app (printed above)"
    assert "CodeCommit repository" not in statuses
    region = test_aws_mode.REGION
    console = f"https://{region}.console.aws.amazon.com/codesuite/settings/connections?region={region}"
    assert console in printed and "'Update pending connection'" in printed
    assert f"'AWS Connector for GitHub' app with access to {REPOSITORY}" in printed
    folder = tmp_path / "state" / "demo-app-awscicd"
    push = f"git -C {folder} push {source.GITHUB}/{REPOSITORY}.git main"
    assert push in printed
    assert f"git cannot read {source.GITHUB}/{REPOSITORY}.git (" in printed  # not made yet, here

    # The learner creates the (empty) repository: still to push, and now git can read it.
    subprocess.run(
        ["git", "init", "-q", "-b", "main", "--bare", f"{tmp_path}/github/{REPOSITORY}.git"], check=True
    )
    statuses, printed = ensure(lab)
    assert statuses["GitHub repository"] == "no branch main: push the demo app (printed above)"
    assert push in printed and "git cannot read" not in printed

    # The learner pushes as told, and finishes the handshake.
    subprocess.run(push.split(), check=True, capture_output=True)
    statuses, printed = ensure(lab)
    assert statuses[connection_row] == "existed" and statuses["GitHub repository"] == "existed"
    assert set(statuses.values()) - {"not created: pass instance=True (billable)"} <= set(prerequisites.READY)
    assert "handshake" not in printed and "push" not in printed
    pushed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", "main"],
        cwd=f"{tmp_path}/github/{REPOSITORY}.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(pushed) == sorted(prerequisites.demo_app_files())
    connections.assert_no_pending_responses()
    codecommit.assert_no_pending_responses()


def test_on_aws_the_pipeline_takes_the_connection_and_its_role_may_use_it(lab):
    stub_connections(lab, ("listed", "AVAILABLE"), ("listed", "AVAILABLE"))
    declaration = pipelines.article_pipeline(lab)
    action = declaration["pipeline"]["stages"][0]["actions"][0]
    assert action["actionTypeId"]["provider"] == "CodeStarSourceConnection"
    assert action["configuration"] == {
        "ConnectionArn": CONNECTION_ARN,
        "FullRepositoryId": REPOSITORY,
        "BranchName": "main",
        "OutputArtifactFormat": "CODE_ZIP",
    }
    assert pipelines.validate(declaration) == []
    assert not change_detection.by_rule(lab)  # GitHub tells CodePipeline of pushes: no rule, no polling
    statements = roles.permissions_policy(lab, declaration)["Statement"]
    use = [s for s in statements if "codestar-connections:UseConnection" in s["Action"]]
    assert [s["Resource"] for s in use] == [[CONNECTION_ARN]]
    assert pipelines.article_pipeline(lab) == declaration
    assert source.clone_url(lab) == f"{source.GITHUB}/{REPOSITORY}.git"
    assert source.git_credentials(lab) == []  # the learner's own GitHub credentials, not the AWS CLI's


@pytest.mark.parametrize(
    "trigger_type, pushed",
    [
        ("Webhook", True),
        ("WebhookV2", True),
        ("PollForSourceChanges", False),
        ("CloudWatchEvent", False),
        ("StartPipelineExecution", False),
    ],
)
def test_a_push_to_a_connection_source_starts_a_run_by_its_webhook(lab, trigger_type, pushed):
    assert change_detection.started_by_push(lab, trigger_type) is pushed


def test_cleanup_on_aws_deletes_the_connection(lab):
    stubber = Stubber(lab.client("codeconnections"))
    stubber.add_response("list_connections", {"Connections": [connection(lab, "AVAILABLE")]})
    stubber.add_response("delete_connection", {}, {"ConnectionArn": CONNECTION_ARN})
    stubber.add_response("list_connections", {"Connections": []})
    stubber.activate()
    with redirect_stdout(io.StringIO()):
        report = cleanup.run(lab)
    row = report[report.resource == "CodeConnections connection"]
    assert row[["name", "status"]].values.tolist() == [[lab.names.connection, "deleted"]]
    stubber.assert_no_pending_responses()


def test_the_source_is_a_class_setting_like_the_prefix(tmp_path):
    home = str(tmp_path)
    configure = [str(BIN / "labhelpers"), "configure", "--home", home]
    stored = subprocess.run(
        [*configure, "--source", "connection", "--repository", REPOSITORY], capture_output=True, text=True
    )
    assert stored.returncode == 0, stored.stderr
    assert "source     connection" in stored.stdout and f"repository {REPOSITORY}" in stored.stdout
    assert lh.lab.settings(home) == {"source": "connection", "repository": REPOSITORY}
    refused = subprocess.run([*configure, "--repository", "awscicd-app"], capture_output=True, text=True)
    assert refused.returncode == 2 and "write it as owner/name" in refused.stderr
    assert lh.lab.settings(home) == {"source": "connection", "repository": REPOSITORY}


def github_with_the_demo_app(tmp_path) -> str:
    """The learner's GitHub repository (a bare repository under source.GITHUB), the demo app pushed to it."""
    bare = tmp_path / "github" / f"{REPOSITORY}.git"
    subprocess.run(["git", "init", "-q", "-b", "main", "--bare", str(bare)], check=True)
    app = source.commit_demo_app(tmp_path / "app", prerequisites.demo_app_files())
    subprocess.run(["git", "-C", str(app), "push", "-q", str(bare), "main"], check=True, capture_output=True)
    return str(bare)


def on_github(bare: str, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=bare, capture_output=True, text=True, check=True).stdout


def test_on_aws_05_makes_its_api_commits_with_git_where_a_connection_source_has_no_codecommit(lab, tmp_path):
    """05's sections that call CodeCommit's API (PutFile) take git on AWS with a connection source; run
    here as the notebook's own cells, with any CodeCommit call failing the test."""
    bare = github_with_the_demo_app(tmp_path)
    no_codecommit(lab)
    known = pd.DataFrame({"execution_id": pd.Series([], dtype="string")})
    namespace = {
        "lab": lab,
        "names": lab.names,
        "codecommit": lab.client("codecommit"),
        "codepipeline": SimpleNamespace(disable_stage_transition=lambda **_: None),
        "history": SimpleNamespace(executions=lambda _: known),
        "source": source,
        "live_version": "v2",
        "new_version": "v3",
        **{module.__name__: module for module in (os, re, subprocess, tempfile)},
        "Path": Path,
    }
    for cell_id in ("c017", "c020", "c021"):  # the clone, as 05 makes it
        run_cell("05_trigger_on_push.ipynb", cell_id, namespace)
    with redirect_stdout(io.StringIO()):
        for cell_id in ("c039", "c040"):  # 4. the build check, committed
            run_cell("05_trigger_on_push.ipynb", cell_id, namespace)
    assert namespace["put"]["commitId"] == on_github(bare, "rev-parse", "main").strip()
    assert "demo app — v3" in on_github(bare, "show", "main:buildspec.yml")
    namespace["index"] = namespace["work"] / "index.html"  # as 05's section 2 names it
    with redirect_stdout(io.StringIO()):
        for cell_id in ("35f779ba", "6d51e998"):  # the exercise's solution, with 05's set_note
            run_cell("05_trigger_on_push.ipynb", cell_id, namespace)
    assert namespace["my_commit"] == on_github(bare, "rev-parse", "main").strip()
    assert f'<p class="note">{namespace["my_sentence"]}</p>' in on_github(bare, "show", "main:index.html")
    namespace["workspace"].cleanup()


@pytest.mark.parametrize("status", ["PENDING", "AVAILABLE", "deleted"])
def test_a_run_whose_connection_awaits_its_handshake_ends_in_the_consoles_steps(lab, status):
    """A learner who skipped the handshake: Source fails (in AWS's words), and the lab reads the connection's
    status, documented where the failure's wording is not, to say what to do."""
    connections = stub_connections(lab, ("listed", "PENDING"))
    pipeline = pipelines.article_pipeline(lab)["pipeline"]
    if status == "deleted":
        connections.add_client_error("get_connection", "ResourceNotFoundException")
    else:
        connections.add_response(
            "get_connection", {"Connection": connection(lab, status)}, {"ConnectionArn": CONNECTION_ARN}
        )
    said = "The connection is not available"  # a stand-in: AWS's wording is not documented
    runs_stubber = stub_failed_run(lab, pipeline, "Source", "Source", said, polls=2)
    if status != "PENDING":  # failed for another reason, which AWS's error says: the run as it is
        assert runs.wait(lab, EXECUTION, timeout=1)["status"] == "Failed"
    else:
        with pytest.raises(lh.LabError) as failed:
            runs.wait(lab, EXECUTION, timeout=1)
        message = str(failed.value)
        assert message.startswith(f"Source/Source of {lab.names.pipeline} failed ({said}): The connection ")
        assert "is PENDING" in message and "'Update pending connection'" in message
        assert f"access to {REPOSITORY}" in message
        assert message.endswith(f"start the run again: runs.start(lab, '{lab.names.pipeline}').")
    connections.assert_no_pending_responses()
    runs_stubber.assert_no_pending_responses()
