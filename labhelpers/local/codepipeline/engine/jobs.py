"""Jobs of custom actions: when a Custom action runs, the engine posts a job; a job worker finds it with
PollForJobs, claims it with AcknowledgeJob and ends it with PutJobSuccessResult or PutJobFailureResult,
and the action ends with that result. A success with a continuation token posts a new job for the same
action run, as CodePipeline does.

Jobs live as long as the endpoint: an endpoint restart fails the executions that were running (see
ExecutionStore.load), and their jobs with them. The board shares the engine's condition, so an abandoned
run wakes the provider waiting for its job."""

import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from labhelpers import actiontypes

from ...awsjson import AwsError, now
from ..customtypes import CustomActionTypes, type_label
from .actions import ActionContext, ActionFailed, Outcome, artifact_key

FINAL = ("Succeeded", "Failed", "TimedOut")
ACTION_TIMEOUT = 3600.0  # seconds: CodePipeline's quota for actions without a timeout of their own


@dataclass
class Job:
    id: str
    region: str
    data: dict  # the JobData shape
    status: str = "Queued"
    nonce: str | None = None
    result: dict | None = None  # the PutJobSuccessResult or PutJobFailureResult input that ended it

    def answer(self, account: str) -> dict:
        """The Job shape of PollForJobs (JobDetails of GetJobDetails is the same without the nonce)."""
        shown = {"id": self.id, "data": self.data, "accountId": account}
        return {**shown, "nonce": self.nonce} if self.nonce else shown


class JobBoard:
    def __init__(
        self,
        cond: threading.Condition,
        *,
        account: str,
        custom_types: CustomActionTypes,
        credentials: Callable[[], dict],
        action_timeout: float = ACTION_TIMEOUT,
    ):
        self.cond = cond  # the engine's
        self.account = account
        self.custom_types = custom_types
        self.credentials = credentials  # () -> AWSSessionCredentials for the artifact bucket
        self.action_timeout = action_timeout
        self.jobs: dict[str, Job] = {}  # oldest first

    # -- the engine's side: the provider of every Custom action --------------------------------------

    def run(self, ctx: ActionContext) -> Outcome:
        """Post the action's job, wait for a worker's result (and its continuations), answer the outcome."""
        type_id = ctx.action["actionTypeId"]
        action_type = self.custom_types.find(
            ctx.region, type_id["category"], type_id["provider"], type_id["version"]
        )
        if action_type is None:
            label = type_label(type_id["category"], type_id["provider"], type_id["version"])
            raise ActionFailed(f"{label} does not exist: it was deleted.", code="ConfigurationError")
        outputs = {
            name: {"bucket": ctx.bucket, "key": artifact_key(ctx.pipeline, name)} for name in ctx.output_names
        }
        continuation, deadline = None, time.monotonic() + self.action_timeout
        while True:
            job = self._post(ctx, outputs, continuation)
            result = self._result(job, ctx, deadline)
            if job.status == "Failed":
                failure = result["failureDetails"]
                ctx.report(external_id=failure.get("externalExecutionId"))
                raise ActionFailed(failure["message"], code=failure["type"])
            details = result.get("executionDetails", {})
            external_id = details.get("externalExecutionId")
            template = action_type.settings.get("executionUrlTemplate")
            url = (
                actiontypes.render_url(template, ctx.configuration, external_id)
                if template and external_id
                else None
            )
            continuation = result.get("continuationToken")
            if continuation:
                ctx.report(external_id=external_id, external_url=url, summary=details.get("summary"))
                continue
            return Outcome(
                summary=details.get("summary"),
                external_id=external_id,
                external_url=url,
                output_artifacts=outputs,
                output_variables=result.get("outputVariables", {}),
                revision=_revision(result.get("currentRevision")),
            )

    def _result(self, job: Job, ctx: ActionContext, deadline: float) -> dict:
        """The worker's answer to `job`, once it comes; ActionFailed if the run is abandoned or the action's
        time runs out first."""
        with self.cond:
            self.cond.wait_for(
                lambda: job.status in FINAL or ctx.ended(), timeout=max(0.0, deadline - time.monotonic())
            )
            if job.status in FINAL:
                return job.result
            if ctx.ended():  # abandoned: the job can no longer be answered
                job.status = "Failed"
                raise ActionFailed("The action was abandoned while its job waited for a job worker.")
            job.status = "TimedOut"
            raise ActionFailed(
                f"The action timed out: no job worker completed its job within {self.action_timeout / 60:g} "
                "minutes. Run a job worker that polls for this action type (PollForJobs), acknowledges the "
                "job and puts its result."
            )

    def _post(self, ctx: ActionContext, outputs: dict[str, dict], continuation: str | None) -> Job:
        data = {
            "actionTypeId": ctx.action["actionTypeId"],
            "actionConfiguration": {"configuration": ctx.configuration},
            "pipelineContext": {
                "pipelineName": ctx.pipeline,
                "stage": {"name": ctx.stage},
                "action": {"name": ctx.action["name"], "actionExecutionId": ctx.action_execution_id},
                "pipelineArn": f"arn:aws:codepipeline:{ctx.region}:{self.account}:{ctx.pipeline}",
                "pipelineExecutionId": ctx.execution_id,
            },
            "inputArtifacts": [
                _artifact(name, location, ctx.revisions.get(name)) for name, location in ctx.inputs.items()
            ],
            "outputArtifacts": [_artifact(name, location) for name, location in outputs.items()],
        }
        if ctx.inputs or outputs:  # credentials only for an action that reads or writes artifacts
            data["artifactCredentials"] = self.credentials()
        if continuation:
            data["continuationToken"] = continuation
        job = Job(str(uuid.uuid4()), ctx.region, data)
        with self.cond:
            self.jobs[job.id] = job
            self.cond.notify_all()
        return job

    # -- the job worker's side -----------------------------------------------------------------------

    def poll(self, region: str, type_id: dict, batch: int, query: dict[str, str]) -> list[dict]:
        """Queued jobs of the action type whose configuration matches `query`, dispatched with a nonce."""
        with self.cond:
            found = [
                job
                for job in self.jobs.values()
                if job.status == "Queued"
                and job.region == region
                and job.data["actionTypeId"] == type_id
                and all(
                    job.data["actionConfiguration"]["configuration"].get(key) == value
                    for key, value in query.items()
                )
            ][:batch]
            for job in found:
                job.status, job.nonce = "Dispatched", str(secrets.randbelow(10**9))
            return [job.answer(self.account) for job in found]

    def acknowledge(self, job_id: str, nonce: str) -> str:
        with self.cond:
            job = self._job(job_id)
            if job.nonce is None or job.nonce != nonce:
                raise AwsError(
                    "InvalidNonceException",
                    f"The nonce {nonce} is not the one PollForJobs gave for job {job_id}: acknowledge the "
                    "job with the nonce of the PollForJobs answer that returned it.",
                )
            if job.status == "Dispatched":
                job.status = "InProgress"
            return job.status

    def details(self, job_id: str) -> dict:
        with self.cond:
            shown = self._job(job_id).answer(self.account)
            shown.pop("nonce", None)
            return shown

    def finish(self, job_id: str, status: str, result: dict) -> None:
        """End the job as Succeeded or Failed with the worker's `result`; the waiting action moves on."""
        with self.cond:
            job = self._job(job_id)
            if job.status in FINAL:
                raise AwsError(
                    "InvalidJobStateException",
                    f"Job {job_id} is {job.status} already: a job takes one result.",
                )
            job.status, job.result = status, result
            self.cond.notify_all()

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise AwsError("JobNotFoundException", f"Job {job_id} does not exist.")
        return job


def _artifact(name: str, location: dict, revision: str | None = None) -> dict:
    artifact = {
        "name": name,
        "location": {
            "type": "S3",
            "s3Location": {"bucketName": location["bucket"], "objectKey": location["key"]},
        },
    }
    return {**artifact, "revision": revision} if revision else artifact


def _revision(current: dict | None) -> dict | None:
    """The source revision a custom source action reports (PutJobSuccessResult's currentRevision)."""
    if not current:
        return None
    revision = {
        "revisionId": current["revision"],
        "revisionChangeIdentifier": current["changeIdentifier"],
        "created": current.get("created", now()),
    }
    if current.get("revisionSummary"):
        revision["revisionSummary"] = current["revisionSummary"]
    return revision
