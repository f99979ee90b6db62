"""The engine: executions move through stages as CodePipeline moves them.

Each execution runs in its own thread. Stage locks, inbound waiting, superseding and stop requests are
decided under one condition variable, so every change wakes exactly the threads it concerns: the engine
never sleeps or polls. Only a pace (`teach`) holds an action on purpose, until a stop ends the hold."""

import functools
import itertools
import json
import logging
import os
import threading
import time
import uuid

from ... import config
from ...awsjson import AwsError, now
from ...context import Pace
from .actions import ActionContext, ActionFailed, Outcome
from .permissions import needs
from .records import ActionRun, Execution, StageRun
from .store import ExecutionStore
from .variables import pipeline_variables, resolve

log = logging.getLogger("labhelpers.endpoint")
APPROVAL = ("Approval", "AWS", "Manual")
APPROVAL_DEFAULT_MINUTES = 7 * 24 * 60


def _type_key(action: dict) -> tuple[str, str, str]:
    type_id = action["actionTypeId"]
    return type_id["category"], type_id["owner"], type_id["provider"]


def artifact_bucket(declaration: dict, region: str) -> str:
    if "artifactStore" in declaration:
        return declaration["artifactStore"]["location"]
    return declaration["artifactStores"][region]["location"]


class Engine:
    def __init__(
        self,
        store: ExecutionStore,
        *,
        account: str,
        client,
        providers: dict,
        services: dict,
        transitions_file=None,
        permissions=None,
        pace=Pace,
        cond: threading.Condition | None = None,
    ):
        self.store = store
        self.account = account
        self.client = client  # client(service, region) -> boto3 client into the endpoint
        self.providers = providers  # (category, owner, provider) -> Provider
        self.services = services
        self.permissions = permissions  # RolePermissions: the service role, enforced
        self.pace = pace  # pace() -> the Pace to run an action at, asked as each action starts
        self.cond = cond or threading.Condition(threading.RLock())  # shared with the job board, if any
        self.stage_locks: dict[tuple[str, str, str], str] = {}  # (region, pipeline, stage) -> execution
        self.inbound: dict[tuple[str, str, str], list[str]] = {}  # waiting executions, oldest first
        self.stops: dict[str, bool] = {}  # execution id -> abandon
        self.superseded: set[str] = set()
        self._transitions = TransitionStore(transitions_file)

    # -- starting --------------------------------------------------------------------------------------

    def start(
        self,
        declaration: dict,
        trigger_type: str,
        *,
        region: str,
        trigger_detail: str | None = None,
        variables: list[dict] | None = None,
        client_request_token: str | None = None,
    ) -> Execution:
        name = declaration["name"]
        with self.cond:
            if client_request_token:
                for earlier in self.store.of(region, name):
                    if earlier.client_request_token == client_request_token:
                        return earlier
            try:
                resolved_variables = pipeline_variables(declaration, variables)
            except ValueError as exc:
                raise AwsError("ValidationException", str(exc)) from exc
            stamp = now()
            execution = Execution(
                pipeline_name=name,
                region=region,
                id=str(uuid.uuid4()),
                pipeline_version=declaration.get("version", 1),
                execution_mode=declaration.get("executionMode", "SUPERSEDED"),
                trigger={
                    "triggerType": trigger_type,
                    "triggerDetail": trigger_detail or config.caller_arn(self.account),
                },
                declaration=declaration,
                start_time=stamp,
                last_update_time=stamp,
                client_request_token=client_request_token,
                variables=resolved_variables,
            )
            self.store.add(execution)
            self._queue(execution, declaration["stages"][0]["name"])  # in start order, not thread order
        threading.Thread(
            target=self._run, args=(execution,), name=f"execution-{execution.id[:8]}", daemon=True
        ).start()
        return execution

    def forget(self, region: str, pipeline: str):
        """The pipeline was deleted: its executions end where they are and their history goes."""
        with self.cond:
            for execution in self.store.of(region, pipeline):
                if execution.running:
                    self.stops[execution.id] = True
            self.store.forget(region, pipeline)
            self._transitions.forget(region, pipeline)
            self.cond.notify_all()

    # -- the run ---------------------------------------------------------------------------------------

    def _run(self, execution: Execution, first: int = 0, retry_mode: str | None = None):
        try:
            for index, stage in enumerate(execution.stage_declarations()[first:]):
                if not self._enter(execution, stage["name"], queued=index == 0 and first == 0):
                    return
                passed = self._run_stage(execution, stage, retry_mode if index == 0 else None)
                self._leave(execution, stage["name"])
                if not passed:
                    self._finish(execution, "Stopped" if execution.id in self.stops else "Failed")
                    return
            self._finish(execution, "Succeeded")
        except Exception as exc:
            log.exception("execution %s failed inside the engine", execution.id)
            self._finish(execution, "Failed", f"The local engine failed: {exc}")

    def _finish(self, execution: Execution, status: str, summary: str | None = None):
        with self.cond:
            execution.status = status
            if summary:
                execution.status_summary = summary
            execution.last_update_time = now()
            self.stops.pop(execution.id, None)
            self.superseded.discard(execution.id)
            self.store.save(execution)
            self.cond.notify_all()

    def _queue(self, execution: Execution, stage: str):
        """Join the stage's inbound queue; under SUPERSEDED the newest arrival replaces the waiting one."""
        waiting = self.inbound.setdefault((*execution.pipeline_key, stage), [])
        waiting.append(execution.id)
        if execution.execution_mode == "SUPERSEDED":
            self.superseded.update(waiting[:-1])
            del waiting[:-1]
        self.cond.notify_all()

    def _enter(self, execution: Execution, stage: str, *, queued: bool = False) -> bool:
        """Wait at the stage's inbound transition until the execution may enter; False if it never will."""
        key = (*execution.pipeline_key, stage)
        with self.cond:
            if not queued:
                self._queue(execution, stage)
            waiting = self.inbound[key]
            self.cond.wait_for(lambda: self._may_enter(execution, key))
            if execution.id in waiting:
                waiting.remove(execution.id)
            if execution.id in self.superseded:
                self._finish(
                    execution,
                    "Superseded",
                    "A newer execution advanced through the pipeline while this one waited.",
                )
                return False
            if execution.id in self.stops:
                self._finish(execution, "Stopped")
                return False
            if execution.execution_mode != "PARALLEL":
                self.stage_locks[key] = execution.id
            stamp = now()
            earlier = execution.stages.get(stage)
            execution.stages[stage] = StageRun(
                "InProgress", stamp, stamp, earlier.retry_attempts if earlier else 0
            )
            execution.last_update_time = stamp
            self.store.save(execution)
            self.cond.notify_all()
            return True

    def _may_enter(self, execution: Execution, key) -> bool:
        if execution.id in self.superseded or execution.id in self.stops:
            return True
        if not self.transition_enabled(*key):
            return False
        if execution.execution_mode == "PARALLEL":
            return True
        if key in self.stage_locks:
            return False
        return self.inbound[key][0] == execution.id

    def transition_enabled(self, region: str, pipeline: str, stage: str) -> bool:
        return self.transitions(region, pipeline).get(stage, {}).get("enabled", True)

    def transitions(self, region: str, pipeline: str) -> dict[str, dict]:
        """Each stage's inbound transition state; stages not listed are enabled."""
        return self._transitions.of(region, pipeline)

    def set_transition(
        self, region: str, pipeline: str, stage: str, *, enabled: bool, reason: str | None = None
    ):
        with self.cond:
            state = {
                "enabled": enabled,
                "lastChangedBy": config.caller_arn(self.account),
                "lastChangedAt": now(),
            }
            if not enabled:
                state["disabledReason"] = reason
            self._transitions.set(region, pipeline, stage, state)
            self.cond.notify_all()

    def _leave(self, execution: Execution, stage: str):
        key = (*execution.pipeline_key, stage)
        with self.cond:
            if self.stage_locks.get(key) == execution.id:
                del self.stage_locks[key]
            self.cond.notify_all()

    def _run_stage(self, execution: Execution, stage: dict, retry_mode: str | None = None) -> bool:
        """Run the action groups in runOrder; a FAILED_ACTIONS retry reruns only what did not succeed."""

        def run_order(action):
            return action.get("runOrder", 1)

        name = stage["name"]
        with self.cond:
            before = {run.action: run.status for run in execution.actions if run.stage == name}
        for _, group in itertools.groupby(sorted(stage["actions"], key=run_order), key=run_order):
            if retry_mode == "FAILED_ACTIONS":
                group = [action for action in group if before.get(action["name"]) != "Succeeded"]
            with self.cond:
                if execution.id in self.stops:
                    return self._end_stage(execution, name, "Stopped")
                runs = [(self._begin_action(execution, name, action), action) for action in group]
            for run, action in runs:
                threading.Thread(
                    target=self._execute,
                    args=(execution, run, action),
                    name=f"action-{run.action_execution_id[:8]}",
                    daemon=True,
                ).start()
            with self.cond:
                self.cond.wait_for(
                    lambda group_runs=runs: all(r.status != "InProgress" for r, _ in group_runs)
                )
                statuses = {run.status for run, _ in runs}
                if "Failed" in statuses:
                    return self._end_stage(execution, name, "Failed")
                if "Abandoned" in statuses:
                    return self._end_stage(execution, name, "Stopped")
        with self.cond:  # stop and wait: the last actions ran to their end, and the stage stops after them
            return self._end_stage(execution, name, "Stopped" if execution.id in self.stops else "Succeeded")

    def _end_stage(self, execution: Execution, stage: str, status: str) -> bool:
        run = execution.stages[stage]
        run.status, run.last_update_time = status, now()
        self.store.save(execution)
        self.cond.notify_all()
        return status == "Succeeded"

    # -- actions ---------------------------------------------------------------------------------------

    def _begin_action(self, execution: Execution, stage: str, action: dict) -> ActionRun:
        region = action.get("region") or execution.region
        inputs = [
            {"name": artifact["name"], "s3location": execution.artifacts.get(artifact["name"], {})}
            for artifact in action.get("inputArtifacts", [])
        ]
        details = {
            "actionTypeId": action["actionTypeId"],
            "configuration": action.get("configuration", {}),
            "region": region,
            "inputArtifacts": inputs,
        }
        for field in ("roleArn", "namespace"):
            if action.get(field):
                details[field] = action[field]
        stamp = now()
        run = ActionRun(
            str(uuid.uuid4()),
            execution.id,
            execution.pipeline_version,
            stage,
            action["name"],
            stamp,
            stamp,
            details,
        )
        execution.actions.append(run)
        execution.last_update_time = stamp
        self.store.save(execution)
        self.cond.notify_all()
        return run

    def _execute(self, execution: Execution, run: ActionRun, action: dict):
        """Run the action; its result is recorded no sooner than the pace's hold after it began."""
        until = time.monotonic() + self.pace().action_seconds
        try:
            ending = self._perform(execution, run, action)
        except ActionFailed as failure:
            ending = functools.partial(self._fail, execution, run, failure)
        except Exception as exc:
            log.exception("action %s/%s failed inside the engine", run.stage, run.action)
            failure = ActionFailed(f"The local engine failed to run this action: {exc}", code="InternalError")
            ending = functools.partial(self._fail, execution, run, failure)
        if ending is not None:
            self._hold(execution, run, until)
            ending()

    def _hold(self, execution: Execution, run: ActionRun, until: float):
        """Keep the action InProgress until `until`, unless the execution is stopped or the run ends first."""
        with self.cond:
            self.cond.wait_for(
                lambda: execution.id in self.stops or run.status != "InProgress",
                timeout=max(0.0, until - time.monotonic()),
            )

    def _perform(self, execution: Execution, run: ActionRun, action: dict):
        """Run the action's provider; how to record its outcome (None: an approval, recorded as answered)."""
        with self.cond:
            configuration = resolve(action.get("configuration", {}), execution)
            run.input["resolvedConfiguration"] = configuration
            inputs = dict(self._inputs(execution, action))
            revisions = {
                item["name"]: item["revisionId"]
                for item in execution.artifact_revisions
                if item["name"] in inputs and item.get("revisionId")
            }
        if _type_key(action) == APPROVAL:
            self._await_approval(execution, run, action, configuration)
            return None
        category, owner, name = _type_key(action)
        provider = self.providers.get((category, owner, name)) or self.providers.get((category, owner, "*"))
        if provider is None:
            raise ActionFailed(
                f"The local lab endpoint cannot run {owner} {category} actions with provider {name}. "
                "It runs CodeCommit, S3 and CodeStarSourceConnection sources, CodeBuild, CodeDeploy, "
                "Manual approval and custom actions (for a job worker); use LAB_BACKEND=aws for the others.",
                code="ActionTypeNotSupported",
            )
        region = run.input["region"]
        bucket = artifact_bucket(execution.declaration, region)
        if self.permissions:
            wanted = needs(
                action, configuration, region=region, account=self.account, inputs=inputs, bucket=bucket
            )
            self.permissions.check(action.get("roleArn") or execution.declaration["roleArn"], wanted)
        context = ActionContext(
            pipeline=execution.pipeline_name,
            execution_id=execution.id,
            stage=run.stage,
            action=action,
            configuration=configuration,
            region=region,
            bucket=bucket,
            inputs=inputs,
            client=lambda service: self.client(service, region),
            report=lambda **fields: self._report(execution, run, **fields),
            services=self.services,
            revisions=revisions,
            action_execution_id=run.action_execution_id,
            ended=lambda: run.status != "InProgress" or self.stops.get(execution.id, False),
        )
        return functools.partial(self._complete, execution, run, action, provider(context))

    @staticmethod
    def _inputs(execution: Execution, action: dict):
        for artifact in action.get("inputArtifacts", []):
            location = execution.artifacts.get(artifact["name"])
            if not location:
                raise ActionFailed(
                    f"The input artifact {artifact['name']} was not produced in this execution."
                )
            yield artifact["name"], location

    def _report(self, execution: Execution, run: ActionRun, **fields):
        """A provider's progress: external id, URL or summary, visible while the action runs."""
        names = {
            "external_id": "externalExecutionId",
            "external_url": "externalExecutionUrl",
            "summary": "externalExecutionSummary",
        }
        with self.cond:
            if run.status != "InProgress":
                return
            result = run.output.setdefault("executionResult", {})
            result.update({names[key]: value for key, value in fields.items() if value is not None})
            run.last_update_time = now()
            self.store.save(execution)
            self.cond.notify_all()

    def _complete(self, execution: Execution, run: ActionRun, action: dict, outcome: Outcome):
        with self.cond:
            if run.status != "InProgress":
                return  # abandoned meanwhile: the late result is dropped, as AWS drops it
            run.status, run.last_update_time = "Succeeded", now()
            run.summary = outcome.summary
            result = run.output.setdefault("executionResult", {})
            for key, value in (
                ("externalExecutionId", outcome.external_id),
                ("externalExecutionSummary", outcome.summary),
                ("externalExecutionUrl", outcome.external_url),
            ):
                if value is not None:
                    result[key] = value
            run.output["outputArtifacts"] = [
                {"name": name, "s3location": location} for name, location in outcome.output_artifacts.items()
            ]
            run.output["outputVariables"] = dict(outcome.output_variables)
            execution.artifacts.update(outcome.output_artifacts)
            if action.get("namespace"):
                execution.namespaces[action["namespace"]] = dict(outcome.output_variables)
            if outcome.revision:
                self._record_revision(execution, run, action, outcome.revision)
            execution.last_update_time = run.last_update_time
            self.store.save(execution)
            self.cond.notify_all()

    @staticmethod
    def _record_revision(execution: Execution, run: ActionRun, action: dict, revision: dict):
        for artifact in action.get("outputArtifacts", []):
            execution.artifact_revisions.append({"name": artifact["name"], **revision})
        source = {"actionName": run.action, "revisionId": revision["revisionId"]}
        for key in ("revisionSummary", "revisionUrl"):
            if revision.get(key):
                source[key] = revision[key]
        execution.source_revisions.append(source)

    def _fail(self, execution: Execution, run: ActionRun, failure: ActionFailed):
        with self.cond:
            if run.status != "InProgress":
                return
            run.status, run.last_update_time = "Failed", now()
            run.summary = failure.summary
            result = run.output.setdefault("executionResult", {})
            result["errorDetails"] = {"code": failure.code, "message": failure.message[:5000]}
            if failure.summary:
                result["externalExecutionSummary"] = failure.summary
            execution.last_update_time = run.last_update_time
            self.store.save(execution)
            self.cond.notify_all()

    # -- approvals -------------------------------------------------------------------------------------

    def _await_approval(self, execution: Execution, run: ActionRun, action: dict, configuration: dict):
        """Wait for PutApprovalResult, the action's timeout, or an abandon; nothing else moves it."""
        minutes = action.get("timeoutInMinutes", APPROVAL_DEFAULT_MINUTES)
        with self.cond:
            run.token = str(uuid.uuid4())
            run.summary = configuration.get("CustomData")
            if configuration.get("ExternalEntityLink"):
                run.output.setdefault("executionResult", {})["externalExecutionUrl"] = configuration[
                    "ExternalEntityLink"
                ]
            run.output.setdefault("executionResult", {})["externalExecutionId"] = run.token
            self.store.save(execution)
            self.cond.notify_all()
            answered = self.cond.wait_for(lambda: run.status != "InProgress", timeout=minutes * 60)
        if not answered:
            self._fail(
                execution,
                run,
                ActionFailed(
                    f"The approval was not answered within {minutes} minutes.", code="ApprovalTimedOut"
                ),
            )

    def answer_approval(
        self,
        region: str,
        pipeline: str,
        stage: str,
        action: str,
        token: str,
        status: str,
        summary: str | None,
    ) -> float:
        with self.cond:
            runs = [
                run
                for execution in self.store.of(region, pipeline)
                for run in execution.actions
                if (run.stage, run.action, run.token) == (stage, action, token)
            ]
            if not runs:
                raise AwsError(
                    "InvalidApprovalTokenException",
                    "The approval request already received a response or has expired.",
                )
            run = runs[0]
            if run.status != "InProgress":
                raise AwsError(
                    "ApprovalAlreadyCompletedException",
                    "The approval action has already been approved or rejected.",
                )
            execution = self.store.by_id[run.pipeline_execution_id]
            stamp = now()
            run.summary, run.updated_by = summary, config.caller_arn(self.account)
            run.last_update_time = stamp
            result = run.output.setdefault("executionResult", {})
            if summary:
                result["externalExecutionSummary"] = summary
            if status == "Approved":
                run.status = "Succeeded"
            else:
                run.status = "Failed"
                result["errorDetails"] = {
                    "code": "JobFailed",
                    "message": f"Rejected by {run.updated_by}: {summary or 'no summary'}",
                }
            self.store.save(execution)
            self.cond.notify_all()
            return stamp

    # -- control ---------------------------------------------------------------------------------------

    def retry(self, execution: Execution, stage: str, mode: str, current_version: int):
        """RetryStageExecution: the same execution runs the failed stage again, then the stages after it."""
        with self.cond:
            names = [s["name"] for s in execution.stage_declarations()]
            if stage not in names:
                raise AwsError("StageNotFoundException", f"Stage {stage} does not exist in this execution.")
            run = execution.stages.get(stage)
            if (
                execution.running
                or execution.status == "Superseded"
                or run is None
                or run.status not in ("Failed", "Stopped")
                or current_version != execution.pipeline_version
            ):
                raise AwsError(
                    "StageNotRetryableException",
                    "Unable to retry. The pipeline structure or stage state might have changed while actions "
                    "awaited retry, or the stage contains no failed actions.",
                )
            if any(
                other is not execution
                and (later := other.stages.get(stage))
                and later.start_time > run.start_time
                for other in self.store.of(*execution.pipeline_key)
            ):
                raise AwsError(
                    "NotLatestPipelineExecutionException",
                    "The stage has failed in a later run of the pipeline and the pipelineExecutionId "
                    "associated with the request is out of date.",
                )
            run.retry_attempts += 1
            execution.status, execution.status_summary = "InProgress", None
            execution.last_update_time = now()
            self.store.save(execution)
            self.cond.notify_all()
        threading.Thread(
            target=self._run,
            args=(execution, names.index(stage), mode),
            name=f"retry-{execution.id[:8]}",
            daemon=True,
        ).start()

    def stop(self, execution: Execution, *, abandon: bool, reason: str | None):
        with self.cond:
            if not execution.running:
                raise AwsError(
                    "PipelineExecutionNotStoppableException",
                    "Unable to stop the pipeline execution. The execution might already be in a Stopped "
                    "state, or it might no longer be in progress.",
                )
            if execution.id in self.stops and (self.stops[execution.id] or not abandon):
                raise AwsError(
                    "DuplicatedStopRequestException",
                    "The pipeline execution is already in a Stopping state. If you already chose to stop "
                    "and wait, you cannot make that request again. You can choose to stop and abandon now, "
                    "but be aware that this option can lead to failed tasks or out of sequence tasks. If you "
                    "already chose to stop and abandon, you cannot make that request again.",
                )
            self.stops[execution.id] = abandon
            execution.status = "Stopping"
            if reason or execution.stop_trigger is None:  # escalating to abandon keeps the first reason
                execution.stop_trigger = {"reason": reason} if reason else {}
            stamp = now()
            for stage in execution.stages.values():  # StageExecutionStatus Stopping, until its actions end
                if stage.status == "InProgress":
                    stage.status, stage.last_update_time = "Stopping", stamp
            if abandon:
                for run in execution.actions:
                    if run.status == "InProgress":
                        run.status, run.last_update_time = "Abandoned", stamp
            execution.last_update_time = stamp
            self.store.save(execution)
            self.cond.notify_all()


class TransitionStore:
    """Disabled stage transitions, by pipeline; kept in one JSON file."""

    def __init__(self, path):
        self.path = path
        self.states: dict[str, dict[str, dict]] = {}
        if path and path.exists():
            self.states = json.loads(path.read_text())

    def of(self, region: str, pipeline: str) -> dict[str, dict]:
        return self.states.get(f"{region}/{pipeline}", {})

    def set(self, region: str, pipeline: str, stage: str, state: dict):
        self.states.setdefault(f"{region}/{pipeline}", {})[stage] = state
        if self.path:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.states))
            os.replace(tmp, self.path)

    def forget(self, region: str, pipeline: str):
        if self.states.pop(f"{region}/{pipeline}", None) is not None and self.path:
            self.path.write_text(json.dumps(self.states))
