"""What the article's earlier parts built, created or found: bucket, repository, build project, deploy
application and group, their roles, and the instance they deploy to. Idempotent on either backend."""

import json
from importlib import resources

import pandas as pd
from botocore.exceptions import ClientError

from .errors import LabError
from .lab import Lab

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
COLUMNS = ["resource", "name", "status"]


def _trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def demo_app_files() -> dict[str, bytes]:
    """The demo app's files by path, as they go into the repository."""
    root = resources.files("labhelpers") / "demo_app"
    found = {}

    def walk(folder, prefix):
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif not entry.name.startswith("."):
                found[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(root, "")
    return found


def ensure_bucket(lab: Lab) -> str:
    s3, name = lab.client("s3"), lab.names.bucket
    try:
        s3.head_bucket(Bucket=name)
        status = "existed"
    except ClientError as error:
        if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        options = (
            {}
            if lab.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": lab.region}}
        )
        s3.create_bucket(Bucket=name, **options)
        status = "created"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return status


def ensure_repository(lab: Lab) -> str:
    codecommit, name = lab.client("codecommit"), lab.names.repository
    status = "existed"
    try:
        codecommit.get_repository(repositoryName=name)
    except codecommit.exceptions.RepositoryDoesNotExistException:
        codecommit.create_repository(repositoryName=name, repositoryDescription="The awscicd demo app")
        status = "created"
    try:
        codecommit.get_branch(repositoryName=name, branchName="main")
    except codecommit.exceptions.BranchDoesNotExistException:
        files = [
            {
                "filePath": path,
                "fileContent": content,
                **({"fileMode": "EXECUTABLE"} if path.endswith(".sh") else {}),
            }
            for path, content in demo_app_files().items()
        ]
        codecommit.create_commit(
            repositoryName=name,
            branchName="main",
            putFiles=files,
            commitMessage="The demo app: page, buildspec, appspec and scripts",
            authorName="labhelpers",
            email="lab@example.com",
        )
        status = "created" if status == "created" else "filled with the demo app"
    return status


def _ensure_role(
    lab: Lab, name: str, service: str, *, managed: list[str] = (), inline: dict | None = None
) -> str:
    iam = lab.client("iam")
    try:
        iam.get_role(RoleName=name)
        status = "existed"
    except iam.exceptions.NoSuchEntityException:
        iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=_trust(service),
            Description=f"Service role for {service}, made by the codepipeline lab",
        )
        status = "created"
    for arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    if inline:
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(inline))
    return status


def ensure_build_project(lab: Lab) -> list[tuple[str, str, str]]:
    names = lab.names
    bucket_arn = f"arn:aws:s3:::{names.bucket}"
    role_status = _ensure_role(
        lab,
        names.build_role,
        "codebuild.amazonaws.com",
        inline={
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"arn:aws:logs:{lab.region}:{lab.account}:log-group:/aws/codebuild/*",
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
                    "Resource": f"{bucket_arn}/*",
                },
            ],
        },
    )
    codebuild = lab.client("codebuild")
    if codebuild.batch_get_projects(names=[names.build_project])["projects"]:
        project_status = "existed"
    else:
        codebuild.create_project(
            name=names.build_project,
            source={"type": "CODEPIPELINE"},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": BUILD_IMAGE,
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            serviceRole=f"arn:aws:iam::{lab.account}:role/{names.build_role}",
            timeoutInMinutes=10,
        )
        project_status = "created"
    return [
        ("IAM role", names.build_role, role_status),
        ("CodeBuild project", names.build_project, project_status),
    ]


def ensure_deployment(lab: Lab) -> list[tuple[str, str, str]]:
    names = lab.names
    role_status = _ensure_role(
        lab,
        names.deploy_role,
        "codedeploy.amazonaws.com",
        managed=["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRole"],
    )
    codedeploy = lab.client("codedeploy")
    try:
        codedeploy.get_application(applicationName=names.application)
        app_status = "existed"
    except codedeploy.exceptions.ApplicationDoesNotExistException:
        codedeploy.create_application(applicationName=names.application, computePlatform="Server")
        app_status = "created"
    try:
        codedeploy.get_deployment_group(
            applicationName=names.application, deploymentGroupName=names.deployment_group
        )
        group_status = "existed"
    except codedeploy.exceptions.DeploymentGroupDoesNotExistException:
        codedeploy.create_deployment_group(
            applicationName=names.application,
            deploymentGroupName=names.deployment_group,
            serviceRoleArn=f"arn:aws:iam::{lab.account}:role/{names.deploy_role}",
            deploymentConfigName="CodeDeployDefault.OneAtATime",
            ec2TagFilters=[{"Key": "Name", "Value": names.deploy_target, "Type": "KEY_AND_VALUE"}],
        )
        group_status = "created"
    return [
        ("IAM role", names.deploy_role, role_status),
        ("CodeDeploy application", names.application, app_status),
        ("CodeDeploy deployment group", names.deployment_group, group_status),
    ]


def find_target(lab: Lab) -> str | None:
    """The id of the running instance tagged for the deployment group, if there is one."""
    reservations = lab.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [lab.names.deploy_target]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )["Reservations"]
    instances = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    return instances[0] if instances else None


def ensure_target(lab: Lab) -> tuple[str, str]:
    found = find_target(lab)
    if found:
        return found, "existed"
    if not lab.is_local:
        raise LabError(
            "the deploy target on AWS is a billable t3.micro instance: create it with "
            "prerequisites.ensure(lab, instance=True) after reading the cost notice"
        )
    image = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    instance = lab.client("ec2").run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": lab.names.deploy_target}]}
        ],
    )["Instances"][0]
    return instance["InstanceId"], "created"


def ensure(lab: Lab) -> pd.DataFrame:
    """Create or reuse everything the pipeline needs before it can be created; say what existed.

    Examples
    --------
    >>> prerequisites.ensure(lab)  # doctest: +SKIP
    """
    names = lab.names
    rows = [
        ("S3 bucket (versioned)", names.bucket, ensure_bucket(lab)),
        ("CodeCommit repository", names.repository, ensure_repository(lab)),
    ]
    rows += ensure_build_project(lab)
    rows += ensure_deployment(lab)
    target, status = ensure_target(lab)
    rows.append(("EC2 instance (deploy target)", target, status))
    return pd.DataFrame(rows, columns=COLUMNS)
