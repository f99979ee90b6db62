"""Automatic rollback of a CodeDeploy deployment: when a deployment fails and its autoRollbackConfiguration
covers DEPLOYMENT_FAILURE, or is stopped and rolls back on a stop (StopDeployment's autoRollbackEnabled, else
DEPLOYMENT_STOP_ON_REQUEST in that configuration), a new deployment deploys the group's last good revision to
the same instances."""

import copy

from ..awsjson import AwsError, now
from .records import new_record

ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST")
ROLLBACK_CREATOR = "codeDeployRollback"
NO_LAST_GOOD_REVISION = (
    "Automatic rollback was not performed because no previous deployment to this deployment group "
    "succeeded: there is no last known good revision to roll back to."
)
# What a rollback deployment takes over from the deployment it rolls back.
_ROLLBACK_KEEPS = (
    "applicationName",
    "deploymentGroupName",
    "deploymentConfigName",
    "ignoreApplicationStopFailures",
    "autoRollbackConfiguration",
    "updateOutdatedInstancesOnly",
    "deploymentStyle",
    "instanceTerminationWaitTimeStarted",
    "fileExistsBehavior",
    "computePlatform",
    "loadBalancerInfo",
)


def check_rollback_configuration(configuration) -> None:
    if configuration is None:
        return
    for event in configuration.get("events") or []:
        if event not in ROLLBACK_EVENTS:
            raise AwsError(
                "InvalidAutoRollbackConfigException",
                f"autoRollbackConfiguration.events: {event} is not one of {', '.join(ROLLBACK_EVENTS)}.",
            )


def _rolls_back_on(info: dict, event: str) -> bool:
    """Whether the deployment's automatic rollback configuration is on and covers `event`."""
    rollback = info["autoRollbackConfiguration"]
    return bool(rollback.get("enabled")) and event in (rollback.get("events") or [])


def rolls_back_on_stop(info: dict, asked: bool | None) -> bool:
    """Whether stopping the deployment rolls it back: as StopDeployment's autoRollbackEnabled says, else as
    its automatic rollback configuration does (DEPLOYMENT_STOP_ON_REQUEST)."""
    return asked if asked is not None else _rolls_back_on(info, "DEPLOYMENT_STOP_ON_REQUEST")


def rollback_deployment(record: dict) -> dict | None:
    """The record of the deployment that rolls back `record`, which has just failed or been stopped, if it
    rolls back on that (and is no rollback itself); else None. With no last good revision to go back to there
    is none either, and the deployment's rollbackInfo says so."""
    info = record["info"]
    failed = info["status"] == "Failed"
    rolls_back = _rolls_back_on(info, "DEPLOYMENT_FAILURE") if failed else record.get("rollBackOnStop")
    if not rolls_back or info["creator"] == ROLLBACK_CREATOR:
        return None
    failed_id = info["deploymentId"]
    if "previousRevision" not in info:
        info["rollbackInfo"] = {"rollbackMessage": NO_LAST_GOOD_REVISION}
        return None
    rollback_info = {key: copy.deepcopy(info[key]) for key in _ROLLBACK_KEEPS if key in info}
    rollback_info.update(
        revision=copy.deepcopy(info["previousRevision"]),
        status="Created",
        createTime=now(),
        creator=ROLLBACK_CREATOR,
        deploymentStatusMessages=[],
        rollbackInfo={
            "rollbackTriggeringDeploymentId": failed_id,
            "rollbackMessage": f"Automatic rollback of deployment {failed_id}, which "
            f"{'failed' if failed else 'was stopped'}.",
        },
    )
    group = {
        "deploymentGroupId": record["deploymentGroupId"],
        "loadBalancerInfo": info.get("loadBalancerInfo"),
    }
    targets = [{"targetId": t["targetId"], "targetArn": t["targetArn"]} for t in record["targets"]]
    return new_record(rollback_info, group, targets, record["region"], record["minimumHealthyHosts"])


def note_rollback(info: dict, rollback_id: str) -> None:
    """Say in the failed deployment's rollbackInfo which deployment rolls it back."""
    failed_id, ended = info["deploymentId"], "failed" if info["status"] == "Failed" else "was stopped"
    info["rollbackInfo"] = {
        "rollbackDeploymentId": rollback_id,
        "rollbackMessage": f"Deployment {failed_id} {ended}; deployment {rollback_id} rolls it back to "
        "the last known good revision.",
    }
