"""Everything the endpoint takes from moto, named in one place; nothing else in labhelpers imports moto.

moto changes its internals in patch releases. Each function here is one use, with one test of its own in
tests/test_motoapi.py, so a release that changes a use breaks that test, not a learner's call. What leaves
this module is plain data or an AwsError; moto's objects stay inside.
"""

import copy
import datetime
import functools
import importlib.abc
import importlib.machinery
import sys
import threading

from .awsjson import AwsError, models_session, service_model

# Held while moto handles a request; code that reads or writes moto's backends takes it too.
LOCK = threading.RLock()

# SigV4 signing names whose moto backend is named otherwise.
_BACKEND_NAMES = {"eventbridge": "events", "monitoring": "cloudwatch", "email": "ses"}
# The botocore service models of the signing names whose model is named otherwise.
_MODEL_NAMES = {"eventbridge": "events", "monitoring": "cloudwatch", "email": "ses"}


# -- the WSGI app --------------------------------------------------------------------------------------


def wsgi_app():
    """moto's server: one WSGI app for every service it plays, routed by the request."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def request_handler():
    """The werkzeug request handler moto's server runs under (it keeps the raw Host and path)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def service_error(exc: BaseException, service: str = "") -> AwsError | None:
    """moto's own AWS error as ours, with its code and HTTP status; None for anything else (a defect).

    moto has two kinds: ServiceException (code and message; the status is the service model's) and the
    older werkzeug HTTPException subclasses (an `error_type` and the status as `code`)."""
    from moto.core.exceptions import ServiceException

    if isinstance(exc, ServiceException):
        return AwsError(exc.code, exc.message, _error_status(service, exc.code))
    error_type, status = getattr(exc, "error_type", None), getattr(exc, "code", None)
    if isinstance(error_type, str) and isinstance(status, int):
        return AwsError(error_type, str(getattr(exc, "message", "") or error_type), status)
    return None


@functools.cache
def _error_statuses(service: str) -> dict[str, int]:
    try:
        model = service_model(_MODEL_NAMES.get(service, service))
    except Exception:
        return {}
    return {
        shape.error_code: shape.metadata.get("error", {}).get("httpStatusCode", 400)
        for shape in model.error_shapes
    }


def _error_status(service: str, code: str) -> int:
    return _error_statuses(service).get(code, 400) if service else 400


# -- backends and snapshots ---------------------------------------------------------------------------


def backend_dict(service: str):
    """A service's backends, account -> Region -> backend (what a snapshot pickles); KeyError if unknown."""
    from moto.backends import get_backend

    try:
        return get_backend(_BACKEND_NAMES.get(service, service))
    except (KeyError, ValueError, ModuleNotFoundError) as exc:
        raise KeyError(service) from exc


def backend_dicts_in_use() -> list:
    """The backends of every service moto has loaded so far."""
    from moto.core.base_backend import BackendDict

    return list(BackendDict._instances)


def backend_dict_name(backends) -> str:
    return backends.service_name


def _backend(service: str, account: str, region: str):
    return backend_dict(service)[account][region]


# -- what moto holds of botocore -----------------------------------------------------------------------


def share_service_models() -> None:
    """moto lists each backend's Regions with a botocore session of its own, which then keeps the models of
    those services (EC2's is ~16 MB of dicts) beside ours; let it use ours."""
    from moto.core.base_backend import AccountSpecificBackend

    AccountSpecificBackend.get_session = classmethod(lambda cls: models_session())


# -- EC2's instance type offerings ---------------------------------------------------------------------

_OFFERINGS_MODULE = "moto.ec2.models.instance_types"
_OFFERINGS_FOLDER = "ec2/resources/instance_type_offerings"


def read_ec2_offerings_lazily() -> None:
    """Have moto.ec2, once something imports it, read a Region's instance type offerings when that Region is
    first asked for. moto reads those of every location type and Region at import (~75 MB of dicts, a
    second); the lab asks for one Region. Call it before moto.ec2 is imported; it imports nothing itself."""
    if _OFFERINGS_MODULE not in sys.modules and not any(
        isinstance(finder, _OfferingsFinder) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _OfferingsFinder())


class _OfferingsFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _OFFERINGS_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None:
            spec.loader = _OfferingsLoader(spec.loader)
        return spec


class _OfferingsLoader(importlib.abc.Loader):
    """Runs moto's module with the offerings files unread, then puts per-Region readers in their place."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):  # get_source and the like, for tracebacks
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        from moto.utilities import utils

        read = utils.load_resource
        utils.load_resource = lambda path: [] if path.startswith(_OFFERINGS_FOLDER) else read(path)
        try:
            self._loader.exec_module(module)
        finally:
            utils.load_resource = module.load_resource = read
        for location_type in module.INSTANCE_TYPE_OFFERINGS:
            module.INSTANCE_TYPE_OFFERINGS[location_type] = _RegionOfferings(location_type, read)


class _RegionOfferings(dict):
    """One location type's offerings by Region, as moto keeps them; a Region's file is read on first use."""

    def __init__(self, location_type: str, read):
        super().__init__()
        from importlib import resources

        self._location_type, self._read = location_type, read
        folder = resources.files("moto") / _OFFERINGS_FOLDER / location_type
        self._files = {file.name.split(".")[0]: file.name for file in folder.iterdir()}

    def __missing__(self, region: str) -> list:
        if region not in self._files:
            raise KeyError(region)
        offerings = self._read(f"{_OFFERINGS_FOLDER}/{self._location_type}/{self._files[region]}")
        for offering in offerings:
            offering["LocationType"] = self._location_type
        self[region] = offerings
        return offerings

    def get(self, region, default=None):
        return self[region] if region in self or region in self._files else default


# -- IAM -----------------------------------------------------------------------------------------------


def role_policies(account: str, role_name: str) -> list[str] | None:
    """The permission policy documents of a role (inline and attached), or None when there is no such role."""
    with LOCK:
        iam = _backend("iam", account, "global")
        role = next((r for r in iam.roles.values() if r.name == role_name), None)
        if role is None:
            return None
        documents = list(role.policies.values())
        for policy in role.managed_policies.values():
            documents += [version.document for version in policy.versions if version.is_default]
        return documents


def role_trust_policy(account: str, role_arn: str) -> str | None:
    """The trust policy document of the role with this ARN, or None when there is no such role."""
    with LOCK:
        iam = _backend("iam", account, "global")
        role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
        return role.assume_role_policy_document if role else None


def register_lab_user(account: str, name: str, access_key_id: str) -> str:
    """Make the IAM user `name` the owner of the lab's access key (once; a snapshot keeps it), so that STS
    GetCallerIdentity names the lab's own user rather than moto's stand-in; its ARN."""
    with LOCK:
        iam = _backend("iam", account, "global")
        user = iam.users.get(name) or iam.create_user("us-east-1", name)
        if not any(key.access_key_id == access_key_id for key in iam.list_access_keys(name)):
            key = iam.create_access_key(name)
            iam.access_keys.pop(key.physical_resource_id)
            key.access_key_id = access_key_id
            iam.access_keys[key.physical_resource_id] = key
        return user.arn


class PolicyEvaluator:
    """IAM's evaluation of identity policies for one call: explicit deny wins, else some policy must allow."""

    def __init__(self, documents: list[str]):
        from moto.iam.access_control import IAMPolicy

        self._policies = [IAMPolicy(document) for document in documents]

    def allows(self, action: str, resource: str, context: dict | None = None) -> bool:
        from moto.iam.access_control import PermissionResult

        results = [
            policy.is_action_permitted(action, resource, incoming_condition_values=context or {})
            for policy in self._policies
        ]
        return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


# -- S3 ------------------------------------------------------------------------------------------------


def bucket_region(account: str, bucket: str) -> str | None:
    """The Region a bucket lives in, or None when there is no such bucket."""
    with LOCK:
        found = _backend("s3", account, "aws").buckets.get(bucket)
        return found.region_name if found else None


# -- CodeBuild projects --------------------------------------------------------------------------------


def codebuild_project(account: str, region: str, name: str) -> dict | None:
    """A copy of a project's settings as CreateProject answers them, or None when there is no such project."""
    with LOCK:
        found = _backend("codebuild", account, region).codebuild_projects.get(name)
        return copy.deepcopy(found.project_metadata) if found else None


def create_codebuild_project(account: str, region: str, params: dict, defaults: dict) -> dict:
    """Keep a project of CreateProject's (checked) parameters; `defaults` fill the timeouts. Returns its
    settings; the keys moto does not keep (secondary sources and artifacts, batch settings) are kept beside
    them."""
    with LOCK:
        metadata = _backend("codebuild", account, region).create_project(
            project_name=params["name"],
            description=params.get("description"),
            project_source=copy.deepcopy(params["source"]),
            artifacts=copy.deepcopy(params["artifacts"]),
            environment=copy.deepcopy(params["environment"]),
            service_role=params["serviceRole"],
            tags=params.get("tags"),
            cache=params.get("cache"),
            timeout=params.get("timeoutInMinutes") or defaults["timeoutInMinutes"],
            queued_timeout=params.get("queuedTimeoutInMinutes") or defaults["queuedTimeoutInMinutes"],
            source_version=params.get("sourceVersion"),
            logs_config=params.get("logsConfig"),
            vpc_config=params.get("vpcConfig"),
        )
        extra = ("secondarySources", "secondarySourceVersions", "secondaryArtifacts", "buildBatchConfig")
        metadata.update({key: copy.deepcopy(params[key]) for key in extra if key in params})
        return copy.deepcopy(metadata)


def update_codebuild_project(account: str, region: str, name: str, changes: dict) -> dict:
    """Replace some of a project's settings (the project exists), a change to None removing the setting;
    return all of them."""
    with LOCK:
        project = _backend("codebuild", account, region).codebuild_projects[name]
        project.project_metadata.update(copy.deepcopy(changes))
        for key in [key for key, value in changes.items() if value is None]:
            del project.project_metadata[key]
        if "serviceRole" in changes:
            project.service_role = changes["serviceRole"]
        return copy.deepcopy(project.project_metadata)


# -- CodeDeploy ----------------------------------------------------------------------------------------


def delete_codedeploy_application(account: str, region: str, name: str) -> None:
    """Forget an application and its deployment groups (nothing happens when there is none)."""
    with LOCK:
        backend = _backend("codedeploy", account, region)
        backend.applications.pop(name, None)
        backend.deployment_groups.pop(name, None)


def delete_codedeploy_group(account: str, region: str, application: str, group: str) -> bool:
    """Forget a deployment group; False when the application does not exist."""
    with LOCK:
        backend = _backend("codedeploy", account, region)
        if application not in backend.applications:
            return False
        backend.deployment_groups.get(application, {}).pop(group, None)
        return True


# What UpdateDeploymentGroup may change, as moto's DeploymentGroup keeps it.
_GROUP_SETTINGS = {
    "deploymentConfigName": "deployment_config_name",
    "ec2TagFilters": "ec2_tag_filters",
    "onPremisesInstanceTagFilters": "on_premises_instance_tag_filters",
    "autoScalingGroups": "auto_scaling_groups",
    "serviceRoleArn": "service_role_arn",
    "triggerConfigurations": "trigger_configurations",
    "autoRollbackConfiguration": "auto_rollback_configuration",
    "outdatedInstancesStrategy": "outdated_instances_strategy",
    "deploymentStyle": "deployment_style",
    "blueGreenDeploymentConfiguration": "blue_green_deployment_configuration",
    "loadBalancerInfo": "load_balancer_info",
    "ec2TagSet": "ec2_tag_set",
    "ecsServices": "ecs_services",
    "onPremisesTagSet": "on_premises_tag_set",
    "terminationHookEnabled": "termination_hook_enabled",
}


def codedeploy_application(account: str, region: str, name: str) -> dict | None:
    """An application as moto keeps it (id, name, createTime and computePlatform if set), or None."""
    with LOCK:
        application = _backend("codedeploy", account, region).applications.get(name)
        if application is None:
            return None
        created = application.create_time.replace(tzinfo=datetime.UTC).timestamp()
        return _set_members(
            {
                "applicationId": application.id,
                "applicationName": application.application_name,
                "createTime": round(created, 3),
                "computePlatform": application.compute_platform,
            }
        )


def codedeploy_group(account: str, region: str, application: str, group: str) -> dict | None:
    """A deployment group's settings as moto keeps them (the keys of _GROUP_SETTINGS that are set, with its
    id, name, application and compute platform), or None when it or its application does not exist."""
    with LOCK:
        found = _backend("codedeploy", account, region).deployment_groups.get(application, {}).get(group)
        if found is None:
            return None
        return _set_members(
            {
                "applicationName": found.application.application_name,
                "deploymentGroupId": found.deployment_group_id,
                "deploymentGroupName": found.deployment_group_name,
                **{key: getattr(found, attribute) for key, attribute in _GROUP_SETTINGS.items()},
                "deploymentConfigName": str(found.deployment_config_name),
                "computePlatform": found.application.compute_platform,
            }
        )


def _set_members(members: dict) -> dict:
    """A copy of the members that hold a value."""
    return copy.deepcopy({key: value for key, value in members.items() if value is not None})


def rename_codedeploy_application(account: str, region: str, name: str, new_name: str) -> None:
    """Give an application (its deployment groups and tags with it) a new name."""
    with LOCK:
        backend = _backend("codedeploy", account, region)
        if name not in backend.applications:
            raise AwsError("ApplicationDoesNotExistException", f"No application found for name: {name}")
        if new_name == name:
            return
        if new_name in backend.applications:
            raise AwsError("ApplicationAlreadyExistsException", f"The application {new_name} already exists.")
        application = backend.applications[new_name] = backend.applications.pop(name)
        application.application_name = new_name
        groups = backend.deployment_groups.pop(name, {})
        if groups:
            backend.deployment_groups[new_name] = groups
        renamed = {backend._application_arn(name): backend._application_arn(new_name)}
        for group in groups:
            old = backend._deployment_group_arn(name, group)
            renamed[old] = backend._deployment_group_arn(new_name, group)
        for old, new in renamed.items():
            if old in backend.tagger.tags:
                backend.tagger.tags[new] = backend.tagger.tags.pop(old)


def update_codedeploy_group(account: str, region: str, application: str, group: str, changes: dict) -> None:
    """Change a deployment group's settings (the keys of _GROUP_SETTINGS; others are ignored) and, with
    `newDeploymentGroupName`, its name."""
    with LOCK:
        backend = _backend("codedeploy", account, region)
        if application not in backend.applications:
            raise AwsError(
                "ApplicationDoesNotExistException", f"No application found for name: {application}"
            )
        groups = backend.deployment_groups.setdefault(application, {})
        if group not in groups:
            raise AwsError(
                "DeploymentGroupDoesNotExistException",
                f"The deployment group {group} does not exist with the user or AWS account.",
            )
        new_name = changes.get("newDeploymentGroupName") or group
        if new_name != group and new_name in groups:
            raise AwsError(
                "DeploymentGroupAlreadyExistsException", f"Deployment group {new_name} already exists."
            )
        found = groups[group]
        for key, attribute in _GROUP_SETTINGS.items():
            if key in changes:
                setattr(found, attribute, copy.deepcopy(changes[key]))
        if new_name != group:
            groups[new_name] = groups.pop(group)
            found.deployment_group_name = new_name
            old_arn = backend._deployment_group_arn(application, group)
            if old_arn in backend.tagger.tags:
                new_arn = backend._deployment_group_arn(application, new_name)
                backend.tagger.tags[new_arn] = backend.tagger.tags.pop(old_arn)


# -- EventBridge ---------------------------------------------------------------------------------------


def default_bus_rules(account: str, region: str) -> list[tuple[str, dict, list[dict]]]:
    """(ARN, event pattern, targets) of the enabled event-pattern rules on the Region's default bus."""
    with LOCK:
        bus = _backend("events", account, region).event_buses.get("default")
        return [
            (rule.arn, copy.deepcopy(rule.event_pattern.get_pattern()), [dict(t) for t in rule.targets])
            for rule in (bus.rules.values() if bus else ())
            if rule.state != "DISABLED" and rule.event_pattern.dump()
        ]


# -- what the endpoint holds ---------------------------------------------------------------------------


def resource_counts(account: str, region: str) -> dict[str, int]:
    """How many of the lab's kinds of resource moto keeps, for `labhelpers local status`. A backend moto has
    not made yet holds nothing, and counting makes none (EC2's alone would cost ~90 MB and a second)."""

    def loaded(service, region_name):
        backends = next((b for b in backend_dicts_in_use() if b.service_name == service), {})
        return dict.get(dict.get(backends, account, {}), region_name)

    def count(service, region_name, attribute):
        backend = loaded(service, region_name)
        return len(getattr(backend, attribute)) if backend else 0

    with LOCK:
        ec2 = loaded("ec2", region)
        return {
            "iam_roles": count("iam", "aws", "roles"),
            "s3_buckets": count("s3", "aws", "buckets"),
            "ec2_instances": sum(len(r.instances) for r in ec2.reservations.values()) if ec2 else 0,
            "codebuild_projects": count("codebuild", region, "codebuild_projects"),
            "codedeploy_applications": count("codedeploy", region, "applications"),
        }
