"""How the article's pipeline hears of a push to its branch: "change detection", in AWS's words.

* On AWS the lab does what the console does for a CodeCommit source: an EventBridge rule on the default
  bus matches the repository's "branch main created or updated" events and starts the pipeline through a
  role that EventBridge assumes, and the source action's polling is off (`PollForSourceChanges` "false"),
  else each push would start two runs. AWS recommends the rule, and turns polling off for pipelines idle
  for 30 days.
* Locally the source action polls: the endpoint hears of a push as it lands. 07 builds the rule by hand.
* A connection source (`lab.source == "connection"`) needs neither: GitHub tells CodePipeline of each
  push through the connection, and the run's trigger is `Webhook` (`WebhookV2` where a V2 trigger
  filtered the push).

The rule and its role are the lab's one branch rule (`names.branch_rule`, `names.events_role`), which 07
builds too: on AWS 07 puts the same rule again, so a push to main still starts exactly one run.

rule_arn = lh.change_detection.ensure_rule(lab)     # after the pipeline exists (02 creates it)
"""

import json

from .errors import LabError
from .lab import Lab
from .roles import POLICY_VERSION, trust_policy

EVENTS_SERVICE = "events.amazonaws.com"
POLICY_NAME = "start-pipeline"  # the events role's one inline policy
TARGET_ID = "codepipeline"  # the rule's one target
RULE_DESCRIPTION = "Start the lab's pipeline on pushes to main"


def by_rule(lab) -> bool:
    """True where the article's pipeline starts through the EventBridge rule (CodeCommit on AWS); False where
    it polls (locally), or where its source is a connection (the provider tells CodePipeline of pushes)."""
    return getattr(lab, "backend", "local") == "aws" and getattr(lab, "source", "codecommit") == "codecommit"


def started_by_push(lab: Lab, trigger_type: str) -> bool:
    """True if a run with this trigger type was started by a push, the way the lab's pipeline hears of
    pushes: a connection source's webhook; for CodeCommit on AWS, 02's rule (`CloudWatchEvent`: AWS
    documents the type, not what the trigger's detail then says); locally polling, or 07's rule once 07
    has run."""
    if getattr(lab, "source", "codecommit") == "connection":
        return trigger_type in ("Webhook", "WebhookV2")
    if by_rule(lab):
        return trigger_type == "CloudWatchEvent"
    return trigger_type in ("PollForSourceChanges", "CloudWatchEvent")


def branch_pattern(repository_arn: str, branch: str = "main") -> dict:
    """The event pattern of "branch `branch` of this repository was created or updated" (not deleted).

    Examples
    --------
    >>> branch_pattern("arn:aws:codecommit:ap-southeast-1:111122223333:awscicd-repo")["detail"]["event"]
    ['referenceCreated', 'referenceUpdated']
    """
    return {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": [branch],
        },
    }


def start_policy(pipeline_arn: str) -> dict:
    """The events role's permission: start this one pipeline, nothing else."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Action": "codepipeline:StartPipelineExecution", "Resource": pipeline_arn}
        ],
    }


def _pipeline_arn(lab: Lab) -> str:
    codepipeline = lab.client("codepipeline")
    try:
        return codepipeline.get_pipeline(name=lab.names.pipeline)["metadata"]["pipelineArn"]
    except codepipeline.exceptions.PipelineNotFoundException:
        raise LabError(
            f"the pipeline {lab.names.pipeline} does not exist yet, so no rule can start it: "
            "create it first (notebook 02, section 5), then run this again"
        ) from None


def _events_role(lab: Lab, pipeline_arn: str) -> str:
    """Create the role EventBridge assumes, or bring it up to date; return its ARN."""
    iam, name = lab.client("iam"), lab.names.events_role
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy(EVENTS_SERVICE)),
            Description="Lets EventBridge start the codepipeline lab's pipeline",
        )["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name)
    iam.put_role_policy(
        RoleName=name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(start_policy(pipeline_arn))
    )
    return role["Arn"]


def ensure_rule(lab: Lab, *, branch: str = "main") -> str:
    """Put the rule that starts the lab's pipeline on pushes to `branch`, its target and role; return its ARN.

    As the console does for a CodeCommit source: the rule is on the default bus, its target is the
    pipeline, and EventBridge calls `codepipeline:StartPipelineExecution` as `names.events_role`. Running
    it again changes nothing. The pipeline's source action must not poll as well (`article_pipeline`
    says `PollForSourceChanges: "false"` where `by_rule(lab)`), or a push starts two runs.

    Examples
    --------
    >>> ensure_rule(lab)  # doctest: +SKIP
    'arn:aws:events:ap-southeast-1:111122223333:rule/awscicd-main-branch-push'
    """
    names = lab.names
    pipeline_arn = _pipeline_arn(lab)
    repository_arn = lab.client("codecommit").get_repository(repositoryName=names.repository)[
        "repositoryMetadata"
    ]["Arn"]
    role_arn = _events_role(lab, pipeline_arn)
    events = lab.client("events")
    rule_arn = events.put_rule(
        Name=names.branch_rule,
        EventPattern=json.dumps(branch_pattern(repository_arn, branch)),
        State="ENABLED",
        Description=RULE_DESCRIPTION,
    )["RuleArn"]
    answer = events.put_targets(
        Rule=names.branch_rule, Targets=[{"Id": TARGET_ID, "Arn": pipeline_arn, "RoleArn": role_arn}]
    )
    if answer.get("FailedEntryCount"):
        failed = answer["FailedEntries"][0]
        raise LabError(
            f"EventBridge refused the pipeline as the target of {names.branch_rule} "
            f"({failed.get('ErrorCode')}: {failed.get('ErrorMessage')}): check that {pipeline_arn} "
            "is this account's and region's, then run this again"
        )
    return rule_arn
