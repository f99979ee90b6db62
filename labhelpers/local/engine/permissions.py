"""The pipeline's service role, enforced: before an action runs, the role's policies (inline, attached and
AWS managed) must allow every call CodePipeline makes for it, or the action fails as it fails on AWS.
What each action needs is `labhelpers.iam_rules`, the table the helper library writes policies from."""

import random

from labhelpers.iam_rules import action_grants

from ..motoapp import LOCK
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

    def _policies(self, role_name: str) -> list:
        from moto.backends import get_backend
        from moto.iam.access_control import IAMPolicy

        iam = get_backend("iam")[self.account]["aws"]
        role = next((r for r in iam.roles.values() if r.name == role_name), None)
        if role is None:
            return None
        documents = [IAMPolicy(document) for document in role.policies.values()]
        documents += [IAMPolicy(policy) for policy in role.managed_policies.values()]
        return documents

    def missing(self, role_arn: str, wanted: list[tuple[str, str]]) -> list[tuple[str, str]] | None:
        """The (action, resource) pairs the role is not allowed; None when the role does not exist."""
        from moto.iam.access_control import PermissionResult

        with LOCK:
            policies = self._policies(role_arn.rsplit("/", 1)[-1])
        if policies is None:
            return None
        context = {"aws:ResourceAccount": self.account}
        absent = []
        for call, resource in wanted:
            results = [
                p.is_action_permitted(call, resource, incoming_condition_values=context) for p in policies
            ]
            if PermissionResult.DENIED in results or PermissionResult.PERMITTED not in results:
                absent.append((call, resource))
        return absent

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
