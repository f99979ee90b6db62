"""What the article's earlier parts built, created or found: bucket, repository, build project, deploy
application and group, their roles, and the instance they deploy to. Idempotent on either backend.

On AWS the deploy target is a billable t3.micro: `ensure(lab, instance=True)` makes it after a cost
notice; `cleanup.run(lab)` removes everything again."""

import json
import time
from importlib import resources

import pandas as pd
from botocore.exceptions import ClientError

from . import account_limits, source
from .errors import LabError
from .lab import Lab
from .local import config
from .propagation import until_usable
from .roles import trust_policy

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
COLUMNS = ["resource", "name", "status"]
READY = ("created", "existed", "filled with the demo app")  # the statuses of a resource the pipeline can use
INSTANCE_POLICIES = [
    "arn:aws:iam::aws:policy/service-role/AmazonEC2RoleforAWSCodeDeploy",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
]
AGENT_TIMEOUT = 900.0
AGENT_POLL = 10.0


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
        try:
            codecommit.create_repository(repositoryName=name, repositoryDescription="The awscicd demo app")
        except codecommit.exceptions.OperationNotAllowedException as refused:  # closed to new customers
            raise account_limits.repository_error(lab.region, name, refused) from refused
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
            commitMessage=source.DEMO_APP_COMMIT,
            authorName="labhelpers",
            email="lab@example.com",
        )
        status = "created" if status == "created" else "filled with the demo app"
    return status


def ensure_source(lab: Lab) -> list[tuple[str, str, str]]:
    """Where the pipeline's code comes from (`lab.source`): the CodeCommit repository with the demo app; or
    the GitHub connection and the learner's GitHub repository, with what to do in the console and in git
    while either is not ready. Locally a connection serves the lab's CodeCommit repository."""
    names = lab.names
    rows = []
    if lab.source == "codecommit" or lab.is_local:
        rows.append(("CodeCommit repository", names.repository, ensure_repository(lab)))
    if lab.source == "codecommit":
        return rows
    connection, status = source.ensure_connection(lab)
    if connection["ConnectionStatus"] != "AVAILABLE":
        print(source.handshake(lab, connection))
        status = f"{connection['ConnectionStatus']}: finish its handshake (printed above)"
    rows.append(("CodeConnections connection (GitHub)", names.connection, status))
    if not lab.is_local:
        rows.append(("GitHub repository", lab.repository_id, _github_repository(lab)))
    return rows


def _github_repository(lab: Lab) -> str:
    """ "existed" once the learner's repository has a branch main; until then the demo app waits in a local
    git repository, and how to push it is printed."""
    url = source.clone_url(lab)
    found, unread = source.read_main(url)
    if found:
        return "existed"
    if unread:
        print(
            f"git cannot read {url} ({unread}). If the repository exists and is private, give git your "
            "GitHub credentials (a personal access token in your credential helper): 05 pushes to it too."
        )
    folder = source.commit_demo_app(config.home() / f"demo-app-{lab.prefix}", demo_app_files())
    print(
        f"The demo app is committed in {folder}. Create the repository {lab.repository_id} on GitHub, "
        "empty (no README), then push the demo app to it from a terminal where git can sign in to GitHub:\n"
        f"  git -C {folder} push {url} main\n"
        "Then run prerequisites.ensure(lab) again."
    )
    return "no branch main: push the demo app (printed above)"


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
            AssumeRolePolicyDocument=json.dumps(trust_policy(service)),
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
                {  # the CodeBuild guide's minimum policy; there on "*", here on the artifact bucket only
                    "Effect": "Allow",
                    "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation"],
                    "Resource": bucket_arn,
                },
                {  # a buildspec's `reports` (07's unit tests): report groups <project>-<report>
                    "Effect": "Allow",
                    "Action": [
                        "codebuild:CreateReportGroup",
                        "codebuild:CreateReport",
                        "codebuild:UpdateReport",
                        "codebuild:BatchPutTestCases",
                        "codebuild:BatchPutCodeCoverages",
                    ],
                    "Resource": f"arn:aws:codebuild:{lab.region}:{lab.account}:report-group/{names.prefix}-*",
                },
            ],
        },
    )
    codebuild = lab.client("codebuild")
    if codebuild.batch_get_projects(names=[names.build_project])["projects"]:
        project_status = "existed"
    else:
        until_usable(
            lab,
            lambda: codebuild.create_project(
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
            ),
            by="CodeBuild",
            role=names.build_role,
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
        until_usable(
            lab,
            lambda: codedeploy.create_deployment_group(
                applicationName=names.application,
                deploymentGroupName=names.deployment_group,
                serviceRoleArn=f"arn:aws:iam::{lab.account}:role/{names.deploy_role}",
                deploymentConfigName="CodeDeployDefault.OneAtATime",
                ec2TagFilters=[{"Key": "Name", "Value": names.deploy_target, "Type": "KEY_AND_VALUE"}],
            ),
            by="CodeDeploy",
            role=names.deploy_role,
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


def cost_notice(lab: Lab, *, instance: bool) -> str:
    """What the lab's resources cost on AWS, and how to remove them.

    Examples
    --------
    >>> print(cost_notice(lab, instance=True))  # doctest: +SKIP
    COST NOTICE — real resources in account 111122223333, region ap-southeast-1: ...
    """
    lines = [
        f"COST NOTICE — real resources in account {lab.account}, region {lab.region}:",
        "  * CodePipeline V2 bills per action minute beyond the free tier; CodeBuild per build minute;",
        "    S3 for the stored artifacts; CloudWatch Logs for the build logs (pennies for this lab).",
    ]
    if instance:
        lines += [
            f"  * The deploy target {lab.names.deploy_target}: a t3.micro EC2 instance, its 8 GB EBS",
            "    volume and its public IPv4 address bill by the hour while they exist (free tier aside).",
        ]
    else:
        lines.append(
            "  * No EC2 instance now; ensure(lab, instance=True) creates the billable deploy target."
        )
    lines.append("  cleanup.run(lab) (the cleanup notebook) deletes all of it; run it when you are done.")
    return "\n".join(lines)


def user_data(region: str) -> str:
    """The instance's first-boot script: Apache, then the CodeDeploy agent from the region's bucket.

    The installer reads its region from AWS_REGION before it asks the instance metadata, which on
    Amazon Linux 2023 answers only IMDSv2 (token) requests: exported, the region needs no lookup.

    Examples
    --------
    >>> "aws-codedeploy-eu-west-1" in user_data("eu-west-1")
    True
    """
    return f"""#!/bin/bash
set -euxo pipefail
export AWS_REGION={region} AWS_DEFAULT_REGION={region}
dnf install -y ruby wget httpd
systemctl enable --now httpd
cd /tmp
wget -q https://aws-codedeploy-{region}.s3.{region}.amazonaws.com/latest/install
chmod +x ./install
./install auto
systemctl enable --now codedeploy-agent
"""


def ensure_instance_profile(lab: Lab) -> list[tuple[str, str, str]]:
    """The instance's role (CodeDeploy agent, Session Manager) in its instance profile; one row for each.

    Examples
    --------
    >>> ensure_instance_profile(lab)  # doctest: +SKIP
    [('IAM role', 'awscicd-ec2-role', 'created'), ('IAM instance profile', 'awscicd-ec2-profile', 'created')]
    """
    names, iam = lab.names, lab.client("iam")
    role_status = _ensure_role(lab, names.instance_role, "ec2.amazonaws.com", managed=INSTANCE_POLICIES)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=names.instance_profile)["InstanceProfile"]
        status = "existed"
    except iam.exceptions.NoSuchEntityException:
        profile = iam.create_instance_profile(InstanceProfileName=names.instance_profile)["InstanceProfile"]
        status = "created"
    if names.instance_role not in [role["RoleName"] for role in profile["Roles"]]:
        iam.add_role_to_instance_profile(
            InstanceProfileName=names.instance_profile, RoleName=names.instance_role
        )
    return [
        ("IAM role", names.instance_role, role_status),
        ("IAM instance profile", names.instance_profile, status),
    ]


def ensure_security_group(lab: Lab) -> tuple[str, str]:
    """A security group of the default VPC that lets HTTP (port 80) in from anywhere; (id, status).

    Examples
    --------
    >>> ensure_security_group(lab)  # doctest: +SKIP
    ('sg-0123456789abcdef0', 'created')
    """
    ec2, name = lab.client("ec2"), lab.names.security_group
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        raise LabError(
            f"the region {lab.region} has no default VPC for the deploy target: create one with "
            "`aws ec2 create-default-vpc`, or connect to another region"
        )
    vpc = vpcs[0]["VpcId"]
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [name]}, {"Name": "vpc-id", "Values": [vpc]}]
    )["SecurityGroups"]
    if groups:
        return groups[0]["GroupId"], "existed"
    group = ec2.create_security_group(
        GroupName=name,
        Description="The codepipeline lab's deploy target: HTTP from anywhere",
        VpcId=vpc,
        TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": "Name", "Value": name}]}],
    )["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        ],
    )
    return group, "created"


def _run_instance(lab: Lab, group: str) -> str:
    """Launch the target; a new instance profile reaches EC2 seconds after IAM made it."""
    ec2, names = lab.client("ec2"), lab.names
    image = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    launched = until_usable(
        lab,
        lambda: ec2.run_instances(
            ImageId=image,
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Name": names.instance_profile},
            SecurityGroupIds=[group],
            UserData=user_data(lab.region),
            TagSpecifications=[
                {"ResourceType": kind, "Tags": [{"Key": "Name", "Value": names.deploy_target}]}
                for kind in ("instance", "volume")
            ],
        ),
        by="EC2",
        role=names.instance_role,
    )
    return launched["Instances"][0]["InstanceId"]


def wait_for_agent(lab: Lab, instance_id: str, *, timeout: float = AGENT_TIMEOUT) -> None:
    """Wait until the CodeDeploy agent on the instance is active, asking through Session Manager (SSM).

    Examples
    --------
    >>> wait_for_agent(lab, prerequisites.find_target(lab))  # doctest: +SKIP
    """
    ssm, deadline = lab.client("ssm"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [instance_id]}])[
            "InstanceInformationList"
        ]
        if listed and listed[0].get("PingStatus") == "Online" and _agent_active(ssm, instance_id, deadline):
            return
        time.sleep(AGENT_POLL)
    raise LabError(
        f"the CodeDeploy agent on {instance_id} is not active after {timeout:g} s. Look at the boot log: "
        f"`aws ec2 get-console-output --instance-id {instance_id}` (the user data installs the agent), "
        "then call prerequisites.wait_for_agent(lab, instance_id) again"
    )


def _agent_active(ssm, instance_id: str, deadline: float) -> bool:
    command = ssm.send_command(
        InstanceIds=[instance_id],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["systemctl is-active codedeploy-agent"]},
    )["Command"]["CommandId"]
    while time.monotonic() < deadline:
        time.sleep(AGENT_POLL)
        try:
            result = ssm.get_command_invocation(CommandId=command, InstanceId=instance_id)
        except ssm.exceptions.InvocationDoesNotExist:
            continue
        if result["Status"] not in ("Pending", "InProgress", "Delayed"):
            return result.get("StandardOutputContent", "").strip() == "active"
    return False


def ensure_target(lab: Lab) -> list[tuple[str, str, str]]:
    """The deploy target and what it needs: instance role and profile, security group, the instance.

    On AWS a new instance is waited for until its CodeDeploy agent runs (a few minutes); the local
    endpoint's instances deploy from the start.

    Examples
    --------
    >>> ensure_target(lab)[-1]  # doctest: +SKIP
    ('EC2 instance (deploy target)', 'i-0123456789abcdef0', 'created')
    """
    rows = ensure_instance_profile(lab)
    group, group_status = ensure_security_group(lab)
    rows.append(("EC2 security group (HTTP from anywhere)", lab.names.security_group, group_status))
    found = find_target(lab)
    if found:
        rows.append(("EC2 instance (deploy target)", found, "existed"))
        return rows
    instance = _run_instance(lab, group)
    lab.client("ec2").get_waiter("instance_running").wait(InstanceIds=[instance])
    if not lab.is_local:
        print(f"{instance} is running; waiting for its CodeDeploy agent (a few minutes) ...")
        wait_for_agent(lab, instance)
    rows.append(("EC2 instance (deploy target)", instance, "created"))
    return rows


def ensure(lab: Lab, *, instance: bool = False) -> pd.DataFrame:
    """Create or reuse everything the pipeline needs before it can be created; say what existed. A status
    not in READY says what to do, and is printed at length.

    Locally the deploy target is always made (it costs nothing). On AWS a cost notice comes first, and the
    billable t3.micro deploy target only with `instance=True`.

    Examples
    --------
    >>> prerequisites.ensure(lab)  # doctest: +SKIP
    >>> prerequisites.ensure(lab, instance=True)  # doctest: +SKIP
    """
    with_instance = instance or lab.is_local
    if not lab.is_local:
        print(cost_notice(lab, instance=with_instance))
    names = lab.names
    rows = [("S3 bucket (versioned)", names.bucket, ensure_bucket(lab)), *ensure_source(lab)]
    rows += ensure_build_project(lab)
    rows += ensure_deployment(lab)
    if with_instance:
        rows += ensure_target(lab)
    else:
        found = find_target(lab)
        status = "existed" if found else "not created: pass instance=True (billable)"
        rows.append(("EC2 instance (deploy target)", found or names.deploy_target, status))
    return pd.DataFrame(rows, columns=COLUMNS)
