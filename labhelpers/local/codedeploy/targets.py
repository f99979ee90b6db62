"""Which instances a CodeDeploy deployment group targets: its tag filters and tag sets matched against
the running moto EC2 instances and the registered on-premises instances."""

from ..context import EndpointContext
from .store import OnPremisesInstances


def find_targets(
    ctx: EndpointContext, on_premises: OnPremisesInstances, group: dict, region: str
) -> list[dict]:
    """The group's running EC2 instances and registered on-premises instances, by id."""
    targets = {}
    ec2_filters = group.get("ec2TagFilters") or []
    ec2_tag_set = (group.get("ec2TagSet") or {}).get("ec2TagSetList") or []
    scaling_groups = group.get("autoScalingGroups") or []
    if ec2_filters or ec2_tag_set or scaling_groups:
        running = [{"Name": "instance-state-name", "Values": ["running"]}]
        pages = ctx.client("ec2", region).get_paginator("describe_instances").paginate(Filters=running)
        for page in pages:
            for instance in (i for r in page["Reservations"] for i in r["Instances"]):
                tags = tag_dict(instance.get("Tags") or [])
                in_scaling_group = tags.get("aws:autoscaling:groupName") in scaling_groups
                if in_scaling_group or tags_match(ec2_filters, ec2_tag_set, tags):
                    instance_id = instance["InstanceId"]
                    arn = f"arn:aws:ec2:{region}:{ctx.account}:instance/{instance_id}"
                    targets[instance_id] = {"targetId": instance_id, "targetArn": arn}
    on_premises_filters = group.get("onPremisesInstanceTagFilters") or []
    on_premises_tag_set = (group.get("onPremisesTagSet") or {}).get("onPremisesTagSetList") or []
    for info in on_premises.all(region):
        if "deregisterTime" not in info and tags_match(
            on_premises_filters, on_premises_tag_set, tag_dict(info["tags"])
        ):
            targets[info["instanceName"]] = {
                "targetId": info["instanceName"],
                "targetArn": info["instanceArn"],
            }
    return [targets[i] for i in sorted(targets)]


def tag_dict(tags: list[dict]) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in tags}


def tags_match(filters: list[dict], tag_set: list[list[dict]] | None, tags: dict[str, str]) -> bool:
    """A group's tag filters match if any one does; a tag set if each of its lists has a match."""
    if any(_tag_matches(f, tags) for f in filters):
        return True
    return bool(tag_set) and all(any(_tag_matches(f, tags) for f in group) for group in tag_set)


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
