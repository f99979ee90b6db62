"""What CodeDeploy's reads show of an application and a deployment group: what moto keeps, with the members
AWS fills in (linkedToGitHub; a group's deployment style, rollback, alarm and tag-set defaults) and what a
group's deployments say (targetRevision, lastAttemptedDeployment, lastSuccessfulDeployment)."""

import copy

# What a group shows of the settings it was created without.
GROUP_DEFAULTS = {
    "deploymentStyle": {"deploymentType": "IN_PLACE", "deploymentOption": "WITHOUT_TRAFFIC_CONTROL"},
    "autoRollbackConfiguration": {"enabled": False},
    "alarmConfiguration": {"enabled": False, "ignorePollAlarmFailure": False, "alarms": []},
    "ec2TagSet": {"ec2TagSetList": []},
    "onPremisesTagSet": {"onPremisesTagSetList": []},
    "outdatedInstancesStrategy": "UPDATE",
    "terminationHookEnabled": False,
    "computePlatform": "Server",
}
_ENDED = ("Succeeded", "Failed", "Stopped")


def application_view(application: dict) -> dict:
    """An ApplicationInfo: Server unless created for another platform, never linked to GitHub locally."""
    return {"computePlatform": "Server", **application, "linkedToGitHub": False}


def group_view(group: dict, deployments: list[dict]) -> dict:
    """A DeploymentGroupInfo of the group's settings and its deployments' deploymentInfos."""
    shown = {key: value for key, value in copy.deepcopy(group).items() if value != {}}
    if shown.get("autoScalingGroups"):  # moto keeps the names it was given; AWS shows AutoScalingGroups
        shown["autoScalingGroups"] = [
            {"name": item} if isinstance(item, str) else item for item in shown["autoScalingGroups"]
        ]
    for key, default in GROUP_DEFAULTS.items():
        given = shown.get(key)
        shown[key] = {**default, **given} if isinstance(default, dict) and given else given or default
    if deployments:
        latest = max(deployments, key=lambda info: info["createTime"])
        shown["targetRevision"] = copy.deepcopy(latest["revision"])
        shown["lastAttemptedDeployment"] = _last_deployment(latest)
        succeeded = [info for info in deployments if info["status"] == "Succeeded"]
        if succeeded:
            shown["lastSuccessfulDeployment"] = _last_deployment(
                max(succeeded, key=lambda i: i["createTime"])
            )
    return shown


def _last_deployment(info: dict) -> dict:
    last = {"deploymentId": info["deploymentId"], "status": info["status"], "createTime": info["createTime"]}
    if info["status"] in _ENDED:
        last["endTime"] = info["completeTime"]
    return last
