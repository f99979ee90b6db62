"""The engine's flow on the real endpoint: stage locks and execution modes, approvals, stops, transitions,
variables and restarts. Approval gates hold runs where a test wants them, so nothing depends on timing."""

import json

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint
from pipeline_kit import Kit, approval_stage

from labhelpers.local import config, process


@pytest.fixture
def kit(endpoint, unique):
    made = Kit(endpoint, unique)
    made.setup()
    return made


def test_creation_starts_a_run_that_goes_through_the_stages(kit):
    first = kit.create(approval_stage())
    caller = kit.endpoint.client("sts").get_caller_identity()["Arn"]
    assert caller == config.caller_arn() == f"arn:aws:iam::{config.ACCOUNT}:user/lab"  # the lab's own user
    assert kit.execution(first)["trigger"] == {"triggerType": "CreatePipeline", "triggerDetail": caller}
    token = kit.approval_token("Approve", first)
    states = {s["stageName"]: s.get("latestExecution", {}).get("status") for s in kit.state()["stageStates"]}
    assert states == {"Source": "Succeeded", "Approve": "InProgress"}
    kit.answer("Approve", token)
    assert kit.wait_status(first, "Succeeded", "Failed") == "Succeeded"
    source = next(a for a in kit.actions(first) if a["stageName"] == "Source")
    approve = next(a for a in kit.actions(first) if a["stageName"] == "Approve")
    assert (approve["output"]["outputArtifacts"], approve["output"]["outputVariables"]) == ([], {})
    assert (
        source["output"]["outputVariables"]["CommitId"]
        == source["output"]["executionResult"]["externalExecutionId"]
    )
    source_state = kit.stage_state("Source")["actionStates"][0]
    assert source_state["revisionUrl"] == source["output"]["executionResult"]["externalExecutionUrl"]
    location = source["output"]["outputArtifacts"][0]["s3location"]
    assert location["bucket"] == kit.bucket
    assert (
        location["key"].startswith(f"{kit.pipeline[:20]}/SourceOutp/")
        and len(location["key"].split("/")[-1]) == 7
    )


def test_superseded_waits_only_between_stages(kit):
    first = kit.create(approval_stage())
    token = kit.approval_token("Approve", first)
    second = kit.start()
    kit.wait_for(
        lambda: kit.stage_state("Approve").get("inboundExecution", {}).get("pipelineExecutionId") == second
    )
    third = kit.start()
    assert kit.wait_status(second, "Superseded") == "Superseded"
    assert kit.status(first) == "InProgress", "a running stage is never interrupted"
    kit.answer("Approve", token)
    assert kit.wait_status(first, "Succeeded") == "Succeeded"
    kit.answer("Approve", kit.approval_token("Approve", third))
    assert kit.wait_status(third, "Succeeded") == "Succeeded"
    assert [e["status"] for e in kit.executions()] == ["Succeeded", "Superseded", "Succeeded"]


def test_queued_runs_one_by_one_in_order(kit):
    first = kit.create(approval_stage(), mode="QUEUED")
    first_token = kit.approval_token("Approve", first)
    second, third = kit.start(), kit.start()
    kit.wait_for(lambda: len(kit.stage_state("Approve").get("inboundExecutions", [])) == 2)
    inbound = [e["pipelineExecutionId"] for e in kit.stage_state("Approve")["inboundExecutions"]]
    assert inbound == [second, third]
    kit.answer("Approve", first_token)
    kit.answer("Approve", kit.approval_token("Approve", second))
    assert kit.status(third) == "InProgress"
    kit.answer("Approve", kit.approval_token("Approve", third))
    assert kit.wait_status(third, "Succeeded") == "Succeeded"
    assert [e["status"] for e in kit.executions()] == ["Succeeded"] * 3


def test_parallel_runs_do_not_wait_for_each_other(kit):
    first = kit.create(approval_stage(), mode="PARALLEL")
    second = kit.start()
    waiting = [d for d in kit.actions(second) if d["stageName"] == "Approve"]
    kit.wait_for(lambda: [d for d in kit.actions(second) if d["stageName"] == "Approve"])
    waiting = [d for d in kit.actions(first) + kit.actions(second) if d["stageName"] == "Approve"]
    assert {d["status"] for d in waiting} == {"InProgress"} and len(waiting) == 2
    # In PARALLEL mode the state shows no token; the action's externalExecutionId is the token.
    assert "token" not in kit.stage_state("Approve")["actionStates"][0]["latestExecution"]
    for detail in waiting:
        kit.answer("Approve", detail["output"]["executionResult"]["externalExecutionId"])
    for execution in (first, second):
        assert kit.wait_status(execution, "Succeeded") == "Succeeded"


def test_rejection_fails_the_stage_and_the_run(kit):
    first = kit.create(approval_stage(), approval_stage("Later"))
    token = kit.approval_token("Approve", first)
    kit.answer("Approve", token, status="Rejected", summary="not today")
    assert kit.wait_status(first, "Failed") == "Failed"
    approve = kit.stage_state("Approve")
    assert approve["latestExecution"]["status"] == "Failed"
    assert approve["actionStates"][0]["latestExecution"]["summary"] == "not today"
    assert "latestExecution" not in kit.stage_state("Later"), "later stages do not run"
    with pytest.raises(ClientError) as again:
        kit.answer("Approve", token)
    assert again.value.response["Error"]["Code"] == "ApprovalAlreadyCompletedException"
    with pytest.raises(ClientError) as stale:
        kit.answer("Approve", "00000000-0000-0000-0000-000000000000")
    assert stale.value.response["Error"]["Code"] == "InvalidApprovalTokenException"


def test_variables_resolve_in_configuration(kit):
    commit = kit.endpoint.client("codecommit").get_branch(repositoryName=kit.repository, branchName="main")[
        "branch"
    ]["commitId"]
    declaration = kit.declaration(
        approval_stage(
            CustomData="#{SourceVariables.CommitId} #{variables.Target} #{codepipeline.PipelineExecutionId}"
        ),
        variables=[{"name": "Target", "defaultValue": "beta"}],
    )
    declaration["stages"][0]["actions"][0]["namespace"] = "SourceVariables"
    kit.codepipeline.create_pipeline(pipeline=declaration)
    first = kit.wait_for(lambda: kit.executions() and kit.executions()[0]["pipelineExecutionId"])
    second = kit.start(variables=[{"name": "Target", "value": "prod"}])
    kit.approval_token("Approve", first)
    approve = next(d for d in kit.actions(first) if d["stageName"] == "Approve")
    assert approve["input"]["resolvedConfiguration"]["CustomData"] == f"{commit} beta {first}"
    assert {"name": "Target", "resolvedValue": "prod"} in kit.execution(second)["variables"]


def test_client_request_token_is_idempotent_and_unknown_variables_refused(kit):
    kit.create(approval_stage())
    once = kit.start(clientRequestToken="same-request")
    assert kit.start(clientRequestToken="same-request") == once
    with pytest.raises(ClientError) as refused:
        kit.start(variables=[{"name": "Nope", "value": "x"}])
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_stop_and_wait_then_abandon(kit):
    first = kit.create(approval_stage())
    kit.approval_token("Approve", first)
    kit.codepipeline.stop_pipeline_execution(
        pipelineName=kit.pipeline, pipelineExecutionId=first, reason="stop for a fix"
    )
    assert kit.status(first) == "Stopping", "stop and wait lets the approval run on"
    assert kit.stage_state("Approve")["latestExecution"]["status"] == "Stopping"
    assert kit.stage_state("Approve")["actionStates"][0]["latestExecution"]["status"] == "InProgress"
    with pytest.raises(ClientError) as twice:
        kit.codepipeline.stop_pipeline_execution(pipelineName=kit.pipeline, pipelineExecutionId=first)
    assert twice.value.response["Error"]["Code"] == "DuplicatedStopRequestException"
    kit.codepipeline.stop_pipeline_execution(
        pipelineName=kit.pipeline, pipelineExecutionId=first, abandon=True
    )
    assert kit.wait_status(first, "Stopped") == "Stopped"
    approve = next(d for d in kit.actions(first) if d["stageName"] == "Approve")
    assert approve["status"] == "Abandoned"
    assert kit.executions()[-1]["stopTrigger"] == {"reason": "stop for a fix"}
    with pytest.raises(ClientError) as finished:
        kit.codepipeline.stop_pipeline_execution(pipelineName=kit.pipeline, pipelineExecutionId=first)
    assert finished.value.response["Error"]["Code"] == "PipelineExecutionNotStoppableException"


def test_stop_and_wait_shows_stopping_until_the_action_ends_then_stopped(kit):
    first = kit.create(approval_stage())
    token = kit.approval_token("Approve", first)
    kit.codepipeline.stop_pipeline_execution(pipelineName=kit.pipeline, pipelineExecutionId=first)
    assert kit.stage_state("Approve")["latestExecution"]["status"] == "Stopping"
    kit.answer("Approve", token)
    assert kit.wait_status(first, "Stopped", "Succeeded") == "Stopped"
    stage = kit.stage_state("Approve")
    assert stage["latestExecution"]["status"] == "Stopped"
    assert stage["actionStates"][0]["latestExecution"]["status"] == "Succeeded"
    caller = kit.endpoint.client("sts").get_caller_identity()["Arn"]
    assert stage["actionStates"][0]["latestExecution"]["lastUpdatedBy"] == caller


def test_a_disabled_transition_holds_the_run_until_enabled(kit):
    first = kit.create(approval_stage(), approval_stage("Gate"))
    kit.codepipeline.disable_stage_transition(
        pipelineName=kit.pipeline, stageName="Gate", transitionType="Inbound", reason="hold for review"
    )
    kit.answer("Approve", kit.approval_token("Approve", first))
    kit.wait_for(
        lambda: kit.stage_state("Gate").get("inboundExecution", {}).get("pipelineExecutionId") == first
    )
    gate = kit.stage_state("Gate")
    assert gate["inboundTransitionState"]["enabled"] is False
    assert gate["inboundTransitionState"]["disabledReason"] == "hold for review"
    assert "latestExecution" not in gate
    kit.codepipeline.enable_stage_transition(
        pipelineName=kit.pipeline, stageName="Gate", transitionType="Inbound"
    )
    kit.answer("Gate", kit.approval_token("Gate", first))
    assert kit.wait_status(first, "Succeeded") == "Succeeded"


def lambda_action(name: str = "Invoke", run_order: int = 1) -> dict:
    """An action the local engine cannot run: it fails at once."""
    return {
        "name": name,
        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
        "configuration": {"FunctionName": "my-function"},
        "runOrder": run_order,
    }


def approval_action(name: str, run_order: int = 1) -> dict:
    return {**approval_stage(name)["actions"][0], "runOrder": run_order}


def action_token(kit, stage: str, action: str, execution_id: str) -> str:
    """The token of the approval `action` when it waits in `execution_id`."""

    def token():
        waiting = [
            d
            for d in kit.actions(execution_id)
            if (d["stageName"], d["actionName"], d["status"]) == (stage, action, "InProgress")
        ]
        states = {
            s["actionName"]: s.get("latestExecution", {}) for s in kit.stage_state(stage)["actionStates"]
        }
        return waiting and states[action].get("token")

    return kit.wait_for(token, 30, f"approval {stage}/{action} of {execution_id}")


def approve(kit, stage: str, action: str, token: str) -> None:
    kit.codepipeline.put_approval_result(
        pipelineName=kit.pipeline,
        stageName=stage,
        actionName=action,
        result={"status": "Approved", "summary": "ok"},
        token=token,
    )


def test_one_failed_action_fails_its_parallel_group_its_stage_and_the_run(kit):
    checks = {"name": "Checks", "actions": [approval_action("Review"), lambda_action("Invoke")]}
    first = kit.create(checks, approval_stage("Later"))
    token = action_token(kit, "Checks", "Review", first)
    kit.wait_for(
        lambda: any(d["actionName"] == "Invoke" and d["status"] == "Failed" for d in kit.actions(first)),
        what="the Invoke action to fail",
    )
    assert kit.status(first) == "InProgress", "the stage waits for its other running action"
    approve(kit, "Checks", "Review", token)
    assert kit.wait_status(first, "Failed", "Succeeded") == "Failed"
    assert kit.stage_state("Checks")["latestExecution"]["status"] == "Failed"
    ended = {d["actionName"]: d["status"] for d in kit.actions(first) if d["stageName"] == "Checks"}
    assert ended == {"Review": "Succeeded", "Invoke": "Failed"}
    assert "latestExecution" not in kit.stage_state("Later"), "a failed stage ends the run"


def test_run_order_not_the_order_of_declaration_decides_what_runs_first(kit):
    gate = {
        "name": "Gate",
        "actions": [approval_action("C", 2), approval_action("A", 1), approval_action("B", 1)],
    }
    first = kit.create(gate)
    tokens = {name: action_token(kit, "Gate", name, first) for name in ("A", "B")}
    started = {d["actionName"] for d in kit.actions(first) if d["stageName"] == "Gate"}
    assert started == {"A", "B"}, "runOrder 1 runs first, together; C (runOrder 2) waits"
    approve(kit, "Gate", "A", tokens["A"])
    assert "C" not in {d["actionName"] for d in kit.actions(first)}, "C waits for all of runOrder 1"
    approve(kit, "Gate", "B", tokens["B"])
    approve(kit, "Gate", "C", action_token(kit, "Gate", "C", first))
    assert kit.wait_status(first, "Succeeded", "Failed") == "Succeeded"
    details = {d["actionName"]: d for d in kit.actions(first) if d["stageName"] == "Gate"}
    assert details["C"]["startTime"] >= max(details[name]["lastUpdateTime"] for name in ("A", "B"))


def test_an_action_the_engine_cannot_run_fails_with_a_clear_message(kit):
    lambda_stage = {"name": "Invoke", "actions": [lambda_action()]}
    first = kit.create(lambda_stage)
    assert kit.wait_status(first, "Failed") == "Failed"
    failed = next(d for d in kit.actions(first) if d["stageName"] == "Invoke")
    assert (
        "cannot run AWS Invoke actions with provider Lambda"
        in failed["output"]["executionResult"]["errorDetails"]["message"]
    )


def test_missing_branch_fails_the_source_with_what_to_do(kit):
    kit.endpoint.client("codecommit").create_branch(
        repositoryName=kit.repository,
        branchName="keep",
        commitId=kit.endpoint.client("codecommit").get_branch(
            repositoryName=kit.repository, branchName="main"
        )["branch"]["commitId"],
    )
    declaration = kit.declaration(approval_stage())
    declaration["stages"][0]["actions"][0]["configuration"]["BranchName"] = "no-such-branch"
    kit.codepipeline.create_pipeline(pipeline=declaration)
    first = kit.wait_for(lambda: kit.executions() and kit.executions()[0]["pipelineExecutionId"])
    assert kit.wait_status(first, "Failed") == "Failed"
    message = kit.actions(first)[0]["output"]["executionResult"]["errorDetails"]["message"]
    assert "no-such-branch" in message and "git push" in message


def test_a_run_interrupted_by_a_restart_ends_failed_with_a_reason(fresh_endpoint, unique):
    kit = Kit(fresh_endpoint, unique)
    kit.setup()
    first = kit.create(approval_stage())
    kit.approval_token("Approve", first)
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root)
    kit = Kit(again, unique)
    execution = kit.execution(first)
    assert execution["status"] == "Failed"
    assert "local endpoint stopped" in execution["statusSummary"]
    approve = next(d for d in kit.actions(first) if d["stageName"] == "Approve")
    assert approve["status"] == "Failed"
    second = kit.start()
    kit.answer("Approve", kit.approval_token("Approve", second))
    assert kit.wait_status(second, "Succeeded") == "Succeeded"


def test_a_role_without_the_source_permission_fails_the_action_as_aws_does(kit):
    iam = kit.endpoint.client("iam")
    iam.put_role_policy(
        RoleName=kit.role,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {
                        "Effect": "Allow",
                        "Action": ["codecommit:GetBranch", "codecommit:GetCommit"],
                        "Resource": "*",
                    },
                ],
            }
        ),
    )
    first = kit.create(approval_stage())
    assert kit.wait_status(first, "Failed") == "Failed"
    error = kit.actions(first)[0]["output"]["executionResult"]["errorDetails"]["message"]
    repository_arn = f"arn:aws:codecommit:ap-southeast-1:111122223333:{kit.repository}"
    assert f"is not authorized to perform: codecommit:UploadArchive on resource: {repository_arn}" in error
    iam.put_role_policy(
        RoleName=kit.role,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
                ],
            }
        ),
    )
    second = kit.start()
    assert kit.wait_status(second, "Failed") == "Failed"
    error = kit.actions(second)[0]["output"]["executionResult"]["errorDetails"]["message"]
    assert f"s3:PutObject on resource: arn:aws:s3:::{kit.bucket}/*" in error


def test_the_managed_full_access_policy_is_enough(kit):
    iam = kit.endpoint.client("iam")
    iam.delete_role_policy(RoleName=kit.role, PolicyName="everything")
    for name in ("AmazonS3FullAccess", "AWSCodeCommitFullAccess"):
        iam.attach_role_policy(RoleName=kit.role, PolicyArn=f"arn:aws:iam::aws:policy/{name}")
    first = kit.create(approval_stage())
    kit.answer("Approve", kit.approval_token("Approve", first))
    assert kit.wait_status(first, "Succeeded") == "Succeeded"


def test_retry_refuses_a_stage_that_did_not_fail_or_failed_again_later(kit):
    first = kit.create(approval_stage())
    kit.answer("Approve", kit.approval_token("Approve", first), status="Rejected")
    assert kit.wait_status(first, "Failed") == "Failed"
    with pytest.raises(ClientError) as not_failed:
        kit.codepipeline.retry_stage_execution(
            pipelineName=kit.pipeline,
            stageName="Source",
            pipelineExecutionId=first,
            retryMode="FAILED_ACTIONS",
        )
    assert not_failed.value.response["Error"]["Code"] == "StageNotRetryableException"
    second = kit.start()
    kit.answer("Approve", kit.approval_token("Approve", second), status="Rejected")
    assert kit.wait_status(second, "Failed") == "Failed"
    with pytest.raises(ClientError) as outdated:
        kit.codepipeline.retry_stage_execution(
            pipelineName=kit.pipeline, stageName="Approve", pipelineExecutionId=first, retryMode="ALL_ACTIONS"
        )
    assert outdated.value.response["Error"]["Code"] == "NotLatestPipelineExecutionException"
    kit.codepipeline.retry_stage_execution(
        pipelineName=kit.pipeline, stageName="Approve", pipelineExecutionId=second, retryMode="ALL_ACTIONS"
    )
    kit.answer("Approve", kit.approval_token("Approve", second))
    assert kit.wait_status(second, "Succeeded") == "Succeeded"
