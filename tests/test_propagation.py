"""IAM propagation on the AWS route: each create that names a fresh role retries AWS's documented "not
usable yet" answers, says once what it waits for, and gives up at a deadline with the lab's message; a
changed pipeline role is waited for once; locally nothing waits. moto answers IAM, botocore's Stubber
answers each service as AWS does while a new role propagates. No test sleeps: the waits are recorded."""

import json
import uuid

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from test_aws_mode import lab  # noqa: F401 (the fixture: connect("aws") inside moto)

import labhelpers as lh
from labhelpers import pipelines, prerequisites, propagation, roles
from labhelpers.lab import _restore_environ

ROLE_ARN = "arn:aws:iam::111122223333:role/awscicd-codebuild-role"
# What each service answers while the role it is given is not usable yet (see propagation.NOT_YET).
CODEBUILD_NOT_YET = (
    "InvalidInputException",
    f"CodeBuild is not authorized to perform: sts:AssumeRole on {ROLE_ARN}",
)
CODEDEPLOY_NOT_YET = ("InvalidRoleException", "Cannot assume role provided.")
CODEPIPELINE_NOT_YET = (
    "InvalidStructureException",
    "CodePipeline is not authorized to perform AssumeRole on role "
    "arn:aws:iam::111122223333:role/awscicd-codepipeline-role",
)
EC2_NOT_YET = (
    "InvalidParameterValue",
    "Value (awscicd-ec2-profile) for parameter iamInstanceProfile.name is invalid. "
    "Invalid IAM Instance Profile name",
)
WAITING = "cannot use the new IAM role"


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """The seconds each wait asked for; nothing sleeps. 15 s of retries, 10 s to settle."""
    waits: list[float] = []
    monkeypatch.setattr(propagation, "PATIENCE", propagation.Patience(15.0, 5.0, 10.0, waits.append))
    return waits


def refuse(stubber: Stubber, method: str, answer: tuple[str, str], times: int = 1) -> None:
    for _ in range(times):
        stubber.add_client_error(method, answer[0], answer[1], http_status_code=400)


def test_the_build_project_waits_until_codebuild_can_assume_its_new_role(lab, slept, capsys):  # noqa: F811
    stubber = Stubber(lab.client("codebuild"))
    stubber.add_response("batch_get_projects", {"projects": []})
    refuse(stubber, "create_project", CODEBUILD_NOT_YET, times=2)
    stubber.add_response("create_project", {"project": {"name": lab.names.build_project}})
    with stubber:
        rows = prerequisites.ensure_build_project(lab)
        stubber.assert_no_pending_responses()
    assert rows[-1] == ("CodeBuild project", lab.names.build_project, "created")
    assert slept == [5.0, 5.0]
    printed = capsys.readouterr().out
    assert printed.count(WAITING) == 1
    assert f"CodeBuild cannot use the new IAM role {lab.names.build_role} yet" in printed
    assert "every 5 s for up to 15 s" in printed


def test_the_deployment_group_waits_until_codedeploy_can_assume_its_new_role(lab, slept, capsys):  # noqa: F811
    names = lab.names
    stubber = Stubber(lab.client("codedeploy"))
    stubber.add_client_error("get_application", "ApplicationDoesNotExistException")
    stubber.add_response("create_application", {"applicationId": str(uuid.uuid4())})
    stubber.add_client_error("get_deployment_group", "DeploymentGroupDoesNotExistException")
    refuse(stubber, "create_deployment_group", CODEDEPLOY_NOT_YET)
    stubber.add_response("create_deployment_group", {"deploymentGroupId": str(uuid.uuid4())})
    with stubber:
        rows = prerequisites.ensure_deployment(lab)
        stubber.assert_no_pending_responses()
    assert rows[-1] == ("CodeDeploy deployment group", names.deployment_group, "created")
    assert slept == [5.0]
    printed = capsys.readouterr().out
    assert printed.count(WAITING) == 1
    assert f"CodeDeploy cannot use the new IAM role {names.deploy_role} yet" in printed


def test_the_instance_waits_until_ec2_sees_its_new_instance_profile(lab, slept, capsys):  # noqa: F811
    prerequisites.ensure_instance_profile(lab)
    stubber = Stubber(lab.client("ec2"))
    refuse(stubber, "run_instances", EC2_NOT_YET, times=3)
    stubber.add_response("run_instances", {"Instances": [{"InstanceId": "i-0123456789abcdef0"}]})
    with stubber:
        assert prerequisites._run_instance(lab, "sg-0123456789abcdef0") == "i-0123456789abcdef0"
        stubber.assert_no_pending_responses()
    assert slept == [5.0, 5.0, 5.0]
    printed = capsys.readouterr().out
    assert printed.count(f"EC2 cannot use the new IAM role {lab.names.instance_role} yet") == 1


def test_a_pipeline_create_waits_until_codepipeline_can_assume_its_new_role(lab, slept, capsys):  # noqa: F811
    declaration = pipelines.article_pipeline(lab)
    codepipeline = lab.client("codepipeline")
    stubber = Stubber(codepipeline)
    refuse(stubber, "create_pipeline", CODEPIPELINE_NOT_YET)
    stubber.add_response("create_pipeline", {"pipeline": declaration["pipeline"]}, declaration)
    with stubber:
        created = propagation.until_usable(
            lab,
            lambda: codepipeline.create_pipeline(**declaration),
            by="CodePipeline",
            role=lab.names.pipeline_role,
        )
        stubber.assert_no_pending_responses()
    assert created["pipeline"]["name"] == lab.names.pipeline
    assert slept == [5.0]
    assert capsys.readouterr().out.count(WAITING) == 1


ROLE = "arn:aws:iam::111122223333:role/the-role"
CREATES = {  # a valid request of each create that names a role
    "create_project": {
        "name": "project",
        "source": {"type": "CODEPIPELINE"},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": ROLE,
    },
    "create_deployment_group": {"applicationName": "a", "deploymentGroupName": "g", "serviceRoleArn": ROLE},
    "create_pipeline": pipelines.article_pipeline(lh.Names("awscicd", "111122223333", "ap-southeast-1")),
    "run_instances": {"MinCount": 1, "MaxCount": 1, "IamInstanceProfile": {"Name": "the-profile"}},
}


@pytest.mark.parametrize(
    ("service", "method", "answer"),
    [
        ("codebuild", "create_project", CODEBUILD_NOT_YET),
        ("codedeploy", "create_deployment_group", CODEDEPLOY_NOT_YET),
        ("codepipeline", "create_pipeline", CODEPIPELINE_NOT_YET),
        ("ec2", "run_instances", EC2_NOT_YET),
    ],
)
def test_a_role_that_never_becomes_usable_ends_at_the_deadline_with_the_lab_message(
    lab,  # noqa: F811
    slept,
    capsys,
    service,
    method,
    answer,
):
    client = lab.client(service)
    stubber = Stubber(client)
    refuse(stubber, method, answer, times=4)  # at 0, 5, 10 and 15 s of waiting
    with stubber, pytest.raises(lh.LabError) as raised:
        propagation.until_usable(
            lab, lambda: getattr(client, method)(**CREATES[method]), by="It", role="the-role"
        )
    stubber.assert_no_pending_responses()
    assert slept == [5.0, 5.0, 5.0]
    message = str(raised.value)
    assert message.startswith("It still cannot use the IAM role the-role after 15 s")
    assert f"({answer[0]}: {answer[1]})" in message
    assert "aws iam get-role --role-name the-role" in message and "run this cell again" in message
    assert isinstance(raised.value.__cause__, ClientError)
    assert capsys.readouterr().out.count(WAITING) == 1


def test_any_other_refusal_passes_through_at_once(lab, slept, capsys):  # noqa: F811
    codebuild = lab.client("codebuild")
    stubber = Stubber(codebuild)
    stubber.add_client_error("create_project", "InvalidInputException", "Invalid service role: not found")
    with stubber, pytest.raises(ClientError, match="Invalid service role"):
        propagation.until_usable(
            lab, lambda: codebuild.create_project(**CREATES["create_project"]), by="CodeBuild", role="r"
        )
    assert slept == [] and capsys.readouterr().out == ""


def test_the_pipeline_role_is_waited_for_on_aws_only_when_it_changed(lab, slept, capsys):  # noqa: F811
    declaration = pipelines.article_pipeline(lab)
    roles.ensure_pipeline_role(lab, declaration)  # made
    assert slept == [10.0]
    assert (
        f"waiting 10 s for the change to the IAM role {lab.names.pipeline_role} to reach CodePipeline"
        in capsys.readouterr().out
    )
    roles.ensure_pipeline_role(lab, declaration)  # as it was: nothing to wait for
    assert slept == [10.0] and capsys.readouterr().out == ""
    without_deploy = pipelines.article_pipeline(lab)
    without_deploy["pipeline"]["stages"].pop()
    roles.ensure_pipeline_role(lab, without_deploy)  # a narrower policy
    roles.ensure_pipeline_role(lab, declaration)  # and back
    assert slept == [10.0, 10.0, 10.0]
    name = lab.names.pipeline_role
    policy = lab.client("iam").get_role_policy(RoleName=name, PolicyName=f"{name}-policy")
    assert policy["PolicyDocument"] == roles.permissions_policy(lab, declaration)


def test_a_repaired_trust_policy_is_waited_for(lab, slept):  # noqa: F811
    declaration = pipelines.article_pipeline(lab)
    roles.ensure_pipeline_role(lab, declaration)
    iam, name = lab.client("iam"), lab.names.pipeline_role
    ec2_trust = json.dumps(roles.trust_policy("ec2.amazonaws.com"))
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=ec2_trust)
    roles.ensure_pipeline_role(lab, declaration)
    assert slept == [10.0, 10.0]
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == roles.trust_policy()


@pytest.fixture
def local_lab(endpoint):
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"w{uuid.uuid4().hex[:8]}", quiet=True)
    yield made
    _restore_environ()


def test_locally_nothing_waits(local_lab, slept, capsys):
    declaration = pipelines.article_pipeline(local_lab)
    roles.ensure_pipeline_role(local_lab, declaration)
    code, message = CODEPIPELINE_NOT_YET
    refused = ClientError({"Error": {"Code": code, "Message": message}}, "CreatePipeline")

    def create():
        raise refused

    with pytest.raises(ClientError) as raised:
        propagation.until_usable(local_lab, create, by="CodePipeline", role=local_lab.names.pipeline_role)
    assert raised.value is refused
    assert slept == [] and capsys.readouterr().out == ""
