"""What the pipeline's service role must allow for each action: one table for the helper library, which
writes the least-privilege policy from it, and for the local endpoint, which enforces the role with it.

The calls and resource ARNs follow codepipeline-spec §7.2 (AWS's base policy for the artifact store and
the per-provider statements). Each `Grant` names the statement (`sid`) that allows it in the generated
policy, so a missing permission points at the statement to add.

Compared with AWS's documented service role ("Manage the CodePipeline service role": the default policy's
CodeCommit and CodeDeploy statements, and its "add permissions" CodeCommit statement), action by action:
the same calls, on the resources an action's configuration names instead of "*". Where they differ, a
comment at the provider says how and why.
"""

from dataclasses import dataclass

ARTIFACT_BUCKET = "ArtifactBucket"
ARTIFACT_OBJECTS = "ArtifactObjects"


@dataclass(frozen=True)
class Grant:
    """Calls CodePipeline makes on one resource, and the statement (`sid`) of the policy that allows them."""

    sid: str
    calls: tuple[str, ...]
    resource: str


def artifact_grants(bucket: str, *, reads: list[str], writes: bool) -> list[Grant]:
    """The artifact store: `reads` are the object ARNs of the input artifacts; `writes` any output.

    Examples
    --------
    >>> [grant.sid for grant in artifact_grants("bucket", reads=[], writes=True)]
    ['ArtifactBucket', 'ArtifactObjects']
    """
    if not reads and not writes:
        return []
    grants = [
        Grant(
            ARTIFACT_BUCKET,
            ("s3:GetBucketVersioning", "s3:GetBucketAcl", "s3:GetBucketLocation"),
            f"arn:aws:s3:::{bucket}",
        )
    ]
    grants += [Grant(ARTIFACT_OBJECTS, ("s3:GetObject", "s3:GetObjectVersion"), read) for read in reads]
    if writes:
        grants.append(
            Grant(ARTIFACT_OBJECTS, ("s3:PutObject", "s3:PutObjectAcl"), f"arn:aws:s3:::{bucket}/*")
        )
    return grants


def provider_grants(type_id: dict, configuration: dict, *, region: str, account: str) -> list[Grant]:
    """The calls an action's provider makes, on the resources its configuration names.

    Examples
    --------
    >>> (grant,) = provider_grants(
    ...     {"category": "Build", "provider": "CodeBuild"}, {"ProjectName": "demo"}, region="r", account="1"
    ... )
    >>> grant.calls, grant.resource
    (('codebuild:StartBuild', 'codebuild:BatchGetBuilds'), 'arn:aws:codebuild:r:1:project/demo')
    """
    category, provider = type_id.get("category"), type_id.get("provider")
    arn = f"arn:aws:{{}}:{region}:{account}:"
    if provider == "CodeCommit":
        # The documented five, on the one repository. GetRepository only for a full clone, whose reference
        # says the role needs it; the default policy's zip source does without it.
        calls = ("GetBranch", "GetCommit", "UploadArchive", "GetUploadArchiveStatus", "CancelUploadArchive")
        if configuration.get("OutputArtifactFormat") == "CODEBUILD_CLONE_REF":
            calls += ("GetRepository",)
        repository = arn.format("codecommit") + configuration.get("RepositoryName", "")
        return [Grant("CodeCommitSource", tuple(f"codecommit:{call}" for call in calls), repository)]
    if provider == "CodeBuild":
        project = arn.format("codebuild") + f"project/{configuration.get('ProjectName', '')}"
        if str(configuration.get("BatchEnabled", "")).lower() == "true":
            return [
                Grant(
                    "CodeBuildBatch", ("codebuild:StartBuildBatch", "codebuild:BatchGetBuildBatches"), project
                )
            ]
        return [Grant("CodeBuild", ("codebuild:StartBuild", "codebuild:BatchGetBuilds"), project)]
    if provider == "CodeDeploy":
        # The default policy's six calls, each on the resource CodeDeploy's permissions reference names: the
        # group, the application, and any deployment configuration (the declaration does not say which one
        # the group uses, and the group's may change without the pipeline).
        application = configuration.get("ApplicationName", "")
        group = f"deploymentgroup:{application}/{configuration.get('DeploymentGroupName', '')}"
        return [
            Grant(
                "CodeDeployGroup",
                ("codedeploy:CreateDeployment", "codedeploy:GetDeployment"),
                arn.format("codedeploy") + group,
            ),
            Grant(
                "CodeDeployApplication",
                (
                    "codedeploy:GetApplication",
                    "codedeploy:GetApplicationRevision",
                    "codedeploy:RegisterApplicationRevision",
                ),
                arn.format("codedeploy") + f"application:{application}",
            ),
            Grant(
                "CodeDeployConfig",
                ("codedeploy:GetDeploymentConfig",),
                arn.format("codedeploy") + "deploymentconfig:*",
            ),
        ]
    if provider == "S3" and category == "Source":
        bucket = configuration.get("S3Bucket", "")
        return [
            Grant("S3SourceBucket", ("s3:GetBucketVersioning",), f"arn:aws:s3:::{bucket}"),
            Grant(
                "S3SourceObject",
                ("s3:GetObject", "s3:GetObjectVersion"),
                f"arn:aws:s3:::{bucket}/{configuration.get('S3ObjectKey', '')}",
            ),
        ]
    if provider == "CodeStarSourceConnection":
        return [
            Grant(
                "SourceConnection",
                ("codestar-connections:UseConnection",),
                configuration.get("ConnectionArn", ""),
            )
        ]
    if provider == "Manual" and configuration.get("NotificationArn"):
        return [Grant("ApprovalNotification", ("sns:Publish",), configuration["NotificationArn"])]
    return []


def action_grants(
    action: dict,
    configuration: dict,
    *,
    region: str,
    account: str,
    bucket: str,
    reads: list[str] | None = None,
) -> list[Grant]:
    """Everything one action needs: its artifacts, then its provider's calls.

    `reads` are the object ARNs of the action's input artifacts when known (during a run); before a run,
    any object of the artifact bucket stands for them.

    Examples
    --------
    >>> approval = {"actionTypeId": {"category": "Approval", "provider": "Manual"}}
    >>> action_grants(approval, {}, region="r", account="1", bucket="b")
    []
    """
    if reads is None:
        reads = [f"arn:aws:s3:::{bucket}/*"] if action.get("inputArtifacts") else []
    artifacts = artifact_grants(bucket, reads=reads, writes=bool(action.get("outputArtifacts")))
    return artifacts + provider_grants(
        action.get("actionTypeId", {}), configuration, region=region, account=account
    )
