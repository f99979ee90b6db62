"""cleanup.run deletes everything the lab made (after a real run: artifacts, versions, build logs, the
instance), verified with boto3; a second cleanup deletes nothing; a dry run only lists."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError

import labhelpers as lh
from labhelpers import cleanup, pipelines, prerequisites, roles, runs
from labhelpers.lab import _restore_environ

RESOURCES = [  # (resource, its name from lab.names), in the order cleanup deletes them
    ("CodePipeline pipeline", lambda n: n.connection_pipeline),
    ("IAM role", lambda n: n.connection_pipeline_role),
    ("EventBridge rule", lambda n: n.branch_rule),
    ("IAM role", lambda n: n.events_role),
    ("CodePipeline pipeline", lambda n: n.pipeline),
    ("IAM role", lambda n: n.pipeline_role),
    ("CodeConnections connection", lambda n: n.connection),
    ("CodeDeploy deployment group", lambda n: n.deployment_group),
    ("CodeDeploy application", lambda n: n.application),
    ("IAM role", lambda n: n.deploy_role),
    ("CodeBuild project", lambda n: n.build_project),
    ("CodeBuild project", lambda n: n.test_project),
    ("CodeBuild project", lambda n: n.lint_project),
    ("CodeBuild report groups", lambda n: f"{n.prefix}-*"),
    ("IAM role", lambda n: n.build_role),
    ("EC2 instance (deploy target)", lambda n: n.deploy_target),
    ("IAM instance profile", lambda n: n.instance_profile),
    ("IAM role", lambda n: n.instance_role),
    ("EC2 security group", lambda n: n.security_group),
    ("CodeCommit repository", lambda n: n.repository),
    ("S3 bucket (versioned)", lambda n: n.bucket),
    ("CloudWatch Logs group", lambda n: n.build_log_group),
    ("CloudWatch Logs group", lambda n: f"/aws/codebuild/{n.test_project}"),
    ("CloudWatch Logs group", lambda n: f"/aws/codebuild/{n.lint_project}"),
]
# What the fixture does not make (07's connection pipeline, the lint project, logs of unrun projects).
NOT_MADE = {"connection_pipeline", "connection_pipeline_role", "lint_project"}


@pytest.fixture
def lab(endpoint):
    """Everything the lab makes, after one run of the article's pipeline (and a deleted artifact)."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"c{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    declaration = pipelines.article_pipeline(made)
    roles.ensure_pipeline_role(made, declaration)
    made.client("codepipeline").create_pipeline(**declaration)
    assert runs.watch(made, timeout=60).status == "Succeeded"
    make_07_extras(made)
    s3 = made.client("s3")
    key = s3.list_objects_v2(Bucket=made.names.bucket)["Contents"][0]["Key"]
    s3.delete_object(Bucket=made.names.bucket, Key=key)  # leaves a delete marker over the versions
    yield made
    _restore_environ()


def make_07_extras(lab):
    """Some of what 07_production_ready adds: a branch rule and its role, a connection, a test project."""
    names = lab.names
    iam = lab.client("iam")
    iam.create_role(
        RoleName=names.events_role,
        AssumeRolePolicyDocument=json.dumps(roles.trust_policy("events.amazonaws.com")),
    )
    arn = lab.client("codepipeline").get_pipeline(name=names.pipeline)["metadata"]["pipelineArn"]
    events = lab.client("events")
    events.put_rule(Name=names.branch_rule, EventPattern=json.dumps({"source": ["aws.codecommit"]}))
    events.put_targets(Rule=names.branch_rule, Targets=[{"Id": "pipeline", "Arn": arn}])
    lab.client("codeconnections").create_connection(ProviderType="GitHub", ConnectionName=names.connection)
    project = lab.client("codebuild").batch_get_projects(names=[names.build_project])["projects"][0]
    lab.client("codebuild").create_project(
        name=names.test_project,
        **{key: project[key] for key in ("source", "artifacts", "environment", "serviceRole")},
    )
    lab.client("codebuild").create_report_group(  # as a build of the test project with a report makes it
        name=f"{names.test_project}-unit-tests", type="TEST", exportConfig={"exportConfigType": "NO_EXPORT"}
    )


def what_is_left(lab) -> list[str]:
    """Every lab resource that still exists, checked with boto3 directly."""
    names, left = lab.names, []

    def check(label, probe):
        try:
            if probe():
                left.append(label)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            assert code.endswith(
                ("NotFound", "NotFoundException", "DoesNotExistException", "NoSuchEntity", "404")
            )

    client = lab.client
    check("pipeline", lambda: client("codepipeline").get_pipeline(name=names.pipeline))
    check("rule", lambda: client("events").describe_rule(Name=names.branch_rule))
    check(
        "connection",
        lambda: [
            c
            for c in client("codeconnections").list_connections()["Connections"]
            if c["ConnectionName"] == names.connection
        ],
    )
    check(
        "test project", lambda: client("codebuild").batch_get_projects(names=[names.test_project])["projects"]
    )
    check(
        "report group",
        lambda: [
            arn
            for arn in client("codebuild").list_report_groups()["reportGroups"]
            if arn.endswith(f"/{names.test_project}-unit-tests")
        ],
    )
    roles_made = (
        names.pipeline_role,
        names.events_role,
        names.deploy_role,
        names.build_role,
        names.instance_role,
    )
    for role in roles_made:
        check(role, lambda role=role: client("iam").get_role(RoleName=role))
    check("profile", lambda: client("iam").get_instance_profile(InstanceProfileName=names.instance_profile))
    check(
        "group",
        lambda: client("codedeploy").get_deployment_group(
            applicationName=names.application, deploymentGroupName=names.deployment_group
        ),
    )
    check("application", lambda: client("codedeploy").get_application(applicationName=names.application))
    check("project", lambda: client("codebuild").batch_get_projects(names=[names.build_project])["projects"])
    check("instance", lambda: prerequisites.find_target(lab))
    check(
        "security group",
        lambda: client("ec2").describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [names.security_group]}]
        )["SecurityGroups"],
    )
    check("repository", lambda: client("codecommit").get_repository(repositoryName=names.repository))
    check("bucket", lambda: client("s3").head_bucket(Bucket=names.bucket))
    check(
        "log group",
        lambda: client("logs").describe_log_groups(logGroupNamePrefix=names.build_log_group)["logGroups"],
    )
    return left


def test_a_dry_run_lists_everything_and_deletes_nothing(lab):
    report = cleanup.run(lab, dry_run=True)
    assert list(report.columns) == cleanup.COLUMNS
    expected = [(resource, name(lab.names)) for resource, name in RESOURCES]
    assert list(zip(report.resource, report.name, strict=True)) == expected
    absent = {getattr(lab.names, attribute) for attribute in NOT_MADE}
    absent |= {f"/aws/codebuild/{lab.names.test_project}", f"/aws/codebuild/{lab.names.lint_project}"}
    assert set(report.name[report.status == "absent"]) == absent
    assert set(report.status[~report.name.isin(absent)]) == {"would delete"}
    assert report.detail[
        report.resource == "EC2 instance (deploy target)"
    ].item() == prerequisites.find_target(lab)
    assert what_is_left(lab) == [
        "pipeline", "rule", "connection", "test project", "report group",
        *[lab.names.pipeline_role, lab.names.events_role, lab.names.deploy_role, lab.names.build_role,
          lab.names.instance_role],
        "profile", "group", "application", "project", "instance", "security group", "repository", "bucket",
        "log group",
    ]  # fmt: skip


def test_cleanup_leaves_nothing_and_a_second_cleanup_is_a_no_op(lab, capsys):
    report = cleanup.run(lab)
    assert set(report.status) == {"deleted", "absent"}
    assert "0 object versions" not in report.detail[report.resource == "S3 bucket (versioned)"].item()
    assert "1 delete markers" in report.detail[report.resource == "S3 bucket (versioned)"].item()
    assert "detached AWSCodeDeployRole" in report.detail[report.name == lab.names.deploy_role].item()
    assert what_is_left(lab) == []
    assert "nothing the lab makes with prefix" in capsys.readouterr().out
    again = cleanup.run(lab)
    assert set(again.status) == {"absent"}
    assert "deleted 0 resource(s)" in capsys.readouterr().out


def test_a_cleanup_of_nothing_is_a_no_op(endpoint):
    empty = lh.connect(home=str(endpoint.layout.root), prefix=f"e{uuid.uuid4().hex[:8]}", quiet=True)
    try:
        report = cleanup.run(empty, quiet=True)
    finally:
        _restore_environ()
    assert len(report) == len(RESOURCES) and set(report.status) == {"absent"}
