"""CodeDeploy deployment configurations: the predefined CodeDeployDefault.* ones of every compute platform,
and custom ones (CreateDeploymentConfig, GetDeploymentConfig, DeleteDeploymentConfig, ListDeploymentConfigs),
kept in `store.DeploymentConfigs`. A deployment takes the minimum of healthy hosts of its configuration when
it is created, so deleting the configuration later changes nothing for it."""

import re
import uuid

from ..awsjson import AwsError, now
from ..dispatch import request_region

MAX_CUSTOM_CONFIGS = 50  # per account and Region, CodeDeploy's quota
COMPUTE_PLATFORMS = ("Server", "Lambda", "ECS")
HEALTHY_HOSTS_TYPES = ("HOST_COUNT", "FLEET_PERCENT")
TRAFFIC_ROUTING_TYPES = ("TimeBasedCanary", "TimeBasedLinear", "AllAtOnce")
PREDEFINED_PREFIX = "CodeDeployDefault."
_NAME = re.compile(r"[A-Za-z0-9+=,.@_-]{1,100}")


def _server(kind: str, value: int) -> dict:
    return {"computePlatform": "Server", "minimumHealthyHosts": {"type": kind, "value": value}}


def _shifting(platform: str, kind: str = "AllAtOnce", percentage: int = 0, minutes: int = 0) -> dict:
    routing: dict = {"type": kind}
    if kind == "TimeBasedCanary":
        routing["timeBasedCanary"] = {"canaryPercentage": percentage, "canaryInterval": minutes}
    elif kind == "TimeBasedLinear":
        routing["timeBasedLinear"] = {"linearPercentage": percentage, "linearInterval": minutes}
    return {"computePlatform": platform, "trafficRoutingConfig": routing}


# AWS's predefined configurations. OneAtATime reports MOST_CONCURRENCY, a type only AWS may use: all
# instances but the one being deployed stay healthy.
PREDEFINED = {
    "CodeDeployDefault.OneAtATime": _server("MOST_CONCURRENCY", 1),
    "CodeDeployDefault.HalfAtATime": _server("FLEET_PERCENT", 50),
    "CodeDeployDefault.AllAtOnce": _server("HOST_COUNT", 0),
    "CodeDeployDefault.LambdaAllAtOnce": _shifting("Lambda"),
    **{
        f"CodeDeployDefault.LambdaCanary10Percent{m}Minutes": _shifting("Lambda", "TimeBasedCanary", 10, m)
        for m in (5, 10, 15, 30)
    },
    "CodeDeployDefault.LambdaLinear10PercentEvery1Minute": _shifting("Lambda", "TimeBasedLinear", 10, 1),
    **{
        f"CodeDeployDefault.LambdaLinear10PercentEvery{m}Minutes": _shifting(
            "Lambda", "TimeBasedLinear", 10, m
        )
        for m in (2, 3, 10)
    },
    "CodeDeployDefault.ECSAllAtOnce": _shifting("ECS"),
    **{
        f"CodeDeployDefault.ECSLinear10PercentEvery{m}Minutes": _shifting("ECS", "TimeBasedLinear", 10, m)
        for m in (1, 3)
    },
    **{
        f"CodeDeployDefault.ECSCanary10Percent{m}Minutes": _shifting("ECS", "TimeBasedCanary", 10, m)
        for m in (5, 15)
    },
}


def _no_config(name: str) -> AwsError:
    return AwsError(
        "DeploymentConfigDoesNotExistException", f"No deployment configuration found for name: {name}"
    )


def config_name(name) -> str:
    """A well-formed configuration name (DeploymentConfigNameRequired or InvalidDeploymentConfigName)."""
    if not name:
        raise AwsError("DeploymentConfigNameRequiredException", "deploymentConfigName is required.")
    if not _NAME.fullmatch(name):
        raise AwsError(
            "InvalidDeploymentConfigNameException",
            f"deploymentConfigName {name!r} is not valid: use 1 to 100 letters, digits and +=,.@_- .",
        )
    return name


class DeploymentConfigOperations:
    """The deployment-configuration operations of CodeDeployService, which mixes them in: they use its
    `configs` (store.DeploymentConfigs), `ctx`, `_page` and its deployment records (`_records` under
    `_cond`)."""

    def create_deployment_config(self, params):
        name = config_name(params.get("deploymentConfigName"))
        if name in PREDEFINED:
            raise _exists(name)
        if name.startswith(PREDEFINED_PREFIX):
            raise AwsError(
                "InvalidDeploymentConfigNameException",
                f"{name}: names that begin with {PREDEFINED_PREFIX} are reserved for AWS's configurations.",
            )
        platform = params.get("computePlatform") or "Server"
        if platform not in COMPUTE_PLATFORMS:
            raise AwsError(
                "InvalidComputePlatformException",
                f"computePlatform must be one of {', '.join(COMPUTE_PLATFORMS)}, not {platform}.",
            )
        info = {
            "deploymentConfigId": str(uuid.uuid4()),
            "deploymentConfigName": name,
            "createTime": now(),
            "computePlatform": platform,
            **_settings(platform, params),
        }
        self.configs.add(request_region(), info, MAX_CUSTOM_CONFIGS, _exists)
        return {"deploymentConfigId": info["deploymentConfigId"]}

    def get_deployment_config(self, params):
        name = config_name(params.get("deploymentConfigName"))
        return {"deploymentConfigInfo": self._deployment_config(name, request_region())}

    def delete_deployment_config(self, params):
        name = config_name(params.get("deploymentConfigName"))
        if name in PREDEFINED:
            raise AwsError(
                "InvalidOperationException", f"{name} is a predefined configuration; it cannot be deleted."
            )
        region = request_region()
        users = self._config_users(name, region)
        if users:
            raise AwsError(
                "DeploymentConfigInUseException",
                f"The deployment configuration {name} is still in use by {', '.join(users)}.",
            )
        self.configs.remove(region, name)
        return {}

    def list_deployment_configs(self, params):
        names = sorted([*PREDEFINED, *self.configs.names(request_region())])
        return self._page("deploymentConfigsList", names, params)

    def _deployment_config(self, name: str, region: str) -> dict:
        """The configuration's DeploymentConfigInfo (DeploymentConfigDoesNotExist if there is none)."""
        if name in PREDEFINED:
            return {
                "deploymentConfigId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                "deploymentConfigName": name,
                **PREDEFINED[name],
            }
        found = self.configs.get(region, name)
        if found is None:
            raise _no_config(name)
        return found

    def _minimum_healthy_hosts(self, name: str, region: str) -> dict:
        """What a Server deployment or group with configuration `name` keeps healthy."""
        info = self._deployment_config(name, region)
        if info["computePlatform"] != "Server":
            raise AwsError(
                "InvalidDeploymentConfigNameException",
                f"{name} is a {info['computePlatform']} deployment configuration; EC2/on-premises "
                "deployments take a Server one.",
            )
        return dict(info["minimumHealthyHosts"])

    def _config_users(self, name: str, region: str) -> list[str]:
        """The deployment groups, and the deployments not yet ended, that use configuration `name`."""
        client = self.ctx.client("codedeploy", region)
        users = []
        for page in client.get_paginator("list_applications").paginate():
            for application in page["applications"]:
                for groups in client.get_paginator("list_deployment_groups").paginate(
                    applicationName=application
                ):
                    for group in groups["deploymentGroups"]:
                        info = self._group(application, group, region)
                        if info.get("deploymentConfigName") == name:
                            users.append(f"deployment group {application}/{group}")
        with self._cond:
            users += [
                f"deployment {deployment_id}"
                for deployment_id, record in self._records.items()
                if record["region"] == region
                and record["info"]["deploymentConfigName"] == name
                and record["info"]["status"] in ("Created", "Queued", "InProgress")
            ]
        return users


def _exists(name: str) -> AwsError:
    return AwsError(
        "DeploymentConfigAlreadyExistsException", f"The deployment configuration {name} already exists."
    )


def _settings(platform: str, params: dict) -> dict:
    """The configuration's minimumHealthyHosts (Server) or trafficRoutingConfig (Lambda, ECS), and zonalConfig
    (Server), checked as CodeDeploy checks them."""
    hosts, routing, zonal = (
        params.get(k) for k in ("minimumHealthyHosts", "trafficRoutingConfig", "zonalConfig")
    )
    if platform != "Server":
        if hosts is not None:
            raise AwsError(
                "InvalidMinimumHealthyHostValueException",
                f"minimumHealthyHosts applies to Server configurations, not {platform}; give a "
                "trafficRoutingConfig.",
            )
        if zonal is not None:
            raise AwsError(
                "InvalidZonalDeploymentConfigurationException",
                f"zonalConfig applies to Server configurations, not {platform}.",
            )
        return {"trafficRoutingConfig": _traffic_routing(routing or {"type": "AllAtOnce"})}
    if routing is not None:
        raise AwsError(
            "InvalidTrafficRoutingConfigurationException",
            "trafficRoutingConfig applies to Lambda and ECS configurations; a Server configuration takes "
            "minimumHealthyHosts.",
        )
    settings = {"minimumHealthyHosts": _healthy_hosts(hosts, "minimumHealthyHosts")}
    if zonal is not None:
        settings["zonalConfig"] = _zonal(zonal)
    return settings


def _healthy_hosts(hosts, field: str) -> dict:
    """{type, value}: a HOST_COUNT of 0 or more, or a FLEET_PERCENT from 0 to 99."""
    if not hosts:
        raise AwsError(
            "InvalidMinimumHealthyHostValueException",
            f"{field} is required for a Server configuration: its type (HOST_COUNT or FLEET_PERCENT) and "
            "value.",
        )
    kind, value = hosts.get("type"), hosts.get("value")
    if kind not in HEALTHY_HOSTS_TYPES:
        raise AwsError(
            "InvalidMinimumHealthyHostValueException",
            f"{field}.type must be one of {', '.join(HEALTHY_HOSTS_TYPES)}, not {kind}.",
        )
    highest = 99 if kind == "FLEET_PERCENT" else None
    if value is None or value < 0 or (highest is not None and value > highest):
        limits = "from 0 to 99" if highest else "0 or more"
        raise AwsError(
            "InvalidMinimumHealthyHostValueException",
            f"{field}.value for {kind} must be {limits}, not {value}.",
        )
    return {"type": kind, "value": value}


def _traffic_routing(routing: dict) -> dict:
    kind = routing.get("type")
    if kind not in TRAFFIC_ROUTING_TYPES:
        raise AwsError(
            "InvalidTrafficRoutingConfigurationException",
            f"trafficRoutingConfig.type must be one of {', '.join(TRAFFIC_ROUTING_TYPES)}, not {kind}.",
        )
    if kind == "AllAtOnce":
        return {"type": kind}
    member, prefix = (
        ("timeBasedCanary", "canary") if kind == "TimeBasedCanary" else ("timeBasedLinear", "linear")
    )
    shift = routing.get(member) or {}
    percentage, interval = shift.get(f"{prefix}Percentage"), shift.get(f"{prefix}Interval")
    if percentage is None or not 1 <= percentage <= 99 or interval is None or interval < 1:
        raise AwsError(
            "InvalidTrafficRoutingConfigurationException",
            f"trafficRoutingConfig.{member} needs {prefix}Percentage from 1 to 99 and {prefix}Interval of "
            f"1 minute or more (got {shift}).",
        )
    return {"type": kind, member: {f"{prefix}Percentage": percentage, f"{prefix}Interval": interval}}


def _zonal(zonal: dict) -> dict:
    checked = {}
    for key in ("firstZoneMonitorDurationInSeconds", "monitorDurationInSeconds"):
        if zonal.get(key) is not None:
            if zonal[key] < 0:
                raise AwsError(
                    "InvalidZonalDeploymentConfigurationException", f"zonalConfig.{key} must be 0 or more."
                )
            checked[key] = zonal[key]
    if zonal.get("minimumHealthyHostsPerZone") is not None:
        per_zone = zonal["minimumHealthyHostsPerZone"]
        try:
            checked["minimumHealthyHostsPerZone"] = _healthy_hosts(
                per_zone, "zonalConfig.minimumHealthyHostsPerZone"
            )
        except AwsError as error:
            raise AwsError("InvalidZonalDeploymentConfigurationException", error.message) from None
    return checked
