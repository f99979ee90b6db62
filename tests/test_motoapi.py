"""Each thing the endpoint takes from moto, one test each: a moto release that changes one breaks its test
here, by name, before it breaks a learner's call. moto runs in-process (mock_aws) on its real backends."""

import json
import os
import pickle
import subprocess
import sys

import boto3
import pytest
from moto import mock_aws
from moto.core.exceptions import JsonRESTError, ServiceException
from werkzeug.serving import WSGIRequestHandler
from werkzeug.test import Client

from labhelpers.local import awsjson, motoapi

REGION = "ap-southeast-1"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def account_of(aws) -> str:
    return aws("sts").get_caller_identity()["Account"]


def test_wsgi_app_answers_aws_requests():
    client = Client(motoapi.wsgi_app())
    answer = client.post(
        "/",
        data="Action=GetCallerIdentity&Version=2011-06-15",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"AWS4-HMAC-SHA256 Credential=AKIA/20260101/{REGION}/sts/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    assert answer.status_code == 200
    assert b"<Account>" in answer.data


def test_request_handler_is_a_werkzeug_handler():
    assert issubclass(motoapi.request_handler(), WSGIRequestHandler)


def test_service_error_keeps_code_and_the_models_status():
    from moto.codebuild.exceptions import InvalidInputException

    error = motoapi.service_error(InvalidInputException("Project source location is required"), "codebuild")
    assert (error.code, error.status, error.message) == (
        "InvalidInputException",
        400,
        "Project source location is required",
    )
    missing = motoapi.service_error(ServiceException("NoSuchEntity", "The role x cannot be found."), "iam")
    assert (missing.code, missing.status) == ("NoSuchEntity", 404)
    older = motoapi.service_error(JsonRESTError("ResourceNotFoundException", "gone"), "logs")
    assert (older.code, older.status, older.message) == ("ResourceNotFoundException", 400, "gone")
    assert motoapi.service_error(KeyError("a defect"), "codebuild") is None


def test_backend_dicts_pickle_and_are_found_by_signing_name(aws):
    aws("s3").create_bucket(Bucket="kept", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws("events").put_rule(Name="r", EventPattern=json.dumps({"source": ["aws.codecommit"]}))
    s3 = motoapi.backend_dict("s3")
    assert motoapi.backend_dict_name(s3) == "s3"
    assert motoapi.backend_dict_name(motoapi.backend_dict("eventbridge")) == "events"
    assert s3 in motoapi.backend_dicts_in_use()
    account = account_of(aws)
    copied = pickle.loads(pickle.dumps({acct: dict(regions) for acct, regions in s3.items()}))
    assert "kept" in copied[account]["aws"].buckets
    with pytest.raises(KeyError):
        motoapi.backend_dict("no-such-service")


def test_moto_lists_regions_with_our_service_models(aws, monkeypatch):
    asked = []
    monkeypatch.setattr(motoapi, "models_session", lambda: asked.append(1) or awsjson.models_session())
    motoapi.share_service_models()
    regions = motoapi.backend_dict("codedeploy")["999988887777"].regions
    assert asked and REGION in regions and "us-west-2" in regions and "cn-north-1" in regions


def test_role_policies_and_trust(aws):
    iam = aws("iam")
    role = iam.create_role(RoleName="builder", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
    allow_logs = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}],
    }
    iam.put_role_policy(RoleName="builder", PolicyName="logs", PolicyDocument=json.dumps(allow_logs))
    iam.attach_role_policy(RoleName="builder", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    account = account_of(aws)
    documents = motoapi.role_policies(account, "builder")
    assert len(documents) == 2 and all(isinstance(document, str) for document in documents)
    assert motoapi.role_policies(account, "nobody") is None
    assert json.loads(motoapi.role_trust_policy(account, role["Arn"])) == TRUST
    assert motoapi.role_trust_policy(account, f"arn:aws:iam::{account}:role/nobody") is None


def test_register_lab_user_makes_sts_name_the_keys_owner(aws):
    account, key = account_of(aws), "AKIA" + "LABKEYS012345678"  # 20 characters, as the lab's keys
    sts = boto3.client("sts", region_name=REGION, aws_access_key_id=key, aws_secret_access_key="secret")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{account}:user/moto"  # moto's stand-in
    arn = motoapi.register_lab_user(account, "lab", key)
    assert arn == f"arn:aws:iam::{account}:user/lab" == sts.get_caller_identity()["Arn"]
    assert motoapi.register_lab_user(account, "lab", key) == arn  # once, however often it runs
    keys = aws("iam").list_access_keys(UserName="lab")["AccessKeyMetadata"]
    assert [found["AccessKeyId"] for found in keys] == [key]


def test_policy_evaluator_allows_denies_and_is_silent():
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    deny = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"}],
    }
    policies = motoapi.PolicyEvaluator([json.dumps(allow), json.dumps(deny)])
    assert policies.allows("s3:GetObject", "arn:aws:s3:::b/k")
    assert not policies.allows("s3:DeleteObject", "arn:aws:s3:::b/k")
    assert not policies.allows("codebuild:StartBuild", "*")


def test_bucket_region(aws):
    aws("s3").create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    assert motoapi.bucket_region(account_of(aws), "artifacts") == REGION
    assert motoapi.bucket_region(account_of(aws), "absent") is None


def test_codebuild_projects_are_kept_read_and_updated(aws):
    account = account_of(aws)
    params = {
        "name": "demo",
        "source": {"type": "CODEPIPELINE"},
        "secondarySources": [{"type": "S3", "location": "b/k.zip", "sourceIdentifier": "extra"}],
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {"type": "LINUX_CONTAINER", "image": "img", "computeType": "BUILD_GENERAL1_SMALL"},
        "serviceRole": f"arn:aws:iam::{account}:role/r",
    }
    defaults = {"timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480}
    created = motoapi.create_codebuild_project(account, REGION, params, defaults)
    assert created["source"] == {"type": "CODEPIPELINE"}
    assert created["secondarySources"] == params["secondarySources"]
    assert created["timeoutInMinutes"] == 60
    assert motoapi.codebuild_project(account, REGION, "demo") == created
    assert aws("codebuild").batch_get_projects(names=["demo"])["projects"][0]["name"] == "demo"
    assert motoapi.codebuild_project(account, REGION, "absent") is None
    updated = motoapi.update_codebuild_project(account, REGION, "demo", {"description": "now described"})
    assert updated["description"] == "now described"
    assert motoapi.codebuild_project(account, REGION, "demo")["description"] == "now described"
    assert "description" not in motoapi.update_codebuild_project(
        account, REGION, "demo", {"description": None}
    )


def test_codedeploy_applications_and_groups_are_deleted(aws):
    account = account_of(aws)
    deploy = aws("codedeploy")
    deploy.create_application(applicationName="app", computePlatform="Server")
    deploy.create_deployment_group(
        applicationName="app", deploymentGroupName="group", serviceRoleArn=f"arn:aws:iam::{account}:role/r"
    )
    assert motoapi.delete_codedeploy_group(account, REGION, "app", "group")
    assert deploy.list_deployment_groups(applicationName="app")["deploymentGroups"] == []
    assert not motoapi.delete_codedeploy_group(account, REGION, "absent", "group")
    motoapi.delete_codedeploy_application(account, REGION, "app")
    assert deploy.list_applications()["applications"] == []


def test_codedeploy_applications_are_renamed_and_groups_updated(aws):
    account = account_of(aws)
    deploy = aws("codedeploy")
    deploy.create_application(applicationName="app", computePlatform="Server")
    deploy.create_application(applicationName="taken", computePlatform="Server")
    deploy.create_deployment_group(
        applicationName="app",
        deploymentGroupName="group",
        serviceRoleArn=f"arn:aws:iam::{account}:role/r",
        tags=[{"Key": "team", "Value": "blue"}],
    )
    motoapi.rename_codedeploy_application(account, REGION, "app", "renamed")
    assert "app" not in deploy.list_applications()["applications"]
    with pytest.raises(awsjson.AwsError, match="ApplicationAlreadyExists"):
        motoapi.rename_codedeploy_application(account, REGION, "renamed", "taken")
    rollback = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    changes = {"newDeploymentGroupName": "group2", "autoRollbackConfiguration": rollback}
    motoapi.update_codedeploy_group(account, REGION, "renamed", "group", changes)
    info = deploy.get_deployment_group(applicationName="renamed", deploymentGroupName="group2")
    assert info["deploymentGroupInfo"]["autoRollbackConfiguration"] == rollback
    arn = f"arn:aws:codedeploy:{REGION}:{account}:deploymentgroup:renamed/group2"
    assert deploy.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "blue"}]
    with pytest.raises(awsjson.AwsError, match="DeploymentGroupDoesNotExist"):
        motoapi.update_codedeploy_group(account, REGION, "renamed", "group", {})


def test_codedeploy_applications_and_groups_are_read(aws):
    account = account_of(aws)
    deploy = aws("codedeploy")
    deploy.create_application(applicationName="app", computePlatform="Server")
    deploy.create_application(applicationName="plain")
    role = f"arn:aws:iam::{account}:role/r"
    rollback = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    deploy.create_deployment_group(
        applicationName="app",
        deploymentGroupName="group",
        serviceRoleArn=role,
        autoRollbackConfiguration=rollback,
    )
    application = motoapi.codedeploy_application(account, REGION, "app")
    created = deploy.get_application(applicationName="app")["application"]["createTime"].timestamp()
    assert application == {
        "applicationId": deploy.get_application(applicationName="app")["application"]["applicationId"],
        "applicationName": "app",
        "createTime": pytest.approx(created, abs=0.002),  # each side rounds to the millisecond
        "computePlatform": "Server",
    }
    assert "computePlatform" not in motoapi.codedeploy_application(account, REGION, "plain")
    assert motoapi.codedeploy_application(account, REGION, "absent") is None
    group = motoapi.codedeploy_group(account, REGION, "app", "group")
    assert (group["applicationName"], group["deploymentGroupName"]) == ("app", "group")
    assert (group["serviceRoleArn"], group["autoRollbackConfiguration"]) == (role, rollback)
    assert (group["deploymentConfigName"], group["computePlatform"]) == (
        "CodeDeployDefault.OneAtATime",
        "Server",
    )
    assert (
        group["deploymentGroupId"]
        == deploy.get_deployment_group(applicationName="app", deploymentGroupName="group")[
            "deploymentGroupInfo"
        ]["deploymentGroupId"]
    )
    assert motoapi.codedeploy_group(account, REGION, "app", "absent") is None
    assert motoapi.codedeploy_group(account, REGION, "absent", "group") is None


def test_default_bus_rules_are_the_enabled_pattern_rules(aws):
    events = aws("events")
    pattern = {"source": ["aws.codecommit"], "detail-type": ["CodeCommit Repository State Change"]}
    events.put_rule(Name="on-push", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="on-push", Targets=[{"Id": "p", "Arn": "arn:aws:codepipeline:x"}])
    events.put_rule(Name="off", EventPattern=json.dumps(pattern), State="DISABLED")
    events.put_rule(Name="timer", ScheduleExpression="rate(5 minutes)")
    rules = motoapi.default_bus_rules(account_of(aws), REGION)
    assert [(arn.rpartition("/")[2], found) for arn, found, _ in rules] == [("on-push", pattern)]
    assert rules[0][2] == [{"Id": "p", "Arn": "arn:aws:codepipeline:x"}]


def test_resource_counts_load_no_backend(aws):
    aws("iam").create_role(RoleName="counted", AssumeRolePolicyDocument=json.dumps(TRUST))
    aws("s3").create_bucket(Bucket="counted", CreateBucketConfiguration={"LocationConstraint": REGION})
    counts = motoapi.resource_counts(account_of(aws), REGION)
    assert counts["iam_roles"] >= 1 and counts["s3_buckets"] == 1
    assert counts["ec2_instances"] == counts["codebuild_projects"] == counts["codedeploy_applications"] == 0
    loaded = {motoapi.backend_dict_name(b) for b in motoapi.backend_dicts_in_use()}
    assert not loaded & {"ec2", "codebuild", "codedeploy"}, loaded  # counting made none of them
    aws("ec2").run_instances(ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=2, MaxCount=2)
    assert motoapi.resource_counts(account_of(aws), REGION)["ec2_instances"] == 2
    assert motoapi.resource_counts(account_of(aws), "us-west-2")["ec2_instances"] == 0


EC2_ANSWERS = """
import json, sys
import boto3
from moto import mock_aws
from labhelpers.local import awsjson, motoapi

if sys.argv[1] == "lazy":
    motoapi.read_ec2_offerings_lazily()
answers = {}
with mock_aws():
    for region in ("ap-southeast-1", "us-west-2"):
        ec2 = boto3.client("ec2", region_name=region)
        for location in ("region", "availability-zone", "availability-zone-id"):
            pages = ec2.get_paginator("describe_instance_type_offerings").paginate(LocationType=location)
            answers[f"{region} {location}"] = [o for page in pages for o in page["InstanceTypeOfferings"]]
        answers[f"{region} t3"] = ec2.describe_instance_type_offerings(
            Filters=[{"Name": "instance-type", "Values": ["t3.micro", "t3.small"]}]
        )["InstanceTypeOfferings"]
        zone = f"{region}a"
        for placement in ({}, {"Placement": {"AvailabilityZone": zone}}):
            for kind in ("t3.micro", "t9.nano"):
                try:
                    made = ec2.run_instances(
                        ImageId="ami-12c6146b", InstanceType=kind, MinCount=1, MaxCount=1, **placement
                    )["Instances"][0]
                    answers[f"{region} {kind} {placement}"] = [made["InstanceType"], made["Placement"]]
                except Exception as error:
                    answers[f"{region} {kind} {placement}"] = str(error)
from moto.ec2.models.instance_types import INSTANCE_TYPE_OFFERINGS

answers["read"] = sorted(dict.keys(INSTANCE_TYPE_OFFERINGS["region"]))
print(json.dumps(answers, sort_keys=True))
"""


def test_ec2_offerings_read_lazily_answer_as_moto_does():
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env["MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION"] = "true"

    def answers(mode: str) -> dict:
        run = subprocess.run(
            [sys.executable, "-c", EC2_ANSWERS, mode], env=env, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    lazy, moto = answers("lazy"), answers("moto")
    assert lazy.pop("read") == ["ap-southeast-1", "us-west-2"]  # the Regions asked for, no other
    assert len(moto.pop("read")) > 20
    assert lazy == moto
    assert len(lazy["ap-southeast-1 region"]) > 100 and "t9.nano" in lazy["ap-southeast-1 t9.nano {}"]
    assert lazy["us-west-2 t3.micro {'Placement': {'AvailabilityZone': 'us-west-2a'}}"][0] == "t3.micro"
