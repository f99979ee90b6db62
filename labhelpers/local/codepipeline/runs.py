"""CodePipeline's execution calls: start and stop runs, and the state and history APIs."""

import re

from ..awsjson import AwsError
from ..dispatch import JsonService, request_region
from ..paging import newest_first_key, page, with_token
from .engine import shapes
from .engine.flow import Engine
from .engine.records import Execution
from .entities import EntityLinks
from .store import PipelineStore

TOKEN = re.compile(r"^[a-zA-Z0-9-]{1,128}$")
TRANSITION_REASON = re.compile(r"^[a-zA-Z0-9!@ \(\)\.\*\?\-]{1,300}$")


def _required(params: dict, name: str, kind=str):
    value = params.get(name)
    if not isinstance(value, kind) or (kind is str and not value):
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value at '{name}' failed to satisfy constraint: "
            "Member must not be null",
        )
    return value


def _one_of(value, field: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise AwsError(
            "ValidationException",
            f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(allowed)}]",
        )
    return value


def _page_size(params: dict) -> int:
    size = params.get("maxResults", 100)
    if not isinstance(size, int) or not 1 <= size <= 100:
        raise AwsError(
            "ValidationException",
            "1 validation error detected: Value at 'maxResults' failed to "
            "satisfy constraint: Member must have value between 1 and 100",
        )
    return size


class CodePipelineRuns(JsonService):
    target_prefix = "CodePipeline_20150709"
    signing_name = "codepipeline"

    def __init__(self, pipelines: PipelineStore, engine: Engine, entities: EntityLinks):
        self.pipelines = pipelines
        self.engine = engine
        self.entities = entities
        pipelines.subscribe(self._pipeline_changed)

    def _pipeline_changed(self, event: str, name: str, record: dict):
        region = record["metadata"]["pipelineArn"].split(":")[3]
        if event == "created":
            self.engine.start(record["pipeline"], "CreatePipeline", region=region)
        elif event == "deleted":
            self.engine.forget(region, name)

    def _execution(self, params: dict) -> tuple[str, Execution]:
        name = _required(params, "pipelineName")
        execution_id = _required(params, "pipelineExecutionId")
        region = request_region()
        self.pipelines.get(name, region=region)
        execution = self.engine.store.by_id.get(execution_id)
        if execution is None or execution.pipeline_key != (region, name):
            raise AwsError(
                "PipelineExecutionNotFoundException",
                f"Pipeline execution {execution_id} does not exist in pipeline {name}.",
            )
        return name, execution

    # -- starting and stopping -------------------------------------------------------------------------

    def start_pipeline_execution(self, params):
        name = _required(params, "name")
        token = params.get("clientRequestToken")
        if token is not None and (not isinstance(token, str) or not TOKEN.match(token)):
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value at 'clientRequestToken' "
                "failed to satisfy constraint: Member must satisfy regular expression pattern: "
                "^[a-zA-Z0-9-]+$",
            )
        region = request_region()
        declaration = self.pipelines.declaration(name, region=region)
        execution = self.engine.start(
            declaration,
            "StartPipelineExecution",
            region=region,
            variables=params.get("variables"),
            client_request_token=token,
        )
        return {"pipelineExecutionId": execution.id}

    def retry_stage_execution(self, params):
        name, execution = self._execution(params)
        stage = _required(params, "stageName")
        mode = _one_of(params.get("retryMode"), "retryMode", ("FAILED_ACTIONS", "ALL_ACTIONS"))
        current = self.pipelines.declaration(name, region=execution.region)["version"]
        self.engine.retry(execution, stage, mode, current)
        return {"pipelineExecutionId": execution.id}

    def stop_pipeline_execution(self, params):
        _, execution = self._execution(params)
        reason = params.get("reason")
        self.engine.stop(execution, abandon=bool(params.get("abandon", False)), reason=reason)
        return {"pipelineExecutionId": execution.id}

    # -- approvals and transitions ---------------------------------------------------------------------

    def _stage(self, params: dict, field: str = "stageName") -> tuple[str, str, dict]:
        name = _required(params, "pipelineName")
        stage = _required(params, field)
        region = request_region()
        declaration = self.pipelines.declaration(name, region=region)
        found = next((s for s in declaration["stages"] if s["name"] == stage), None)
        if found is None:
            raise AwsError("StageNotFoundException", f"Stage {stage} does not exist in pipeline {name}.")
        return region, name, found

    def put_approval_result(self, params):
        region, name, stage = self._stage(params)
        action = _required(params, "actionName")
        if not any(a["name"] == action for a in stage["actions"]):
            raise AwsError(
                "ActionNotFoundException", f"Action {action} does not exist in stage {stage['name']}."
            )
        result = _required(params, "result", dict)
        status = _one_of(result.get("status"), "result.status", ("Approved", "Rejected"))
        approved_at = self.engine.answer_approval(
            region, name, stage["name"], action, _required(params, "token"), status, result.get("summary")
        )
        return {"approvedAt": approved_at}

    def disable_stage_transition(self, params):
        region, name, stage = self._transition_target(params)
        reason = _required(params, "reason")
        if not TRANSITION_REASON.match(reason):
            raise AwsError(
                "ValidationException",
                "1 validation error detected: Value at 'reason' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "[a-zA-Z0-9!@ \\(\\)\\.\\*\\?\\-]+",
            )
        if stage:
            self.engine.set_transition(region, name, stage, enabled=False, reason=reason)

    def enable_stage_transition(self, params):
        region, name, stage = self._transition_target(params)
        if stage:
            self.engine.set_transition(region, name, stage, enabled=True)

    def _transition_target(self, params: dict) -> tuple[str, str, str | None]:
        """The stage whose inbound transition is meant: an Outbound transition is the next stage's Inbound."""
        region, name, stage = self._stage(params)
        kind = _one_of(params.get("transitionType"), "transitionType", ("Inbound", "Outbound"))
        if kind == "Inbound":
            return region, name, stage["name"]
        stages = [s["name"] for s in self.pipelines.declaration(name, region=region)["stages"]]
        following = stages.index(stage["name"]) + 1
        return region, name, stages[following] if following < len(stages) else None

    # -- reading ---------------------------------------------------------------------------------------

    def get_pipeline_state(self, params):
        name = _required(params, "name")
        region = request_region()
        record = self.pipelines.get(name, region=region)
        with self.engine.cond:
            inbound = {
                stage: list(waiting)
                for (r, p, stage), waiting in self.engine.inbound.items()
                if (r, p) == (region, name) and waiting
            }
            return shapes.pipeline_state(
                record,
                self.engine.store.of(region, name),
                inbound,
                self.engine.transitions(region, name),
                lambda action: self.entities.url(action, region),
            )

    def get_pipeline_execution(self, params):
        _, execution = self._execution(params)
        with self.engine.cond:
            return {"pipelineExecution": shapes.execution_detail(execution)}

    def list_pipeline_executions(self, params):
        name = _required(params, "pipelineName")
        region = request_region()
        self.pipelines.get(name, region=region)
        stage = (params.get("filter") or {}).get("succeededInStage", {}).get("stageName")
        with self.engine.cond:
            executions = [
                e
                for e in self.engine.store.of(region, name)
                if stage is None or getattr(e.stages.get(stage), "status", None) == "Succeeded"
            ]
            keyed = sorted((newest_first_key(e.start_time, e.id), e) for e in executions)
            chosen, token = page(keyed, params.get("nextToken"), _page_size(params), f"executions:{name}")
            return with_token(
                {"pipelineExecutionSummaries": [shapes.execution_summary(e) for e in chosen]}, token
            )

    def list_action_executions(self, params):
        name = _required(params, "pipelineName")
        region = request_region()
        self.pipelines.get(name, region=region)
        wanted, latest_only = self._action_filter(params.get("filter") or {})
        with self.engine.cond:
            executions = self.engine.store.of(region, name)
            if wanted is not None:
                executions = [e for e in executions if e.id == wanted]
                if not executions:
                    raise AwsError(
                        "PipelineExecutionNotFoundException",
                        f"Pipeline execution {wanted} does not exist in pipeline {name}.",
                    )
            runs = [run for execution in executions for run in execution.actions]
            if latest_only:
                newest = {}
                for run in runs:
                    newest[(run.stage, run.action)] = run
                runs = list(newest.values())
            keyed = sorted((newest_first_key(run.start_time, run.action_execution_id), run) for run in runs)
            chosen, token = page(keyed, params.get("nextToken"), _page_size(params), f"actions:{name}")
            return with_token(
                {"actionExecutionDetails": [shapes.action_detail(run) for run in chosen]}, token
            )

    @staticmethod
    def _action_filter(given: dict) -> tuple[str | None, bool]:
        if "latestInPipelineExecution" in given:
            latest = given["latestInPipelineExecution"] or {}
            return _required(latest, "pipelineExecutionId"), latest.get("startTimeRange") == "Latest"
        return given.get("pipelineExecutionId"), False
