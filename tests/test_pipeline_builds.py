"""Build actions inside pipelines: parallel runOrder, and every way a build can fail the action."""

import io
import json
import zipfile

import pytest
from pipeline_kit import Kit

from labhelpers.local import config


@pytest.fixture
def kit(endpoint, unique):
    made = Kit(endpoint, unique)
    made.setup({"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo built\n"})
    made.create_build_role()
    return made


def project(kit, name: str, buildspec: str | None = None) -> str:
    source = {"type": "CODEPIPELINE", **({"buildspec": buildspec} if buildspec else {})}
    kit.endpoint.client("codebuild").create_project(
        name=f"{name}-{kit.unique}",
        source=source,
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{config.ACCOUNT}:role/build-role-{kit.unique}",
    )
    return f"{name}-{kit.unique}"


def build_action(name: str, project_name: str, run_order: int = 1, inputs=("SourceOutput",)) -> dict:
    return {
        "name": name,
        "runOrder": run_order,
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
        "configuration": {"ProjectName": project_name},
        "inputArtifacts": [{"name": artifact} for artifact in inputs],
    }


def failure(kit, execution: str, stage: str = "Build") -> str:
    assert kit.wait_status(execution, "Failed", "Succeeded") == "Failed"
    action = next(d for d in kit.actions(execution) if d["stageName"] == stage)
    build_id = action["output"]["executionResult"]["externalExecutionId"]
    build = kit.endpoint.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    contexts = [c["message"] for p in build["phases"] for c in p.get("contexts", []) if c.get("message")]
    return action["output"]["executionResult"]["errorDetails"]["message"] + " | " + " | ".join(contexts)


def test_equal_run_orders_run_in_parallel_and_the_next_waits_for_both(kit):
    slow = project(kit, "slow", "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 1\n")
    quick = project(kit, "quick", "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n")
    first = kit.create(
        {
            "name": "Build",
            "actions": [
                build_action("A", slow),
                build_action("B", slow),
                build_action("C", quick, run_order=2),
            ],
        }
    )
    assert kit.wait_status(first, "Succeeded", "Failed") == "Succeeded"
    runs = {d["actionName"]: d for d in kit.actions(first) if d["stageName"] == "Build"}
    a, b, c = runs["A"], runs["B"], runs["C"]
    assert a["startTime"] < b["lastUpdateTime"] and b["startTime"] < a["lastUpdateTime"], "A and B overlap"
    assert c["startTime"] >= max(a["lastUpdateTime"], b["lastUpdateTime"]), "C starts after both"


def test_a_missing_buildspec_names_the_file(kit):
    declaration = kit.declaration(
        {"name": "Build", "actions": [build_action("Build", project(kit, "plain"))]}
    )
    codecommit = kit.endpoint.client("codecommit")
    head = codecommit.get_branch(repositoryName=kit.repository, branchName="main")["branch"]["commitId"]
    codecommit.create_commit(
        repositoryName=kit.repository,
        branchName="main",
        parentCommitId=head,
        deleteFiles=[{"filePath": "buildspec.yml"}],
        putFiles=[{"filePath": "README.md", "fileContent": b"no buildspec here"}],
    )
    kit.codepipeline.create_pipeline(pipeline=declaration)
    execution = kit.wait_for(lambda: kit.executions() and kit.executions()[0]["pipelineExecutionId"])
    assert "YAML file does not exist: buildspec.yml" in failure(kit, execution)


def test_a_malformed_buildspec_gives_file_line_and_reason(kit):
    broken = "version: 0.2\nphases:\n  build:\n    commands: echo\n      - nope: [\n"
    execution = kit.create(
        {"name": "Build", "actions": [build_action("Build", project(kit, "broken", broken))]}
    )
    message = failure(kit, execution)
    assert "inline buildspec line 5, column 13: this is not valid YAML. A value holds" in message


def test_a_failing_command_reports_its_exit_code(kit):
    failing = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo about to fail\n      - exit 7\n"
    execution = kit.create(
        {"name": "Build", "actions": [build_action("Build", project(kit, "fails", failing))]}
    )
    message = failure(kit, execution)
    assert "Build terminated with state: FAILED" in message and "exit status 7" in message


def test_a_source_zip_that_escapes_its_folder_is_refused(kit):
    s3 = kit.endpoint.client("s3")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n")
        archive.writestr("../../escaped.txt", "outside")
    s3.put_object(Bucket=kit.bucket, Key="uploads/evil.zip", Body=evil.getvalue())
    declaration = kit.declaration({"name": "Build", "actions": [build_action("Build", project(kit, "zip"))]})
    declaration["stages"][0]["actions"][0].update(
        actionTypeId={"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
        configuration={
            "S3Bucket": kit.bucket,
            "S3ObjectKey": "uploads/evil.zip",
            "PollForSourceChanges": "false",
        },
    )
    kit.codepipeline.create_pipeline(pipeline=declaration)
    execution = kit.wait_for(lambda: kit.executions() and kit.executions()[0]["pipelineExecutionId"])
    message = failure(kit, execution)
    assert "../../escaped.txt" in message
    source = next(d for d in kit.actions(execution) if d["stageName"] == "Source")
    assert source["output"]["executionResult"]["externalExecutionSummary"].startswith(
        "Amazon S3 version id: "
    )
    assert json.dumps(source["output"]["outputVariables"]).count("VersionId") == 1


def test_a_pipeline_build_knows_the_commit_and_gets_codebuilds_variables(kit):
    names = (
        "AWS_DEFAULT_REGION AWS_REGION CODEBUILD_BUILD_ARN CODEBUILD_BUILD_ID CODEBUILD_BUILD_IMAGE "
        "CODEBUILD_BUILD_NUMBER CODEBUILD_BUILD_SUCCEEDING CODEBUILD_INITIATOR CODEBUILD_KMS_KEY_ID "
        "CODEBUILD_LOG_PATH CODEBUILD_PROJECT_ARN CODEBUILD_RESOLVED_SOURCE_VERSION "
        "CODEBUILD_SOURCE_REPO_URL "
        "CODEBUILD_SOURCE_VERSION CODEBUILD_SRC_DIR CODEBUILD_START_TIME"
    ).split()
    spec = (
        "version: 0.2\n"
        "env:\n  exported-variables: [SEEN, RESOLVED, INITIATOR, SOURCE, PROJECT]\n"
        "phases:\n  build:\n    commands:\n"
        "      - export SEEN=\"$(env | cut -d= -f1 | grep -E '^(CODEBUILD_|AWS_(DEFAULT_)?REGION$)' | sort"
        " | tr '\\n' ' ')\"\n"
        "      - export RESOLVED=$CODEBUILD_RESOLVED_SOURCE_VERSION INITIATOR=$CODEBUILD_INITIATOR\n"
        "      - export SOURCE=$CODEBUILD_SOURCE_VERSION PROJECT=$CODEBUILD_PROJECT_ARN\n"
    )
    name = project(kit, "variables", spec)
    execution = kit.create({"name": "Build", "actions": [build_action("Build", name)]})
    assert kit.wait_status(execution, "Succeeded", "Failed") == "Succeeded"
    commit = kit.execution(execution)["artifactRevisions"][0]["revisionId"]
    action = next(d for d in kit.actions(execution) if d["stageName"] == "Build")
    build_id = action["output"]["executionResult"]["externalExecutionId"]
    build = kit.endpoint.client("codebuild").batch_get_builds(ids=[build_id])["builds"][0]
    exported = {v["name"]: v["value"] for v in build["exportedEnvironmentVariables"]}
    assert build["resolvedSourceVersion"] == commit == exported["RESOLVED"]
    assert build["sourceVersion"].startswith("arn:aws:s3:::") and exported["SOURCE"] == build["sourceVersion"]
    assert exported["INITIATOR"] == f"codepipeline/{kit.pipeline}"
    assert exported["PROJECT"] == f"arn:aws:codebuild:{config.REGION}:{config.ACCOUNT}:project/{name}"
    assert exported["SEEN"].split() == sorted(names)
