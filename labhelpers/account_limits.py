"""What a new AWS account may refuse the lab, in the lab's words with the next step: CodeBuild's quota of
builds at once, and CodeCommit's closure to new customers.

The lab's clients explain a refused StartBuild themselves (`explain_refusals`, registered by `Lab.client`);
`runs` explains a run whose build could not start, `prerequisites` a refused repository.
"""

import re
from collections import Counter

from botocore.exceptions import ClientError

from .errors import AccountLimitError

# The lab's build projects are LINUX_CONTAINER / BUILD_GENERAL1_SMALL: this Service Quotas entry counts them.
BUILD_QUOTA = "Concurrently running builds for Linux/Small environment"
BUILD_REFUSAL = "AccountLimitExceededException"  # StartBuild's error code (CodeBuild's API model)
# Its words: "Cannot have more than 0 builds in queue for the account" (as new accounts report it) and
# "Cannot have more than X active builds for the account" (CodeBuild's quotas page).
_BUILD_LIMIT = re.compile(r"Cannot have more than (\d+) (?:active )?builds (?:in queue )?for the account")
STARTS = ("StartBuild", "StartBuildBatch")


def is_build_refusal(*texts: str | None) -> bool:
    """Whether an error code or message says CodeBuild's quota refused to start a build.

    Examples
    --------
    >>> is_build_refusal("Error calling startBuild: Cannot have more than 0 builds in queue for the account")
    True
    >>> is_build_refusal("AccessDenied", "Insufficient permissions")
    False
    """
    return any(BUILD_REFUSAL in (text or "") or _BUILD_LIMIT.search(text or "") for text in texts)


def build_limit(text: str | None) -> int | None:
    """The limit CodeBuild named in its refusal, or None when `text` names none.

    Examples
    --------
    >>> build_limit("Cannot have more than 1 builds in queue for the account")
    1
    """
    found = _BUILD_LIMIT.search(text or "")
    return int(found.group(1)) if found else None


def parallel_builds(pipeline: dict) -> int:
    """The most CodeBuild actions of `pipeline` (a declaration's pipeline object) that run at once: those of
    one stage with the same runOrder.

    Examples
    --------
    >>> build = {"actionTypeId": {"provider": "CodeBuild"}}
    >>> parallel_builds({"stages": [{"name": "Test", "actions": [build, build]}]})
    2
    """
    together = Counter(
        (stage["name"], action.get("runOrder", 1))
        for stage in pipeline.get("stages", [])
        for action in stage.get("actions", [])
        if action.get("actionTypeId", {}).get("provider") == "CodeBuild"
    )
    return max(together.values(), default=1)


def build_quota_error(
    region: str, refusal: str, *, needed: int = 1, what: str = "a build"
) -> AccountLimitError:
    """The lab's words for CodeBuild's refusal `refusal` to start `what`: the quota to raise, and how.

    `needed` is how many builds must run at once (two for parallel test and lint actions).
    """
    limit = build_limit(refusal)
    wanted = max(needed, (limit or 0) + 1)
    allowed = "no more builds now" if limit is None else f"no more than {limit} build{'s' * (limit != 1)}"
    together = f" This pipeline runs {needed} builds at once, so it needs {needed}." if needed > 1 else ""
    return AccountLimitError(
        f"CodeBuild refused to start {what}: the account may have {allowed} in {region} (CodeBuild said: "
        f"{refusal.strip()}). New accounts often start that low.{together} Ask AWS for more: "
        f"in Service Quotas, raise CodeBuild's quota '{BUILD_QUOTA}' in {region} to {wanted}, in the console "
        f"(https://{region}.console.aws.amazon.com/servicequotas/home/services/codebuild/quotas) or with\n"
        f"  aws service-quotas list-service-quotas --service-code codebuild --region {region} "
        f"--query \"Quotas[?QuotaName=='{BUILD_QUOTA}'].QuotaCode\" --output text\n"
        f"  aws service-quotas request-service-quota-increase --service-code codebuild --region {region} "
        f"--quota-code <the code printed above> --desired-value {wanted}\n"
        "Once AWS grants it, start the run again (runs.start(lab)); meanwhile the local backend runs "
        "everything: connect('local')."
    )


def explain_refusals(client) -> None:
    """Make a CodeBuild client raise `build_quota_error` (caused by CodeBuild's own ClientError) when the
    quota refuses a build it starts; other clients and other errors are left as they are."""
    if client.meta.service_model.service_name != "codebuild":
        return

    def explain(parsed, model, **_):
        error = parsed.get("Error", {})
        if not is_build_refusal(error.get("Code"), error.get("Message")):
            return
        refused = ClientError(parsed, model.name)
        raise build_quota_error(client.meta.region_name, str(refused)) from refused

    for operation in STARTS:
        client.meta.events.register(f"after-call.codebuild.{operation}", explain)


def repository_error(region: str, name: str, refusal: ClientError) -> AccountLimitError:
    """The lab's words for CodeCommit refusing to create the repository `name`, and the ways on.

    Examples
    --------
    >>> refused = ClientError({"Error": {"Code": "OperationNotAllowedException"}}, "CreateRepository")
    >>> "connect('local')" in str(repository_error("eu-west-1", "demo", refused))
    True
    """
    error = refusal.response["Error"]
    return AccountLimitError(
        f"CodeCommit refused to create the repository {name} in {region} ({error['Code']}: "
        f"{error.get('Message', '')}). AWS has closed CodeCommit to new customers: an account (and its "
        "organization) that never had a repository cannot create one. Two ways on: run the lab on the local "
        "backend, which needs no AWS account (connect('local'), or unset LAB_BACKEND); or take the source "
        "from a GitHub repository of your own through a connection: `labhelpers configure --source "
        "connection --repository your-user/awscicd-app`, then run 00_start_here again from the top "
        "(connect() reads the setting): it makes the connection and says how to finish its handshake in the "
        "console and push the demo app."
    )
