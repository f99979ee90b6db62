"""Delete everything the lab created, in dependency order, then check that nothing is left.

lh.cleanup.run(lab, dry_run=True)   # what would go
lh.cleanup.run(lab)                 # delete it; a second run finds nothing and deletes nothing

Names come from `lab.names`, so a classroom prefix cleans up one learner's resources only.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from botocore.exceptions import ClientError

from . import source
from .errors import LabError
from .lab import Lab

COLUMNS = ["resource", "name", "status", "detail"]
GONE = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NotFound",
    "404",
    "PipelineNotFoundException",
    "ApplicationDoesNotExistException",
    "DeploymentGroupDoesNotExistException",
    "RepositoryDoesNotExistException",
    "ResourceNotFoundException",
    "InvalidGroup.NotFound",
    "InvalidInstanceID.NotFound",
}
SECURITY_GROUP_WAIT = 180.0  # a terminated instance's network interface takes a while to let go


def _gone(error: ClientError) -> bool:
    return error.response["Error"]["Code"] in GONE


@dataclass
class _Item:
    """One resource: `find` says what of it exists (an empty list: nothing); `delete` removes that."""

    resource: str
    name: str
    find: Callable[[], list[str]]
    delete: Callable[[list[str]], object]

    def found(self) -> list[str]:
        try:
            return self.find()
        except ClientError as error:
            if _gone(error):
                return []
            raise

    def remove(self, found: list[str]) -> str:
        """Delete; what went (a text), or `already gone` if it vanished meanwhile."""
        try:
            detail = self.delete(found)
        except ClientError as error:
            if _gone(error):
                return "already gone"
            raise
        return detail if isinstance(detail, str) else ""


def _pipeline(lab: Lab, name: str) -> _Item:
    codepipeline = lab.client("codepipeline")
    return _Item(
        "CodePipeline pipeline",
        name,
        lambda: [codepipeline.get_pipeline(name=name)["pipeline"]["name"]],
        lambda _: codepipeline.delete_pipeline(name=name),
    )


def _role(lab: Lab, name: str) -> _Item:
    iam = lab.client("iam")

    def delete(_):
        detail = []
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for policy in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
                detail.append(f"detached {policy['PolicyName']}")
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
                detail.append(f"deleted inline {policy}")
        for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=name):
            for profile in page["InstanceProfiles"]:
                iam.remove_role_from_instance_profile(
                    InstanceProfileName=profile["InstanceProfileName"], RoleName=name
                )
        iam.delete_role(RoleName=name)
        return "; ".join(detail)

    return _Item("IAM role", name, lambda: [iam.get_role(RoleName=name)["Role"]["RoleName"]], delete)


def _instance_profile(lab: Lab) -> _Item:
    iam, name = lab.client("iam"), lab.names.instance_profile

    def delete(_):
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        for role in profile["Roles"]:
            iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=name)

    return _Item(
        "IAM instance profile",
        name,
        lambda: [
            iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["InstanceProfileName"]
        ],
        delete,
    )


def _deployment_group(lab: Lab) -> _Item:
    codedeploy, names = lab.client("codedeploy"), lab.names
    where = {"applicationName": names.application, "deploymentGroupName": names.deployment_group}
    return _Item(
        "CodeDeploy deployment group",
        names.deployment_group,
        lambda: [codedeploy.get_deployment_group(**where)["deploymentGroupInfo"]["deploymentGroupName"]],
        lambda _: codedeploy.delete_deployment_group(**where),
    )


def _application(lab: Lab) -> _Item:
    codedeploy, name = lab.client("codedeploy"), lab.names.application
    return _Item(
        "CodeDeploy application",
        name,
        lambda: [codedeploy.get_application(applicationName=name)["application"]["applicationName"]],
        lambda _: codedeploy.delete_application(applicationName=name),
    )


def _build_project(lab: Lab, name: str) -> _Item:
    codebuild = lab.client("codebuild")
    return _Item(
        "CodeBuild project",
        name,
        lambda: [project["name"] for project in codebuild.batch_get_projects(names=[name])["projects"]],
        lambda _: codebuild.delete_project(name=name),
    )


def _report_groups(lab: Lab) -> _Item:
    """The report groups the lab's builds made (named <project>-<report> by CodeBuild), with their reports."""
    codebuild, prefix = lab.client("codebuild"), f"{lab.names.prefix}-"

    def find():
        pages = codebuild.get_paginator("list_report_groups").paginate()
        return [
            arn for page in pages for arn in page["reportGroups"] if arn.rpartition("/")[2].startswith(prefix)
        ]

    def delete(found):
        for arn in found:
            codebuild.delete_report_group(arn=arn, deleteReports=True)
        return f"{len(found)} report group(s), with their reports"

    return _Item("CodeBuild report groups", f"{prefix}*", find, delete)


def _instances(lab: Lab) -> _Item:
    ec2 = lab.client("ec2")

    def find():
        reservations = ec2.describe_instances(
            Filters=[
                {"Name": "tag:Name", "Values": [lab.names.deploy_target]},
                {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
            ]
        )["Reservations"]
        return [instance["InstanceId"] for r in reservations for instance in r["Instances"]]

    def delete(found):
        ec2.terminate_instances(InstanceIds=found)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=found)
        return "terminated"

    return _Item("EC2 instance (deploy target)", lab.names.deploy_target, find, delete)


def _security_group(lab: Lab) -> _Item:
    ec2, name = lab.client("ec2"), lab.names.security_group

    def find():
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])[
            "SecurityGroups"
        ]
        return [group["GroupId"] for group in groups]

    def delete(found):
        deadline = time.monotonic() + SECURITY_GROUP_WAIT
        for group in found:
            while True:
                try:
                    ec2.delete_security_group(GroupId=group)
                    break
                except ClientError as error:
                    if (
                        error.response["Error"]["Code"] != "DependencyViolation"
                        or time.monotonic() > deadline
                    ):
                        raise
                    time.sleep(5)
        return ", ".join(found)

    return _Item("EC2 security group", name, find, delete)


def _repository(lab: Lab) -> _Item:
    codecommit, name = lab.client("codecommit"), lab.names.repository
    return _Item(
        "CodeCommit repository",
        name,
        lambda: [codecommit.get_repository(repositoryName=name)["repositoryMetadata"]["repositoryName"]],
        lambda _: codecommit.delete_repository(repositoryName=name),
    )


def _bucket(lab: Lab) -> _Item:
    s3, name = lab.client("s3"), lab.names.bucket

    def find():
        s3.head_bucket(Bucket=name)
        return [name]

    def delete(_):
        versions = markers = 0
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            objects = [
                {"Key": entry["Key"], "VersionId": entry["VersionId"]}
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
            versions += len(page.get("Versions", []))
            markers += len(page.get("DeleteMarkers", []))
        s3.delete_bucket(Bucket=name)
        return f"{versions} object versions, {markers} delete markers"

    return _Item("S3 bucket (versioned)", name, find, delete)


def _log_group(lab: Lab, project: str) -> _Item:
    logs, name = lab.client("logs"), f"/aws/codebuild/{project}"

    def find():
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return [group["logGroupName"] for group in groups if group["logGroupName"] == name]

    return _Item(
        "CloudWatch Logs group",
        name,
        find,
        lambda _: logs.delete_log_group(logGroupName=name),
    )


def _branch_rule(lab: Lab) -> _Item:
    events, name = lab.client("events"), lab.names.branch_rule

    def delete(_):
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if targets:
            events.remove_targets(Rule=name, Ids=[target["Id"] for target in targets])
        events.delete_rule(Name=name)
        return f"{len(targets)} target(s) removed first"

    return _Item("EventBridge rule", name, lambda: [events.describe_rule(Name=name)["Name"]], delete)


def _connection(lab: Lab) -> _Item:
    connections = lab.client("codeconnections")

    def delete(found):
        for arn in found:
            connections.delete_connection(ConnectionArn=arn)

    name = lab.names.connection
    return _Item("CodeConnections connection", name, lambda: source.connection_arns(lab), delete)


def _plan(lab: Lab) -> list[_Item]:
    """Everything the lab makes (07's additions included; on AWS the branch rule and its role come with 02's
    pipeline), each after whatever depends on it."""
    names = lab.names
    projects = (names.build_project, names.test_project, names.lint_project)
    return [
        _pipeline(lab, names.connection_pipeline),
        _role(lab, names.connection_pipeline_role),
        _branch_rule(lab),
        _role(lab, names.events_role),
        _pipeline(lab, names.pipeline),
        _role(lab, names.pipeline_role),
        _connection(lab),
        _deployment_group(lab),
        _application(lab),
        _role(lab, names.deploy_role),
        *(_build_project(lab, project) for project in projects),
        _report_groups(lab),
        _role(lab, names.build_role),
        _instances(lab),
        _instance_profile(lab),
        _role(lab, names.instance_role),
        _security_group(lab),
        _repository(lab),
        _bucket(lab),
        *(_log_group(lab, project) for project in projects),
    ]


def _step(item: _Item, dry_run: bool) -> tuple[str, str, str, str]:
    """One resource's row; a failure is recorded and the cleanup goes on (the instance must still go)."""
    try:
        found = item.found()
        if not found:
            return item.resource, item.name, "absent", ""
        if dry_run:
            return item.resource, item.name, "would delete", ", ".join(found)
        return item.resource, item.name, "deleted", item.remove(found)
    except ClientError as error:
        return item.resource, item.name, "failed", str(error)


def run(lab: Lab, *, dry_run: bool = False, quiet: bool = False) -> pd.DataFrame:
    """Delete the pipeline and everything the lab made for it; then verify that nothing is left.

    Returns one row per resource: `deleted`, `absent` (already gone), `failed` (with the error), or
    `would delete` with `dry_run=True`. Idempotent: a second run reports everything absent. Raises
    LabError, after trying everything else, if the check afterwards still finds something.

    Examples
    --------
    >>> run(lab)  # doctest: +SKIP
    cleanup: deleted 14 resource(s); nothing the lab makes with prefix 'awscicd' is left ...
    """
    plan = _plan(lab)
    report = pd.DataFrame([_step(item, dry_run) for item in plan], columns=COLUMNS).astype("string")
    if dry_run:
        return report
    failed = report[report.status == "failed"]
    errors = dict(zip(failed.name, failed.detail, strict=True))
    left = [
        f"{item.resource} {item.name}" + (f" ({errors[item.name]})" if item.name in errors else "")
        for item in plan
        if item.found()
    ]
    deleted = report[report.status == "deleted"]
    if not quiet:
        print(
            f"cleanup: deleted {len(deleted)} resource(s)"
            + (f": {', '.join(deleted.name)}" if len(deleted) else "")
        )
    if left:
        raise LabError(
            "cleanup could not remove: " + "; ".join(left) + ". Fix what the error says and run "
            "cleanup.run(lab) again, or delete them in the AWS console"
        )
    if not quiet:
        print(
            f"cleanup: nothing the lab makes with prefix {lab.prefix!r} is left "
            f"in {lab.account} / {lab.region}."
        )
    return report
