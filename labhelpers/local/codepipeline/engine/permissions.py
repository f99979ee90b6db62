"""The pipeline's service role, enforced: before an action runs, the role's policies (inline, attached and
AWS managed) must allow every call CodePipeline makes for it, or the action fails as it fails on AWS.
What each action needs is `labhelpers.iam_rules`, the table the helper library writes policies from."""

import random

from labhelpers.iam_rules import action_grants

from ... import motoapi
from .actions import ActionFailed


def needs(
    action: dict, configuration: dict, *, region: str, account: str, inputs: dict[str, dict], bucket: str
) -> list[tuple[str, str]]:
    """(IAM action, resource ARN) pairs the pipeline role must be allowed for this action."""
    reads = [f"arn:aws:s3:::{location['bucket']}/{location['key']}" for location in inputs.values()]
    grants = action_grants(action, configuration, region=region, account=account, bucket=bucket, reads=reads)
    return [(call, grant.resource) for grant in grants for call in grant.calls]


class RolePermissions:
    def __init__(self, account: str):
        self.account = account

    def missing(self, role_arn: str, wanted: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
        """The (action, resource) pairs the role is not allowed; None when the role does not exist."""
        documents = motoapi.role_policies(self.account, role_arn.rsplit("/", 1)[-1])
        if documents is None:
            return None
        policies = motoapi.PolicyEvaluator(documents)
        context = {"aws:ResourceAccount": self.account}
        return [(call, resource) for call, resource in wanted if not policies.allows(call, resource, context)]

    def check(self, role_arn: str, wanted: list[tuple[str, str]]):
        absent = self.missing(role_arn, wanted)
        if absent is None:
            raise ActionFailed(
                f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}", code="JobFailed"
            )
        if absent:
            call, resource = absent[0]
            session = random.randint(10**12, 10**13 - 1)
            assumed = f"arn:aws:sts::{self.account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/{session}"
            service = call.split(":")[0]
            raise ActionFailed(
                f"Insufficient permissions: User: {assumed} is not authorized to perform: {call} "
                f"on resource: {resource} because no identity-based policy allows the {call} action "
                f"(Service: {service}; Status Code: 403; Error Code: AccessDenied). "
                f"Allow {call} on {resource} in a policy of the role {role_arn}.",
                code="JobFailed",
                summary="Insufficient permissions",
            )
