"""Execution records in the shapes of GetPipelineState, GetPipelineExecution and the List* calls."""

from collections.abc import Callable

from .records import ActionRun, Execution


def _present(**fields) -> dict:
    return {key: value for key, value in fields.items() if value not in (None, {}, [])}


def execution_detail(execution: Execution) -> dict:
    return _present(
        pipelineName=execution.pipeline_name,
        pipelineVersion=execution.pipeline_version,
        pipelineExecutionId=execution.id,
        status=execution.status,
        statusSummary=execution.status_summary,
        artifactRevisions=execution.artifact_revisions,
        variables=execution.variables,
        trigger=execution.trigger,
        executionMode=execution.execution_mode,
        executionType="STANDARD",
    )


def execution_summary(execution: Execution) -> dict:
    return _present(
        pipelineExecutionId=execution.id,
        status=execution.status,
        statusSummary=execution.status_summary,
        startTime=execution.start_time,
        lastUpdateTime=execution.last_update_time,
        sourceRevisions=execution.source_revisions,
        trigger=execution.trigger,
        stopTrigger=execution.stop_trigger if execution.stop_trigger is not None else None,
        executionMode=execution.execution_mode,
        executionType="STANDARD",
    )


def action_detail(run: ActionRun) -> dict:
    output = _present(
        outputArtifacts=run.output.get("outputArtifacts"),
        executionResult=run.output.get("executionResult"),
        outputVariables=run.output.get("outputVariables"),
    )
    if run.status != "InProgress":  # an ended action lists its outputs, empty ones too, as AWS does
        output = {"outputArtifacts": [], **output, "outputVariables": run.output.get("outputVariables") or {}}
    return _present(
        pipelineExecutionId=run.pipeline_execution_id,
        actionExecutionId=run.action_execution_id,
        pipelineVersion=run.pipeline_version,
        stageName=run.stage,
        actionName=run.action,
        startTime=run.start_time,
        lastUpdateTime=run.last_update_time,
        updatedBy=run.updated_by,
        status=run.status,
        input=run.input,
        output=output,
    )


def action_latest(run: ActionRun, *, show_token: bool) -> dict:
    result = run.result
    return _present(
        actionExecutionId=run.action_execution_id,
        status=run.status,
        summary=run.summary,
        lastStatusChange=run.last_update_time,
        token=run.token if show_token and run.status == "InProgress" else None,
        lastUpdatedBy=run.updated_by,
        externalExecutionId=result.get("externalExecutionId"),
        externalExecutionUrl=result.get("externalExecutionUrl"),
        errorDetails=result.get("errorDetails"),
    )


def pipeline_state(
    record: dict,
    executions: list[Execution],
    inbound: dict,
    transitions: dict,
    entity_url: Callable[[dict], str | None],
) -> dict:
    """GetPipelineState: per stage its latest execution and per action its latest run, over all executions;
    `entity_url(action declaration)` is the action's entityUrl, if any."""
    declaration = record["pipeline"]
    latest_stage: dict[str, tuple[float, Execution]] = {}
    latest_action: dict[tuple[str, str], tuple[ActionRun, Execution]] = {}
    for execution in executions:
        for stage, run in execution.stages.items():
            if stage not in latest_stage or run.start_time >= latest_stage[stage][0]:
                latest_stage[stage] = (run.start_time, execution)
        for run in execution.actions:
            key = (run.stage, run.action)
            if key not in latest_action or run.start_time >= latest_action[key][0].start_time:
                latest_action[key] = (run, execution)
    stages = []
    for stage in declaration["stages"]:
        name = stage["name"]
        state = {"stageName": name, "inboundTransitionState": transitions.get(name, {"enabled": True})}
        waiting = inbound.get(name, [])
        if waiting:
            entries = [
                {"pipelineExecutionId": e, "status": "InProgress", "type": "STANDARD"} for e in waiting
            ]
            state["inboundExecution"], state["inboundExecutions"] = entries[-1], entries
        state["actionStates"] = [
            _action_state(name, action, latest_action, entity_url(action)) for action in stage["actions"]
        ]
        if name in latest_stage:
            execution = latest_stage[name][1]
            state["latestExecution"] = {
                "pipelineExecutionId": execution.id,
                "status": execution.stages[name].status,
                "type": "STANDARD",
            }
            attempts = execution.stages[name].retry_attempts
            if attempts:
                state["retryStageMetadata"] = {
                    "manualStageRetryAttempt": attempts,
                    "latestRetryTrigger": "ManualStageRetry",
                }
        stages.append(state)
    return {
        "pipelineName": declaration["name"],
        "pipelineVersion": declaration["version"],
        "stageStates": stages,
        "created": record["metadata"]["created"],
        "updated": record["metadata"]["updated"],
    }


def _action_state(stage: str, action: dict, latest_action: dict, entity_url: str | None) -> dict:
    state = {"actionName": action["name"], **({"entityUrl": entity_url} if entity_url else {})}
    found = latest_action.get((stage, action["name"]))
    if not found:
        return state
    run, execution = found
    state["latestExecution"] = action_latest(run, show_token=execution.execution_mode != "PARALLEL")
    revision_id = run.result.get("externalExecutionId")
    if action["actionTypeId"]["category"] == "Source" and run.status == "Succeeded" and revision_id:
        state["currentRevision"] = {
            "revisionId": revision_id,
            "revisionChangeId": revision_id,
            "created": run.last_update_time,
        }
        if run.result.get("externalExecutionUrl"):  # the revision's page: locally the lab's commit page
            state["revisionUrl"] = run.result["externalExecutionUrl"]
    return state
