"""CodeDeploy on the real local endpoint: deployments to moto EC2 instances driven with boto3 and the
aws CLI, and the deployed page fetched over HTTP."""

import json
import os
import re
import shutil
import signal
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint

import labhelpers
from labhelpers.local import config, process
from labhelpers.local.archives import zip_dir
from labhelpers.local.codedeploy.instance import namespace_problem
from labhelpers.local.codedeploy.rollback import NO_LAST_GOOD_REVISION
from labhelpers.local.codedeploy.runner import IN_PLACE_EVENTS
from labhelpers.local.codedeploy.service import CodeDeployService
from labhelpers.roles import trust_policy

DEMO_APP = Path(labhelpers.__file__).parent / "demo_app"
DEMO_TITLE = "awscicd demo app — v2"
ENDED = ("Succeeded", "Failed", "Stopped")
Y2K = datetime(2000, 1, 1, tzinfo=UTC)
TRUST = json.dumps(trust_policy("codedeploy.amazonaws.com"))
pytestmark = pytest.mark.skipif(
    namespace_problem() is not None,
    reason=f"the demo app's hooks use absolute paths, which need Linux namespaces: {namespace_problem()}",
)


def appspec(hooks: dict[str, str] | None = None, *, timeout: int = 60, files: str = "index.html") -> str:
    """An AppSpec copying `files` to /var/www/html, with one script per event (scripts/<event>.sh)."""
    text = f"version: 0.0\nos: linux\nfiles:\n  - source: {files}\n    destination: /var/www/html\n"
    if hooks:
        text += "hooks:\n"
        for event in hooks:
            text += f"  {event}:\n    - location: scripts/{event}.sh\n      timeout: {timeout}\n"
    return text


class Lab:
    """One test's CodeDeploy setup on an endpoint: a role, a bucket, tagged instances, app and group."""

    def __init__(self, endpoint, unique: str, tmp_path: Path):
        self.unique, self.tmp_path = unique, tmp_path
        self.use(endpoint)
        self.bucket = f"revisions-{unique}"
        self.s3.create_bucket(
            Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION}
        )
        role = endpoint.client("iam").create_role(RoleName=f"cd-{unique}", AssumeRolePolicyDocument=TRUST)
        self.role_arn = role["Role"]["Arn"]
        self.application = f"app-{unique}"
        self.cd.create_application(applicationName=self.application, computePlatform="Server")
        self.groups = 0

    def use(self, endpoint) -> None:
        """Talk to `endpoint` (the same one after a restart)."""
        self.endpoint = endpoint
        self.ec2, self.s3, self.cd = (endpoint.client(s) for s in ("ec2", "s3", "codedeploy"))

    def launch(self, tags: dict[str, str]) -> str:
        image = self.ec2.describe_images()["Images"][0]["ImageId"]
        tag_list = [{"Key": k, "Value": v} for k, v in tags.items()]
        reservation = self.ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance", "Tags": tag_list}],
        )
        return reservation["Instances"][0]["InstanceId"]

    def group(self, instances: int = 1, **settings) -> tuple[str, list[str]]:
        """A deployment group matching `instances` new instances tagged Name=awscicd-demo-<unique>-<n>."""
        self.groups += 1
        name = f"dg-{self.unique}-{self.groups}"
        tag = f"awscicd-demo-{self.unique}-{self.groups}"
        ids = [self.launch({"Name": tag}) for _ in range(instances)]
        settings.setdefault("ec2TagFilters", [{"Key": "Name", "Value": tag, "Type": "KEY_AND_VALUE"}])
        self.cd.create_deployment_group(
            applicationName=self.application,
            deploymentGroupName=name,
            serviceRoleArn=self.role_arn,
            **settings,
        )
        return name, sorted(ids)

    def revision(self, files: dict[str, str] | None = None, *, folder: Path = DEMO_APP) -> dict:
        """`folder` (the demo app) or `files`, zipped and uploaded; the S3 revision."""
        if files is not None:
            folder = self.tmp_path / f"revision-{len(list(self.tmp_path.glob('revision-*')))}"
            for name, text in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text(text)
        key = f"{folder.name}-{time.monotonic_ns()}.zip"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=zip_dir(folder))
        return {"revisionType": "S3", "s3Location": {"bucket": self.bucket, "key": key, "bundleType": "zip"}}

    def deploy(self, group: str, revision: dict, **settings) -> str:
        answer = self.cd.create_deployment(
            applicationName=self.application, deploymentGroupName=group, revision=revision, **settings
        )
        return answer["deploymentId"]

    def wait(self, deployment_id: str, timeout: float = 60) -> dict:
        """Poll GetDeployment as a client does, until the deployment has ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.cd.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            if info["status"] in ENDED:
                return info
            time.sleep(0.1)
        raise AssertionError(f"{deployment_id} still {info['status']} after {timeout} s")

    def targets(self, deployment_id: str) -> list[str]:
        return self.cd.list_deployment_targets(deploymentId=deployment_id)["targetIds"]

    def events(self, deployment_id: str, instance_id: str) -> dict[str, dict]:
        answer = self.cd.batch_get_deployment_targets(deploymentId=deployment_id, targetIds=[instance_id])
        target = answer["deploymentTargets"][0]["instanceTarget"]
        return {event["lifecycleEventName"]: event for event in target["lifecycleEvents"]}

    def wait_for_event(self, deployment_id: str, instance_id: str, event: str, status: str = "InProgress"):
        deadline = time.monotonic() + 30
        while self.events(deployment_id, instance_id)[event]["status"] != status:
            assert time.monotonic() < deadline, f"{event} never became {status}"
            time.sleep(0.1)


@pytest.fixture
def lab(endpoint, unique, tmp_path) -> Lab:
    return Lab(endpoint, unique, tmp_path)


def error_of(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def fetch(url: str) -> tuple[int, str, str]:
    """Status, content type and text of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def overview(**counts) -> dict:
    return {"Pending": 0, "InProgress": 0, "Succeeded": 0, "Failed": 0, "Skipped": 0, "Ready": 0, **counts}


def test_demo_app_deploys_and_its_page_is_served(lab, endpoint):
    group, (instance,) = lab.group()
    revision = lab.revision()
    deployment = lab.deploy(group, revision, description="first deploy")
    assert re.fullmatch(r"d-[A-Z0-9]{9}", deployment)

    info = lab.wait(deployment)
    assert info["status"] == "Succeeded", info
    assert info["deploymentOverview"] == overview(Succeeded=1)
    assert info["createTime"] <= info["startTime"] <= info["completeTime"]
    assert (info["creator"], info["description"]) == ("user", "first deploy")
    assert info["deploymentConfigName"] == "CodeDeployDefault.OneAtATime"
    assert info["revision"] == revision and "errorInformation" not in info and "previousRevision" not in info

    assert lab.cd.list_deployment_targets(deploymentId=deployment)["targetIds"] == [instance]
    target = lab.cd.get_deployment_target(deploymentId=deployment, targetId=instance)["deploymentTarget"]
    assert target["deploymentTargetType"] == "InstanceTarget"
    assert (
        target["instanceTarget"]["targetArn"]
        == f"arn:aws:ec2:{config.REGION}:{config.ACCOUNT}:instance/{instance}"
    )
    events = target["instanceTarget"]["lifecycleEvents"]
    assert [e["lifecycleEventName"] for e in events] == list(IN_PLACE_EVENTS)
    assert {e["status"] for e in events} == {"Succeeded"}
    assert all(e["startTime"] <= e["endTime"] for e in events)
    assert events[2]["diagnostics"]["errorCode"] == "Success"

    status, content_type, page = fetch(lab.endpoint.url + f"/_lab/instances/{instance}/")
    assert (status, content_type) == (200, "text/html; charset=UTF-8")
    assert DEMO_TITLE in page
    assert fetch(f"{endpoint.url}/_lab/instances/{instance}/index.html")[2] == page
    assert fetch(f"{endpoint.url}/_lab/instances/{instance}/missing.css")[0] == 404
    health = json.loads(fetch(f"{endpoint.url}/_lab/health")[2])
    assert health["holds"]["codedeploy_deployments"] >= 1 and health["holds"]["local_instances"] >= 1

    # The same deployment through the legacy instance operations.
    assert lab.cd.list_deployment_instances(deploymentId=deployment)["instancesList"] == [instance]
    summary = lab.cd.get_deployment_instance(deploymentId=deployment, instanceId=instance)["instanceSummary"]
    assert summary["instanceId"].endswith(f":instance/{instance}") and summary["status"] == "Succeeded"
    batch = lab.cd.batch_get_deployment_instances(deploymentId=deployment, instanceIds=[instance, "i-0"])
    assert [s["status"] for s in batch["instancesSummary"]] == ["Succeeded"] and "i-0" in batch[
        "errorMessage"
    ]

    # A second version replaces the page; the first revision's ApplicationStop stops Apache first.
    shutil.copytree(DEMO_APP, lab.tmp_path / "v3")
    (lab.tmp_path / "v3" / "index.html").write_text((DEMO_APP / "index.html").read_text().replace("v2", "v3"))
    second = lab.deploy(group, lab.revision(folder=lab.tmp_path / "v3"))
    info = lab.wait(second)
    assert info["status"] == "Succeeded" and info["previousRevision"] == revision
    assert "awscicd demo app — v3" in fetch(f"{endpoint.url}/_lab/instances/{instance}/")[2]
    listed = lab.cd.list_deployments(applicationName=lab.application, deploymentGroupName=group)[
        "deployments"
    ]
    assert listed == [second, deployment]


def test_pages_are_served_only_while_the_web_server_runs_and_never_from_outside(lab, endpoint, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")
    group, (instance,) = lab.group()
    start = f"""yum install -y httpd
systemctl start httpd
mkdir -p /var/www/html/docs
echo docs > /var/www/html/docs/index.html
mkdir -p /var/www/html/no-index/index.html
ln -s /var/www/html/docs/index.html /var/www/html/alias.html
ln -s {secret} /var/www/html/leak.txt
ln -s {"../" * 40}{secret} /var/www/html/climb.txt
"""
    files = {"appspec.yml": appspec({"ApplicationStart": ""}), "index.html": "<h1>up</h1>\n"}
    assert (
        lab.wait(lab.deploy(group, lab.revision({**files, "scripts/ApplicationStart.sh": start})))["status"]
        == "Succeeded"
    )
    base = f"{endpoint.url}/_lab/instances/{instance}"
    assert fetch(f"{base}/")[::2] == (200, "<h1>up</h1>\n")
    assert fetch(f"{base}/docs/")[::2] == (200, "docs\n")
    with urllib.request.urlopen(f"{base}/docs", timeout=10) as response:  # redirected to docs/
        assert response.url.endswith("/docs/")
    assert fetch(base)[0] == 200
    assert fetch(f"{base}/alias.html")[::2] == (200, "docs\n")  # a link inside the instance is followed
    assert fetch(f"{base}/no-index/")[0] == 404
    for escape in ("leak.txt", "climb.txt", "..%2f..%2fetc/passwd", "%2e%2e/%2e%2e/.lab/commands.log"):
        status, _, text = fetch(f"{base}/{escape}")
        assert status in (400, 404) and "host secret" not in text, escape

    stop = {**files, "scripts/ApplicationStart.sh": "systemctl stop httpd\n"}
    assert lab.wait(lab.deploy(group, lab.revision(stop)))["status"] == "Succeeded"
    status, content_type, text = fetch(f"{base}/")
    assert (status, content_type) == (404, "text/plain; charset=UTF-8")
    assert "is not running" in text and "systemctl start httpd" in text

    status, _, text = fetch(f"{endpoint.url}/_lab/instances/i-00000000000000000/")
    assert status == 404 and "no local instance 'i-00000000000000000'" in text and instance in text


def test_a_failing_hook_fails_the_deployment_and_skips_the_rest(lab):
    group, (instance,) = lab.group()
    files = {
        "appspec.yml": appspec({"BeforeInstall": "", "ApplicationStart": ""}),
        "index.html": "x\n",
        "scripts/BeforeInstall.sh": "echo checking the host\necho 'no disk space' >&2\nexit 3\n",
        "scripts/ApplicationStart.sh": "true\n",
    }
    deployment = lab.deploy(group, lab.revision(files))
    info = lab.wait(deployment)
    assert info["status"] == "Failed"
    assert info["errorInformation"]["code"] == "HEALTH_CONSTRAINTS"
    assert info["errorInformation"]["message"].endswith(
        f"First failure: {instance}, BeforeInstall: Script at specified location: "
        "scripts/BeforeInstall.sh failed with exit code 3"
    )
    assert info["deploymentOverview"] == overview(Failed=1)
    events = lab.events(deployment, instance)
    assert [events[n]["status"] for n in IN_PLACE_EVENTS] == ["Succeeded"] * 2 + ["Failed"] + ["Skipped"] * 4
    diagnostics = events["BeforeInstall"]["diagnostics"]
    assert diagnostics["errorCode"] == "ScriptFailed"
    assert diagnostics["scriptName"] == "scripts/BeforeInstall.sh"
    assert "failed with exit code 3" in diagnostics["message"]
    assert "checking the host" in diagnostics["logTail"] and "no disk space" in diagnostics["logTail"]
    assert "startTime" not in events["ApplicationStart"] and "endTime" in events["ApplicationStart"]
    assert lab.cd.list_deployment_targets(
        deploymentId=deployment, targetFilters={"TargetStatus": ["Failed"]}
    )["targetIds"] == [instance]


def test_ignore_application_stop_failures_lets_a_broken_stop_script_pass(lab):
    """ApplicationStop runs the script of the last successful revision, here one that fails."""
    group, (instance,) = lab.group()
    files = {"appspec.yml": appspec({"ApplicationStop": ""}), "index.html": "x\n"}
    broken_stop = lab.revision({**files, "scripts/ApplicationStop.sh": "exit 7\n"})
    assert lab.wait(lab.deploy(group, broken_stop))["status"] == "Succeeded"  # nothing to stop yet
    plain = lab.revision({"appspec.yml": appspec(), "index.html": "y\n"})
    refused = lab.deploy(group, plain)
    assert lab.wait(refused)["status"] == "Failed"
    assert lab.events(refused, instance)["ApplicationStop"]["diagnostics"]["errorCode"] == "ScriptFailed"
    ignored = lab.deploy(group, plain, ignoreApplicationStopFailures=True)
    info = lab.wait(ignored)
    assert info["status"] == "Succeeded" and info["ignoreApplicationStopFailures"] is True
    assert lab.events(ignored, instance)["ApplicationStop"]["status"] == "Succeeded"


def test_a_hook_that_runs_too_long_times_out(lab):
    group, (instance,) = lab.group()
    files = {"appspec.yml": appspec({"AfterInstall": ""}, timeout=1), "index.html": "x\n"}
    started = time.monotonic()
    deployment = lab.deploy(group, lab.revision({**files, "scripts/AfterInstall.sh": "sleep 60\n"}))
    assert lab.wait(deployment)["status"] == "Failed"
    assert time.monotonic() - started < 20
    diagnostics = lab.events(deployment, instance)["AfterInstall"]["diagnostics"]
    assert diagnostics["errorCode"] == "ScriptTimedOut"
    assert "failed to complete in 1 seconds" in diagnostics["message"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"index.html": "x\n"}, "has no appspec.yml at its root"),
        (
            {"appspec.yml": appspec(files="../../etc/passwd"), "index.html": "x\n"},
            "climbs out of the revision",
        ),
        (
            {"appspec.yml": appspec().replace("/var/www/html", "{{ web_root }}/html"), "index.html": "x\n"},
            "line 5, column 32: this is not valid YAML. The text still holds {{placeholder}} templates",
        ),
    ],
    ids=["missing-appspec", "appspec-escaping-the-revision", "yaml-error"],
)
def test_a_revision_that_cannot_be_deployed_fails_with_the_reason(lab, files, expected):
    group, (instance,) = lab.group()
    deployment = lab.deploy(group, lab.revision(files))
    assert lab.wait(deployment)["status"] == "Failed"
    events = lab.events(deployment, instance)
    assert events["DownloadBundle"]["status"] == "Failed"
    assert "appspec.yml" in events["DownloadBundle"]["diagnostics"]["message"]
    assert expected in events["DownloadBundle"]["diagnostics"]["message"]
    assert (
        events["DownloadBundle"]["diagnostics"]["message"]
        in lab.wait(deployment)["errorInformation"]["message"]
    )
    assert {events[n]["status"] for n in IN_PLACE_EVENTS if n != "DownloadBundle"} == {"Skipped"}


def test_what_codedeploy_ignores_in_an_appspec_is_a_warning_in_the_status_messages(lab):
    """The agent ignores unknown keys and hook names, and traffic hooks without a load balancer: the
    deployment succeeds as on AWS, and GetDeployment says what was ignored."""
    group, (instance,) = lab.group()
    text = appspec({"Before Install": "", "BeforeAllowTraffic": ""}) + "permision: []\n"
    deployment = lab.deploy(group, lab.revision({"appspec.yml": text, "index.html": "x\n"}))
    info = lab.wait(deployment)

    assert info["status"] == "Succeeded"
    assert info["deploymentStatusMessages"] == [
        "Warning: appspec.yml line 13: the file has the key 'permision' (did you mean permissions?), "
        "which CodeDeploy ignores",
        "Warning: appspec.yml line 7: Before Install is not an EC2/on-premises lifecycle event "
        "(did you mean BeforeInstall?); CodeDeploy never runs its scripts",
        "Warning: appspec.yml: BeforeAllowTraffic hooks run only in deployments with traffic control "
        "(a load balancer); this deployment has none, so their scripts never run",
    ]
    assert set(e["status"] for e in lab.events(deployment, instance).values()) == {"Succeeded"}


def test_a_revision_missing_from_s3_fails_at_download(lab):
    group, (instance,) = lab.group()
    revision = {
        "revisionType": "S3",
        "s3Location": {"bucket": lab.bucket, "key": "nope.zip", "bundleType": "zip"},
    }
    deployment = lab.deploy(group, revision)
    assert lab.wait(deployment)["status"] == "Failed"
    assert "NoSuchKey" in lab.events(deployment, instance)["DownloadBundle"]["diagnostics"]["message"]


def test_stop_deployment_kills_the_running_hook(lab):
    group, (instance,) = lab.group()
    files = {"appspec.yml": appspec({"BeforeInstall": ""}), "index.html": "x\n"}
    deployment = lab.deploy(group, lab.revision({**files, "scripts/BeforeInstall.sh": "sleep 120\n"}))
    lab.wait_for_event(deployment, instance, "BeforeInstall")
    code, message = error_of(lab.deploy, group=group, revision=lab.revision(files))
    assert code == "DeploymentLimitExceededException" and deployment in message

    answer = lab.cd.stop_deployment(deploymentId=deployment)
    assert (answer["status"], answer["statusMessage"]) == ("Pending", "Stopping Active Deployment")
    info = lab.wait(deployment, timeout=20)
    assert info["status"] == "Stopped" and info["errorInformation"]["code"] == "MANUAL_STOP"
    events = lab.events(deployment, instance)
    assert events["BeforeInstall"]["status"] == "Failed" and events["Install"]["status"] == "Skipped"
    code, _ = error_of(lab.cd.stop_deployment, deploymentId=deployment)
    assert code == "DeploymentAlreadyCompletedException"


def test_a_group_without_matching_instances_fails_with_no_instances(lab):
    group, _ = lab.group(instances=0)
    deployment = lab.deploy(group, lab.revision())
    info = lab.wait(deployment)
    assert info["status"] == "Failed" and info["errorInformation"]["code"] == "NO_INSTANCES"
    assert "no instances were found for your deployment group" in info["errorInformation"]["message"]
    assert info["deploymentOverview"] == overview()
    assert lab.targets(deployment) == []


def test_tag_sets_key_only_and_value_only_filters_choose_the_instances(lab):
    u = lab.unique
    both = lab.launch({"env": f"lab-{u}", f"role-{u}": "web"})
    env_only = lab.launch({"env": f"lab-{u}"})
    stopped = lab.launch({"env": f"lab-{u}", f"role-{u}": "web"})
    lab.ec2.stop_instances(InstanceIds=[stopped])
    tag_set = [
        [{"Key": "env", "Value": f"lab-{u}", "Type": "KEY_AND_VALUE"}],
        [{"Key": f"role-{u}", "Type": "KEY_ONLY"}],
    ]
    files = {"appspec.yml": appspec(), "index.html": "x\n"}
    group, _ = lab.group(instances=0, ec2TagFilters=[], ec2TagSet={"ec2TagSetList": tag_set})
    deployment = lab.deploy(group, lab.revision(files))
    assert lab.targets(deployment) == [both]
    assert lab.wait(deployment)["status"] == "Succeeded"
    group, _ = lab.group(instances=0, ec2TagFilters=[{"Value": f"lab-{u}", "Type": "VALUE_ONLY"}])
    deployment = lab.deploy(
        group, lab.revision(files), fileExistsBehavior="OVERWRITE"
    )  # another group's file
    assert lab.targets(deployment) == sorted([both, env_only])
    assert lab.wait(deployment)["status"] == "Succeeded"


def test_deployment_configs_decide_batches_and_outcome(lab):
    failing = {
        "appspec.yml": appspec({"BeforeInstall": ""}),
        "index.html": "x\n",
        "scripts/BeforeInstall.sh": "exit 1\n",
    }
    group, _ = lab.group(instances=2)
    one_at_a_time = lab.wait(lab.deploy(group, lab.revision(failing)))
    assert one_at_a_time["status"] == "Failed"
    assert one_at_a_time["deploymentOverview"] == overview(
        Failed=1, Skipped=1
    )  # stopped at the first failure

    group, _ = lab.group(instances=2, deploymentConfigName="CodeDeployDefault.AllAtOnce")
    all_at_once = lab.wait(lab.deploy(group, lab.revision(failing)))
    assert all_at_once["status"] == "Failed" and all_at_once["deploymentOverview"] == overview(Failed=2)

    slow = {
        "appspec.yml": appspec({"BeforeInstall": ""}),
        "index.html": "x\n",
        "scripts/BeforeInstall.sh": "sleep 1\n",
    }
    deployment = lab.deploy(group, lab.revision(slow))
    assert lab.wait(deployment)["status"] == "Succeeded"
    first, second = (lab.events(deployment, i)["BeforeInstall"] for i in lab.targets(deployment))
    assert first["startTime"] < second["endTime"] and second["startTime"] < first["endTime"]  # in parallel

    code, _ = error_of(
        lab.deploy, group=group, revision=lab.revision(slow), deploymentConfigName="Custom.Nope"
    )
    assert code == "DeploymentConfigDoesNotExistException"
    config_info = lab.cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.HalfAtATime")
    assert config_info["deploymentConfigInfo"]["minimumHealthyHosts"] == {
        "type": "FLEET_PERCENT",
        "value": 50,
    }
    assert "CodeDeployDefault.AllAtOnce" in lab.cd.list_deployment_configs()["deploymentConfigsList"]


def test_deployments_to_one_instance_wait_for_each_other(lab):
    shared = lab.launch({"Name": f"shared-{lab.unique}"})
    matching = [{"Key": "Name", "Value": f"shared-{lab.unique}", "Type": "KEY_AND_VALUE"}]
    first_group, _ = lab.group(instances=0, ec2TagFilters=matching)
    second_group, _ = lab.group(instances=0, ec2TagFilters=matching)
    files = {
        "appspec.yml": appspec({"BeforeInstall": ""}),
        "index.html": "x\n",
        "scripts/BeforeInstall.sh": "sleep 1\n",
    }
    first = lab.deploy(first_group, lab.revision(files))
    lab.wait_for_event(first, shared, "BeforeInstall")
    second = lab.deploy(second_group, lab.revision(files), fileExistsBehavior="OVERWRITE")
    assert lab.cd.get_deployment(deploymentId=second)["deploymentInfo"]["status"] in ("Created", "Queued")
    first_info, second_info = lab.wait(first), lab.wait(second)
    assert (first_info["status"], second_info["status"]) == ("Succeeded", "Succeeded")
    assert second_info["startTime"] >= first_info["completeTime"]


def test_on_premises_instances_register_tag_deploy_and_deregister(lab):
    name = f"onprem-{lab.unique}"
    user = f"arn:aws:iam::{config.ACCOUNT}:user/{name}"
    lab.cd.register_on_premises_instance(instanceName=name, iamUserArn=user)
    code, _ = error_of(lab.cd.register_on_premises_instance, instanceName=name, iamUserArn=user)
    assert code == "InstanceNameAlreadyRegisteredException"
    lab.cd.add_tags_to_on_premises_instances(
        instanceNames=[name], tags=[{"Key": "site", "Value": lab.unique}]
    )
    info = lab.cd.get_on_premises_instance(instanceName=name)["instanceInfo"]
    assert info["iamUserArn"] == user and info["tags"] == [{"Key": "site", "Value": lab.unique}]
    site = [{"Key": "site", "Value": lab.unique, "Type": "KEY_AND_VALUE"}]
    assert lab.cd.list_on_premises_instances(tagFilters=site)["instanceNames"] == [name]

    group, _ = lab.group(instances=0, ec2TagFilters=[], onPremisesInstanceTagFilters=site)
    deployment = lab.deploy(group, lab.revision({"appspec.yml": appspec(), "index.html": "x\n"}))
    assert lab.wait(deployment)["status"] == "Succeeded"
    target = lab.cd.get_deployment_target(deploymentId=deployment, targetId=name)["deploymentTarget"]
    assert target["instanceTarget"]["targetArn"] == info["instanceArn"]

    assert lab.cd.batch_get_on_premises_instances(instanceNames=[name, "other"])["instanceInfos"] == [info]
    lab.cd.remove_tags_from_on_premises_instances(instanceNames=[name], tags=[{"Key": "site"}])
    assert lab.cd.list_on_premises_instances(tagFilters=site)["instanceNames"] == []
    lab.cd.add_tags_to_on_premises_instances(
        instanceNames=[name], tags=[{"Key": "site", "Value": lab.unique}]
    )
    lab.cd.deregister_on_premises_instance(instanceName=name)
    assert name in lab.cd.list_on_premises_instances(registrationStatus="Deregistered")["instanceNames"]
    assert name not in lab.cd.list_on_premises_instances(registrationStatus="Registered")["instanceNames"]
    info = lab.wait(lab.deploy(group, lab.revision({"appspec.yml": appspec(), "index.html": "x\n"})))
    assert info["errorInformation"]["code"] == "NO_INSTANCES"


def test_requests_codedeploy_refuses(lab, endpoint):
    group, _ = lab.group(instances=0)
    github = {"revisionType": "GitHub", "gitHubLocation": {"repository": "me/app", "commitId": "a" * 40}}
    code, message = error_of(lab.deploy, group=group, revision=github)
    assert code == "InvalidRevisionException" and "GitHub" in message and "S3" in message
    s3 = lab.revision({"appspec.yml": appspec(), "index.html": "x\n"})
    tar = {"revisionType": "S3", "s3Location": {**s3["s3Location"], "bundleType": "tgz"}}
    assert error_of(lab.deploy, group=group, revision=tar)[0] == "InvalidRevisionException"
    assert error_of(lab.deploy, group=group, revision=s3, fileExistsBehavior="KEEP")[0] == (
        "InvalidFileExistsBehaviorException"
    )
    assert (
        error_of(lab.deploy, group="no-such-group", revision=s3)[0] == "DeploymentGroupDoesNotExistException"
    )
    code, _ = error_of(
        lab.cd.create_deployment, applicationName="no-such-app", deploymentGroupName=group, revision=s3
    )
    assert code == "ApplicationDoesNotExistException"
    assert error_of(lab.cd.get_deployment, deploymentId="d-NOTHERE00")[0] == "DeploymentDoesNotExistException"
    assert error_of(lab.cd.list_deployments, applicationName=lab.application)[0] == (
        "DeploymentGroupNameRequiredException"
    )
    assert error_of(lab.cd.list_deployments, nextToken="garbage")[0] == "InvalidNextTokenException"

    deployment = lab.deploy(group, s3)
    elsewhere = boto3.client(
        "codedeploy",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
    )
    assert error_of(elsewhere.get_deployment, deploymentId=deployment)[0] == "DeploymentDoesNotExistException"


def test_a_malformed_deployment_id_is_invalid_and_a_well_formed_unknown_one_does_not_exist(lab):
    """A deployment id is d- and 9 upper-case letters or digits; anything else is InvalidDeploymentId."""
    cd = lab.cd
    for bad in ("nope", "d-abc123def", "d-ABC123DEF0", "d-ABC12"):
        with pytest.raises(ClientError) as caught:
            cd.get_deployment(deploymentId=bad)
        error = caught.value.response
        assert error["Error"]["Code"] == "InvalidDeploymentIdException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert "deploymentId" in error["Error"]["Message"]
    calls = [
        (cd.stop_deployment, {}),
        (cd.get_deployment_instance, {"instanceId": "i-0123456789abcdef0"}),
        (cd.batch_get_deployment_instances, {"instanceIds": ["i-0123456789abcdef0"]}),
        (cd.list_deployment_instances, {}),
        (cd.list_deployment_targets, {}),
        (cd.get_deployment_target, {"targetId": "i-0123456789abcdef0"}),
        (cd.batch_get_deployment_targets, {"targetIds": ["i-0123456789abcdef0"]}),
    ]
    for call, extra in calls:
        assert error_of(call, deploymentId="nope", **extra)[0] == "InvalidDeploymentIdException", call
        unknown = error_of(call, deploymentId="d-NOTHERE00", **extra)[0]
        assert unknown == "DeploymentDoesNotExistException", call
    assert error_of(cd.batch_get_deployments, deploymentIds=["nope"])[0] == "InvalidDeploymentIdException"
    assert cd.batch_get_deployments(deploymentIds=["d-NOTHERE00"])["deploymentsInfo"] == []


def test_list_deployments_filters_and_pages(lab):
    group, _ = lab.group(instances=0)
    revision = lab.revision({"appspec.yml": appspec(), "index.html": "x\n"})
    created = [lab.deploy(group, revision) for _ in range(101)]  # no instances: each fails at once
    pages = lab.cd.get_paginator("list_deployments").paginate(
        applicationName=lab.application, deploymentGroupName=group
    )
    sizes, listed = [], []
    for page in pages:
        sizes.append(len(page["deployments"]))
        listed += page["deployments"]
    assert sizes == [100, 1] and listed == created[::-1]
    failed = lab.cd.list_deployments(
        applicationName=lab.application, deploymentGroupName=group, includeOnlyStatuses=["Succeeded"]
    )
    assert failed["deployments"] == []
    for time_range, expected in (({"start": Y2K}, 100), ({"end": Y2K}, 0)):  # 100: the first page
        answer = lab.cd.list_deployments(
            applicationName=lab.application, deploymentGroupName=group, createTimeRange=time_range
        )
        assert len(answer["deployments"]) == expected
    batch = lab.cd.batch_get_deployments(deploymentIds=created[:3] + ["d-NOTHERE00"])["deploymentsInfo"]
    assert [i["deploymentId"] for i in batch] == created[:3]


def test_the_aws_cli_creates_and_reads_a_deployment(lab, endpoint):
    group, (instance,) = lab.group()
    location = lab.revision()["s3Location"]
    result = endpoint.aws(
        "deploy",
        "create-deployment",
        "--application-name",
        lab.application,
        "--deployment-group-name",
        group,
        "--s3-location",
        f"bucket={location['bucket']},key={location['key']},bundleType=zip",
        "--description",
        "from the CLI",
    )
    deployment = json.loads(result.stdout)["deploymentId"]
    lab.wait(deployment)
    status = endpoint.aws(
        "deploy",
        "get-deployment",
        "--deployment-id",
        deployment,
        "--query",
        "deploymentInfo.status",
        "--output",
        "text",
    )
    assert status.stdout.strip() == "Succeeded"
    targets = json.loads(
        endpoint.aws("deploy", "list-deployment-targets", "--deployment-id", deployment).stdout
    )
    assert targets["targetIds"] == [instance]
    listed = json.loads(
        endpoint.aws(
            "deploy",
            "list-deployments",
            "--application-name",
            lab.application,
            "--deployment-group-name",
            group,
        ).stdout
    )
    assert listed["deployments"] == [deployment]


def test_the_engine_api_starts_and_waits_in_process(lab, endpoint, tmp_path):
    """The pipeline engine's calls, on a service of the test's own that speaks to the endpoint."""
    service = CodeDeployService(endpoint.context(tmp_path / "home"))
    group, (instance,) = lab.group()
    files = {"appspec.yml": appspec({"ValidateService": ""}), "index.html": "x\n"}
    files["scripts/ValidateService.sh"] = (
        'echo "$BUNDLE_BUCKET/$BUNDLE_KEY $APPLICATION_NAME $AWS_ENDPOINT_URL"\n'
    )
    revision = lab.revision(files)
    deployment = service.start_deployment(lab.application, group, revision, region=config.REGION)
    info = service.wait(deployment, timeout=60)
    assert info["status"] == "Succeeded" and info["creator"] == "user"  # no CodePipeline creator in AWS
    assert service.instance_ids(deployment) == [instance]
    assert service.page_url(instance) == f"{endpoint.url}/_lab/instances/{instance}/"
    record = json.loads((tmp_path / "home/state/codedeploy/deployments" / f"{deployment}.json").read_text())
    tail = record["targets"][0]["lifecycleEvents"][-1]["diagnostics"]["logTail"]
    location = revision["s3Location"]
    assert f"{location['bucket']}/{location['key']} {lab.application} {endpoint.url}" in tail
    again = service.start_deployment(lab.application, group, lab.revision(files), region=config.REGION)
    with pytest.raises(TimeoutError):
        service.wait(again, timeout=0)
    assert service.wait(again)["status"] == "Succeeded"


def test_a_hook_gets_no_credentials_and_its_api_calls_are_refused(lab, endpoint):
    group, (instance,) = lab.group()
    files = {"appspec.yml": appspec({"ValidateService": ""}), "index.html": "x\n"}
    files["scripts/ValidateService.sh"] = (
        'echo "keys: ${AWS_ACCESS_KEY_ID:-none} ${AWS_SECRET_ACCESS_KEY:-none}"\n'
        "echo \"api: $(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' "
        "-H 'X-Amz-Target: CodeBuild_20161006.ListProjects' -H 'Content-Type: application/x-amz-json-1.1' "
        '"$AWS_ENDPOINT_URL/")"\n'
    )
    deployment = lab.deploy(group, lab.revision(files))
    assert lab.wait(deployment)["status"] == "Succeeded"
    events = lab.cd.get_deployment_target(deploymentId=deployment, targetId=instance)["deploymentTarget"][
        "instanceTarget"
    ]["lifecycleEvents"]
    tail = next(e for e in events if e["lifecycleEventName"] == "ValidateService")["diagnostics"]["logTail"]
    assert "keys: none none" in tail and "api: 403" in tail, tail


def _hooks_of(deployment_id: str) -> list[int]:
    """Processes still running a hook of the deployment."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and f"DEPLOYMENT_ID={deployment_id}".encode() in Path(
                entry.path, "environ"
            ).read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def test_a_restart_keeps_pages_and_fails_the_deployment_it_interrupted(fresh_endpoint, unique, tmp_path):
    lab = Lab(fresh_endpoint, unique, tmp_path)
    group, (instance,) = lab.group()
    assert lab.wait(lab.deploy(group, lab.revision()))["status"] == "Succeeded"

    process.stop(fresh_endpoint.layout)
    endpoint = start_endpoint(fresh_endpoint.layout.root)
    page = f"{endpoint.url}/_lab/instances/{instance}/"
    assert DEMO_TITLE in fetch(page)[2]

    lab.use(endpoint)
    files = {
        "appspec.yml": appspec({"BeforeInstall": ""}),
        "index.html": "x\n",
        "scripts/BeforeInstall.sh": "sleep 300\n",
    }
    interrupted = lab.deploy(group, lab.revision(files))
    lab.wait_for_event(interrupted, instance, "BeforeInstall")
    assert _hooks_of(interrupted)

    os.kill(endpoint.pid, signal.SIGKILL)  # a crash: nothing is saved or ended on the way out
    assert _hooks_of(interrupted), "the hook outlives an endpoint that died"
    endpoint = start_endpoint(endpoint.layout.root)
    lab.use(endpoint)
    info = lab.cd.get_deployment(deploymentId=interrupted)["deploymentInfo"]
    assert info["status"] == "Failed" and "local lab endpoint stopped" in info["errorInformation"]["message"]
    events = lab.events(interrupted, instance)
    assert events["BeforeInstall"]["status"] == "Failed" and events["Install"]["status"] == "Skipped"
    assert _hooks_of(interrupted) == []

    info = lab.wait(lab.deploy(group, lab.revision()))
    assert info["status"] == "Succeeded"
    assert DEMO_TITLE in fetch(f"{endpoint.url}/_lab/instances/{instance}/")[2]

    stopped = lab.deploy(group, lab.revision(files))
    lab.wait_for_event(stopped, instance, "BeforeInstall")
    process.stop(endpoint.layout)
    assert _hooks_of(stopped) == [], "a clean stop ends the hooks it was running"


def test_delete_group_and_application_are_idempotent_and_survive_a_restart(fresh_endpoint, unique):
    from conftest import start_endpoint

    codedeploy, iam = fresh_endpoint.client("codedeploy"), fresh_endpoint.client("iam")
    role = iam.create_role(RoleName=f"cd-{unique}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    codedeploy.create_application(applicationName="gone", computePlatform="Server")
    codedeploy.create_deployment_group(applicationName="gone", deploymentGroupName="dg", serviceRoleArn=role)
    for _ in range(2):  # the second delete finds nothing and still succeeds
        deleted = codedeploy.delete_deployment_group(applicationName="gone", deploymentGroupName="dg")
        assert deleted["hooksNotCleanedUp"] == []
    with pytest.raises(codedeploy.exceptions.DeploymentGroupDoesNotExistException):
        codedeploy.get_deployment_group(applicationName="gone", deploymentGroupName="dg")
    codedeploy.delete_application(applicationName="gone")
    codedeploy.delete_application(applicationName="gone")
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root).client("codedeploy")
    assert "gone" not in again.list_applications()["applications"]


# --- application revisions, group and application updates, automatic rollback -----------------------------


def page_files(title: str, validate: str = "exit 0\n") -> dict[str, str]:
    """A revision whose page says `title` (httpd serves it) and whose ValidateService runs `validate`."""
    return {
        "appspec.yml": appspec({"ApplicationStart": "", "ValidateService": ""}),
        "index.html": f"<h1>{title}</h1>\n",
        "scripts/ApplicationStart.sh": "yum install -y httpd\nsystemctl start httpd\n",
        "scripts/ValidateService.sh": validate,
    }


def test_revisions_are_registered_used_listed_and_read(lab):
    group, _ = lab.group()
    registered = lab.revision(page_files("registered"))
    lab.cd.register_application_revision(
        applicationName=lab.application, revision=registered, description="registered, never deployed"
    )
    deployed = lab.revision(page_files("deployed"))
    assert lab.wait(lab.deploy(group, deployed))["status"] == "Succeeded"

    got = lab.cd.get_application_revision(applicationName=lab.application, revision=registered)
    assert got["applicationName"] == lab.application and got["revision"] == registered
    assert got["revisionInfo"]["description"] == "registered, never deployed"
    assert got["revisionInfo"]["deploymentGroups"] == []
    assert "firstUsedTime" not in got["revisionInfo"] and got["revisionInfo"]["registerTime"]
    used = lab.cd.get_application_revision(applicationName=lab.application, revision=deployed)["revisionInfo"]
    assert used["deploymentGroups"] == [group]
    assert used["registerTime"] <= used["firstUsedTime"] <= used["lastUsedTime"]
    assert used["description"].startswith("Application revision registered by Deployment ID: d-")

    def listed(**filters) -> list[dict]:
        return lab.cd.list_application_revisions(applicationName=lab.application, **filters)["revisions"]

    assert listed() == [registered, deployed]
    assert listed(sortBy="registerTime", sortOrder="descending") == [deployed, registered]
    assert listed(deployed="include") == [deployed] and listed(deployed="exclude") == [registered]
    key = deployed["s3Location"]["key"]
    assert listed(s3Bucket=lab.bucket, s3KeyPrefix=key) == [deployed]
    assert listed(s3Bucket="other-bucket") == []

    missing = {"revisionType": "S3", "s3Location": {**deployed["s3Location"], "key": "absent.zip"}}
    batch = lab.cd.batch_get_application_revisions(
        applicationName=lab.application, revisions=[deployed, missing]
    )
    assert [r["revisionLocation"] for r in batch["revisions"]] == [deployed]
    assert batch["revisions"][0]["genericRevisionInfo"]["deploymentGroups"] == [group]
    assert "absent.zip" in batch["errorMessage"]

    app = {"applicationName": lab.application}
    assert error_of(lab.cd.get_application_revision, **app, revision=missing)[0] == (
        "RevisionDoesNotExistException"
    )
    assert error_of(lab.cd.list_application_revisions, applicationName="no-such-app")[0] == (
        "ApplicationDoesNotExistException"
    )
    assert error_of(lab.cd.register_application_revision, applicationName="no-such-app", revision=deployed)[
        0
    ] == ("ApplicationDoesNotExistException")
    for bad, code in (
        ({"sortBy": "name"}, "InvalidSortByException"),
        ({"sortOrder": "up"}, "InvalidSortOrderException"),
        ({"deployed": "maybe"}, "InvalidDeployedStateFilterException"),
        ({"s3KeyPrefix": "x"}, "BucketNameFilterRequiredException"),
    ):
        code_got, message = error_of(lab.cd.list_application_revisions, **app, **bad)
        assert code_got == code and next(iter(bad)) in message
    no_key = {"revisionType": "S3", "s3Location": {"bucket": lab.bucket}}
    code, message = error_of(lab.cd.register_application_revision, **app, revision=no_key)
    assert code == "InvalidRevisionException" and "s3Location.key" in message


def test_aws_deploy_push_registers_a_revision_the_cli_then_deploys(lab, endpoint, tmp_path):
    group, (instance,) = lab.group()
    source = tmp_path / "pushed"
    for name, text in page_files("pushed with the aws CLI").items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    pushed = endpoint.aws(
        "deploy",
        "push",
        "--application-name",
        lab.application,
        "--s3-location",
        f"s3://{lab.bucket}/pushed.zip",
        "--source",
        str(source),
        "--description",
        "pushed",
    )
    location = re.search(r"--s3-location (\S+)", pushed.stdout).group(1)
    assert location.startswith(f"bucket={lab.bucket},key=pushed.zip,bundleType=zip,eTag="), pushed.stdout

    listed = json.loads(
        endpoint.aws("deploy", "list-application-revisions", "--application-name", lab.application).stdout
    )
    (revision,) = listed["revisions"]
    assert revision["s3Location"]["key"] == "pushed.zip" and revision["s3Location"]["eTag"]
    info = json.loads(
        endpoint.aws(
            "deploy",
            "get-application-revision",
            "--application-name",
            lab.application,
            "--s3-location",
            location,
        ).stdout
    )
    assert info["revisionInfo"]["description"] == "pushed"

    created = endpoint.aws(
        "deploy",
        "create-deployment",
        "--application-name",
        lab.application,
        "--deployment-group-name",
        group,
        "--s3-location",
        location,
    )
    deployment = json.loads(created.stdout)["deploymentId"]
    assert lab.wait(deployment)["status"] == "Succeeded"
    assert "pushed with the aws CLI" in fetch(f"{endpoint.url}/_lab/instances/{instance}/")[2]
    used = lab.cd.get_application_revision(applicationName=lab.application, revision=revision)
    assert used["revisionInfo"]["deploymentGroups"] == [group]


def test_groups_are_updated_and_batch_read_and_applications_renamed(lab, endpoint):
    group, _ = lab.group()
    other, _ = lab.group()
    rollback = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    lab.cd.update_deployment_group(
        applicationName=lab.application,
        currentDeploymentGroupName=group,
        autoRollbackConfiguration=rollback,
        deploymentConfigName="CodeDeployDefault.AllAtOnce",
    )
    batch = lab.cd.batch_get_deployment_groups(
        applicationName=lab.application, deploymentGroupNames=[group, other, "absent"]
    )
    infos = {g["deploymentGroupName"]: g for g in batch["deploymentGroupsInfo"]}
    assert sorted(infos) == sorted([group, other]) and "absent" in batch["errorMessage"]
    assert infos[group]["autoRollbackConfiguration"] == rollback
    assert infos[group]["deploymentConfigName"] == "CodeDeployDefault.AllAtOnce"
    found = lab.cd.batch_get_deployment_groups(applicationName=lab.application, deploymentGroupNames=[other])
    assert found["errorMessage"] == ""

    revision = lab.revision(page_files("before the renames"))
    assert lab.wait(lab.deploy(group, revision))["status"] == "Succeeded"
    endpoint.aws(
        "deploy",
        "update-deployment-group",
        "--application-name",
        lab.application,
        "--current-deployment-group-name",
        group,
        "--new-deployment-group-name",
        "renamed-group",
    )
    new_name = f"renamed-{lab.unique}"
    endpoint.aws(
        "deploy",
        "update-application",
        "--application-name",
        lab.application,
        "--new-application-name",
        new_name,
    )
    assert (
        error_of(lab.cd.get_application, applicationName=lab.application)[0]
        == "ApplicationDoesNotExistException"
    )
    moved = lab.cd.get_deployment_group(applicationName=new_name, deploymentGroupName="renamed-group")
    assert moved["deploymentGroupInfo"]["autoRollbackConfiguration"] == rollback
    got = lab.cd.get_application_revision(applicationName=new_name, revision=revision)
    assert got["revisionInfo"]["deploymentGroups"] == ["renamed-group"]
    listed = lab.cd.list_deployments(applicationName=new_name, deploymentGroupName="renamed-group")
    assert len(listed["deployments"]) == 1

    for call, kwargs, code in (
        (
            lab.cd.update_application,
            {"applicationName": "no-such-app", "newApplicationName": "x"},
            "ApplicationDoesNotExistException",
        ),
        (
            lab.cd.update_application,
            {"applicationName": new_name, "newApplicationName": new_name.replace("renamed", "app")},
            None,
        ),
        (
            lab.cd.update_deployment_group,
            {"applicationName": "no-such-app", "currentDeploymentGroupName": group},
            "ApplicationDoesNotExistException",
        ),
        (
            lab.cd.update_deployment_group,
            {"applicationName": lab.application, "currentDeploymentGroupName": "absent"},
            "DeploymentGroupDoesNotExistException",
        ),
        (
            lab.cd.update_deployment_group,
            {
                "applicationName": lab.application,
                "currentDeploymentGroupName": "renamed-group",
                "newDeploymentGroupName": other,
            },
            "DeploymentGroupAlreadyExistsException",
        ),
        (
            lab.cd.update_deployment_group,
            {
                "applicationName": lab.application,
                "currentDeploymentGroupName": other,
                "deploymentConfigName": "Nope",
            },
            "DeploymentConfigDoesNotExistException",
        ),
        (
            lab.cd.update_deployment_group,
            {
                "applicationName": lab.application,
                "currentDeploymentGroupName": other,
                "autoRollbackConfiguration": {"enabled": True, "events": ["SOMETIMES"]},
            },
            "InvalidAutoRollbackConfigException",
        ),
        (
            lab.cd.batch_get_deployment_groups,
            {"applicationName": "no-such-app", "deploymentGroupNames": [other]},
            "ApplicationDoesNotExistException",
        ),
        (
            lab.cd.batch_get_deployment_groups,
            {"applicationName": lab.application, "deploymentGroupNames": []},
            "DeploymentGroupNameRequiredException",
        ),
    ):
        if code is None:
            call(**kwargs)  # renamed back: lab.application names it again
        else:
            assert error_of(call, **kwargs)[0] == code, kwargs
    status, answer = endpoint.call(
        "CodeDeploy_20141006.UpdateApplication", {"newApplicationName": "x"}, service="codedeploy"
    )
    assert status == 400 and answer["__type"] == "ApplicationNameRequiredException"
    assert "applicationName" in answer["message"]


def test_a_failed_deployment_rolls_back_to_the_last_good_revision(lab, endpoint):
    rollback = {"enabled": True, "events": ["DEPLOYMENT_FAILURE"]}
    group, (instance,) = lab.group(autoRollbackConfiguration=rollback)
    page = f"{endpoint.url}/_lab/instances/{instance}/"
    good = lab.revision(page_files("good"))
    first = lab.deploy(group, good)
    assert lab.wait(first)["status"] == "Succeeded" and "<h1>good</h1>" in fetch(page)[2]

    failed = lab.deploy(group, lab.revision(page_files("broken", "echo broken >&2\nexit 1\n")))
    info = lab.wait(failed)
    assert info["status"] == "Failed" and info["autoRollbackConfiguration"] == rollback
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    assert rollback_id in info["rollbackInfo"]["rollbackMessage"]

    assert lab.wait(rollback_id)["status"] == "Succeeded"
    shown = json.loads(endpoint.aws("deploy", "get-deployment", "--deployment-id", rollback_id).stdout)
    rolled = shown["deploymentInfo"]
    assert rolled["creator"] == "codeDeployRollback" and rolled["revision"] == good
    assert rolled["rollbackInfo"]["rollbackTriggeringDeploymentId"] == failed
    assert rolled["deploymentGroupName"] == group and rolled["deploymentOverview"]["Succeeded"] == 1
    assert "<h1>good</h1>" in fetch(page)[2], "the last good revision's page is live again"
    listed = lab.cd.list_deployments(applicationName=lab.application, deploymentGroupName=group)
    assert listed["deployments"] == [rollback_id, failed, first]


def test_without_a_last_good_revision_no_rollback_starts(lab):
    group, _ = lab.group(autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
    failed = lab.deploy(group, lab.revision(page_files("broken", "exit 1\n")))
    info = lab.wait(failed)
    assert info["status"] == "Failed"
    assert info["rollbackInfo"] == {"rollbackMessage": NO_LAST_GOOD_REVISION}
    listed = lab.cd.list_deployments(applicationName=lab.application, deploymentGroupName=group)
    assert listed["deployments"] == [failed]


def test_revisions_and_rollbacks_survive_a_restart(fresh_endpoint, unique, tmp_path):
    lab = Lab(fresh_endpoint, unique, tmp_path)
    group, _ = lab.group(autoRollbackConfiguration={"enabled": True, "events": ["DEPLOYMENT_FAILURE"]})
    good = lab.revision(page_files("good"))
    assert lab.wait(lab.deploy(group, good))["status"] == "Succeeded"
    failed = lab.deploy(group, lab.revision(page_files("broken", "exit 1\n")))
    rollback_id = lab.wait(failed)["rollbackInfo"]["rollbackDeploymentId"]
    assert lab.wait(rollback_id)["status"] == "Succeeded"

    process.stop(fresh_endpoint.layout)
    lab.use(start_endpoint(fresh_endpoint.layout.root))
    assert (
        lab.cd.get_deployment(deploymentId=failed)["deploymentInfo"]["rollbackInfo"]["rollbackDeploymentId"]
        == rollback_id
    )
    revisions = lab.cd.list_application_revisions(applicationName=lab.application)["revisions"]
    assert good in revisions and len(revisions) == 2
    info = lab.cd.get_application_revision(applicationName=lab.application, revision=good)["revisionInfo"]
    assert info["deploymentGroups"] == [group]


def test_list_application_revisions_pages(lab):
    revisions = []
    for number in range(101):
        location = {"bucket": lab.bucket, "key": f"r/{number:03}.zip", "bundleType": "zip"}
        revisions.append({"revisionType": "S3", "s3Location": location})
        lab.cd.register_application_revision(applicationName=lab.application, revision=revisions[-1])
    pages = lab.cd.get_paginator("list_application_revisions").paginate(
        applicationName=lab.application, sortBy="registerTime", sortOrder="descending"
    )
    sizes, listed = [], []
    for page in pages:
        sizes.append(len(page["revisions"]))
        listed += page["revisions"]
    assert sizes == [100, 1] and listed == revisions[::-1]
    bad = {"applicationName": lab.application, "nextToken": "not-a-token"}
    assert error_of(lab.cd.list_application_revisions, **bad)[0] == "InvalidNextTokenException"


@pytest.mark.parametrize("asked", [None, True, False])
def test_a_stopped_deployment_rolls_back_as_stop_deployment_or_the_group_says(lab, endpoint, asked):
    """DEPLOYMENT_STOP_ON_REQUEST rolls a stopped deployment back, unless StopDeployment says otherwise."""
    rollback = {"enabled": True, "events": ["DEPLOYMENT_STOP_ON_REQUEST"]}
    group, (instance,) = lab.group(autoRollbackConfiguration=rollback)
    page = f"{endpoint.url}/_lab/instances/{instance}/"
    good = lab.revision(page_files("good"))
    assert lab.wait(lab.deploy(group, good))["status"] == "Succeeded"
    slow = lab.deploy(group, lab.revision(page_files("slow", "sleep 60\n")))
    deadline = time.monotonic() + 30
    while lab.cd.get_deployment(deploymentId=slow)["deploymentInfo"]["status"] != "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    lab.cd.stop_deployment(deploymentId=slow, **({} if asked is None else {"autoRollbackEnabled": asked}))
    info = lab.wait(slow)
    assert info["status"] == "Stopped"
    listed = lab.cd.list_deployments(applicationName=lab.application, deploymentGroupName=group)
    if asked is False:
        assert "rollbackInfo" not in info and len(listed["deployments"]) == 2
        return
    rollback_id = info["rollbackInfo"]["rollbackDeploymentId"]
    rolled = lab.wait(rollback_id)
    assert rolled["status"] == "Succeeded" and rolled["revision"] == good
    assert rolled["rollbackInfo"]["rollbackTriggeringDeploymentId"] == slow
    assert "was stopped" in rolled["rollbackInfo"]["rollbackMessage"]
    assert "<h1>good</h1>" in fetch(page)[2], "the last good revision's page is live again"
