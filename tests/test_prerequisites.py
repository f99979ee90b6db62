"""prerequisites.ensure on the local endpoint: everything the pipeline needs, the deploy target as on AWS
(instance profile, HTTP security group, user data), idempotent; and the prefix every name comes from."""

import base64
import uuid

import pytest

import labhelpers as lh
from labhelpers import prerequisites
from labhelpers.lab import _restore_environ, check_prefix


@pytest.fixture
def lab(endpoint):
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"q{uuid.uuid4().hex[:8]}", quiet=True)
    yield made
    _restore_environ()


def test_ensure_makes_everything_once_then_finds_it(lab, capsys):
    first = prerequisites.ensure(lab)
    names = lab.names
    instance = prerequisites.find_target(lab)
    assert list(first.columns) == prerequisites.COLUMNS
    assert list(first.name) == [
        names.bucket,
        names.repository,
        names.build_role,
        names.build_project,
        names.deploy_role,
        names.application,
        names.deployment_group,
        names.instance_role,
        names.instance_profile,
        names.security_group,
        instance,
    ]
    assert set(first.status) == {"created"}
    second = prerequisites.ensure(lab)
    assert list(second.name) == list(first.name)
    assert set(second.status) == {"existed"}
    assert "COST NOTICE" not in capsys.readouterr().out  # the local endpoint bills nothing


def test_the_deploy_target_is_built_as_on_aws(lab):
    prerequisites.ensure(lab)
    names, ec2, iam = lab.names, lab.client("ec2"), lab.client("iam")
    instance_id = prerequisites.find_target(lab)
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["InstanceType"] == "t3.micro"
    assert {"Key": "Name", "Value": names.deploy_target} in instance["Tags"]
    assert instance["IamInstanceProfile"]["Arn"].endswith(f":instance-profile/{names.instance_profile}")
    (group,) = instance["SecurityGroups"]
    assert group["GroupName"] == names.security_group
    rules = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]["IpPermissions"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["IpRanges"][0]["CidrIp"]) for r in rules] == [
        ("tcp", 80, 80, "0.0.0.0/0")
    ]
    script = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"][
        "Value"
    ]
    script = base64.b64decode(script).decode()
    assert script == prerequisites.user_data(lab.region)
    assert "dnf install -y ruby wget httpd" in script
    assert f"https://aws-codedeploy-{lab.region}.s3.{lab.region}.amazonaws.com/latest/install" in script
    profile = iam.get_instance_profile(InstanceProfileName=names.instance_profile)["InstanceProfile"]
    assert [role["RoleName"] for role in profile["Roles"]] == [names.instance_role]
    attached = iam.list_attached_role_policies(RoleName=names.instance_role)["AttachedPolicies"]
    assert sorted(p["PolicyArn"] for p in attached) == sorted(prerequisites.INSTANCE_POLICIES)
    trust = iam.get_role(RoleName=names.instance_role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


def test_the_agent_installer_is_told_its_region_before_it_runs():
    script = prerequisites.user_data("eu-west-1").splitlines()
    exported = script.index("export AWS_REGION=eu-west-1 AWS_DEFAULT_REGION=eu-west-1")
    assert exported < script.index("./install auto")


def test_a_prefix_that_cannot_name_resources_is_refused_before_anything_starts(tmp_path):
    for bad in ("Team7", "team_7", "-team", "team-", ""):
        with pytest.raises(lh.LabError, match="lowercase letters, digits and hyphens"):
            lh.connect(home=str(tmp_path / "never-started"), prefix=bad, quiet=True)
    assert not (tmp_path / "never-started").exists()


def test_a_prefix_too_long_for_the_bucket_name_says_how_long_it_may_be():
    longest = "a" * 25  # 25 + len("-artifacts-111122223333-ap-southeast-1") == 63
    assert check_prefix(longest, "111122223333", "ap-southeast-1") == longest
    with pytest.raises(lh.LabError, match="use a prefix of at most 25 characters"):
        check_prefix(longest + "b", "111122223333", "ap-southeast-1")
    with pytest.raises(lh.LabError, match="at most 25 characters"):
        lh.Lab("aws", "111122223333", "ap-southeast-1", session=None, prefix=longest + "b")
