"""CodeDeploy on the local endpoint: in-place deployments (Server compute platform) of S3 zip revisions.

Applications and deployment groups stay in moto. This service answers the deployment, deployment-target,
deployment-config and on-premises-instance operations. A deployment's targets are the running moto EC2
instances whose tags match the group (plus registered on-premises instances); each is a local instance
under `<state>/instances/<id>`. A deployment runs in its own thread: it waits until none of its instances
is busy with another deployment, downloads the revision from the endpoint's S3 once, then deploys with the
deploy runner in the batches its deployment configuration allows. Every change is saved (deploystore);
a deployment the endpoint was running when it stopped is ended Failed at the next start.

The pipeline engine calls `start_deployment()`, `wait()`, `instance_ids()` and `page_url()` in-process.
"""

import base64
import binascii
import copy
import logging
import math
import os
import secrets
import shutil
import signal
import string
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from .appspec import AppSpec, AppSpecError, load_revision
from .archives import ArchiveError, extract_zip
from .awsjson import AwsError, now
from .context import EndpointContext
from .deployrunner import HEALTH_CONSTRAINTS, MANUAL_STOP, deploy, lifecycle_event_names
from .deploystore import (
    DeploymentFiles,
    LocalInstances,
    OnPremisesInstances,
    codedeploy_folder,
    instances_folder,
    valid_instance_name,
)
from .dispatch import JsonService, request_region
from .motoapp import LOCK

log = logging.getLogger("labhelpers.endpoint")

# What GetDeploymentConfig reports for the predefined Server configurations.
DEPLOYMENT_CONFIGS = {
    "CodeDeployDefault.OneAtATime": {"type": "MOST_CONCURRENCY", "value": 1},
    "CodeDeployDefault.HalfAtATime": {"type": "FLEET_PERCENT", "value": 50},
    "CodeDeployDefault.AllAtOnce": {"type": "HOST_COUNT", "value": 0},
}
DEFAULT_CONFIG = "CodeDeployDefault.OneAtATime"
ACTIVE = ("Created", "Queued", "InProgress")
ENDED = ("Succeeded", "Failed", "Stopped")
DEPLOYMENT_STATUSES = (*ACTIVE, "Baking", *ENDED, "Ready")
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
INSTANCE_LABEL = "Blue"  # what in-place deployments label their instances
MAX_BATCH_DEPLOYMENTS = 25
MAX_BATCH_TARGETS = 25
MAX_BATCH_INSTANCES = 100
NO_INSTANCES = {
    "code": "NO_INSTANCES",
    "message": "The deployment failed because no instances were found for your deployment group. Check your "
    "deployment group settings to make sure the tags for your Amazon EC2 instances or Auto Scaling groups "
    "correctly identify the instances you want to deploy to, and then try again.",
}
ENDPOINT_STOPPED = {
    "code": "AGENT_ISSUE",
    "message": "The local lab endpoint stopped while this deployment was in progress, and the deployment "
    "stopped with it. Its instances keep what it had done by then; start a new deployment.",
}
_ID_CHARACTERS = string.ascii_uppercase + string.digits
# Operations a client may not call: the in-process API of the pipeline engine.
_IN_PROCESS = frozenset({"StartDeployment", "Wait", "InstanceIds", "PageUrl"})


@dataclass(frozen=True)
class _Revision:
    """A downloaded, extracted revision and the BUNDLE_* variables its hooks get."""

    spec: AppSpec
    folder: Path
    variables: dict[str, str]


class _RevisionProblem(Exception):
    """The revision cannot be deployed; the message says why."""


class CodeDeployService(JsonService):
    target_prefix = "CodeDeploy_20141006"
    signing_name = "codedeploy"
    moto_fallback = True  # applications and deployment groups

    def __init__(self, ctx: EndpointContext, *, on_write=None, page_size: int = 100):
        self.ctx = ctx
        self.page_size = page_size
        self._on_write = on_write or (lambda service: None)
        self.instances = LocalInstances(instances_folder(ctx.layout))
        self.on_premises = OnPremisesInstances(
            codedeploy_folder(ctx.layout) / "on-premises.json", ctx.account
        )
        self._files = DeploymentFiles(codedeploy_folder(ctx.layout))
        self._work = ctx.layout.work / "codedeploy"
        shutil.rmtree(self._work, ignore_errors=True)  # revisions left by an endpoint that died
        self._cond = threading.Condition()
        self._busy: set[str] = set()  # instances a deployment holds
        self._cancels: dict[str, threading.Event] = {}  # running deployments
        self._records: dict[str, dict] = {}
        interrupted = set()
        for record in self._files.load_deployments():
            deployment_id = record["info"]["deploymentId"]
            if record["info"]["status"] in ACTIVE:
                _end_interrupted(record)
                self._files.save_deployment(record)
                interrupted.add(deployment_id)
            self._records[deployment_id] = record
        _kill_leftover_hooks(interrupted)

    def owns(self, operation: str) -> bool:
        return operation not in _IN_PROCESS and super().owns(operation)

    # --- the pipeline engine's API -------------------------------------------------------------------

    def start_deployment(
        self,
        application: str,
        group: str,
        revision: dict,
        *,
        region: str,
        creator: str = "CodePipeline",
        description: str | None = None,
    ) -> str:
        """Start a deployment as CreateDeployment does (raising AwsError as it would); its id."""
        params = {"applicationName": application, "deploymentGroupName": group, "revision": revision}
        if description is not None:
            params["description"] = description
        return self._create(params, region=region, creator=creator)

    def wait(self, deployment_id: str, timeout: float | None = None) -> dict:
        """The deploymentInfo once the deployment has ended; TimeoutError after `timeout` seconds."""
        with self._cond:
            record = self._records.get(deployment_id)
            if record is None:
                raise _no_deployment(deployment_id)
            if not self._cond.wait_for(lambda: record["info"]["status"] in ENDED, timeout):
                raise TimeoutError(f"deployment {deployment_id} has not ended after {timeout} seconds")
            return _deployment_info(record)

    def instance_ids(self, deployment_id: str) -> list[str]:
        """The instances the deployment targets."""
        with self._cond:
            record = self._records.get(deployment_id)
            if record is None:
                raise _no_deployment(deployment_id)
            return [target["targetId"] for target in record["targets"]]

    def page_url(self, instance_id: str) -> str:
        """Where the endpoint serves the instance's web root while its web server runs."""
        return f"{self.ctx.url}/_lab/instances/{instance_id}/"

    # --- deployments ---------------------------------------------------------------------------------

    def create_deployment(self, params):
        return {"deploymentId": self._create(params, region=request_region(), creator="user")}

    def get_deployment(self, params):
        return {"deploymentInfo": _deployment_info(self._record(params))}

    def batch_get_deployments(self, params):
        ids = params.get("deploymentIds")
        if not ids:
            raise AwsError("DeploymentIdRequiredException", "At least one deployment ID is required.")
        if len(ids) > MAX_BATCH_DEPLOYMENTS:
            raise _batch_limit(MAX_BATCH_DEPLOYMENTS)
        region = request_region()
        with self._cond:
            found = [self._records.get(i) for i in ids]
            return {"deploymentsInfo": [_deployment_info(r) for r in found if r and r["region"] == region]}

    def list_deployments(self, params):
        region = request_region()
        application, group = params.get("applicationName"), params.get("deploymentGroupName")
        if application and not group:
            raise AwsError(
                "DeploymentGroupNameRequiredException",
                "If applicationName is specified, deploymentGroupName must be specified too.",
            )
        if group and not application:
            raise AwsError(
                "ApplicationNameRequiredException",
                "If deploymentGroupName is specified, applicationName must be specified too.",
            )
        if application:
            self._group(application, group, region)  # both must exist
        statuses = params.get("includeOnlyStatuses") or []
        for status in statuses:
            if status not in DEPLOYMENT_STATUSES:
                raise AwsError("InvalidDeploymentStatusException", f"{status} is not a deployment status.")
        time_range = params.get("createTimeRange") or {}
        start, end = time_range.get("start"), time_range.get("end")
        if start is not None and end is not None and start > end:
            raise AwsError("InvalidTimeRangeException", "The start time must be earlier than the end time.")

        def wanted(info: dict) -> bool:
            return (
                (not application or info["applicationName"] == application)
                and (not group or info["deploymentGroupName"] == group)
                and (not statuses or info["status"] in statuses)
                and (start is None or info["createTime"] >= start)
                and (end is None or info["createTime"] <= end)
                and params.get("externalId") in (None, info.get("externalId"))
            )

        with self._cond:
            infos = [r["info"] for r in self._records.values() if r["region"] == region]
        newest_first = sorted((i for i in infos if wanted(i)), key=lambda i: i["createTime"], reverse=True)
        return self._page("deployments", [i["deploymentId"] for i in newest_first], params)

    def stop_deployment(self, params):
        with self._cond:
            record = self._find(params)
            deployment_id = record["info"]["deploymentId"]
            if record["info"]["status"] in ENDED:
                raise AwsError(
                    "DeploymentAlreadyCompletedException",
                    f"The deployment {deployment_id} has already completed.",
                )
            self._cancels[deployment_id].set()
            self._cond.notify_all()
        return {"status": "Pending", "statusMessage": "Stopping Active Deployment"}

    # --- targets -------------------------------------------------------------------------------------

    def list_deployment_targets(self, params):
        filters = params.get("targetFilters") or {}
        for name in filters:
            if name not in ("TargetStatus", "ServerInstanceLabel"):
                raise AwsError("InvalidTargetFilterNameException", f"{name} is not a target filter.")
        ids = _target_ids(
            self._record(params), filters.get("TargetStatus"), filters.get("ServerInstanceLabel")
        )
        return self._page("targetIds", ids, params)

    def batch_get_deployment_targets(self, params):
        record = self._record(params)
        ids = params.get("targetIds") or []
        if not ids:
            raise AwsError("DeploymentTargetIdRequiredException", "At least one target ID is required.")
        if len(ids) > MAX_BATCH_TARGETS:
            raise AwsError(
                "DeploymentTargetListSizeExceededException",
                f"At most {MAX_BATCH_TARGETS} target IDs are allowed in one request.",
            )
        return {"deploymentTargets": [_deployment_target(record, _target(record, i)) for i in ids]}

    def get_deployment_target(self, params):
        record = self._record(params)
        target = _target(record, params.get("targetId"))
        return {"deploymentTarget": _deployment_target(record, target)}

    def list_deployment_instances(self, params):
        record = self._record(params)
        ids = _target_ids(record, params.get("instanceStatusFilter"), params.get("instanceTypeFilter"))
        return self._page("instancesList", ids, params)

    def batch_get_deployment_instances(self, params):
        record = self._record(params)
        ids = params.get("instanceIds") or []
        if not ids:
            raise AwsError("InstanceIdRequiredException", "At least one instance ID is required.")
        if len(ids) > MAX_BATCH_INSTANCES:
            raise _batch_limit(MAX_BATCH_INSTANCES)
        targets = {t["targetId"]: t for t in record["targets"]}
        missing = [i for i in ids if i not in targets]
        result = {"instancesSummary": [_instance_summary(record, targets[i]) for i in ids if i in targets]}
        if missing:
            result["errorMessage"] = (
                f"Not instances of deployment {record['info']['deploymentId']}: " + ", ".join(missing)
            )
        return result

    def get_deployment_instance(self, params):
        record = self._record(params)
        instance_id = params.get("instanceId")
        if not instance_id:
            raise AwsError("InstanceIdRequiredException", "The instance ID is required.")
        target = next((t for t in record["targets"] if t["targetId"] == instance_id), None)
        if target is None:
            raise AwsError(
                "InstanceDoesNotExistException",
                f"The instance {instance_id} is not part of deployment {record['info']['deploymentId']}.",
            )
        return {"instanceSummary": _instance_summary(record, target)}

    # --- deleting what moto keeps (moto lacks these operations) ---------------------------------------

    def _moto_backend(self):
        from moto.backends import get_backend

        return get_backend("codedeploy")[self.ctx.account][request_region()]

    def delete_application(self, params):
        name = params.get("applicationName")
        if not name:
            raise AwsError(
                "ApplicationNameRequiredException",
                "The minimum number of required application names was not specified.",
            )
        with LOCK:
            backend = self._moto_backend()
            backend.applications.pop(name, None)
            backend.deployment_groups.pop(name, None)
        self._on_write("codedeploy")
        return {}

    def delete_deployment_group(self, params):
        application, group = params.get("applicationName"), params.get("deploymentGroupName")
        if not application or not group:
            raise AwsError(
                "DeploymentGroupNameRequiredException", "The deployment group name was not specified."
            )
        with LOCK:
            backend = self._moto_backend()
            if application not in backend.applications:
                raise AwsError(
                    "ApplicationDoesNotExistException", f"No application found for name: {application}"
                )
            backend.deployment_groups.get(application, {}).pop(group, None)
        self._on_write("codedeploy")
        return {"hooksNotCleanedUp": []}

    # --- deployment configurations -------------------------------------------------------------------

    def get_deployment_config(self, params):
        name = params.get("deploymentConfigName")
        if not name:
            raise AwsError(
                "DeploymentConfigNameRequiredException", "The deployment configuration name is required."
            )
        if name not in DEPLOYMENT_CONFIGS:
            raise _no_config(name)
        return {
            "deploymentConfigInfo": {
                "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "deploymentConfigName": name,
                "minimumHealthyHosts": dict(DEPLOYMENT_CONFIGS[name]),
                "computePlatform": "Server",
            }
        }

    def list_deployment_configs(self, params):
        return self._page("deploymentConfigsList", sorted(DEPLOYMENT_CONFIGS), params)

    # --- on-premises instances -----------------------------------------------------------------------

    def register_on_premises_instance(self, params):
        name = _instance_name(params.get("instanceName"))
        arns = {key: params[key] for key in ("iamUserArn", "iamSessionArn") if params.get(key)}
        if not arns:
            raise AwsError("IamArnRequiredException", "Give the instance's iamUserArn or iamSessionArn.")
        if len(arns) > 1:
            raise AwsError(
                "MultipleIamArnsProvidedException", "Give either iamUserArn or iamSessionArn, not both."
            )
        self.on_premises.register(request_region(), name, *next(iter(arns.items())))

    def deregister_on_premises_instance(self, params):
        self.on_premises.deregister(request_region(), _instance_name(params.get("instanceName")))

    def add_tags_to_on_premises_instances(self, params):
        self.on_premises.retag(request_region(), _instance_names(params), add=_tags(params))

    def remove_tags_from_on_premises_instances(self, params):
        self.on_premises.retag(request_region(), _instance_names(params), remove=_tags(params))

    def get_on_premises_instance(self, params):
        (info,) = self.on_premises.get(request_region(), [_instance_name(params.get("instanceName"))])
        return {"instanceInfo": info}

    def batch_get_on_premises_instances(self, params):
        names = set(params.get("instanceNames") or [])
        return {
            "instanceInfos": [i for i in self.on_premises.all(request_region()) if i["instanceName"] in names]
        }

    def list_on_premises_instances(self, params):
        status = params.get("registrationStatus")
        if status not in (None, "Registered", "Deregistered"):
            raise AwsError("InvalidRegistrationStatusException", f"{status} is not a registration status.")
        filters = params.get("tagFilters") or []
        names = sorted(
            info["instanceName"]
            for info in self.on_premises.all(request_region())
            if status in (None, "Deregistered" if "deregisterTime" in info else "Registered")
            and (not filters or _tags_match(filters, None, _tag_dict(info["tags"])))
        )
        return self._page("instanceNames", names, params)

    # --- creating a deployment -----------------------------------------------------------------------

    def _create(self, params: dict, *, region: str, creator: str) -> str:
        application = params.get("applicationName")
        if not application:
            raise AwsError("ApplicationNameRequiredException", "The application name is required.")
        group_name = params.get("deploymentGroupName")
        if not group_name:
            raise AwsError("DeploymentGroupNameRequiredException", "The deployment group name is required.")
        revision = _s3_revision(params.get("revision"))
        file_exists = params.get("fileExistsBehavior") or "DISALLOW"
        if file_exists not in FILE_EXISTS_BEHAVIORS:
            raise AwsError(
                "InvalidFileExistsBehaviorException",
                f"fileExistsBehavior must be one of {', '.join(FILE_EXISTS_BEHAVIORS)}, not {file_exists}.",
            )
        group = self._group(application, group_name, region)
        if group.get("computePlatform", "Server") != "Server":
            raise AwsError(
                "InvalidComputePlatformException",
                "The local lab endpoint runs Server (EC2/on-premises) deployments; "
                f"application {application} is {group['computePlatform']}.",
            )
        style = group.get("deploymentStyle") or {}
        if style.get("deploymentType", "IN_PLACE") != "IN_PLACE":
            raise AwsError(
                "InvalidInputException",
                f"The local lab endpoint runs in-place deployments; deployment group {group_name} is "
                f"{style['deploymentType']}.",
            )
        config = params.get("deploymentConfigName") or group.get("deploymentConfigName") or DEFAULT_CONFIG
        if config not in DEPLOYMENT_CONFIGS:
            raise _no_config(config)
        info = {
            "applicationName": application,
            "deploymentGroupName": group_name,
            "deploymentConfigName": config,
            "revision": revision,
            "status": "Created",
            "createTime": now(),
            "creator": creator,
            "ignoreApplicationStopFailures": bool(params.get("ignoreApplicationStopFailures")),
            "autoRollbackConfiguration": params.get("autoRollbackConfiguration")
            or group.get("autoRollbackConfiguration")
            or {"enabled": False},
            "updateOutdatedInstancesOnly": False,
            "deploymentStyle": {
                "deploymentType": "IN_PLACE",
                "deploymentOption": style.get("deploymentOption") or "WITHOUT_TRAFFIC_CONTROL",
            },
            "instanceTerminationWaitTimeStarted": False,
            "fileExistsBehavior": file_exists,
            "deploymentStatusMessages": [],
            "computePlatform": "Server",
        }
        if params.get("description"):
            info["description"] = params["description"]
        return self._add(_new_record(info, group, self._find_targets(group, region), region))

    def _add(self, record: dict) -> str:
        """Give the deployment its id and start it, unless its group has one running or it has no targets."""
        info = record["info"]
        with self._cond:
            same_group = [
                r["info"]
                for r in self._records.values()
                if (r["region"], r["info"]["applicationName"], r["info"]["deploymentGroupName"])
                == (record["region"], info["applicationName"], info["deploymentGroupName"])
            ]
            active = next((i["deploymentId"] for i in same_group if i["status"] in ACTIVE), None)
            if active:
                raise AwsError(
                    "DeploymentLimitExceededException",
                    f"The Deployment Group '{info['deploymentGroupName']}' already has an active Deployment "
                    f"'{active}'",
                )
            succeeded = [i for i in same_group if i["status"] == "Succeeded"]
            if succeeded:
                info["previousRevision"] = max(succeeded, key=lambda i: i["createTime"])["revision"]
            deployment_id = info["deploymentId"] = _new_deployment_id(self._records)
            self._records[deployment_id] = record
            if record["targets"]:
                self._cancels[deployment_id] = threading.Event()
                thread = threading.Thread(
                    target=self._run, args=(deployment_id,), name=f"deploy-{deployment_id}", daemon=True
                )
                thread.start()
            else:
                info.update(status="Failed", completeTime=now(), errorInformation=dict(NO_INSTANCES))
            self._files.save_deployment(record)
        return deployment_id

    def _group(self, application: str, group: str, region: str) -> dict:
        """The deployment group as moto keeps it (ApplicationDoesNotExist and the like if it does not)."""
        try:
            answer = self.ctx.client("codedeploy", region).get_deployment_group(
                applicationName=application, deploymentGroupName=group
            )
        except ClientError as exc:
            raise _aws_error(exc) from None
        return answer["deploymentGroupInfo"]

    def _find_targets(self, group: dict, region: str) -> list[dict]:
        """The group's running EC2 instances and registered on-premises instances, by id."""
        targets = {}
        ec2_filters = group.get("ec2TagFilters") or []
        ec2_tag_set = (group.get("ec2TagSet") or {}).get("ec2TagSetList") or []
        scaling_groups = group.get("autoScalingGroups") or []
        if ec2_filters or ec2_tag_set or scaling_groups:
            running = [{"Name": "instance-state-name", "Values": ["running"]}]
            pages = (
                self.ctx.client("ec2", region).get_paginator("describe_instances").paginate(Filters=running)
            )
            for page in pages:
                for instance in (i for r in page["Reservations"] for i in r["Instances"]):
                    tags = _tag_dict(instance.get("Tags") or [])
                    in_scaling_group = tags.get("aws:autoscaling:groupName") in scaling_groups
                    if in_scaling_group or _tags_match(ec2_filters, ec2_tag_set, tags):
                        instance_id = instance["InstanceId"]
                        arn = f"arn:aws:ec2:{region}:{self.ctx.account}:instance/{instance_id}"
                        targets[instance_id] = {"targetId": instance_id, "targetArn": arn}
        on_premises_filters = group.get("onPremisesInstanceTagFilters") or []
        on_premises_tag_set = (group.get("onPremisesTagSet") or {}).get("onPremisesTagSetList") or []
        for info in self.on_premises.all(region):
            if "deregisterTime" not in info and _tags_match(
                on_premises_filters, on_premises_tag_set, _tag_dict(info["tags"])
            ):
                targets[info["instanceName"]] = {
                    "targetId": info["instanceName"],
                    "targetArn": info["instanceArn"],
                }
        return [targets[i] for i in sorted(targets)]

    # --- running a deployment ------------------------------------------------------------------------

    def _run(self, deployment_id: str) -> None:
        record = self._records[deployment_id]
        cancel = self._cancels[deployment_id]
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
            answer = self.ctx.client("s3", record["region"]).get_object(**request)
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

    def _deploy_in_batches(self, record: dict, revision: "_Revision | str", cancel: threading.Event) -> None:
        """Deploy batch after batch while the configuration's minimum of healthy instances can hold."""
        pending = [t["targetId"] for t in record["targets"]]
        healthy_needed = _minimum_healthy(record["info"]["deploymentConfigName"], len(pending))
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
            self._end(record, "Failed", HEALTH_CONSTRAINTS)

    def _deploy_to(self, record: dict, target_id: str, revision: "_Revision | str", cancel) -> str:
        """Deploy to one instance: Succeeded, Failed or Stopped."""
        info = record["info"]
        self._update_target(record, target_id, status="InProgress")
        if isinstance(revision, str):
            events = _download_failed(self._target_events(record, target_id), revision)
            self._update_target(record, target_id, status="Failed", lifecycleEvents=events, log=revision)
            return "Failed"
        result = deploy(
            revision.spec,
            revision_dir=revision.folder,
            instance=self.instances.open(target_id),
            env={**self.ctx.process_env(record["region"]), **revision.variables},
            deployment_id=info["deploymentId"],
            application_name=info["applicationName"],
            deployment_group_name=info["deploymentGroupName"],
            deployment_group_id=record["deploymentGroupId"],
            on_event=lambda event: self._update_event(record, target_id, event),
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
            self._save(record)

    def _target_events(self, record: dict, target_id: str) -> list[dict]:
        with self._cond:
            return copy.deepcopy(_target(record, target_id)["lifecycleEvents"])

    def _update_target(self, record: dict, target_id: str, **fields) -> None:
        with self._cond:
            _target(record, target_id).update(fields, lastUpdatedAt=now())
            self._save(record)

    def _update_event(self, record: dict, target_id: str, event: dict) -> None:
        with self._cond:
            target = _target(record, target_id)
            target["lifecycleEvents"] = [
                event if e["lifecycleEventName"] == event["lifecycleEventName"] else e
                for e in target["lifecycleEvents"]
            ]
            target["lastUpdatedAt"] = now()
            self._save(record)

    def _skip_targets(self, record: dict, target_ids: list[str]) -> None:
        with self._cond:
            for target_id in target_ids:
                target = _target(record, target_id)
                target.update(status="Skipped", lastUpdatedAt=now())
                for event in target["lifecycleEvents"]:
                    event.update(status="Skipped", endTime=target["lastUpdatedAt"])
            self._save(record)

    def _page(self, key: str, items: list[str], params: dict) -> dict:
        """One page of a List operation's answer."""
        page, token = _page_after(items, params.get("nextToken"), self.page_size)
        return {key: page, **({"nextToken": token} if token else {})}

    def _find(self, params: dict) -> dict:
        """The deployment `params` names, in the request's Region; call holding the lock."""
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise AwsError("DeploymentIdRequiredException", "The deployment ID is required.")
        record = self._records.get(deployment_id)
        if record is None or record["region"] != request_region():
            raise _no_deployment(deployment_id)
        return record

    def _record(self, params: dict) -> dict:
        """A copy of the deployment `params` names."""
        with self._cond:
            return copy.deepcopy(self._find(params))


# --- deployment records as the API reports them -------------------------------------------------------


def _new_record(info: dict, group: dict, targets: list[dict], region: str) -> dict:
    """A deployment as the service keeps it: the deploymentInfo, and each target with its lifecycle events."""
    with_load_balancer = info["deploymentStyle"]["deploymentOption"] == "WITH_TRAFFIC_CONTROL"
    if with_load_balancer and group.get("loadBalancerInfo"):
        info["loadBalancerInfo"] = group["loadBalancerInfo"]
    names = lifecycle_event_names(with_load_balancer)
    return {
        "region": region,
        "deploymentGroupId": group["deploymentGroupId"],
        "withLoadBalancer": with_load_balancer,
        "info": info,
        "targets": [
            {
                **target,
                "status": "Pending",
                "lastUpdatedAt": info["createTime"],
                "lifecycleEvents": [{"lifecycleEventName": n, "status": "Pending"} for n in names],
            }
            for target in targets
        ],
    }


def _deployment_info(record: dict) -> dict:
    overview = dict.fromkeys(("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready"), 0)
    for target in record["targets"]:
        if target["status"] in overview:
            overview[target["status"]] += 1
    return copy.deepcopy({**record["info"], "deploymentOverview": overview})


def _deployment_target(record: dict, target: dict) -> dict:
    return {
        "deploymentTargetType": "InstanceTarget",
        "instanceTarget": {
            "deploymentId": record["info"]["deploymentId"],
            "targetId": target["targetId"],
            "targetArn": target["targetArn"],
            "status": target["status"],
            "lastUpdatedAt": target["lastUpdatedAt"],
            "lifecycleEvents": copy.deepcopy(target["lifecycleEvents"]),
            "instanceLabel": INSTANCE_LABEL,
        },
    }


def _instance_summary(record: dict, target: dict) -> dict:
    return {
        "deploymentId": record["info"]["deploymentId"],
        "instanceId": target["targetArn"],
        "status": target["status"],
        "lastUpdatedAt": target["lastUpdatedAt"],
        "lifecycleEvents": copy.deepcopy(target["lifecycleEvents"]),
        "instanceType": INSTANCE_LABEL,
    }


def _target(record: dict, target_id) -> dict:
    if not target_id:
        raise AwsError("DeploymentTargetIdRequiredException", "The target ID is required.")
    for target in record["targets"]:
        if target["targetId"] == target_id:
            return target
    raise AwsError(
        "DeploymentTargetDoesNotExistException",
        f"The target {target_id} is not part of deployment {record['info']['deploymentId']}.",
    )


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


def _end_interrupted(record: dict) -> None:
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


def _kill_leftover_hooks(deployment_ids: set[str]) -> None:
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


# --- requests -----------------------------------------------------------------------------------------


def _s3_revision(revision) -> dict:
    if not revision:
        raise AwsError("RevisionRequiredException", "The revision to deploy is required.")
    kind = revision.get("revisionType")
    if kind == "GitHub":
        raise AwsError(
            "InvalidRevisionException",
            "The local lab endpoint cannot fetch revisions from GitHub. Upload the revision as a zip to S3 "
            "and deploy it with revisionType S3 (a pipeline's CodeDeploy action does this for you).",
        )
    if kind != "S3":
        raise AwsError(
            "InvalidRevisionException",
            f"EC2/on-premises deployments take an S3 (or GitHub) revision, not revisionType {kind}.",
        )
    location = dict(revision.get("s3Location") or {})
    if not location.get("bucket") or not location.get("key"):
        raise AwsError(
            "InvalidRevisionException", "An S3 revision needs s3Location.bucket and s3Location.key."
        )
    bundle_type = location.setdefault("bundleType", "zip")
    if bundle_type != "zip":
        raise AwsError(
            "InvalidRevisionException",
            f"The local lab endpoint deploys zip bundles; bundleType {bundle_type} is not supported locally.",
        )
    return {"revisionType": "S3", "s3Location": location}


def _tags(params: dict) -> list[dict]:
    tags = params.get("tags")
    if not tags:
        raise AwsError("TagRequiredException", "At least one tag is required.")
    if any(not isinstance(t, dict) or not t.get("Key") for t in tags):
        raise AwsError("InvalidTagException", "Every tag needs a Key.")
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


def _instance_name(name) -> str:
    if not name:
        raise AwsError("InstanceNameRequiredException", "The on-premises instance name is required.")
    if not valid_instance_name(name):
        raise AwsError(
            "InvalidInstanceNameException",
            f"{name!r} is not a valid instance name: use up to 100 letters, digits and +=,.@_- .",
        )
    return name


def _instance_names(params: dict) -> list[str]:
    names = params.get("instanceNames")
    if not names:
        raise AwsError("InstanceNameRequiredException", "At least one instance name is required.")
    return [_instance_name(name) for name in names]


def _tag_dict(tags: list[dict]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags}


def _tag_matches(tag_filter: dict, tags: dict[str, str]) -> bool:
    key, value = tag_filter.get("Key"), tag_filter.get("Value")
    kind = tag_filter.get("Type") or (
        "KEY_AND_VALUE" if key and value else "KEY_ONLY" if key else "VALUE_ONLY"
    )
    if kind == "KEY_ONLY":
        return key in tags
    if kind == "VALUE_ONLY":
        return value in tags.values()
    return key in tags and tags[key] == value


def _tags_match(filters: list[dict], tag_set: list[list[dict]] | None, tags: dict[str, str]) -> bool:
    """A group's tag filters match if any one does; a tag set if each of its lists has a match."""
    if any(_tag_matches(f, tags) for f in filters):
        return True
    return bool(tag_set) and all(any(_tag_matches(f, tags) for f in group) for group in tag_set)


def _minimum_healthy(config: str, count: int) -> int:
    """How many of `count` instances the configuration keeps healthy (and needs to succeed)."""
    hosts = DEPLOYMENT_CONFIGS[config]
    if hosts["type"] == "MOST_CONCURRENCY":  # OneAtATime: all but the one being deployed
        return count - 1
    if hosts["type"] == "FLEET_PERCENT":
        return math.ceil(count * hosts["value"] / 100)
    return hosts["value"]


def _page_after(items: list[str], token, size: int) -> tuple[list[str], str | None]:
    """The page after the item `token` names (stable while items are added), and the next page's token."""
    start = 0
    if token:
        try:
            start = items.index(base64.urlsafe_b64decode(token.encode()).decode()) + 1
        except (ValueError, binascii.Error, UnicodeError, AttributeError):
            raise AwsError("InvalidNextTokenException", "The next token is not valid.") from None
    page = items[start : start + size]
    more = start + size < len(items)
    return page, base64.urlsafe_b64encode(page[-1].encode()).decode() if more else None


def _target_ids(record: dict, statuses: list[str] | None, labels: list[str] | None) -> list[str]:
    if labels and INSTANCE_LABEL not in labels:
        return []
    return [t["targetId"] for t in record["targets"] if not statuses or t["status"] in statuses]


def _new_deployment_id(taken) -> str:
    while True:
        deployment_id = "d-" + "".join(secrets.choice(_ID_CHARACTERS) for _ in range(9))
        if deployment_id not in taken:
            return deployment_id


def _aws_error(exc: ClientError) -> AwsError:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    return AwsError(error.get("Code", "InternalFailure"), error.get("Message", str(exc)), status)


def _no_deployment(deployment_id: str) -> AwsError:
    return AwsError(
        "DeploymentDoesNotExistException",
        f"The deployment {deployment_id} does not exist with the user or AWS account.",
    )


def _no_config(name: str) -> AwsError:
    return AwsError(
        "DeploymentConfigDoesNotExistException",
        f"No deployment configuration found for name: {name}. The local lab endpoint has "
        + ", ".join(DEPLOYMENT_CONFIGS)
        + ".",
    )


def _batch_limit(limit: int) -> AwsError:
    return AwsError(
        "BatchLimitExceededException",
        f"The maximum number of IDs allowed for this request ({limit}) was exceeded.",
    )
