"""What a new AWS account refuses, in the lab's words: CodeBuild's quota of builds at once (a direct
StartBuild, and a pipeline run whose build could not start), CodeCommit closed to new customers.
LAB_BACKEND=aws under moto in-process, with botocore's Stubber giving AWS's answers."""

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
import test_aws_mode
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from test_aws_mode import REGION

import labhelpers as lh
from labhelpers import account_limits, pipelines, prerequisites, runs

QUEUE_REFUSAL = "Cannot have more than {} builds in queue for the account"
# How a pipeline action shows CodeBuild's refusal, as public reports quote it.
ACTION_REFUSAL = (
    "Error calling startBuild: Cannot have more than {} builds in queue for the account (Service: "
    "AWSCodeBuild; Status Code: 400; Error Code: AccountLimitExceededException; Request ID: 0c2c1c8e)"
)
EXECUTION = "e" * 8 + "-0000-4000-8000-" + "0" * 12
QUOTA_REQUEST = "aws service-quotas request-service-quota-increase --service-code codebuild"


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """test_aws_mode's: connect("aws") inside mock_aws, with every route to AWS or a local endpoint closed."""
    yield from test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path)


def test_a_start_build_the_quota_refuses_names_the_quota_and_how_to_raise_it(lab):
    codebuild = lab.client("codebuild")
    stubber = Stubber(codebuild)
    stubber.add_client_error(
        "start_build",
        "AccountLimitExceededException",
        QUEUE_REFUSAL.format(0),
        expected_params={"projectName": "p"},
    )
    stubber.add_client_error("start_build", "ResourceNotFoundException", "Project cannot be found: arn:...")
    stubber.activate()
    with pytest.raises(lh.AccountLimitError) as refused:
        codebuild.start_build(projectName="p")
    message = str(refused.value)
    assert f"the account may have no more than 0 builds in {REGION}" in message
    assert f"'{account_limits.BUILD_QUOTA}' in {REGION} to 1" in message
    assert (
        f"{QUOTA_REQUEST} --region {REGION} --quota-code <the code printed above> --desired-value 1"
        in message
    )
    assert f"https://{REGION}.console.aws.amazon.com/servicequotas/home/services/codebuild/quotas" in message
    cause = refused.value.__cause__
    assert (
        isinstance(cause, ClientError) and cause.response["Error"]["Code"] == "AccountLimitExceededException"
    )
    with pytest.raises(
        ClientError, match="ResourceNotFoundException"
    ) as other:  # other errors pass as they are
        codebuild.start_build(projectName="p")
    assert not isinstance(other.value, lh.LabError)
    stubber.assert_no_pending_responses()


def _parallel_checks(declaration: dict) -> dict:
    """07's shape: the Build stage runs a unit test and a lint build side by side (same runOrder)."""
    pipeline = copy.deepcopy(declaration["pipeline"])
    (build,) = pipeline["stages"][1]["actions"]
    lint = {**copy.deepcopy(build), "name": "Lint", "outputArtifacts": []}
    pipeline["stages"][1]["actions"] = [{**build, "name": "UnitTest"}, lint]
    return pipeline


def stub_failed_run(lab, pipeline: dict, stage: str, action: str, message: str, *, polls: int) -> Stubber:
    """CodePipeline's answers for a run whose `stage`/`action` failed with `message`, read `polls` times."""
    stubber = Stubber(lab.client("codepipeline"))
    start = datetime(2026, 12, 6, 11, 0, tzinfo=UTC)
    stubber.add_response("get_pipeline", {"pipeline": pipeline}, {"name": pipeline["name"]})
    execution = {"pipelineName": pipeline["name"], "pipelineExecutionId": EXECUTION, "status": "Failed"}
    for _ in range(polls):
        stubber.add_response("get_pipeline_execution", {"pipelineExecution": execution})
    failed = [s["name"] for s in pipeline["stages"]].index(stage)  # the stages before it succeeded
    statuses = ["Succeeded"] * failed + ["Failed"]
    states = [
        {"stageName": s["name"], "latestExecution": {"pipelineExecutionId": EXECUTION, "status": status}}
        for s, status in zip(pipeline["stages"][: failed + 1], statuses, strict=True)
    ]
    stubber.add_response("get_pipeline_state", {"pipelineName": pipeline["name"], "stageStates": states})
    earlier = [(pipeline["stages"][0]["name"], pipeline["stages"][0]["actions"][0]["name"], "Succeeded")]
    details = [
        {
            "pipelineExecutionId": EXECUTION,
            "actionExecutionId": f"a-{name}",
            "stageName": where,
            "actionName": name,
            "startTime": start,
            "lastUpdateTime": start + timedelta(seconds=5),
            "status": status,
            "output": {"executionResult": {"errorDetails": {"code": "JobFailed", "message": message}}}
            if status == "Failed"
            else {},
        }
        for where, name, status in [*earlier[:failed], (stage, action, "Failed")]
    ]
    stubber.add_response("list_action_executions", {"actionExecutionDetails": details})
    stubber.activate()
    return stubber


def test_a_run_whose_build_the_quota_refused_ends_in_the_lab_words(lab):
    pipeline = pipelines.article_pipeline(lab)["pipeline"]
    stubber = stub_failed_run(lab, pipeline, "Build", "Build", ACTION_REFUSAL.format(0), polls=2)
    with pytest.raises(lh.AccountLimitError) as refused:
        runs.wait(lab, EXECUTION, timeout=1)
    message = str(refused.value)
    assert message.startswith("CodeBuild refused to start the build of Build/Build: ")
    assert "no more than 0 builds" in message and "--desired-value 1" in message
    assert "builds at once, so it needs" not in message  # the article's pipeline runs one build at a time
    assert "runs.start(lab)" in message and "connect('local')" in message
    stubber.assert_no_pending_responses()


def test_parallel_builds_that_the_quota_refuses_ask_for_two(lab, capsys):
    pipeline = _parallel_checks(pipelines.article_pipeline(lab))
    stubber = stub_failed_run(lab, pipeline, "Build", "Lint", ACTION_REFUSAL.format(1), polls=1)
    with pytest.raises(lh.AccountLimitError) as refused:
        runs.watch(lab, execution_id=EXECUTION, timeout=1)
    message = str(refused.value)
    assert "the build of Build/Lint" in message and "no more than 1 build in" in message
    assert "This pipeline runs 2 builds at once, so it needs 2." in message
    assert f"'{account_limits.BUILD_QUOTA}' in {REGION} to 2" in message and "--desired-value 2" in message
    printed = capsys.readouterr().out
    assert f"Execution {EXECUTION} Failed" in printed  # the run is shown before it is explained
    stubber.assert_no_pending_responses()


def test_a_run_that_failed_otherwise_is_returned_as_before(lab):
    pipeline = pipelines.article_pipeline(lab)["pipeline"]
    denied = "Insufficient permissions: ... is not authorized to perform: codebuild:StartBuild"
    stubber = stub_failed_run(lab, pipeline, "Build", "Build", denied, polls=2)
    assert runs.wait(lab, EXECUTION, timeout=1)["status"] == "Failed"
    stubber.assert_no_pending_responses()


def test_a_refused_repository_is_a_lab_error_with_the_ways_on(lab):
    name = lab.names.repository
    stubber = Stubber(lab.client("codecommit"))
    stubber.add_client_error("get_repository", "RepositoryDoesNotExistException")
    stubber.add_client_error(
        "create_repository",
        "OperationNotAllowedException",
        "CreateRepository request is not allowed because there is no existing repository in this AWS account "
        "or AWS Organization",
    )
    stubber.activate()
    with pytest.raises(lh.AccountLimitError) as refused:
        prerequisites.ensure_repository(lab)
    message = str(refused.value)
    assert message.startswith(f"CodeCommit refused to create the repository {name} in {REGION} ")
    assert "OperationNotAllowedException: CreateRepository request is not allowed" in message
    assert "closed CodeCommit to new customers" in message
    assert "connect('local')" in message
    assert "labhelpers configure --source connection --repository your-user/awscicd-app" in message
    assert refused.value.__cause__.response["Error"]["Code"] == "OperationNotAllowedException"
    stubber.assert_no_pending_responses()


def test_the_build_role_may_read_the_artifact_buckets_acl_and_location(lab):
    prerequisites.ensure_build_project(lab)
    names = lab.names
    document = lab.client("iam").get_role_policy(
        RoleName=names.build_role, PolicyName=f"{names.build_role}-policy"
    )
    policy = document["PolicyDocument"]
    statements = json.loads(policy)["Statement"] if isinstance(policy, str) else policy["Statement"]
    bucket = [s for s in statements if s["Resource"] == f"arn:aws:s3:::{names.bucket}"]
    assert [s["Action"] for s in bucket] == [["s3:GetBucketAcl", "s3:GetBucketLocation"]]
