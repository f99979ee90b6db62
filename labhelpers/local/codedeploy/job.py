"""Running CodeDeploy deployments on the local endpoint, each in a thread of its own.

A deployment waits until none of its instances is busy with another deployment, downloads the revision
from the endpoint's S3 once, then deploys it with the deploy runner in the batches its deployment
configuration allows. Every change to its record (status, targets, lifecycle events) is saved.
"""

import copy
import logging
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from ..archives import ArchiveError, extract_zip
from ..awsjson import now
from ..context import EndpointContext, StopSignal
from .appspec import AppSpec, AppSpecError, load_revision
from .records import find_target
from .runner import HEALTH_CONSTRAINTS, MANUAL_STOP, deploy, deploy_warnings
from .store import DeploymentFiles, LocalInstances

log = logging.getLogger("labhelpers.endpoint")

ENDPOINT_STOPPED = {
    "code": "AGENT_ISSUE",
    "message": "The local lab endpoint stopped while this deployment was in progress, and the deployment "
    "stopped with it. Its instances keep what it had done by then; start a new deployment.",
}


@dataclass(frozen=True)
class _Revision:
    """A downloaded, extracted revision and the BUNDLE_* variables its hooks get."""

    spec: AppSpec
    folder: Path
    variables: dict[str, str]


class _RevisionProblem(Exception):
    """The revision cannot be deployed; the message says why."""


class DeployJobs:
    """The deployments running now. `cond` is the service's lock over the records, notified on each change."""

    def __init__(
        self,
        ctx: EndpointContext,
        instances: LocalInstances,
        files: DeploymentFiles,
        cond: threading.Condition,
        on_end: Callable[[dict], None],
    ):
        self._ctx = ctx
        self._on_end = on_end  # called holding the lock as a deployment fails or is stopped
        self._instances = instances
        self._files = files
        self._cond = cond
        self._work = ctx.layout.work / "codedeploy"
        shutil.rmtree(self._work, ignore_errors=True)  # revisions left by an endpoint that died
        self._busy: set[str] = set()  # instances a deployment holds
        self._cancels: dict[str, StopSignal] = {}  # running deployments

    def running(self) -> set[str]:
        """The ids of the deployments running now; call holding the lock."""
        return set(self._cancels)

    def start(self, record: dict) -> None:
        """Run the deployment in a thread of its own; call holding the lock."""
        deployment_id = record["info"]["deploymentId"]
        cancel = self._cancels[deployment_id] = StopSignal()
        thread = threading.Thread(
            target=self._run, args=(record, cancel), name=f"deploy-{deployment_id}", daemon=True
        )
        thread.start()

    def stop(self, deployment_id: str) -> None:
        """Ask a running deployment to stop; call holding the lock."""
        self._cancels[deployment_id].set()
        self._cond.notify_all()

    def _run(self, record: dict, cancel: threading.Event) -> None:
        deployment_id = record["info"]["deploymentId"]
        targets = [t["targetId"] for t in record["targets"]]
        holding = False
        try:
            self._set_status(record, "Queued")
            with self._cond:  # one deployment at a time on an instance
                self._cond.wait_for(lambda: cancel.is_set() or self._busy.isdisjoint(targets))
                if not cancel.is_set():
                    self._busy.update(targets)
                    holding = True
            if not holding:
                self._skip_targets(record, targets)
                self._end(record, "Stopped", MANUAL_STOP)
                return
            self._set_status(record, "InProgress", startTime=now())
            self._work.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self._work, prefix=f"{deployment_id}-") as folder:
                try:
                    revision: _Revision | str = self._download(record, Path(folder))
                    warnings = deploy_warnings(revision.spec, record["withLoadBalancer"])
                    self._set_status(record, "InProgress", deploymentStatusMessages=warnings)
                except _RevisionProblem as problem:
                    revision = str(problem)
                self._deploy_in_batches(record, revision, cancel)
        except Exception as exc:
            log.exception("deployment %s failed", deployment_id)
            self._end(
                record, "Failed", {"code": "INTERNAL_ERROR", "message": f"The local endpoint failed: {exc}"}
            )
        finally:
            with self._cond:
                if holding:
                    self._busy.difference_update(targets)
                self._cancels.pop(deployment_id, None)
                self._cond.notify_all()

    def _download(self, record: dict, folder: Path) -> _Revision:
        """Fetch the revision from the endpoint's S3, unzip it and read its AppSpec."""
        location = record["info"]["revision"]["s3Location"]
        where = f"s3://{location['bucket']}/{location['key']}"
        request = {"Bucket": location["bucket"], "Key": location["key"]}
        if location.get("version"):
            request["VersionId"] = location["version"]
        try:
            answer = self._ctx.client("s3", record["region"]).get_object(**request)
            bundle = answer["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise _RevisionProblem(
                f"The revision {where} could not be downloaded: {error.get('Code')}: {error.get('Message')}"
            ) from None
        etag = answer.get("ETag", "").strip('"')
        if location.get("eTag") and location["eTag"].strip('"') != etag:
            raise _RevisionProblem(
                f"The revision {where} has eTag {etag}, not the {location['eTag']} asked for."
            )
        try:
            extract_zip(bundle, folder)
            spec = load_revision(folder)
        except ArchiveError as exc:
            raise _RevisionProblem(f"The revision {where} is not a usable zip bundle: {exc}") from None
        except AppSpecError as exc:
            raise _RevisionProblem(f"The revision {where} cannot be deployed: {exc}") from None
        variables = {
            "BUNDLE_BUCKET": location["bucket"],
            "BUNDLE_KEY": location["key"],
            "BUNDLE_ETAG": etag,
        }
        if answer.get("VersionId") and answer["VersionId"] != "null":
            variables["BUNDLE_VERSION"] = answer["VersionId"]
        return _Revision(spec, folder, variables)

    def _deploy_in_batches(self, record: dict, revision: _Revision | str, cancel: threading.Event) -> None:
        """Deploy batch after batch while the configuration's minimum of healthy instances can hold."""
        pending = [t["targetId"] for t in record["targets"]]
        healthy_needed = _minimum_healthy(record["minimumHealthyHosts"], len(pending))
        batch_size = max(1, len(pending) - healthy_needed)
        outcomes: list[str] = []
        with ThreadPoolExecutor(max_workers=batch_size, thread_name_prefix="deploy-target") as pool:
            while pending and not cancel.is_set():
                batch = pending[:batch_size]
                if outcomes.count("Succeeded") + len(pending) - len(batch) < healthy_needed:
                    break
                del pending[: len(batch)]
                outcomes += pool.map(
                    lambda target_id: self._deploy_to(record, target_id, revision, cancel), batch
                )
        stopped = "Stopped" in outcomes or bool(pending and cancel.is_set())
        self._skip_targets(record, pending)
        if stopped:
            self._end(record, "Stopped", MANUAL_STOP)
        elif outcomes.count("Succeeded") >= max(healthy_needed, 1):
            self._end(record, "Succeeded", None)
        else:
            self._end(record, "Failed", _health_constraints(record))

    def _deploy_to(self, record: dict, target_id: str, revision: _Revision | str, cancel) -> str:
        """Deploy to one instance: Succeeded, Failed or Stopped."""
        info = record["info"]
        hold = self._ctx.pace().event_seconds
        self._update_target(record, target_id, status="InProgress")
        if isinstance(revision, str):
            events = _download_failed(self._target_events(record, target_id), revision)
            self._update_target(record, target_id, status="Failed", lifecycleEvents=events, log=revision)
            return "Failed"
        result = deploy(
            revision.spec,
            revision_dir=revision.folder,
            instance=self._instances.open(target_id),
            env={**self._ctx.hook_env(record["region"]), **revision.variables},
            deployment_id=info["deploymentId"],
            application_name=info["applicationName"],
            deployment_group_name=info["deploymentGroupName"],
            deployment_group_id=record["deploymentGroupId"],
            on_event=lambda event: self._update_event(record, target_id, event, hold, cancel),
            cancel=cancel,
            file_exists_behavior=info["fileExistsBehavior"],
            ignore_application_stop_failures=info["ignoreApplicationStopFailures"],
            with_load_balancer=record["withLoadBalancer"],
        )
        status = result.status
        if status == "Stopped":  # not a target status: a killed script failed its event, else all skipped
            status = "Failed" if any(e["status"] == "Failed" for e in result.lifecycle_events) else "Skipped"
        self._update_target(
            record, target_id, status=status, lifecycleEvents=result.lifecycle_events, log=result.log
        )
        return result.status

    # --- recording progress (each change saved, waiters woken) ----------------------------------------

    def _save(self, record: dict) -> None:
        """Call holding the lock."""
        self._files.save_deployment(record)
        self._cond.notify_all()

    def _set_status(self, record: dict, status: str, **fields) -> None:
        with self._cond:
            record["info"].update(status=status, **fields)
            self._save(record)

    def _end(self, record: dict, status: str, error: dict | None) -> None:
        with self._cond:
            record["info"].update(status=status, completeTime=now())
            if error:
                record["info"]["errorInformation"] = dict(error)
            if status in ("Failed", "Stopped"):
                self._on_end(record)
            self._save(record)

    def _target_events(self, record: dict, target_id: str) -> list[dict]:
        with self._cond:
            return copy.deepcopy(find_target(record, target_id)["lifecycleEvents"])

    def _update_target(self, record: dict, target_id: str, **fields) -> None:
        with self._cond:
            find_target(record, target_id).update(fields, lastUpdatedAt=now())
            self._save(record)

    def _update_event(self, record: dict, target_id: str, event: dict, hold: float, cancel) -> None:
        """Show the event's change; one that begins stays InProgress `hold` s at least (the pace), or until
        a stop."""
        with self._cond:
            target = find_target(record, target_id)
            target["lifecycleEvents"] = [
                event if e["lifecycleEventName"] == event["lifecycleEventName"] else e
                for e in target["lifecycleEvents"]
            ]
            target["lastUpdatedAt"] = now()
            self._save(record)
        if event["status"] == "InProgress" and hold > 0:
            cancel.wait(hold)

    def _skip_targets(self, record: dict, target_ids: list[str]) -> None:
        with self._cond:
            for target_id in target_ids:
                target = find_target(record, target_id)
                target.update(status="Skipped", lastUpdatedAt=now())
                for event in target["lifecycleEvents"]:
                    event.update(status="Skipped", endTime=target["lastUpdatedAt"])
            self._save(record)


def _health_constraints(record: dict) -> dict:
    """AWS's HEALTH_CONSTRAINTS error, its message followed by the first instance failure's event."""
    with_failure = {**HEALTH_CONSTRAINTS}
    for target in record["targets"]:
        for event in target["lifecycleEvents"]:
            if event["status"] == "Failed":
                diagnostics = event.get("diagnostics", {})
                with_failure["message"] += (
                    f" First failure: {target['targetId']}, {event['lifecycleEventName']}: "
                    f"{diagnostics.get('message', 'failed')}"
                )
                return with_failure
    return with_failure


def _download_failed(events: list[dict], problem: str) -> list[dict]:
    """The events of an instance whose revision could not be prepared: DownloadBundle fails, nothing runs."""
    at = now()
    for event in events:
        if event["lifecycleEventName"] == "DownloadBundle":
            diagnostics = {"errorCode": "UnknownError", "scriptName": "", "message": problem, "logTail": ""}
            event.update(status="Failed", startTime=at, endTime=at, diagnostics=diagnostics)
        else:
            event.update(status="Skipped", endTime=at)
    return events


def end_interrupted(record: dict) -> None:
    """End a deployment the endpoint stopped during: what ran fails, what had not started is skipped."""
    at = now()
    for target in record["targets"]:
        if target["status"] not in ("Pending", "InProgress"):
            continue
        for event in target["lifecycleEvents"]:
            if event["status"] == "InProgress":
                message = "The local lab endpoint stopped while this lifecycle event ran."
                diagnostics = {
                    "errorCode": "UnknownError",
                    "scriptName": "",
                    "message": message,
                    "logTail": "",
                }
                event.update(status="Failed", endTime=at, diagnostics=diagnostics)
            elif event["status"] == "Pending":
                event.update(status="Skipped", endTime=at)
        target.update(status="Failed" if target["status"] == "InProgress" else "Skipped", lastUpdatedAt=at)
    record["info"].update(status="Failed", completeTime=at, errorInformation=dict(ENDPOINT_STOPPED))


def kill_leftover_hooks(deployment_ids: set[str]) -> None:
    """Hook scripts outlive an endpoint that died; end those of the deployments it was running."""
    if not deployment_ids:
        return
    markers = {f"DEPLOYMENT_ID={i}".encode() for i in deployment_ids}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            if markers.intersection(Path(entry.path, "environ").read_bytes().split(b"\0")):
                os.kill(int(entry.name), signal.SIGKILL)
                log.info("ended process %s, left running by an interrupted deployment", entry.name)


def _minimum_healthy(hosts: dict, count: int) -> int:
    """How many of `count` instances a configuration's minimumHealthyHosts keeps healthy (and needs to
    succeed)."""
    if hosts["type"] == "MOST_CONCURRENCY":  # OneAtATime: all but the one being deployed
        return count - 1
    if hosts["type"] == "FLEET_PERCENT":
        return math.ceil(count * hosts["value"] / 100)
    return hosts["value"]
