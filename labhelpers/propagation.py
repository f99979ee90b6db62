"""IAM is eventually consistent: a role just made or changed reaches the other services seconds later.

Until then AWS refuses a create that names the role with a 400, which botocore's retry modes never
retry. `until_usable` retries exactly those answers, within a bounded wait; `settle` waits once after a
role change that a run will rely on. Locally a role is usable the moment it exists: nothing waits.

lh.propagation.until_usable(lab, lambda: codepipeline.create_pipeline(**decl), by="CodePipeline", role=name)
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ClientError

from .errors import LabError
from .lab import Lab

# (error code, words of the message, lowercase): AWS's answers while a new role or profile is not usable yet.
NOT_YET = (
    ("InvalidInputException", "not authorized to perform: sts:assumerole"),  # CodeBuild CreateProject
    ("InvalidRoleException", "cannot assume role"),  # CodeDeploy CreateDeploymentGroup
    ("InvalidStructureException", "not authorized to perform assumerole"),  # CodePipeline Create/Update
    ("InvalidParameterValue", "instance profile"),  # EC2 RunInstances with a new instance profile
)


@dataclass(frozen=True)
class Patience:
    """How long to wait for IAM, in seconds, and how (tests replace `sleep`)."""

    timeout: float = 120.0  # IaC tools allow new roles two minutes before they give up
    every: float = 5.0
    settle: float = 10.0
    sleep: Callable[[float], None] = time.sleep


PATIENCE = Patience()


def not_yet_usable(error: ClientError) -> bool:
    """True when AWS's answer means "this role or instance profile is not usable yet"."""
    code, message = error.response["Error"].get("Code"), error.response["Error"].get("Message", "")
    return any(code == known and words in message.lower() for known, words in NOT_YET)


def until_usable(lab: Lab, call: Callable, *, by: str, role: str):
    """Return `call()`; while AWS answers that `by` cannot use `role` yet, say so once and try again.

    The wait is bounded by `PATIENCE.timeout`; then a LabError names the role and what to check. Any
    other error passes through at once, and locally `call` runs once as it is.

    Examples
    --------
    >>> create = lambda: codebuild.create_project(**project)  # doctest: +SKIP
    >>> until_usable(lab, create, by="CodeBuild", role=lab.names.build_role)  # doctest: +SKIP
    """
    if lab.is_local:
        return call()
    patience, waited = PATIENCE, 0.0
    while True:
        try:
            return call()
        except ClientError as error:
            if not not_yet_usable(error):
                raise
            if waited >= patience.timeout:
                raise LabError(
                    f"{by} still cannot use the IAM role {role} after {waited:g} s "
                    f"({error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}). "
                    f"Check that its trust policy names {by}'s service principal "
                    f"(`aws iam get-role --role-name {role}`); if it does, IAM is slow today: "
                    "run this cell again in a few minutes"
                ) from error
            if not waited:
                print(
                    f"{by} cannot use the new IAM role {role} yet (IAM changes take seconds to reach other "
                    f"services): trying again every {patience.every:g} s for up to {patience.timeout:g} s"
                )
            patience.sleep(patience.every)
            waited += patience.every


def settle(lab: Lab, role: str, *, by: str) -> None:
    """After `role` was made or changed: on AWS wait `PATIENCE.settle` seconds, saying why; locally nothing.

    No AWS API tells when a change has reached the service that uses the role, and IAM's own reads show
    it at once, which proves nothing: so a fixed wait, of the few seconds such changes usually take. A
    create that names the role retries on its own for longer (`until_usable`); this wait is for what no
    create announces: a run whose actions need the policy just written.
    """
    if lab.is_local:
        return
    print(f"waiting {PATIENCE.settle:g} s for the change to the IAM role {role} to reach {by} ...")
    PATIENCE.sleep(PATIENCE.settle)
