"""The pipeline's service role: the trust policy, a least-privilege permissions policy written from the
declaration, the role itself, and `explain`, which says which statement allows each call the pipeline
makes and what is missing.

role_arn = lh.roles.ensure_pipeline_role(lab, decl)
lh.roles.explain(lab, decl)          # one row per call: allowed / denied / missing, and by what
"""

import json
import re
from functools import cache

import pandas as pd

from . import iam_rules
from .errors import LabError
from .lab import Lab
from .propagation import settle
from .validator import pipeline_of

PIPELINE_SERVICE = "codepipeline.amazonaws.com"
POLICY_VERSION = "2012-10-17"
EXPLAIN_COLUMNS = ["stage", "action", "call", "resource", "decision", "statement", "fix"]
# The artifact store statements of AWS's base policy carry this condition (codepipeline-spec §7.2).
_SAME_ACCOUNT_SIDS = (iam_rules.ARTIFACT_BUCKET, iam_rules.ARTIFACT_OBJECTS)
_VARIABLE = re.compile(r"#\{[^}]*\}")


def trust_policy(service: str = PIPELINE_SERVICE) -> dict:
    """The trust policy that lets `service` (CodePipeline by default) assume the role.

    Examples
    --------
    >>> trust_policy()["Statement"][0]["Principal"]
    {'Service': 'codepipeline.amazonaws.com'}
    """
    return {
        "Version": POLICY_VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _pipeline(declaration) -> dict:
    pipeline = pipeline_of(declaration)
    if not pipeline or not isinstance(pipeline.get("stages"), list):
        raise LabError(
            "this is not a pipeline declaration (no pipeline with stages): pass what "
            "pipelines.article_pipeline(lab) or pipelines.load(path) returns"
        )
    return pipeline


def _bucket(pipeline: dict, region: str) -> str:
    if "artifactStore" in pipeline:
        return pipeline["artifactStore"].get("location", "")
    return pipeline.get("artifactStores", {}).get(region, {}).get("location", "")


def _without_variables(configuration: dict) -> dict:
    """Before a run, a `#{Namespace.Variable}` in a resource name can be anything: a wildcard."""
    return {
        key: _VARIABLE.sub("*", value) if isinstance(value, str) else value
        for key, value in configuration.items()
    }


def _grants(lab: Lab, pipeline: dict):
    """(stage, action, grant) for every action of the pipeline, in order."""
    for stage in pipeline["stages"]:
        for action in stage.get("actions", []):
            region = action.get("region") or lab.region
            grants = iam_rules.action_grants(
                action,
                _without_variables(action.get("configuration", {})),
                region=region,
                account=lab.account,
                bucket=_bucket(pipeline, region),
            )
            for grant in grants:
                yield stage.get("name", ""), action.get("name", ""), grant


def permissions_policy(lab: Lab, declaration) -> dict:
    """The least-privilege policy for the pipeline's role: only what its actions' providers need, on the
    resources the declaration names (its bucket, repository, project, application and group).

    Action-level `roleArn`s are not considered: every action's calls go into this one policy.

    Examples
    --------
    >>> policy = permissions_policy(lab, pipelines.article_pipeline(lab))  # doctest: +SKIP
    >>> [statement["Sid"] for statement in policy["Statement"]]  # doctest: +SKIP
    ['ArtifactBucket', 'ArtifactObjects', 'CodeCommitSource', 'CodeBuild', 'CodeDeployGroup', ...]
    """
    statements: dict[str, dict] = {}
    for _, _, grant in _grants(lab, _pipeline(declaration)):
        statement = statements.setdefault(
            grant.sid, {"Sid": grant.sid, "Effect": "Allow", "Action": [], "Resource": []}
        )
        statement["Action"] += [call for call in grant.calls if call not in statement["Action"]]
        if grant.resource not in statement["Resource"]:
            statement["Resource"].append(grant.resource)
        if grant.sid in _SAME_ACCOUNT_SIDS:
            statement["Condition"] = {"StringEquals": {"aws:ResourceAccount": lab.account}}
    return {"Version": POLICY_VERSION, "Statement": list(statements.values())}


def _role_name(declaration) -> str | None:
    role_arn = (pipeline_of(declaration) or {}).get("roleArn")
    return role_arn.rsplit("/", 1)[-1] if isinstance(role_arn, str) and "/" in role_arn else None


def ensure_pipeline_role(lab: Lab, declaration, *, name: str | None = None) -> str:
    """Create the pipeline's service role, or bring an existing one up to date; return its ARN.

    The role trusts CodePipeline and holds one inline policy, `permissions_policy(lab, declaration)`.
    `name` defaults to the role the declaration's roleArn names, else `lab.names.pipeline_role`. On AWS,
    when the role was made or changed, it waits a few seconds for IAM (`propagation.settle`), so that the
    pipeline created, updated or started next can rely on it; an unchanged role is not waited for.

    Examples
    --------
    >>> ensure_pipeline_role(lab, pipelines.article_pipeline(lab))  # doctest: +SKIP
    'arn:aws:iam::111122223333:role/awscicd-codepipeline-role'
    """
    name = name or _role_name(declaration) or lab.names.pipeline_role
    policy, policy_name = permissions_policy(lab, declaration), f"{name}-policy"
    iam = lab.client("iam")
    try:
        role = iam.get_role(RoleName=name)["Role"]
        changed = role["AssumeRolePolicyDocument"] != trust_policy()
        if changed:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy()))
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy()),
            Description="Service role of the codepipeline lab's pipeline: calls the services its actions use",
        )["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
        changed = True
    if _inline_policy(iam, name, policy_name) != policy:
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy))
        changed = True
    if changed:
        settle(lab, name, by="CodePipeline")
    return role["Arn"]


def _inline_policy(iam, role: str, policy_name: str) -> dict | None:
    try:
        return iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None


# -- explain: the role's own policies, evaluated ---------------------------------------------------------


def _documents(lab: Lab, role: str) -> list[tuple[str, dict]]:
    """(label, document) for each inline and attached policy of the role."""
    iam = lab.client("iam")
    found = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for name in page["PolicyNames"]:
            found.append((name, iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
            found.append((attached["PolicyName"], document))
    return found


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


@cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    """IAM's wildcards: `*` any run of characters, `?` one character."""
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _any_match(patterns, value: str, *, ignore_case: bool) -> bool:
    return any(_wildcard(str(pattern), ignore_case).fullmatch(value) for pattern in _listed(patterns))


def _condition_holds(condition: dict, context: dict[str, str]) -> bool:
    """String conditions on the keys in `context`; any other condition is taken not to hold."""
    for operator, tests in condition.items():
        base = operator.removesuffix("IfExists")
        for key, wanted in tests.items():
            value = context.get(key.lower())
            if value is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            if base in ("StringEquals", "ArnEquals"):
                holds = value in map(str, _listed(wanted))
            elif base == "StringEqualsIgnoreCase":
                holds = value.lower() in (str(w).lower() for w in _listed(wanted))
            elif base in ("StringLike", "ArnLike"):
                holds = _any_match(wanted, value, ignore_case=False)
            elif base == "StringNotEquals":
                holds = value not in map(str, _listed(wanted))
            elif base == "StringNotLike":
                holds = not _any_match(wanted, value, ignore_case=False)
            else:
                return False
            if not holds:
                return False
    return True


def _applies(statement: dict, call: str, resource: str, context: dict[str, str]) -> bool:
    if "Action" in statement:
        if not _any_match(statement["Action"], call, ignore_case=True):
            return False
    elif "NotAction" not in statement or _any_match(statement["NotAction"], call, ignore_case=True):
        return False
    if "Resource" in statement:
        if not _any_match(statement["Resource"], resource, ignore_case=False):
            return False
    elif "NotResource" not in statement or _any_match(statement["NotResource"], resource, ignore_case=False):
        return False
    return _condition_holds(statement.get("Condition", {}), context)


def decide(documents: list[tuple[str, dict]], call: str, resource: str, context: dict[str, str]):
    """IAM's decision for one call: ("denied", statement) if a Deny applies, else ("allowed", statement)
    if an Allow does, else ("missing", ""). Statements are named `policy/Sid` (or `policy#index`).

    Examples
    --------
    >>> policy = {"Statement": [{"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}
    >>> decide([("inline", policy)], "s3:GetObject", "arn:aws:s3:::bucket/key", {})
    ('allowed', 'inline/Read')
    """
    allowed = ""
    context = {key.lower(): value for key, value in context.items()}
    for label, document in documents:
        for index, statement in enumerate(_listed(document.get("Statement", []))):
            if not _applies(statement, call, resource, context):
                continue
            named = f"{label}/{statement['Sid']}" if statement.get("Sid") else f"{label}#{index}"
            if statement.get("Effect") == "Deny":
                return "denied", named
            if statement.get("Effect") == "Allow" and not allowed:
                allowed = named
    return ("allowed", allowed) if allowed else ("missing", "")


def explain(lab: Lab, declaration, *, role: str | None = None) -> pd.DataFrame:
    """For each call the pipeline will make: is it allowed by the role's policies, by which statement, and
    what to do when it is not. One row per (action, call, resource); columns `EXPLAIN_COLUMNS`.

    The role's inline and attached policies are read with boto3 and evaluated here (Action/NotAction,
    Resource/NotResource with wildcards, string conditions on aws:ResourceAccount; an explicit Deny
    wins), the same on both backends. Permission boundaries and resource policies are not considered.

    Examples
    --------
    >>> report = explain(lab, pipelines.article_pipeline(lab))  # doctest: +SKIP
    >>> report[report.decision != "allowed"]  # doctest: +SKIP
    """
    pipeline = _pipeline(declaration)
    role = role or _role_name(pipeline) or lab.names.pipeline_role
    iam = lab.client("iam")
    try:
        iam.get_role(RoleName=role)
    except iam.exceptions.NoSuchEntityException:
        raise LabError(
            f"the role {role} does not exist yet: run notebook 01_service_role first, which creates it "
            "(or call roles.ensure_pipeline_role(lab, declaration))"
        ) from None
    documents = _documents(lab, role)
    context = {"aws:ResourceAccount": lab.account}
    rows = []
    for stage, action, grant in _grants(lab, pipeline):
        for call in grant.calls:
            decision, statement = decide(documents, call, grant.resource, context)
            fix = _fix(role, grant, call, decision, statement)
            rows.append((stage, action, call, grant.resource, decision, statement, fix))
    return pd.DataFrame(rows, columns=EXPLAIN_COLUMNS).astype("string")


def _fix(role: str, grant: iam_rules.Grant, call: str, decision: str, statement: str) -> str:
    if decision == "denied":
        return f"narrow the Deny in {statement} so it no longer covers {call} on {grant.resource}"
    if decision == "missing":
        return (
            f"allow {call} on {grant.resource} in a policy of {role} (statement {grant.sid} of "
            "roles.permissions_policy; roles.ensure_pipeline_role puts it back)"
        )
    return ""
