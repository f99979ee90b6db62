"""CodeDeploy applications and deployment groups read as AWS shows them, on the real local endpoint with
boto3 and the aws CLI: the members AWS fills in, a group's last deployments, and S3 revisions of a versioned
bucket, whose version and eTag a deployment keeps and deploys."""

import json
import time

import pytest
from test_codedeploy import Lab, error_of, fetch, page_files

from labhelpers.local.archives import zip_dir
from labhelpers.local.codedeploy.instance import namespace_problem

pytestmark = pytest.mark.skipif(
    namespace_problem() is not None,
    reason=f"deployments' hooks use absolute paths, which need Linux namespaces: {namespace_problem()}",
)


@pytest.fixture
def lab(endpoint, unique, tmp_path) -> Lab:
    return Lab(endpoint, unique, tmp_path)


def test_applications_show_their_platform_and_no_github_link(lab, endpoint):
    plain = f"plain-{lab.unique}"
    lab.cd.create_application(applicationName=plain)  # Server unless told otherwise
    shown = json.loads(endpoint.aws("deploy", "get-application", "--application-name", plain).stdout)
    assert shown["application"]["linkedToGitHub"] is False
    assert shown["application"]["computePlatform"] == "Server"
    lab.cd.create_application(applicationName=f"fn-{lab.unique}", computePlatform="Lambda")
    infos = lab.cd.batch_get_applications(applicationNames=[lab.application, f"fn-{lab.unique}"])
    assert [
        (i["applicationName"], i["computePlatform"], i["linkedToGitHub"]) for i in infos["applicationsInfo"]
    ] == [
        (lab.application, "Server", False),
        (f"fn-{lab.unique}", "Lambda", False),
    ]
    code, message = error_of(lab.cd.batch_get_applications, applicationNames=[plain, "absent-app"])
    assert code == "ApplicationDoesNotExistException" and "absent-app" in message
    for operation, params in (("GetApplication", {}), ("BatchGetApplications", {"applicationNames": []})):
        status, answer = endpoint.call(f"CodeDeploy_20141006.{operation}", params, service="codedeploy")
        assert (status, answer["__type"]) == (400, "ApplicationNameRequiredException")


def test_a_group_shows_aws_defaults_and_its_last_deployments(lab, endpoint):
    group, _ = lab.group(deploymentStyle={"deploymentOption": "WITHOUT_TRAFFIC_CONTROL"})
    info = lab.cd.get_deployment_group(applicationName=lab.application, deploymentGroupName=group)[
        "deploymentGroupInfo"
    ]
    assert info["deploymentStyle"] == {
        "deploymentType": "IN_PLACE",
        "deploymentOption": "WITHOUT_TRAFFIC_CONTROL",
    }
    assert info["autoRollbackConfiguration"] == {"enabled": False}
    assert info["onPremisesTagSet"] == {"onPremisesTagSetList": []}
    assert (info["computePlatform"], info["outdatedInstancesStrategy"]) == ("Server", "UPDATE")
    assert not {"targetRevision", "lastAttemptedDeployment", "lastSuccessfulDeployment"} & set(info)

    good = lab.revision(page_files("good"))
    succeeded = lab.deploy(group, good)
    first = lab.wait(succeeded)
    bad = lab.revision(page_files("bad", validate="exit 3\n"))
    failed = lab.deploy(group, bad)
    second = lab.wait(failed)
    assert (first["status"], second["status"]) == ("Succeeded", "Failed")
    batch = json.loads(
        endpoint.aws(
            "deploy",
            "batch-get-deployment-groups",
            "--application-name",
            lab.application,
            "--deployment-group-names",
            group,
        ).stdout
    )
    (shown,) = batch["deploymentGroupsInfo"]
    assert shown["targetRevision"] == bad
    assert shown["lastAttemptedDeployment"] == {
        "deploymentId": failed,
        "status": "Failed",
        "createTime": pytest.approx(second["createTime"].timestamp()),
        "endTime": pytest.approx(second["completeTime"].timestamp()),
    }
    assert shown["lastSuccessfulDeployment"]["deploymentId"] == succeeded
    assert shown["lastSuccessfulDeployment"]["endTime"] == pytest.approx(first["completeTime"].timestamp())
    code, _ = error_of(
        lab.cd.get_deployment_group, applicationName=lab.application, deploymentGroupName="absent"
    )
    assert code == "DeploymentGroupDoesNotExistException"
    status, answer = endpoint.call(
        "CodeDeploy_20141006.GetDeploymentGroup", {"applicationName": lab.application}, service="codedeploy"
    )
    assert (status, answer["__type"]) == (400, "DeploymentGroupNameRequiredException")


def test_a_versioned_revision_keeps_its_version_and_etag_and_deploys_that_version(lab):
    lab.s3.put_bucket_versioning(Bucket=lab.bucket, VersioningConfiguration={"Status": "Enabled"})
    group, (instance,) = lab.group()
    key = f"app-{time.monotonic_ns()}.zip"
    uploaded = []
    for title in ("version one", "version two"):
        folder = lab.tmp_path / title.replace(" ", "-")
        for name, text in page_files(title).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
        uploaded.append(lab.s3.put_object(Bucket=lab.bucket, Key=key, Body=zip_dir(folder)))
    location = {
        "bucket": lab.bucket,
        "key": key,
        "bundleType": "zip",
        "version": uploaded[0]["VersionId"],
        "eTag": uploaded[0]["ETag"].strip('"'),
    }
    revision = {"revisionType": "S3", "s3Location": location}
    deployment = lab.deploy(group, revision)
    assert lab.wait(deployment)["status"] == "Succeeded"
    (info,) = lab.cd.batch_get_deployments(deploymentIds=[deployment])["deploymentsInfo"]
    assert info["revision"]["s3Location"] == location
    assert "version one" in fetch(f"{lab.endpoint.url}/_lab/instances/{instance}/")[2]

    stale = {**location, "eTag": uploaded[1]["ETag"].strip('"')}
    failed = lab.wait(lab.deploy(group, {"revisionType": "S3", "s3Location": stale}))
    assert failed["status"] == "Failed" and "eTag" in failed["errorInformation"]["message"]
    assert lab.cd.get_deployment(deploymentId=deployment)["deploymentInfo"]["revision"] == revision


def test_a_group_of_auto_scaling_groups_shows_them_as_aws_does(lab, endpoint):
    """Named at creation (as the CLI example does), they read back as AutoScalingGroup structures."""
    group = f"asg-{lab.unique}"
    endpoint.aws(
        "deploy", "create-deployment-group", "--application-name", lab.application,
        "--deployment-group-name", group, "--auto-scaling-groups", "CodeDeployDemo-ASG",
        "--service-role-arn", lab.role_arn,
    )  # fmt: skip
    info = lab.cd.get_deployment_group(applicationName=lab.application, deploymentGroupName=group)
    assert info["deploymentGroupInfo"]["autoScalingGroups"] == [{"name": "CodeDeployDemo-ASG"}]
    lab.cd.create_deployment_config(
        deploymentConfigName=f"cfg-{lab.unique}", minimumHealthyHosts={"type": "HOST_COUNT", "value": 0}
    )
    lab.cd.delete_deployment_config(deploymentConfigName=f"cfg-{lab.unique}")  # reads every group
