"""CodeDeploy on the local endpoint: in-place deployments (Server compute platform) of S3 zip revisions.

CodeDeployService answers the deployment, deployment-target and on-premises-instance operations itself, and
mixes in the rest: the application and deployment-group operations moto lacks (applications; moto keeps
those), the application-revision operations (revisions), the deployment configurations (configs) and the
GitHub account tokens (github). A deployment's targets are the running moto EC2 instances whose tags match
the group (plus registered on-premises instances; targets); each is a local instance under
`<state>/instances/<id>`. Deployments run in threads of their own (job); their records are saved on every
change (store), and a deployment the endpoint was running when it stopped is ended Failed at the next start.
A deployment that fails while its automatic rollback configuration covers DEPLOYMENT_FAILURE starts a new
deployment of the group's last good revision (rollback).

The pipeline engine calls `start_deployment()`, `wait()`, `instance_ids()` and `page_url()` in-process.
"""

import base64
import binascii
import copy
import secrets
import string
import threading

from ..awsjson import AwsError, now
from ..context import EndpointContext
from ..dispatch import JsonService, request_region
from ..paging import with_token
from .applications import ApplicationOperations
from .configs import DeploymentConfigOperations
from .github import GitHubTokenOperations
from .job import DeployJobs, end_interrupted, kill_leftover_hooks
from .params import batch_limit, s3_revision
from .records import (
    deployment_info,
    deployment_target,
    find_target,
    instance_summary,
    new_record,
    target_ids,
)
from .revisions import RevisionOperations
from .rollback import note_rollback, rollback_deployment, rolls_back_on_stop
from .store import (
    ApplicationRevisions,
    DeploymentConfigs,
    DeploymentFiles,
    LocalInstances,
    OnPremisesInstances,
    codedeploy_folder,
    instances_folder,
    valid_instance_name,
)
from .targets import find_targets, tag_dict, tags_match

DEFAULT_CONFIG = "CodeDeployDefault.OneAtATime"
ACTIVE = ("Created", "Queued", "InProgress")
ENDED = ("Succeeded", "Failed", "Stopped")
DEPLOYMENT_STATUSES = (*ACTIVE, "Baking", *ENDED, "Ready")
FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
WAIT_TYPES = ("READY_WAIT", "TERMINATION_WAIT")
MAX_BATCH_DEPLOYMENTS = 25
MAX_BATCH_TARGETS = 25
MAX_BATCH_INSTANCES = 100
NO_INSTANCES = {
    "code": "NO_INSTANCES",
    "message": "The deployment failed because no instances were found for your deployment group. Check your "
    "deployment group settings to make sure the tags for your Amazon EC2 instances or Auto Scaling groups "
    "correctly identify the instances you want to deploy to, and then try again.",
}
_ID_CHARACTERS = string.ascii_uppercase + string.digits
# Operations a client may not call: the in-process API of the pipeline engine.
_IN_PROCESS = frozenset({"StartDeployment", "Wait", "InstanceIds", "PageUrl"})


class CodeDeployService(
    ApplicationOperations, RevisionOperations, DeploymentConfigOperations, GitHubTokenOperations, JsonService
):
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
        self.revisions = ApplicationRevisions(codedeploy_folder(ctx.layout) / "revisions.json")
        self.configs = DeploymentConfigs(codedeploy_folder(ctx.layout) / "deployment-configs.json")
        self._files = DeploymentFiles(codedeploy_folder(ctx.layout))
        self._cond = threading.Condition()  # its lock is reentrant: a failing job starts its rollback
        self._jobs = DeployJobs(ctx, self.instances, self._files, self._cond, on_end=self._roll_back)
        self._records: dict[str, dict] = {}
        interrupted = set()
        for record in self._files.load_deployments():
            deployment_id = record["info"]["deploymentId"]
            if record["info"]["status"] in ACTIVE:
                end_interrupted(record)
                self._files.save_deployment(record)
                interrupted.add(deployment_id)
            self._records[deployment_id] = record
        kill_leftover_hooks(interrupted)

    def close(self) -> None:
        """End the hooks of running deployments; their records end Failed, with the reason, at next start."""
        with self._cond:
            running = self._jobs.running()
        kill_leftover_hooks(running)

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
        creator: str = "user",
        description: str | None = None,
    ) -> str:
        """Start a deployment as CreateDeployment does (raising AwsError as it would); its id. CodePipeline
        calls CreateDeployment as its service role, so CodeDeploy's creator is "user" (DeploymentCreator
        has no CodePipeline value)."""
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
            return deployment_info(record)

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
        return {"deploymentInfo": deployment_info(self._record(params))}

    def batch_get_deployments(self, params):
        ids = params.get("deploymentIds")
        if not ids:
            raise AwsError("DeploymentIdRequiredException", "At least one deployment ID is required.")
        if len(ids) > MAX_BATCH_DEPLOYMENTS:
            raise batch_limit(MAX_BATCH_DEPLOYMENTS)
        for deployment_id in ids:
            _check_deployment_id(deployment_id)
        region = request_region()
        with self._cond:
            found = [self._records.get(i) for i in ids]
            return {"deploymentsInfo": [deployment_info(r) for r in found if r and r["region"] == region]}

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
            asked = params.get("autoRollbackEnabled")
            if asked is not None and not isinstance(asked, bool):
                raise AwsError("InvalidInputException", "autoRollbackEnabled must be true or false.")
            record["rollBackOnStop"] = rolls_back_on_stop(record["info"], asked)
            self._jobs.stop(deployment_id)
        return {"status": "Pending", "statusMessage": "Stopping Active Deployment"}

    def continue_deployment(self, params):
        """Only a blue/green deployment waits (Ready, or before terminating the original instances) for this
        call; the local endpoint runs in-place deployments, which never do."""
        wait_type = params.get("deploymentWaitType") or "READY_WAIT"
        if wait_type not in WAIT_TYPES:
            raise AwsError(
                "InvalidDeploymentWaitTypeException",
                f"deploymentWaitType must be one of {', '.join(WAIT_TYPES)}, not {wait_type}.",
            )
        with self._cond:
            deployment_id = self._find(params)["info"]["deploymentId"]
        raise AwsError(
            "UnsupportedActionForDeploymentTypeException",
            f"Deployment {deployment_id} is an in-place deployment: ContinueDeployment continues blue/green "
            "deployments waiting to reroute traffic or to terminate the original instances.",
        )

    # --- targets -------------------------------------------------------------------------------------

    def list_deployment_targets(self, params):
        filters = params.get("targetFilters") or {}
        for name in filters:
            if name not in ("TargetStatus", "ServerInstanceLabel"):
                raise AwsError("InvalidTargetFilterNameException", f"{name} is not a target filter.")
        ids = target_ids(
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
        return {"deploymentTargets": [deployment_target(record, find_target(record, i)) for i in ids]}

    def get_deployment_target(self, params):
        record = self._record(params)
        target = find_target(record, params.get("targetId"))
        return {"deploymentTarget": deployment_target(record, target)}

    def list_deployment_instances(self, params):
        record = self._record(params)
        ids = target_ids(record, params.get("instanceStatusFilter"), params.get("instanceTypeFilter"))
        return self._page("instancesList", ids, params)

    def batch_get_deployment_instances(self, params):
        record = self._record(params)
        ids = params.get("instanceIds") or []
        if not ids:
            raise AwsError("InstanceIdRequiredException", "At least one instance ID is required.")
        if len(ids) > MAX_BATCH_INSTANCES:
            raise batch_limit(MAX_BATCH_INSTANCES)
        targets = {t["targetId"]: t for t in record["targets"]}
        missing = [i for i in ids if i not in targets]
        result = {"instancesSummary": [instance_summary(record, targets[i]) for i in ids if i in targets]}
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
        return {"instanceSummary": instance_summary(record, target)}

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
            and (not filters or tags_match(filters, None, tag_dict(info["tags"])))
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
        revision = s3_revision(params.get("revision"))
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
        healthy_hosts = self._minimum_healthy_hosts(config, region)
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
        targets = find_targets(self.ctx, self.on_premises, group, region)
        return self._add(new_record(info, group, targets, region, healthy_hosts))

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
            self.revisions.use(record["region"], info["applicationName"], info["revision"], deployment_id)
            self._records[deployment_id] = record
            if record["targets"]:
                self._jobs.start(record)
            else:
                info.update(status="Failed", completeTime=now(), errorInformation=dict(NO_INSTANCES))
            self._files.save_deployment(record)
        return deployment_id

    def _roll_back(self, record: dict) -> None:
        """A deployment has just failed or been stopped (call holding the lock): start its automatic
        rollback, if any."""
        rollback = rollback_deployment(record)
        if rollback is not None:
            note_rollback(record["info"], self._add(rollback))

    # --- finding deployments, paging answers ---------------------------------------------------------

    def _page(self, key: str, items: list[str], params: dict) -> dict:
        """One page of a List operation's answer."""
        page, token = _page_after(items, params.get("nextToken"), self.page_size)
        return with_token({key: page}, token)

    def _find(self, params: dict) -> dict:
        """The deployment `params` names, in the request's Region; call holding the lock."""
        deployment_id = params.get("deploymentId")
        if not deployment_id:
            raise AwsError("DeploymentIdRequiredException", "The deployment ID is required.")
        _check_deployment_id(deployment_id)
        record = self._records.get(deployment_id)
        if record is None or record["region"] != request_region():
            raise _no_deployment(deployment_id)
        return record

    def _record(self, params: dict) -> dict:
        """A copy of the deployment `params` names."""
        with self._cond:
            return copy.deepcopy(self._find(params))


# --- requests -----------------------------------------------------------------------------------------


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


def _new_deployment_id(taken) -> str:
    while True:
        deployment_id = "d-" + "".join(secrets.choice(_ID_CHARACTERS) for _ in range(9))
        if deployment_id not in taken:
            return deployment_id


def _check_deployment_id(deployment_id) -> None:
    """A deployment id is d- and 9 upper-case letters or digits, as CodeDeploy makes them."""
    if not (
        isinstance(deployment_id, str)
        and len(deployment_id) == 11
        and deployment_id.startswith("d-")
        and all(c in _ID_CHARACTERS for c in deployment_id[2:])
    ):
        raise AwsError(
            "InvalidDeploymentIdException",
            f"Specified deploymentId is not in the valid format: {deployment_id}",
        )


def _no_deployment(deployment_id: str) -> AwsError:
    return AwsError(
        "DeploymentDoesNotExistException",
        f"The deployment {deployment_id} does not exist with the user or AWS account.",
    )
