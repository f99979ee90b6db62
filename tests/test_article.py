"""The article on the local endpoint: the pipeline JSON, the CLI transcript, stages going green one after
another, artifacts in the bucket, the build's phases and log, and the deployed page."""

import io
import json
import time
import urllib.request
import uuid
import zipfile

import pytest

import labhelpers as lh
from labhelpers import pipelines, prerequisites
from labhelpers.lab import _restore_environ

ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture
def lab(endpoint):
    """A Lab on the shared endpoint with resource names of its own, and what the article assumes."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"t{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    yield made
    _restore_environ()


def make_role(lab, policy: str = ADMIN):
    iam = lab.client("iam")
    iam.create_role(
        RoleName=lab.names.pipeline_role,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"Service": "codepipeline.amazonaws.com"},
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(RoleName=lab.names.pipeline_role, PolicyName="pipeline", PolicyDocument=policy)


def poll_states(endpoint, name: str, until: str, timeout: float = 60) -> list[str]:
    """The article's polling command, run until `until` appears; the distinct lines seen, in order."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = endpoint.aws(
            "codepipeline",
            "get-pipeline-state",
            "--name",
            name,
            "--query",
            "stageStates[].[stageName,latestExecution.status]",
            "--output",
            "text",
        ).stdout
        line = " ".join(
            f"{stage}:{status}" for stage, status in (row.split("\t") for row in line.splitlines())
        )
        if not seen or seen[-1] != line:
            seen.append(line)
        if until in line or "Failed" in line:
            return seen
    raise AssertionError(f"the pipeline did not reach {until}; last state: {seen[-1:]}")


def zip_names(s3, bucket: str, key: str) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    return {name: archive.read(name) for name in archive.namelist()}


def test_the_article_transcript_runs_verbatim(endpoint, lab, tmp_path):
    make_role(lab)
    path = pipelines.save(pipelines.article_pipeline(lab), tmp_path / "pipeline.json")
    created = endpoint.run(
        [
            "aws",
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            "file://pipeline.json",
            "--query",
            "pipeline.[name,pipelineType]",
            "--output",
            "text",
        ],
        cwd=path.parent,
    )
    assert created.stdout == f"{lab.names.pipeline}\tV2\n"
    seen = poll_states(endpoint, lab.names.pipeline, "Deploy:Succeeded")
    assert seen[-1] == "Source:Succeeded Build:Succeeded Deploy:Succeeded"
    order = ["Source", "Build", "Deploy"]
    for line in seen:  # stages go green in order: a stage never runs before the one ahead succeeded
        states = dict(part.split(":") for part in line.split())
        for ahead, behind in zip(order, order[1:], strict=False):
            if states[behind] != "None":
                assert states[ahead] == "Succeeded", seen
    instance = prerequisites.find_target(lab)
    page = urllib.request.urlopen(f"{endpoint.url}/_lab/instances/{instance}/").read().decode()
    assert "awscicd demo app — v2" in page


def test_artifacts_flow_through_the_bucket_and_the_build_reads_back(endpoint, lab, tmp_path):
    make_role(lab)
    pipeline = pipelines.article_pipeline(lab)
    pipeline["pipeline"]["stages"] = pipeline["pipeline"]["stages"][:2]  # Source -> Build
    path = pipelines.save(pipeline, tmp_path / "two-stages.json")
    endpoint.aws("codepipeline", "create-pipeline", "--cli-input-json", f"file://{path}")
    assert (
        poll_states(endpoint, lab.names.pipeline, "Build:Succeeded")[-1] == "Source:Succeeded Build:Succeeded"
    )
    s3, codepipeline = lab.client("s3"), lab.client("codepipeline")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=lab.names.bucket)["Contents"]]
    prefix = lab.names.pipeline[:20]
    # AWS cuts artifact names to 10 characters: SourceOutput -> SourceOutp (SourceArtifact -> SourceArti).
    source_key = next(k for k in keys if k.startswith(f"{prefix}/SourceOutp/"))
    build_key = next(k for k in keys if k.startswith(f"{prefix}/BuildOutpu/"))
    assert zip_names(s3, lab.names.bucket, source_key).keys() == prerequisites.demo_app_files().keys()
    assert (
        zip_names(s3, lab.names.bucket, source_key)["index.html"]
        == prerequisites.demo_app_files()["index.html"]
    )
    built = zip_names(s3, lab.names.bucket, build_key)
    assert sorted(built) == [
        "appspec.yml",
        "index.html",
        "scripts/install_dependencies.sh",
        "scripts/start_server.sh",
        "scripts/stop_server.sh",
        "scripts/validate.sh",
    ]
    details = codepipeline.list_action_executions(pipelineName=lab.names.pipeline)["actionExecutionDetails"]
    build = next(d for d in details if d["stageName"] == "Build")
    assert build["input"]["inputArtifacts"][0]["s3location"]["key"] == source_key, "Build used Source's zip"
    build_id = build["output"]["executionResult"]["externalExecutionId"]
    found = json.loads(endpoint.aws("codebuild", "batch-get-builds", "--ids", build_id).stdout)["builds"][0]
    assert found["buildStatus"] == "SUCCEEDED"
    assert found["sourceVersion"] == f"arn:aws:s3:::{lab.names.bucket}/{source_key}"
    phases = [p["phaseType"] for p in found["phases"]]
    assert phases[:3] == ["SUBMITTED", "QUEUED", "PROVISIONING"] and "BUILD" in phases
    log = json.loads(
        endpoint.aws(
            "logs",
            "get-log-events",
            "--log-group-name",
            found["logs"]["groupName"],
            "--log-stream-name",
            found["logs"]["streamName"],
        ).stdout
    )
    lines = [event["message"] for event in log["events"]]
    assert any("Running command" in line for line in lines)
    assert any("index.html, appspec.yml and scripts/ are ready" in line for line in lines)


def _failed_action(lab, stage: str) -> dict:
    codepipeline = lab.client("codepipeline")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        details = codepipeline.list_action_executions(pipelineName=lab.names.pipeline)[
            "actionExecutionDetails"
        ]
        done = [d for d in details if d["stageName"] == stage and d["status"] != "InProgress"]
        if done:
            return done[0]
        time.sleep(0.05)
    raise AssertionError(f"{stage} did not finish")


@pytest.mark.parametrize(
    ("denied", "stage"),
    [
        ("codecommit:GetBranch", "Source"),
        ("s3:PutObject", "Source"),
        ("codebuild:StartBuild", "Build"),
        ("s3:GetObject", "Build"),
        ("codedeploy:CreateDeployment", "Deploy"),
        ("codedeploy:GetDeploymentConfig", "Deploy"),
    ],
)
def test_a_role_missing_a_permission_fails_that_action(lab, denied, stage):
    make_role(
        lab,
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": denied, "Resource": "*"},
                ],
            }
        ),
    )
    lab.client("codepipeline").create_pipeline(**pipelines.article_pipeline(lab))
    failed = _failed_action(lab, stage)
    assert failed["status"] == "Failed"
    assert (
        f"is not authorized to perform: {denied}"
        in failed["output"]["executionResult"]["errorDetails"]["message"]
    )


def test_a_failed_build_retried_after_fixing_the_project_succeeds_in_the_same_execution(lab):
    make_role(lab)
    codebuild, codepipeline = lab.client("codebuild"), lab.client("codepipeline")
    project = codebuild.batch_get_projects(names=[lab.names.build_project])["projects"][0]
    codebuild.delete_project(name=lab.names.build_project)
    broken = "version: 0.2\nphases:\n  build:\n    commands:\n      - exit 3\n"
    create = {key: project[key] for key in ("name", "source", "artifacts", "environment", "serviceRole")}
    codebuild.create_project(**{**create, "source": {"type": "CODEPIPELINE", "buildspec": broken}})
    codepipeline.create_pipeline(**pipelines.article_pipeline(lab))
    failed = _failed_action(lab, "Build")
    assert failed["status"] == "Failed"
    execution = failed["pipelineExecutionId"]
    build = codebuild.batch_get_builds(ids=[failed["output"]["executionResult"]["externalExecutionId"]])[
        "builds"
    ][0]
    build_phase = next(p for p in build["phases"] if p["phaseType"] == "BUILD")
    assert "exit status 3" in build_phase["contexts"][0]["message"]
    codebuild.delete_project(name=lab.names.build_project)
    codebuild.create_project(**create)  # the fix: back to the repository's buildspec.yml
    codepipeline.retry_stage_execution(
        pipelineName=lab.names.pipeline,
        stageName="Build",
        pipelineExecutionId=execution,
        retryMode="FAILED_ACTIONS",
    )
    deadline = time.monotonic() + 60
    while (
        codepipeline.get_pipeline_execution(pipelineName=lab.names.pipeline, pipelineExecutionId=execution)[
            "pipelineExecution"
        ]["status"]
        == "InProgress"
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert (
        codepipeline.get_pipeline_execution(pipelineName=lab.names.pipeline, pipelineExecutionId=execution)[
            "pipelineExecution"
        ]["status"]
        == "Succeeded"
    )
    builds = [
        d
        for d in codepipeline.list_action_executions(
            pipelineName=lab.names.pipeline, filter={"pipelineExecutionId": execution}
        )["actionExecutionDetails"]
        if d["stageName"] == "Build"
    ]
    assert [d["status"] for d in builds] == ["Succeeded", "Failed"], "both attempts stay in the history"
    build_state = next(
        s
        for s in codepipeline.get_pipeline_state(name=lab.names.pipeline)["stageStates"]
        if s["stageName"] == "Build"
    )
    assert build_state["retryStageMetadata"]["manualStageRetryAttempt"] == 1
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as again:
        codepipeline.retry_stage_execution(
            pipelineName=lab.names.pipeline,
            stageName="Build",
            pipelineExecutionId=execution,
            retryMode="FAILED_ACTIONS",
        )
    assert again.value.response["Error"]["Code"] == "StageNotRetryableException"
