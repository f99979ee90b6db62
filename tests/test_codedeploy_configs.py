"""CodeDeploy deployment configurations, ContinueDeployment and GitHub account tokens on the real local
endpoint, driven with boto3 and the aws CLI: custom configurations are created, read, listed, used by a
deployment group's deployments, refused while in use, deleted and kept across a restart."""

import json

import boto3
import pytest
from conftest import start_endpoint
from test_codedeploy import Lab, appspec, error_of, overview

from labhelpers.local import process
from labhelpers.local.codedeploy.instance import namespace_problem

pytestmark = pytest.mark.skipif(
    namespace_problem() is not None,
    reason=f"deployments' hooks use absolute paths, which need Linux namespaces: {namespace_problem()}",
)
FAILING = {
    "appspec.yml": appspec({"BeforeInstall": ""}),
    "index.html": "x\n",
    "scripts/BeforeInstall.sh": "exit 1\n",
}


@pytest.fixture
def lab(endpoint, unique, tmp_path) -> Lab:
    return Lab(endpoint, unique, tmp_path)


def test_a_custom_configuration_is_created_read_listed_and_deleted_with_the_cli(endpoint, unique):
    name = f"ThreeQuartersHealthy-{unique}"
    created = json.loads(
        endpoint.aws(
            "deploy",
            "create-deployment-config",
            "--deployment-config-name",
            name,
            "--minimum-healthy-hosts",
            "type=FLEET_PERCENT,value=75",
        ).stdout
    )
    info = json.loads(
        endpoint.aws("deploy", "get-deployment-config", "--deployment-config-name", name).stdout
    )["deploymentConfigInfo"]
    assert info.pop("createTime") > 0
    assert info == {
        "deploymentConfigId": created["deploymentConfigId"],
        "deploymentConfigName": name,
        "minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 75},
        "computePlatform": "Server",
    }
    listed = json.loads(endpoint.aws("deploy", "list-deployment-configs").stdout)["deploymentConfigsList"]
    assert {name, "CodeDeployDefault.OneAtATime", "CodeDeployDefault.LambdaAllAtOnce"} <= set(listed)
    deleted = endpoint.aws("deploy", "delete-deployment-config", "--deployment-config-name", name)
    assert deleted.stdout == ""
    gone = endpoint.aws("deploy", "get-deployment-config", "--deployment-config-name", name, check=False)
    assert gone.returncode != 0 and "DeploymentConfigDoesNotExistException" in gone.stderr


def test_predefined_configurations_of_every_platform_are_read(endpoint):
    cd = endpoint.client("codedeploy")
    one = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.OneAtATime")[
        "deploymentConfigInfo"
    ]
    assert one["minimumHealthyHosts"] == {"type": "MOST_CONCURRENCY", "value": 1}
    canary = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes")
    assert canary["deploymentConfigInfo"]["computePlatform"] == "Lambda"
    assert canary["deploymentConfigInfo"]["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"canaryPercentage": 10, "canaryInterval": 5},
    }
    ecs = cd.get_deployment_config(deploymentConfigName="CodeDeployDefault.ECSAllAtOnce")[
        "deploymentConfigInfo"
    ]
    assert (ecs["computePlatform"], ecs["trafficRoutingConfig"]) == ("ECS", {"type": "AllAtOnce"})
    pages, token = [], {}
    while token is not None:
        page = cd.list_deployment_configs(**token)
        pages.append(page["deploymentConfigsList"])
        token = {"nextToken": page["nextToken"]} if "nextToken" in page else None
    assert "CodeDeployDefault.ECSCanary10Percent15Minutes" in pages[0]


def test_custom_lambda_ecs_and_zonal_configurations_keep_their_settings(endpoint, unique):
    cd = endpoint.client("codedeploy")
    linear = {"type": "TimeBasedLinear", "timeBasedLinear": {"linearPercentage": 20, "linearInterval": 2}}
    cd.create_deployment_config(
        deploymentConfigName=f"linear-{unique}", computePlatform="ECS", trafficRoutingConfig=linear
    )
    info = cd.get_deployment_config(deploymentConfigName=f"linear-{unique}")["deploymentConfigInfo"]
    assert (info["computePlatform"], info["trafficRoutingConfig"]) == ("ECS", linear)
    assert "minimumHealthyHosts" not in info
    zonal = {
        "firstZoneMonitorDurationInSeconds": 60,
        "monitorDurationInSeconds": 30,
        "minimumHealthyHostsPerZone": {"type": "HOST_COUNT", "value": 1},
    }
    cd.create_deployment_config(
        deploymentConfigName=f"zonal-{unique}",
        minimumHealthyHosts={"type": "HOST_COUNT", "value": 2},
        zonalConfig=zonal,
    )
    info = cd.get_deployment_config(deploymentConfigName=f"zonal-{unique}")["deploymentConfigInfo"]
    assert info["zonalConfig"] == zonal and info["minimumHealthyHosts"] == {"type": "HOST_COUNT", "value": 2}


@pytest.mark.parametrize(
    "request_, code",
    [
        ({"deploymentConfigName": "CodeDeployDefault.AllAtOnce"}, "DeploymentConfigAlreadyExistsException"),
        ({"deploymentConfigName": "CodeDeployDefault.Mine"}, "InvalidDeploymentConfigNameException"),
        ({"deploymentConfigName": "no spaces"}, "InvalidDeploymentConfigNameException"),
        (
            {"minimumHealthyHosts": {"type": "FLEET_PERCENT", "value": 100}},
            "InvalidMinimumHealthyHostValueException",
        ),
        (
            {"minimumHealthyHosts": {"type": "HOST_COUNT", "value": -1}},
            "InvalidMinimumHealthyHostValueException",
        ),
        ({"minimumHealthyHosts": None}, "InvalidMinimumHealthyHostValueException"),
        ({"computePlatform": "Mainframe"}, "InvalidComputePlatformException"),
        ({"trafficRoutingConfig": {"type": "AllAtOnce"}}, "InvalidTrafficRoutingConfigurationException"),
        ({"computePlatform": "Lambda"}, "InvalidMinimumHealthyHostValueException"),
        (
            {
                "computePlatform": "Lambda",
                "minimumHealthyHosts": None,
                "trafficRoutingConfig": {"type": "TimeBasedCanary"},
            },
            "InvalidTrafficRoutingConfigurationException",
        ),
        (
            {"zonalConfig": {"minimumHealthyHostsPerZone": {"type": "FLEET_PERCENT", "value": 120}}},
            "InvalidZonalDeploymentConfigurationException",
        ),
    ],
)
def test_create_deployment_config_refuses_what_codedeploy_refuses(endpoint, unique, request_, code):
    params = {
        "deploymentConfigName": f"bad-{unique}",
        "minimumHealthyHosts": {"type": "HOST_COUNT", "value": 1},
        **request_,
    }
    status, answer = endpoint.call(
        "CodeDeploy_20141006.CreateDeploymentConfig",
        {key: value for key, value in params.items() if value is not None},
        service="codedeploy",
    )
    assert (status, answer["__type"]) == (400, code)


def test_names_are_required_and_predefined_configurations_are_never_deleted(endpoint):
    cd = endpoint.client("codedeploy")
    code, message = error_of(cd.delete_deployment_config, deploymentConfigName="CodeDeployDefault.OneAtATime")
    assert code == "InvalidOperationException" and "predefined" in message
    assert error_of(cd.get_deployment_config, deploymentConfigName="Nope")[0] == (
        "DeploymentConfigDoesNotExistException"
    )
    for operation in ("GetDeploymentConfig", "DeleteDeploymentConfig", "CreateDeploymentConfig"):
        status, answer = endpoint.call(f"CodeDeploy_20141006.{operation}", {}, service="codedeploy")
        assert (status, answer["__type"]) == (400, "DeploymentConfigNameRequiredException")


def test_a_group_deploys_with_its_custom_configuration_which_is_in_use_until_the_group_changes(lab):
    name = f"none-healthy-{lab.unique}"
    lab.cd.create_deployment_config(
        deploymentConfigName=name, minimumHealthyHosts={"type": "FLEET_PERCENT", "value": 0}
    )
    group, _ = lab.group(instances=2, deploymentConfigName=name)
    # Both instances at once (the group's default, OneAtATime, would stop after the first failure).
    info = lab.wait(lab.deploy(group, lab.revision(FAILING)))
    assert (info["deploymentConfigName"], info["status"]) == (name, "Failed")
    assert info["deploymentOverview"] == overview(Failed=2)

    code, message = error_of(lab.cd.delete_deployment_config, deploymentConfigName=name)
    assert code == "DeploymentConfigInUseException" and group in message
    lab.cd.update_deployment_group(
        applicationName=lab.application,
        currentDeploymentGroupName=group,
        deploymentConfigName="CodeDeployDefault.AllAtOnce",
    )
    lab.cd.delete_deployment_config(deploymentConfigName=name)
    code, _ = error_of(lab.deploy, group=group, revision=lab.revision(FAILING), deploymentConfigName=name)
    assert code == "DeploymentConfigDoesNotExistException"


def test_a_server_group_refuses_a_lambda_configuration(lab):
    group, _ = lab.group(instances=0)
    lambda_config = "CodeDeployDefault.LambdaAllAtOnce"
    revision = lab.revision({"appspec.yml": appspec(), "index.html": "x\n"})
    code, message = error_of(lab.deploy, group=group, revision=revision, deploymentConfigName=lambda_config)
    assert code == "InvalidDeploymentConfigNameException" and "Lambda" in message
    code, _ = error_of(
        lab.cd.update_deployment_group,
        applicationName=lab.application,
        currentDeploymentGroupName=group,
        deploymentConfigName=lambda_config,
    )
    assert code == "InvalidDeploymentConfigNameException"


def test_a_region_holds_at_most_50_custom_configurations(endpoint, unique):
    cd = boto3.client(
        "codedeploy",
        endpoint_url=endpoint.url,
        region_name="ap-southeast-2",
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
    )
    hosts = {"type": "HOST_COUNT", "value": 0}
    names = [f"quota-{unique}-{n}" for n in range(50)]
    for name in names:
        cd.create_deployment_config(deploymentConfigName=name, minimumHealthyHosts=hosts)
    code, _ = error_of(
        cd.create_deployment_config, deploymentConfigName=f"quota-{unique}", minimumHealthyHosts=hosts
    )
    assert code == "DeploymentConfigLimitExceededException"
    assert (
        f"quota-{unique}-0"
        not in endpoint.client("codedeploy").list_deployment_configs()["deploymentConfigsList"]
    )
    for name in names:
        cd.delete_deployment_config(deploymentConfigName=name)


def test_custom_configurations_survive_a_restart(fresh_endpoint, unique):
    hosts = {"type": "FLEET_PERCENT", "value": 25}
    fresh_endpoint.client("codedeploy").create_deployment_config(
        deploymentConfigName=f"kept-{unique}", minimumHealthyHosts=hosts
    )
    process.stop(fresh_endpoint.layout)
    restarted = start_endpoint(fresh_endpoint.layout.root).client("codedeploy")
    info = restarted.get_deployment_config(deploymentConfigName=f"kept-{unique}")["deploymentConfigInfo"]
    assert info["minimumHealthyHosts"] == hosts


def test_continue_deployment_answers_that_in_place_deployments_never_wait(lab, endpoint):
    group, _ = lab.group(instances=0)
    deployment = lab.deploy(group, lab.revision({"appspec.yml": appspec(), "index.html": "x\n"}))
    result = endpoint.aws(
        "deploy",
        "continue-deployment",
        "--deployment-id",
        deployment,
        "--deployment-wait-type",
        "READY_WAIT",
        check=False,
    )
    assert result.returncode != 0 and "UnsupportedActionForDeploymentTypeException" in result.stderr
    assert error_of(lab.cd.continue_deployment, deploymentId="d-NOTHERE00")[0] == (
        "DeploymentDoesNotExistException"
    )
    assert error_of(lab.cd.continue_deployment, deploymentId="nope")[0] == "InvalidDeploymentIdException"
    status, answer = endpoint.call(
        "CodeDeploy_20141006.ContinueDeployment",
        {"deploymentId": deployment, "deploymentWaitType": "COFFEE_WAIT"},
        service="codedeploy",
    )
    assert (status, answer["__type"]) == (400, "InvalidDeploymentWaitTypeException")


def test_no_github_account_tokens_are_stored_locally(endpoint):
    listed = json.loads(endpoint.aws("deploy", "list-git-hub-account-token-names").stdout)
    assert listed == {"tokenNameList": []}
    cd = endpoint.client("codedeploy")
    assert error_of(cd.list_git_hub_account_token_names, nextToken="more")[0] == "InvalidNextTokenException"
    code, message = error_of(cd.delete_git_hub_account_token, tokenName="my-github-account")
    assert code == "GitHubAccountTokenDoesNotExistException" and "my-github-account" in message
    status, answer = endpoint.call("CodeDeploy_20141006.DeleteGitHubAccountToken", {}, service="codedeploy")
    assert (status, answer["__type"]) == (400, "GitHubAccountTokenNameRequiredException")
