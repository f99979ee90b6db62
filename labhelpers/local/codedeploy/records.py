"""A CodeDeploy deployment as the local endpoint keeps it, and the shapes the API reports it in.

A record holds the deploymentInfo (`info`), the group's id, whether traffic is controlled, the minimum of
healthy hosts its configuration keeps, and each target instance with its status and lifecycle events.
"""

import copy

from ..awsjson import AwsError
from .runner import lifecycle_event_names

INSTANCE_LABEL = "Blue"  # what in-place deployments label their instances


def new_record(info: dict, group: dict, targets: list[dict], region: str, healthy_hosts: dict) -> dict:
    """A deployment as the service keeps it: the deploymentInfo, and each target with its lifecycle events."""
    with_load_balancer = info["deploymentStyle"]["deploymentOption"] == "WITH_TRAFFIC_CONTROL"
    if with_load_balancer and group.get("loadBalancerInfo"):
        info["loadBalancerInfo"] = group["loadBalancerInfo"]
    names = lifecycle_event_names(with_load_balancer)
    return {
        "region": region,
        "deploymentGroupId": group["deploymentGroupId"],
        "withLoadBalancer": with_load_balancer,
        "minimumHealthyHosts": healthy_hosts,
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


def find_target(record: dict, target_id) -> dict:
    """The record's target `target_id` (DeploymentTargetDoesNotExist if it has none)."""
    if not target_id:
        raise AwsError("DeploymentTargetIdRequiredException", "The target ID is required.")
    for target in record["targets"]:
        if target["targetId"] == target_id:
            return target
    raise AwsError(
        "DeploymentTargetDoesNotExistException",
        f"The target {target_id} is not part of deployment {record['info']['deploymentId']}.",
    )


def target_ids(record: dict, statuses: list[str] | None, labels: list[str] | None) -> list[str]:
    if labels and INSTANCE_LABEL not in labels:
        return []
    return [t["targetId"] for t in record["targets"] if not statuses or t["status"] in statuses]


def deployment_info(record: dict) -> dict:
    overview = dict.fromkeys(("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready"), 0)
    for target in record["targets"]:
        if target["status"] in overview:
            overview[target["status"]] += 1
    return copy.deepcopy({**record["info"], "deploymentOverview": overview})


def deployment_target(record: dict, target: dict) -> dict:
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


def instance_summary(record: dict, target: dict) -> dict:
    return {
        "deploymentId": record["info"]["deploymentId"],
        "instanceId": target["targetArn"],
        "status": target["status"],
        "lastUpdatedAt": target["lastUpdatedAt"],
        "lifecycleEvents": copy.deepcopy(target["lifecycleEvents"]),
        "instanceType": INSTANCE_LABEL,
    }
