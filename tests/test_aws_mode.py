"""LAB_BACKEND=aws, with no AWS at all: moto in-process answers IAM, S3, EC2, SSM parameters, CodeBuild and
CodeDeploy metadata; botocore's Stubber answers what moto cannot (CodeCommit commits, the CodeDeploy agent
check through SSM, CodeDeploy deletes). No call leaves the process."""

import base64
import io
import json
import os
from contextlib import redirect_stdout

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber
from moto import mock_aws
from moto.codebuild import responses as codebuild_responses

import labhelpers as lh
from labhelpers import change_detection, cleanup, pipelines, prerequisites, propagation, roles, runs
from labhelpers.lab import _restore_environ

ACCOUNT = "111122223333"
REGION = "ap-southeast-1"


def _codepipeline_needs_no_location(validate):
    """moto wants a location for CODEPIPELINE sources and artifacts; AWS does not (the pipeline has it)."""

    def check(value: dict) -> None:
        if value.get("type") != "CODEPIPELINE":
            validate(value)

    return check


def patch_codebuild(monkeypatch) -> None:
    """moto's CodeBuild as AWS answers the lab: CODEPIPELINE sources and artifacts need no location, and
    the account's report groups can be listed (moto keeps none; none are made without builds)."""
    for validator in ("_validate_required_params_source", "_validate_required_params_artifacts"):
        original = getattr(codebuild_responses, validator)
        monkeypatch.setattr(codebuild_responses, validator, _codepipeline_needs_no_location(original))
    monkeypatch.setattr(
        codebuild_responses.CodeBuildResponse,
        "list_report_groups",
        lambda self: json.dumps({"reportGroups": []}),
        raising=False,
    )


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """connect("aws") inside mock_aws, with every route to real AWS or a local endpoint closed; IAM waits
    (labhelpers.propagation) return at once. What an earlier test's connect("local") left in os.environ is
    put back first, or connect("aws") would put it back over this fixture's settings."""
    _restore_environ()
    empty = tmp_path / "empty-aws-config"
    empty.touch()
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "LAB_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_REGION": REGION,
        "MOTO_ACCOUNT_ID": ACCOUNT,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }.items():
        monkeypatch.setenv(name, value)
    patch_codebuild(monkeypatch)
    monkeypatch.setattr(propagation, "PATIENCE", propagation.Patience(sleep=lambda seconds: None))
    with mock_aws():
        made = lh.connect("aws", quiet=True)
        yield made
    _restore_environ()


def stub_repository(lab) -> Stubber:
    """CodeCommit as AWS answers a first ensure(): no repository, then an empty one that gets the demo app."""
    stubber = Stubber(lab.client("codecommit"))
    name = lab.names.repository
    stubber.add_client_error(
        "get_repository", "RepositoryDoesNotExistException", expected_params={"repositoryName": name}
    )
    stubber.add_response(
        "create_repository",
        {"repositoryMetadata": {"repositoryName": name}},
        {"repositoryName": name, "repositoryDescription": "The awscicd demo app"},
    )
    stubber.add_client_error("get_branch", "BranchDoesNotExistException")
    stubber.add_response("create_commit", {"commitId": "c" * 40, "treeId": "t" * 40})
    stubber.activate()
    return stubber


def stub_agent(lab, image: str) -> Stubber:
    """SSM for a new instance: the AMI parameter, then Session Manager sees the agent come up."""
    stubber = Stubber(lab.client("ssm"))
    stubber.add_response(
        "get_parameter",
        {"Parameter": {"Name": prerequisites.AMI_PARAMETER, "Value": image, "Type": "String"}},
        {"Name": prerequisites.AMI_PARAMETER},
    )
    stubber.add_response("describe_instance_information", {"InstanceInformationList": []})
    stubber.add_response(
        "describe_instance_information", {"InstanceInformationList": [{"PingStatus": "Online"}]}
    )
    stubber.add_response("send_command", {"Command": {"CommandId": "1" * 36}})
    stubber.add_client_error("get_command_invocation", "InvocationDoesNotExist")
    stubber.add_response(
        "get_command_invocation", {"Status": "Success", "StandardOutputContent": "activating\n"}
    )
    stubber.add_response(
        "describe_instance_information", {"InstanceInformationList": [{"PingStatus": "Online"}]}
    )
    stubber.add_response("send_command", {"Command": {"CommandId": "2" * 36}})
    stubber.add_response("get_command_invocation", {"Status": "Success", "StandardOutputContent": "active\n"})
    stubber.activate()
    return stubber


def moto_image() -> str:
    """The AMI id moto's public parameter names, read before SSM is stubbed."""
    ssm = boto3.client("ssm", region_name=REGION)
    return ssm.get_parameter(Name=prerequisites.AMI_PARAMETER)["Parameter"]["Value"]


def record_before(client, operation: str, printed: io.StringIO, seen: list):
    """Note what had been printed when `operation` was first called."""
    client.meta.events.register(
        f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}",
        lambda **_: seen.append(printed.getvalue()) and None,
    )


def test_connect_aws_under_moto_is_the_aws_backend(lab):
    assert (lab.backend, lab.account, lab.region, lab.endpoint_url) == ("aws", ACCOUNT, REGION, None)
    assert not lab.is_local
    assert lab.client("sts").get_caller_identity()["Account"] == ACCOUNT


def test_without_instance_the_cost_notice_comes_first_and_no_instance_is_made(lab):
    stubber = stub_repository(lab)
    printed, seen = io.StringIO(), []
    record_before(lab.client("s3"), "CreateBucket", printed, seen)
    with redirect_stdout(printed):
        report = prerequisites.ensure(lab)
    stubber.assert_no_pending_responses()
    assert seen and seen[0].startswith("COST NOTICE")
    assert "cleanup.run(lab)" in seen[0] and "instance=True" in seen[0]
    assert report.status.iloc[-1] == "not created: pass instance=True (billable)"
    assert lab.client("ec2").describe_instances()["Reservations"] == []
    assert lab.client("s3").get_bucket_versioning(Bucket=lab.names.bucket)["Status"] == "Enabled"
    project = lab.client("codebuild").batch_get_projects(names=[lab.names.build_project])["projects"][0]
    assert project["serviceRole"].endswith(f":role/{lab.names.build_role}")


def test_with_instance_the_target_is_launched_and_its_agent_awaited(lab, monkeypatch):
    monkeypatch.setattr(prerequisites, "AGENT_POLL", 0)
    image = moto_image()
    stubbers = [stub_repository(lab), stub_agent(lab, image)]
    printed, seen = io.StringIO(), []
    record_before(lab.client("ec2"), "RunInstances", printed, seen)
    with redirect_stdout(printed):
        report = prerequisites.ensure(lab, instance=True)
    for stubber in stubbers:
        stubber.assert_no_pending_responses()
    assert "t3.micro EC2 instance" in seen[0] and "cleanup.run(lab)" in seen[0]
    instance_id = prerequisites.find_target(lab)
    assert report.iloc[-1].tolist() == ["EC2 instance (deploy target)", instance_id, "created"]
    assert f"{instance_id} is running; waiting for its CodeDeploy agent" in printed.getvalue()
    ec2 = lab.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["ImageId"] == image and instance["InstanceType"] == "t3.micro"
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"/{lab.names.instance_profile}")
    script = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"][
        "Value"
    ]
    assert "./install auto" in base64.b64decode(script).decode()
    attached = lab.client("iam").list_attached_role_policies(RoleName=lab.names.instance_role)[
        "AttachedPolicies"
    ]
    assert {p["PolicyName"] for p in attached} == {
        "AmazonEC2RoleforAWSCodeDeploy",
        "AmazonSSMManagedInstanceCore",
    }


def test_a_new_instance_profile_is_retried_until_ec2_sees_it(lab):
    prerequisites.ensure_instance_profile(lab)
    group, _ = prerequisites.ensure_security_group(lab)
    refusals = []

    def not_yet(**_):
        if not refusals:
            refusals.append(1)
            error = {"Code": "InvalidParameterValue", "Message": "Invalid IAM Instance Profile name"}
            return AWSResponse(None, 400, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    lab.client("ec2").meta.events.register("before-call.ec2.RunInstances", not_yet)
    instance = prerequisites._run_instance(lab, group)
    assert refusals and instance == prerequisites.find_target(lab)


def test_an_agent_that_never_comes_up_is_a_lab_error_naming_the_boot_log(lab, monkeypatch):
    monkeypatch.setattr(prerequisites, "AGENT_POLL", 0)
    stubber = Stubber(lab.client("ssm"))
    stubber.add_response("describe_instance_information", {"InstanceInformationList": []})
    stubber.activate()
    with pytest.raises(lh.LabError, match="get-console-output --instance-id i-0123"):
        prerequisites.wait_for_agent(lab, "i-0123", timeout=0.0001)


def test_the_role_is_generated_and_explained_the_same_on_aws(lab):
    declaration = pipelines.article_pipeline(lab)
    arn = roles.ensure_pipeline_role(lab, declaration)
    assert arn == f"arn:aws:iam::{ACCOUNT}:role/{lab.names.pipeline_role}"
    assert set(roles.explain(lab, declaration).decision) == {"allowed"}
    lab.client("iam").attach_role_policy(
        RoleName=lab.names.pipeline_role, PolicyArn="arn:aws:iam::aws:policy/AWSCodeCommitReadOnly"
    )
    report = roles.explain(lab, declaration)
    assert set(report.decision) == {"allowed"}


def test_deployed_pages_on_aws_are_the_instances_public_names(lab):
    image = moto_image()
    instance = lab.client("ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    stubber = Stubber(lab.client("codedeploy"))
    stubber.add_response(
        "list_deployment_instances",
        {"instancesList": [instance["InstanceId"]]},
        {"deploymentId": "d-ABCDEFGHI"},
    )
    stubber.activate()
    dns = lab.client("ec2").describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0][
        "Instances"
    ][0]["PublicDnsName"]
    assert dns and runs.deployed_pages(lab, "d-ABCDEFGHI") == [f"http://{dns}/"]


def stub_codedeploy_deletes(lab) -> Stubber:
    """CodeDeploy as AWS answers a cleanup (moto has no deletes): found, deleted, then gone."""
    stubber = Stubber(lab.client("codedeploy"))
    names = lab.names
    group = {"applicationName": names.application, "deploymentGroupName": names.deployment_group}
    stubber.add_response("get_deployment_group", {"deploymentGroupInfo": group}, group)
    stubber.add_response("delete_deployment_group", {"hooksNotCleanedUp": []}, group)
    stubber.add_response("get_application", {"application": {"applicationName": names.application}})
    stubber.add_response("delete_application", {}, {"applicationName": names.application})
    for _ in range(3):  # the check afterwards, then the second cleanup and its check
        stubber.add_client_error("get_deployment_group", "DeploymentGroupDoesNotExistException")
        stubber.add_client_error("get_application", "ApplicationDoesNotExistException")
    stubber.activate()
    return stubber


def test_cleanup_on_aws_removes_everything_including_every_object_version(lab, monkeypatch):
    monkeypatch.setattr(prerequisites, "AGENT_POLL", 0)
    made = [stub_repository(lab), stub_agent(lab, moto_image())]
    with redirect_stdout(io.StringIO()):
        prerequisites.ensure(lab, instance=True)
    for stubber in made:
        stubber.deactivate()
    names = lab.names
    lab.client("codecommit").create_repository(repositoryName=names.repository)  # stubbed above, real now
    create_article_pipeline(lab)
    change_detection.ensure_rule(lab)
    s3 = lab.client("s3")
    for body in (b"first", b"second"):
        s3.put_object(Bucket=names.bucket, Key="awscicd-pipeline/SourceOutp/abc1234", Body=body)
    s3.delete_object(Bucket=names.bucket, Key="awscicd-pipeline/SourceOutp/abc1234")
    lab.client("logs").create_log_group(logGroupName=names.build_log_group)
    codedeploy = stub_codedeploy_deletes(lab)

    printed = io.StringIO()
    with redirect_stdout(printed):
        report = cleanup.run(lab)
    made = report[report.status == "deleted"]
    assert set(report.status) == {"deleted", "absent"}, report  # 07's other additions were never made here
    assert len(made) == 16, report
    assert report.detail[report.name == names.branch_rule].item() == "1 target(s) removed first"
    assert report.detail[report.name == names.bucket].item() == "2 object versions, 1 delete markers"
    assert "terminated" in report.detail[report.resource == "EC2 instance (deploy target)"].item()
    assert "detached AmazonSSMManagedInstanceCore" in report.detail[report.name == names.instance_role].item()
    assert (
        f"nothing the lab makes with prefix 'awscicd' is left in {ACCOUNT} / {REGION}" in printed.getvalue()
    )
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    assert lab.client("iam").list_roles()["Roles"] == []
    assert lab.client("events").list_rules()["Rules"] == []
    with redirect_stdout(io.StringIO()):
        assert set(cleanup.run(lab).status) == {"absent"}
    codedeploy.assert_no_pending_responses()


def create_article_pipeline(lab) -> dict:
    """02's steps on AWS: the pipeline's role, then the pipeline (its repository must exist)."""
    declaration = pipelines.article_pipeline(lab)
    roles.ensure_pipeline_role(lab, declaration)
    lab.client("codepipeline").create_pipeline(**declaration)
    return declaration


def test_on_aws_the_article_pipeline_starts_through_the_consoles_eventbridge_rule(lab):
    names = lab.names
    repository_arn = lab.client("codecommit").create_repository(repositoryName=names.repository)[
        "repositoryMetadata"
    ]["Arn"]
    create_article_pipeline(lab)
    pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{names.pipeline}"

    rule_arn = change_detection.ensure_rule(lab)
    assert change_detection.ensure_rule(lab) == rule_arn  # again: nothing doubles

    source = lab.client("codepipeline").get_pipeline(name=names.pipeline)["pipeline"]["stages"][0]
    assert source["actions"][0]["configuration"]["PollForSourceChanges"] == "false"
    events = lab.client("events")
    rule = events.describe_rule(Name=names.branch_rule)
    assert (rule["Arn"], rule["State"], rule["EventBusName"]) == (rule_arn, "ENABLED", "default")
    assert rule_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{names.branch_rule}"
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [repository_arn],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": ["main"],
        },
    }
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{names.events_role}"
    targets = events.list_targets_by_rule(Rule=names.branch_rule)["Targets"]
    assert targets == [{"Id": "codepipeline", "Arn": pipeline_arn, "RoleArn": role_arn}]
    iam = lab.client("iam")
    trust = iam.get_role(RoleName=names.events_role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert iam.list_role_policies(RoleName=names.events_role)["PolicyNames"] == ["start-pipeline"]
    permission = iam.get_role_policy(RoleName=names.events_role, PolicyName="start-pipeline")
    assert permission["PolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Action": "codepipeline:StartPipelineExecution", "Resource": pipeline_arn}
    ]


def test_the_rule_before_its_pipeline_is_a_lab_error_saying_to_create_the_pipeline(lab):
    with pytest.raises(lh.LabError, match="does not exist yet.*notebook 02"):
        change_detection.ensure_rule(lab)
    assert lab.client("events").list_rules()["Rules"] == []


def test_a_target_eventbridge_refuses_is_a_lab_error_with_its_reason(lab):
    lab.client("codecommit").create_repository(repositoryName=lab.names.repository)
    create_article_pipeline(lab)
    refused = {"TargetId": "codepipeline", "ErrorCode": "ValidationException", "ErrorMessage": "no"}
    with Stubber(lab.client("events")) as stubber:
        stubber.add_response("put_rule", {"RuleArn": "arn:aws:events:ap-southeast-1:111122223333:rule/r"})
        stubber.add_response("put_targets", {"FailedEntryCount": 1, "FailedEntries": [refused]})
        with pytest.raises(lh.LabError, match="refused the pipeline as the target.*ValidationException: no"):
            change_detection.ensure_rule(lab)
