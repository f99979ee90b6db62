"""CodeBuild batch builds on the local endpoint: StartBuildBatch, BatchGetBuildBatches, ListBuildBatches,
ListBuildBatchesForProject, StopBuildBatch, RetryBuildBatch and DeleteBuildBatch.

A batch runs in a thread of its own (batch_job.BatchJob); its builds are real builds of the project, run by
the CodeBuildService. A project needs buildBatchConfig with a service role (or StartBuildBatch its
buildBatchConfigOverride), as on AWS.
"""

import copy
import shutil
import threading
import uuid

from ..awsjson import AwsError, now
from ..dispatch import JsonService, request_region
from ..paging import offset_page, with_token
from . import projects
from .batch_job import BatchJob, BatchSource
from .batch_store import BatchStore, batches_folder
from .service import (
    DEFAULT_QUEUED_TIMEOUT_MINUTES,
    DEFAULT_TIMEOUT_MINUTES,
    TIMEOUT_MINUTES,
    CodeBuildService,
    check_variables,
    environment_overrides,
    found_and_not,
    id_list,
    manual_source,
    manual_targets,
    newest_first,
)

STOP_WAIT_SECONDS = 30.0  # StopBuildBatch answers once the batch has stopped, or after this long
QUEUED_TIMEOUT_MINUTES = range(5, 481)
BATCH_DEFAULTS = {"restrictions": {"maximumBuildsAllowed": 100}, "timeoutInMins": 480}  # as AWS shows them
RETRY_TYPES = ("RETRY_ALL_BUILDS", "RETRY_FAILED_BUILDS")
STATUSES = ("SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "IN_PROGRESS", "STOPPED")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


class BuildBatchesService(JsonService):
    """The batch operations of CodeBuild's API (CodeBuildService has the builds')."""

    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(
        self,
        ctx,
        builds: CodeBuildService,
        store: BatchStore | None = None,
        *,
        page_size: int = 100,
        minute_seconds: float = 60.0,
    ):
        self.ctx = ctx
        self.builds = builds
        self.store = store or BatchStore(batches_folder(ctx.layout))
        self.page_size = page_size
        self.minute_seconds = minute_seconds  # how long a minute of a batch's timeoutInMins lasts (tests)
        self._jobs: dict[str, BatchJob] = {}
        self._lock = threading.Lock()
        for batch_id in self.store.interrupted:
            shutil.rmtree(self.store.work_folder(batch_id), ignore_errors=True)

    # -- operations ----------------------------------------------------------------------------------

    def start_build_batch(self, params):
        region = request_region()
        name = params.get("projectName")
        if not name:
            raise _invalid("projectName is required.")
        project = self.builds.project(name, region)
        config = _batch_config(project, params, self.ctx.account)
        source = manual_source(project, params)
        check_variables(params.get("environmentVariablesOverride") or [])
        manual_targets(
            project["name"],
            params.get("artifactsOverride") or project["artifacts"],
            params.get("secondaryArtifactsOverride", project.get("secondaryArtifacts")) or [],
            "",
        )
        timeout = params.get("buildTimeoutInMinutesOverride") or project.get("timeoutInMinutes")
        timeout = timeout or DEFAULT_TIMEOUT_MINUTES
        if timeout not in TIMEOUT_MINUTES:
            raise _invalid(f"buildTimeoutInMinutesOverride must be from 5 to 2160, not {timeout}.")
        queued = params.get("queuedTimeoutInMinutesOverride") or project.get("queuedTimeoutInMinutes")
        queued = queued or DEFAULT_QUEUED_TIMEOUT_MINUTES
        if queued not in QUEUED_TIMEOUT_MINUTES:
            raise _invalid(f"queuedTimeoutInMinutesOverride must be from 5 to 480, not {queued}.")
        environment = copy.deepcopy(project["environment"])
        environment.update(environment_overrides(params))
        batch_id = f"{project['name']}:{uuid.uuid4()}"
        started = now()
        version = params.get("sourceVersion") or project.get("sourceVersion")
        batch = {
            "id": batch_id,
            "arn": f"arn:aws:codebuild:{region}:{self.ctx.account}:build-batch/{batch_id}",
            "startTime": started,
            "currentPhase": "SUBMITTED",
            "buildBatchStatus": "IN_PROGRESS",
            **({"sourceVersion": version} if version else {}),
            "projectName": project["name"],
            "phases": [{"phaseType": "SUBMITTED", "startTime": started}],
            "source": source,
            "secondarySources": params.get("secondarySourcesOverride", project.get("secondarySources")) or [],
            "secondarySourceVersions": params.get(
                "secondarySourcesVersionOverride", project.get("secondarySourceVersions")
            )
            or [],
            "artifacts": {"location": ""},
            "secondaryArtifacts": [],
            "cache": params.get("cacheOverride") or project.get("cache") or {"type": "NO_CACHE"},
            "environment": environment,
            "serviceRole": params.get("serviceRoleOverride") or project.get("serviceRole", ""),
            "logConfig": params.get("logsConfigOverride")
            or project.get("logsConfig")
            or {
                "cloudWatchLogs": {"status": "ENABLED"},
                "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
            },
            "buildTimeoutInMinutes": timeout,
            "queuedTimeoutInMinutes": queued,
            "complete": False,
            "initiator": self.builds.caller(region),
            "encryptionKey": params.get("encryptionKeyOverride")
            or project.get("encryptionKey")
            or f"arn:aws:kms:{region}:{self.ctx.account}:alias/aws/s3",
            "buildBatchConfig": config,
            "buildGroups": [],
        }
        with self._lock:
            stored = self.store.create(region, batch, params)
            self._launch(stored["id"], region, source, version)
        return {"buildBatch": stored}

    def batch_get_build_batches(self, params):
        region = request_region()
        ids = id_list(params, "batch build", least=0)
        found, missing = found_and_not(ids, lambda each: self.store.get(_batch_id(each), region))
        return {"buildBatches": found, "buildBatchesNotFound": missing}

    def list_build_batches(self, params):
        return self._listing(params, request_region(), None)

    def list_build_batches_for_project(self, params):
        region = request_region()
        name = params.get("projectName")
        if not name:
            raise _invalid("projectName is required.")
        return self._listing(params, region, self.builds.project(name, region)["name"])

    def stop_build_batch(self, params):
        region = request_region()
        batch = self._batch(params.get("id"), region)
        with self._lock:
            job = self._jobs.get(batch["id"])
        if job is None:
            return {"buildBatch": batch}
        job.stop()
        return {"buildBatch": self.store.wait(batch["id"], STOP_WAIT_SECONDS)}

    def retry_build_batch(self, params):
        region = request_region()
        batch = self._batch(params.get("id"), region)
        retry_type = params.get("retryType") or "RETRY_ALL_BUILDS"
        if retry_type not in RETRY_TYPES:
            raise _invalid(f"retryType must be one of {', '.join(RETRY_TYPES)}, not {retry_type!r}.")
        with self._lock:
            if batch["id"] in self._jobs or not batch["complete"]:
                raise _invalid(
                    f"Batch build {batch['id']} is still in progress; only a finished one is retried."
                )
            if batch["buildBatchStatus"] == "SUCCEEDED":
                raise _invalid(
                    f"Batch build {batch['id']} succeeded; only a batch that did not can be retried."
                )
            retried = self.store.update(batch["id"], _retry)
            self._launch(retried["id"], region, retried["source"], retried.get("sourceVersion"), retry_type)
        return {"buildBatch": retried}

    def delete_build_batch(self, params):
        region = request_region()
        batch = self._batch(params.get("id"), region)
        with self._lock:
            if batch["id"] in self._jobs or not batch["complete"]:
                raise _invalid(
                    f"Batch build {batch['id']} is in progress: stop it (StopBuildBatch) before deleting it."
                )
            deleted = []
            for arn in _build_arns(batch):
                build_id = arn.partition(":build/")[2]
                if self.builds.store.get(build_id) is not None:  # not deleted by BatchDeleteBuilds already
                    self.builds.store.delete(build_id)
                    deleted.append(arn)
            self.store.delete(batch["id"])
        return {"statusCode": "BATCH_DELETED", "buildsDeleted": deleted, "buildsNotDeleted": []}

    # -- running ----------------------------------------------------------------------------------

    def _launch(
        self, batch_id: str, region: str, source: dict, version: str | None, retry_type: str | None = None
    ) -> None:
        """Run the batch in a thread of its own (the caller holds the lock)."""
        setting = source.get("buildspec") or ""
        job = BatchJob(
            self.ctx,
            self.builds,
            self.store,
            batch_id,
            region,
            BatchSource(source["type"], source.get("location", ""), version, setting),
            self._finished,
            retry_type,
            self.minute_seconds,
        )
        self._jobs[batch_id] = job
        threading.Thread(target=job.run, name=f"batch-{batch_id}", daemon=True).start()

    def _finished(self, batch_id: str) -> None:
        with self._lock:
            self._jobs.pop(batch_id, None)

    # -- lookups ----------------------------------------------------------------------------------

    def _batch(self, batch_id, region: str) -> dict:
        if not batch_id or not isinstance(batch_id, str):
            raise _invalid("id is required: the batch build's id (<project>:<uuid>) or ARN.")
        if ":" not in batch_id:
            raise _invalid(f"Invalid batch build id {batch_id}: it reads <project>:<uuid>.")
        batch = self.store.get(_batch_id(batch_id), region)
        if batch is None:
            raise AwsError("ResourceNotFoundException", f"Batch build {batch_id} does not exist")
        return batch

    def _listing(self, params: dict, region: str, project: str | None) -> dict:
        newest = newest_first(params)
        size = params.get("maxResults") or self.page_size
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise _invalid(f"maxResults must be from 1 to 100, not {size!r}.")
        status = (params.get("filter") or {}).get("status")
        if status is not None and status not in STATUSES:
            raise _invalid(f"filter.status must be one of {', '.join(STATUSES)}, not {status!r}.")
        ids = [
            batch_id
            for _, batch_id in self.store.ordered(region, project, newest_first=newest)
            if status is None or (self.store.get(batch_id) or {}).get("buildBatchStatus") == status
        ]
        page, token = offset_page(
            ids,
            params.get("nextToken"),
            size,
            lambda: _invalid("The nextToken is not valid; pass the nextToken of the previous answer."),
        )
        return with_token({"ids": page}, token)


# -- helpers ------------------------------------------------------------------------------------------


def _batch_config(project: dict, params: dict, account: str) -> dict:
    """The batch settings: the override, else the project's; a service role is required."""
    if "buildBatchConfigOverride" in params:
        projects.check_batch_config(params, account, "buildBatchConfigOverride")
        config = params["buildBatchConfigOverride"]
    else:
        config = project.get("buildBatchConfig") or {}
    if not config.get("serviceRole"):
        raise _invalid(
            f"Project {project['name']} has no batch build settings: give it buildBatchConfig with a "
            "serviceRole (UpdateProject --build-batch-config serviceRole=<role ARN>), or pass "
            "buildBatchConfigOverride."
        )
    defaults = copy.deepcopy(BATCH_DEFAULTS)
    restrictions = {**defaults.pop("restrictions"), **(config.get("restrictions") or {})}
    return {**defaults, **copy.deepcopy(config), "restrictions": restrictions}


def _retry(batch: dict) -> None:
    """The batch starts again; its groups show their last builds until the batch runs them again."""
    moment = now()
    last = batch["phases"][-1]
    last.update(
        phaseStatus="RETRY",  # as AWS shows a retried batch's closing phase (not in StatusType's enum)
        endTime=moment,
        durationInSeconds=int(max(0.0, moment - last["startTime"])),
    )
    batch["phases"].append({"phaseType": "SUBMITTED", "startTime": moment})
    batch.pop("endTime", None)
    batch.update(currentPhase="SUBMITTED", buildBatchStatus="IN_PROGRESS", complete=False)


def _build_arns(batch: dict) -> list[str]:
    """The ARNs of the batch's builds, current and prior (some never started)."""
    summaries = []
    for group in batch.get("buildGroups") or []:
        summaries += [group["currentBuildSummary"], *group.get("priorBuildSummaryList", [])]
    return [item["arn"] for item in summaries]


def _batch_id(batch_id_or_arn: str) -> str:
    return (
        batch_id_or_arn.partition(":build-batch/")[2]
        if batch_id_or_arn.startswith("arn:")
        else batch_id_or_arn
    )
