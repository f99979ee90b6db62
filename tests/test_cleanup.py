"""cleanup.run deletes everything the lab made (after a real run: artifacts, versions, build logs, the
instance), verified with boto3; a second cleanup deletes nothing; a dry run only lists."""

import uuid

import pytest
from botocore.exceptions import ClientError

import labhelpers as lh
from labhelpers import cleanup, pipelines, prerequisites, roles, runs
from labhelpers.lab import _restore_environ

RESOURCES = [
    ("CodePipeline pipeline", "pipeline"),
    ("IAM role", "pipeline_role"),
    ("CodeDeploy deployment group", "deployment_group"),
    ("CodeDeploy application", "application"),
    ("IAM role", "deploy_role"),
    ("CodeBuild project", "build_project"),
    ("IAM role", "build_role"),
    ("EC2 instance (deploy target)", "deploy_target"),
    ("IAM instance profile", "instance_profile"),
    ("IAM role", "instance_role"),
    ("EC2 security group", "security_group"),
    ("CodeCommit repository", "repository"),
    ("S3 bucket (versioned)", "bucket"),
    ("CloudWatch Logs group", "build_log_group"),
]


@pytest.fixture
def lab(endpoint):
    """Everything the lab makes, after one run of the article's pipeline (and a deleted artifact)."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"c{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    declaration = pipelines.article_pipeline(made)
    roles.ensure_pipeline_role(made, declaration)
    made.client("codepipeline").create_pipeline(**declaration)
    assert runs.watch(made, timeout=60).status == "Succeeded"
    s3 = made.client("s3")
    key = s3.list_objects_v2(Bucket=made.names.bucket)["Contents"][0]["Key"]
    s3.delete_object(Bucket=made.names.bucket, Key=key)  # leaves a delete marker over the versions
    yield made
    _restore_environ()


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
    for role in (names.pipeline_role, names.deploy_role, names.build_role, names.instance_role):
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


def endpoint_deletes_codedeploy_metadata(lab) -> bool:
    """Whether the endpoint answers DeleteApplication (AWS answers it even for an unknown application)."""
    try:
        lab.client("codedeploy").delete_application(applicationName=f"probe-{uuid.uuid4().hex[:8]}")
    except ClientError as error:
        return error.response["Error"]["Code"] != "NotImplemented"
    return True


def test_a_dry_run_lists_everything_and_deletes_nothing(lab):
    report = cleanup.run(lab, dry_run=True)
    assert list(report.columns) == cleanup.COLUMNS
    expected = [(resource, getattr(lab.names, attribute)) for resource, attribute in RESOURCES]
    assert list(zip(report.resource, report.name, strict=True)) == expected
    assert set(report.status) == {"would delete"}
    assert report.detail[
        report.resource == "EC2 instance (deploy target)"
    ].item() == prerequisites.find_target(lab)
    assert what_is_left(lab) == [
        "pipeline",
        *[lab.names.pipeline_role, lab.names.deploy_role, lab.names.build_role, lab.names.instance_role],
        "profile",
        "group",
        "application",
        "project",
        "instance",
        "security group",
        "repository",
        "bucket",
        "log group",
    ]


def test_cleanup_leaves_nothing_and_a_second_cleanup_is_a_no_op(lab, capsys):
    supported = endpoint_deletes_codedeploy_metadata(lab)
    try:
        report = cleanup.run(lab)
    except lh.LabError as error:
        assert not supported, error
        assert "NotImplemented" in str(error) and "cleanup.run(lab) again" in str(error)
        assert what_is_left(lab) == ["group", "application"]
        pytest.xfail(
            "the local endpoint does not implement CodeDeploy DeleteDeploymentGroup/DeleteApplication"
        )
    assert set(report.status) == {"deleted"}
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
