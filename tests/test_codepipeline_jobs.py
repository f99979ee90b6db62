"""Custom actions and their job workers on the local endpoint: a pipeline's custom action waits for a job
worker, which polls, acknowledges and answers through real boto3 and the aws CLI, as on AWS.

The module has an endpoint of its own: its custom action types would show in the shared endpoint's
ListActionTypes, which other modules compare with the built-in types."""

import io
import json
import threading
import zipfile

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import start_endpoint
from pipeline_kit import Kit

from labhelpers.local import config, process
from labhelpers.local.awsjson import AwsError
from labhelpers.local.codepipeline.customtypes import CustomActionTypes
from labhelpers.local.codepipeline.engine.actions import ActionContext, ActionFailed
from labhelpers.local.codepipeline.engine.jobs import JobBoard

SETTINGS = {
    "entityUrlTemplate": "https://ci.example.com/job/{Config:ProjectName}/",
    "executionUrlTemplate": "https://ci.example.com/job/{Config:ProjectName}/{ExternalExecutionId}/",
}
PROJECT = {
    "name": "ProjectName",
    "required": True,
    "key": True,
    "secret": False,
    "queryable": True,
    "description": "The CI project the worker builds.",
    "type": "String",
}
TOKEN = {"name": "ApiToken", "required": False, "key": False, "secret": True}


@pytest.fixture(scope="module")
def own_endpoint(tmp_path_factory):
    started = start_endpoint(tmp_path_factory.mktemp("jobs-labhome"))
    yield started
    process.stop(started.layout)


@pytest.fixture
def kit(own_endpoint, unique):
    made = Kit(own_endpoint, unique)
    made.setup({"app.txt": "hello from the source\n"})
    return made


def error_of(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def type_id(provider: str, category: str = "Build") -> dict:
    return {"category": category, "owner": "Custom", "provider": provider, "version": "1"}


def create_type(cp, provider: str, category: str = "Build", **changes) -> dict:
    declared = {
        "settings": SETTINGS,
        "configurationProperties": [PROJECT, TOKEN],
        "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 1},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
    }
    return cp.create_custom_action_type(
        category=category, provider=provider, version="1", **{**declared, **changes}
    )


def custom_stage(provider: str, **configuration) -> dict:
    return {
        "name": "Build",
        "actions": [
            {
                "name": "CustomBuild",
                "actionTypeId": type_id(provider),
                "configuration": {"ProjectName": "lab-project", **configuration},
                "inputArtifacts": [{"name": "SourceOutput"}],
                "outputArtifacts": [{"name": "BuildOutput"}],
                "namespace": "CustomBuild",
            }
        ],
    }


def poll_one(kit, provider: str, project: str = "lab-project") -> dict:
    """The job worker's loop: poll until CodePipeline has a job for it."""

    def poll():
        return kit.codepipeline.poll_for_jobs(
            actionTypeId=type_id(provider), maxBatchSize=5, queryParam={"ProjectName": project}
        )["jobs"]

    (job,) = kit.wait_for(poll, 60, f"a job of {provider}")
    return job


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def worker_s3(endpoint, credentials: dict):
    """An S3 client with the job's artifact credentials, as a job worker makes one."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=config.REGION,
        aws_access_key_id=credentials["accessKeyId"],
        aws_secret_access_key=credentials["secretAccessKey"],
        aws_session_token=credentials["sessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )


# -- a pipeline's custom action, run by a job worker -----------------------------------------------


def test_a_job_worker_runs_a_custom_action_to_success(kit, own_endpoint):
    provider = f"LabWorker{kit.unique}"
    create_type(kit.codepipeline, provider)
    execution_id = kit.create(custom_stage(provider, ApiToken="s3cr3t"))

    job = poll_one(kit, provider)
    data = job["data"]
    assert job["accountId"] == config.ACCOUNT and job["nonce"]
    assert data["actionTypeId"] == type_id(provider)
    assert data["actionConfiguration"]["configuration"] == {
        "ProjectName": "lab-project",
        "ApiToken": "s3cr3t",
    }
    assert data["pipelineContext"]["pipelineName"] == kit.pipeline
    assert data["pipelineContext"]["stage"] == {"name": "Build"}
    assert data["pipelineContext"]["action"]["name"] == "CustomBuild"
    assert data["pipelineContext"]["pipelineExecutionId"] == execution_id
    (source,) = data["inputArtifacts"]
    (output,) = data["outputArtifacts"]
    assert source["name"] == "SourceOutput" and source["location"]["type"] == "S3"
    assert output["location"]["s3Location"]["bucketName"] == kit.bucket
    # Polled once, the job is dispatched: a second poll finds nothing.
    assert (
        kit.codepipeline.poll_for_jobs(
            actionTypeId=type_id(provider), queryParam={"ProjectName": "lab-project"}
        )["jobs"]
        == []
    )

    assert error_of(kit.codepipeline.acknowledge_job, jobId=job["id"], nonce="0") == "InvalidNonceException"
    assert kit.codepipeline.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
    assert kit.codepipeline.acknowledge_job(jobId=job["id"], nonce=job["nonce"])["status"] == "InProgress"
    details = kit.codepipeline.get_job_details(jobId=job["id"])["jobDetails"]
    assert details == {"id": job["id"], "data": data, "accountId": config.ACCOUNT}

    # The worker reads its input and writes its output with the job's credentials.
    s3 = worker_s3(own_endpoint, data["artifactCredentials"])
    location = source["location"]["s3Location"]
    body = s3.get_object(Bucket=location["bucketName"], Key=location["objectKey"])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("app.txt") == b"hello from the source\n"
    target = output["location"]["s3Location"]
    s3.put_object(Bucket=target["bucketName"], Key=target["objectKey"], Body=zipped({"built.txt": "ok"}))

    kit.codepipeline.put_job_success_result(
        jobId=job["id"],
        executionDetails={
            "summary": "Built by the lab worker",
            "externalExecutionId": "run-7",
            "percentComplete": 100,
        },
        outputVariables={"Artifact": "built.txt"},
    )
    assert kit.wait_status(execution_id, "Succeeded", "Failed") == "Succeeded"
    assert error_of(kit.codepipeline.put_job_success_result, jobId=job["id"]) == "InvalidJobStateException"

    (run,) = [a for a in kit.actions(execution_id) if a["actionName"] == "CustomBuild"]
    result = run["output"]["executionResult"]
    assert result["externalExecutionId"] == "run-7"
    assert result["externalExecutionSummary"] == "Built by the lab worker"
    assert result["externalExecutionUrl"] == "https://ci.example.com/job/lab-project/run-7/"
    assert run["output"]["outputVariables"] == {"Artifact": "built.txt"}
    assert run["output"]["outputArtifacts"][0]["s3location"] == {
        "bucket": target["bucketName"],
        "key": target["objectKey"],
    }
    state = kit.stage_state("Build")["actionStates"][0]
    assert state["entityUrl"] == "https://ci.example.com/job/lab-project/"
    assert state["latestExecution"]["externalExecutionUrl"] == result["externalExecutionUrl"]


def test_a_failure_result_fails_the_action_with_its_type_and_message(kit):
    provider = f"LabFail{kit.unique}"
    create_type(kit.codepipeline, provider)
    execution_id = kit.create(custom_stage(provider))
    job = poll_one(kit, provider)
    kit.codepipeline.acknowledge_job(jobId=job["id"], nonce=job["nonce"])
    kit.codepipeline.put_job_failure_result(
        jobId=job["id"],
        failureDetails={
            "type": "ConfigurationError",
            "message": "no such CI project",
            "externalExecutionId": "x-1",
        },
    )
    assert kit.wait_status(execution_id, "Succeeded", "Failed") == "Failed"
    (run,) = [a for a in kit.actions(execution_id) if a["actionName"] == "CustomBuild"]
    assert run["status"] == "Failed"
    assert run["output"]["executionResult"]["errorDetails"] == {
        "code": "ConfigurationError",
        "message": "no such CI project",
    }
    assert run["output"]["executionResult"]["externalExecutionId"] == "x-1"
    bad_type = error_of(
        kit.codepipeline.put_job_failure_result,
        jobId=job["id"],
        failureDetails={"type": "Oops", "message": "m"},
    )
    assert bad_type == "ValidationException"


def test_a_continuation_token_posts_the_next_job_of_the_same_run(kit):
    provider = f"LabLong{kit.unique}"
    create_type(kit.codepipeline, provider)
    execution_id = kit.create(custom_stage(provider))
    first = poll_one(kit, provider)
    refused = error_of(
        kit.codepipeline.put_job_success_result,
        jobId=first["id"],
        continuationToken="step-2",
        outputVariables={"a": "b"},
    )
    assert refused == "ValidationException"
    kit.codepipeline.put_job_success_result(
        jobId=first["id"], continuationToken="step-2", executionDetails={"summary": "half way"}
    )
    second = poll_one(kit, provider)
    assert second["id"] != first["id"]
    assert second["data"]["continuationToken"] == "step-2"
    assert second["data"]["pipelineContext"] == first["data"]["pipelineContext"]
    assert kit.status(execution_id) == "InProgress"
    kit.codepipeline.put_job_success_result(jobId=second["id"], executionDetails={"summary": "done"})
    assert kit.wait_status(execution_id, "Succeeded", "Failed") == "Succeeded"


def test_abandoning_the_run_ends_its_waiting_job(kit):
    provider = f"LabStop{kit.unique}"
    create_type(kit.codepipeline, provider)
    execution_id = kit.create(custom_stage(provider))
    job = poll_one(kit, provider)
    kit.codepipeline.stop_pipeline_execution(
        pipelineName=kit.pipeline, pipelineExecutionId=execution_id, abandon=True
    )
    assert kit.wait_status(execution_id, "Stopped", "Failed", "Succeeded") == "Stopped"
    late = error_of(kit.codepipeline.put_job_success_result, jobId=job["id"])
    assert late == "InvalidJobStateException"


# -- custom action types -----------------------------------------------------------------------------


def test_custom_types_are_listed_validated_and_deleted(kit):
    cp, provider = kit.codepipeline, f"LabType{kit.unique}"
    created = create_type(cp, provider, tags=[{"key": "team", "value": "lab"}])
    assert created["actionType"]["id"] == type_id(provider)
    assert created["actionType"]["settings"] == SETTINGS
    assert created["tags"] == [{"key": "team", "value": "lab"}]
    listed = cp.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
    assert created["actionType"] in listed
    assert created["actionType"] in cp.list_action_types()["actionTypes"]
    assert all(
        t["id"]["owner"] == "AWS" for t in cp.list_action_types(actionOwnerFilter="AWS")["actionTypes"]
    )
    assert error_of(create_type, cp=cp, provider=provider) == "ValidationException"  # taken

    cp.delete_custom_action_type(category="Build", provider=provider, version="1")
    assert created["actionType"] not in cp.list_action_types(actionOwnerFilter="Custom")["actionTypes"]
    deleted_again = error_of(cp.delete_custom_action_type, category="Build", provider=provider, version="1")
    assert deleted_again == "ValidationException"
    polled = error_of(cp.poll_for_jobs, actionTypeId=type_id(provider), queryParam={"ProjectName": "p"})
    assert polled == "ActionTypeNotFoundException"
    # A deleted type comes back only as it was; changed, it needs a new version.
    changed = error_of(
        create_type, cp=cp, provider=provider, settings={"entityUrlTemplate": "https://other/"}
    )
    assert changed == "ValidationException"
    assert create_type(cp, provider)["actionType"] == created["actionType"]

    two_queryable = [PROJECT, {**PROJECT, "name": "Other"}]
    assert error_of(create_type, cp=cp, provider=f"{provider}x", configurationProperties=two_queryable) == (
        "ValidationException"
    )
    secret_query = [{**PROJECT, "secret": True}]
    assert error_of(create_type, cp=cp, provider=f"{provider}y", configurationProperties=secret_query) == (
        "ValidationException"
    )
    system_tag = error_of(create_type, cp=cp, provider=f"{provider}z", tags=[{"key": "aws:x", "value": "v"}])
    assert system_tag == "InvalidTagsException"


def test_pipelines_use_only_existing_custom_types_as_declared(kit):
    provider = f"LabDecl{kit.unique}"
    create_type(kit.codepipeline, provider)

    def refused(stage: dict) -> dict:
        with pytest.raises(ClientError) as caught:
            kit.codepipeline.create_pipeline(pipeline=kit.declaration(stage))
        return caught.value.response["Error"]

    unknown = refused(custom_stage(f"Nobody{kit.unique}"))
    assert unknown["Code"] == "InvalidActionDeclarationException"
    assert "is not available" in unknown["Message"]
    no_project = custom_stage(provider)
    no_project["actions"][0]["configuration"] = {}
    missing = refused(no_project)
    assert missing["Code"] == "InvalidActionDeclarationException"
    assert "ProjectName" in missing["Message"]
    two_inputs = custom_stage(provider)
    two_inputs["actions"][0]["inputArtifacts"] = []
    assert refused(two_inputs)["Code"] == "InvalidActionDeclarationException"


def test_poll_and_job_calls_refuse_what_aws_refuses(kit):
    cp, provider = kit.codepipeline, f"LabPoll{kit.unique}"
    create_type(cp, provider)
    aws_owned = {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
    assert error_of(cp.poll_for_jobs, actionTypeId=aws_owned) == "ValidationException"
    assert (
        error_of(cp.poll_for_jobs, actionTypeId=type_id(provider)) == "ValidationException"
    )  # no queryParam
    assert error_of(cp.poll_for_jobs, actionTypeId=type_id(provider), queryParam={"ApiToken": "x"}) == (
        "ValidationException"
    )
    unknown_job = "0f0f0f0f-1111-2222-3333-444444444444"
    assert error_of(cp.get_job_details, jobId=unknown_job) == "JobNotFoundException"
    assert error_of(cp.acknowledge_job, jobId=unknown_job, nonce="1") == "JobNotFoundException"
    assert error_of(cp.put_job_success_result, jobId=unknown_job) == "JobNotFoundException"
    malformed = kit.endpoint.call(
        "CodePipeline_20150709.GetJobDetails", {"jobId": "f4f4ff82-2d11-EXAMPLE"}, service="codepipeline"
    )
    assert malformed[0] == 400 and malformed[1]["__type"] == "ValidationException"
    assert "jobId" in malformed[1]["message"]


def test_the_cli_drives_a_custom_action(kit, tmp_path):
    provider = f"LabCli{kit.unique}"
    definition = {
        "category": "Test",
        "provider": provider,
        "version": "1",
        "settings": SETTINGS,
        "configurationProperties": [PROJECT],
        "inputArtifactDetails": {"maximumCount": 1, "minimumCount": 0},
        "outputArtifactDetails": {"maximumCount": 1, "minimumCount": 0},
    }
    (tmp_path / "action.json").write_text(json.dumps(definition))
    created = json.loads(
        kit.endpoint.run(
            ["aws", "codepipeline", "create-custom-action-type", "--cli-input-json", "file://action.json"],
            cwd=tmp_path,
        ).stdout
    )
    assert created["actionType"]["id"]["owner"] == "Custom"
    stage = {
        "name": "Test",
        "actions": [
            {
                "name": "CustomTest",
                "actionTypeId": type_id(provider, "Test"),
                "configuration": {"ProjectName": "cli-project"},
                "inputArtifacts": [{"name": "SourceOutput"}],
            }
        ],
    }
    execution_id = kit.create(stage)
    query = {
        "actionTypeId": type_id(provider, "Test"),
        "maxBatchSize": 5,
        "queryParam": {"ProjectName": "cli-project"},
    }
    (tmp_path / "poll.json").write_text(json.dumps(query))

    def poll():
        command = ["aws", "codepipeline", "poll-for-jobs", "--cli-input-json", "file://poll.json"]
        return json.loads(kit.endpoint.run(command, cwd=tmp_path).stdout)["jobs"]

    (job,) = kit.wait_for(poll, 60, "a job through the CLI")
    acknowledged = kit.endpoint.aws(
        "codepipeline", "acknowledge-job", "--job-id", job["id"], "--nonce", job["nonce"]
    )
    assert json.loads(acknowledged.stdout) == {"status": "InProgress"}
    details = json.loads(kit.endpoint.aws("codepipeline", "get-job-details", "--job-id", job["id"]).stdout)
    assert details["jobDetails"]["data"]["pipelineContext"]["stage"] == {"name": "Test"}
    kit.endpoint.aws("codepipeline", "put-job-success-result", "--job-id", job["id"])
    assert kit.wait_status(execution_id, "Succeeded", "Failed") == "Succeeded"
    # The CLI's own --version flag hides the operation's: the type is named in a JSON file, as AWS shows.
    deleting = {"category": "Test", "provider": provider, "version": "1"}
    (tmp_path / "delete.json").write_text(json.dumps(deleting))
    command = ["aws", "codepipeline", "delete-custom-action-type", "--cli-input-json", "file://delete.json"]
    assert kit.endpoint.run(command, cwd=tmp_path).stdout.strip() == ""
    listed = kit.endpoint.aws("codepipeline", "list-action-types", "--action-owner-filter", "Custom")
    assert provider not in listed.stdout


def test_custom_types_survive_a_restart(fresh_endpoint, unique):
    cp = fresh_endpoint.client("codepipeline")
    kept = create_type(cp, f"Kept{unique}")["actionType"]
    create_type(cp, f"Gone{unique}")
    cp.delete_custom_action_type(category="Build", provider=f"Gone{unique}", version="1")
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root).client("codepipeline")
    assert again.list_action_types(actionOwnerFilter="Custom")["actionTypes"] == [kept]


def test_an_unanswered_job_times_the_action_out(tmp_path):
    board = JobBoard(
        threading.Condition(threading.RLock()),
        account=config.ACCOUNT,
        custom_types=CustomActionTypes(tmp_path / "types.json"),
        credentials=lambda: {"accessKeyId": "a", "secretAccessKey": "s", "sessionToken": "t"},
        action_timeout=0.2,
    )
    declared = {
        "id": type_id("Slow"),
        "inputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
        "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 0},
    }
    board.custom_types.create(config.REGION, declared, [])
    context = ActionContext(
        pipeline="p",
        execution_id="e",
        stage="Build",
        action={"name": "Slow", "actionTypeId": type_id("Slow")},
        configuration={},
        region=config.REGION,
        bucket="b",
        inputs={},
        client=None,
        report=lambda **_: None,
        services={},
    )
    with pytest.raises(ActionFailed, match="timed out"):
        board.run(context)
    (job,) = board.jobs.values()
    assert job.status == "TimedOut" and "artifactCredentials" not in job.data  # no artifacts to reach
    with pytest.raises(AwsError) as late:
        board.finish(job.id, "Succeeded", {})
    assert late.value.code == "InvalidJobStateException"
