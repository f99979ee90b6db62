"""CodeBuild project settings checked as CreateProject and UpdateProject check them on AWS.

The allowed types come from botocore's CodeBuild model, so a type AWS adds is accepted here too. A bad
setting answers InvalidInputException naming the field and saying what it takes.
"""

import functools
import re

from ..awsjson import AwsError, service_model

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_]{1,149}")
LOCATIONLESS_SOURCES = {"CODEPIPELINE", "NO_SOURCE"}
WINDOWS_IMAGE_TYPES = {
    "WINDOWS_CONTAINER",
    "WINDOWS_SERVER_2019_CONTAINER",
    "WINDOWS_SERVER_2022_CONTAINER",
    "WINDOWS_EC2",
}


@functools.cache
def enum_values(shape: str) -> tuple[str, ...]:
    return tuple(service_model("codebuild").shape_for(shape).enum)


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def _settings(params: dict, field: str) -> dict:
    value = params.get(field)
    if not isinstance(value, dict) or not value:
        raise _invalid(f"{field} is required and must be an object, not {value!r}.")
    return value


def check_enum(value, field: str, shape: str):
    """`value` when the model's enum `shape` has it; else InvalidInputException naming `field`."""
    if value not in enum_values(shape):
        raise _invalid(f"Invalid {field} {value!r}: use one of {', '.join(enum_values(shape))}.")
    return value


def _one_of(settings: dict, field: str, member: str, shape: str) -> str:
    return check_enum(settings.get(member), f"{field}.{member}", shape)


def _text(settings: dict, field: str, member: str) -> str | None:
    value = settings.get(member)
    if value is not None and not isinstance(value, str):
        raise _invalid(f"{field}.{member} must be a string, not {value!r}.")
    return value


def check_name(name) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _invalid(
            f"Invalid project name {name!r}: 2 to 150 letters, digits, '-' or '_', "
            "starting with a letter or digit."
        )
    return name


def check_source(params: dict, field: str = "source") -> None:
    source = _settings(params, field)
    kind = _one_of(source, field, "type", "SourceType")
    location = _text(source, field, "location")
    if kind not in LOCATIONLESS_SOURCES and not location:
        raise _invalid(
            f"{field}.location is required for a {kind} source (only CODEPIPELINE and NO_SOURCE sources have "
            "none): give the bucket/key of a zip for S3, the repository's clone URL for CODECOMMIT."
        )


def check_artifacts(params: dict, field: str = "artifacts") -> None:
    artifacts = _settings(params, field)
    kind = _one_of(artifacts, field, "type", "ArtifactsType")
    location = _text(artifacts, field, "location")
    if kind == "S3" and not location:
        raise _invalid(f"{field}.location is required for S3 artifacts: the name of the bucket to write to.")
    if kind == "NO_ARTIFACTS" and location:
        raise _invalid(f"{field}.location must be left out for NO_ARTIFACTS (it names {location!r}).")


def check_environment(params: dict, field: str = "environment") -> None:
    environment = _settings(params, field)
    _one_of(environment, field, "type", "EnvironmentType")
    _one_of(environment, field, "computeType", "ComputeType")
    if not _text(environment, field, "image"):
        raise _invalid(
            f"{field}.image is required: for example aws/codebuild/amazonlinux-x86_64-standard:5.0."
        )
    variables = environment.get("environmentVariables", [])
    if not isinstance(variables, list) or not all(isinstance(item, dict) for item in variables):
        raise _invalid(f"{field}.environmentVariables must be a list of {{name, value, type}} objects.")


def check_service_role(params: dict, account: str, field: str = "serviceRole") -> None:
    role = params.get("serviceRole")
    if not isinstance(role, str) or not role.startswith(f"arn:aws:iam::{account}:role/"):
        raise _invalid(
            f"Invalid {field} {role!r}: give the ARN of a role in this account, "
            f"arn:aws:iam::{account}:role/NAME."
        )


def check_batch_config(params: dict, account: str, field: str = "buildBatchConfig") -> None:
    """A project's (or StartBuildBatch's) batch settings; StartBuildBatch needs the service role."""
    config = params.get(field)
    if not isinstance(config, dict):
        raise _invalid(f"{field} must be an object with serviceRole, restrictions and timeoutInMins.")
    if "serviceRole" in config:
        check_service_role(config, account, f"{field}.serviceRole")
    restrictions = config.get("restrictions") or {}
    most = restrictions.get("maximumBuildsAllowed")
    if most is not None and (not isinstance(most, int) or most < 1):
        raise _invalid(f"{field}.restrictions.maximumBuildsAllowed must be a positive number, not {most!r}.")
    for compute_type in restrictions.get("computeTypesAllowed") or []:
        if compute_type not in enum_values("ComputeType"):
            raise _invalid(
                f"Invalid {field}.restrictions.computeTypesAllowed {compute_type!r}: "
                f"use some of {', '.join(enum_values('ComputeType'))}."
            )
    timeout = config.get("timeoutInMins")
    if timeout is not None and (not isinstance(timeout, int) or not 5 <= timeout <= 2160):
        raise _invalid(f"{field}.timeoutInMins must be from 5 to 2160, not {timeout!r}.")
    if "batchReportMode" in config:
        _one_of(config, field, "batchReportMode", "BatchReportModeType")


def check_project(params: dict, account: str) -> None:
    """CreateProject's required settings."""
    check_name(params.get("name"))
    check_source(params)
    check_artifacts(params)
    check_environment(params)
    check_service_role(params, account)
    if "buildBatchConfig" in params:
        check_batch_config(params, account)


def check_changes(changes: dict, account: str) -> None:
    """UpdateProject's settings: those given are checked as CreateProject checks them."""
    for field, check in (
        ("source", check_source),
        ("artifacts", check_artifacts),
        ("environment", check_environment),
    ):
        if field in changes:
            check(changes)
    if "serviceRole" in changes:
        check_service_role(changes, account)
    if "buildBatchConfig" in changes:
        check_batch_config(changes, account)


def source_defaults(source: dict) -> dict:
    """A source as AWS keeps it: insecureSsl false unless given."""
    return {**source, "insecureSsl": source.get("insecureSsl", False)}


def artifacts_defaults(artifacts: dict, project: str) -> dict:
    """Artifacts as AWS keeps them: S3 and CODEPIPELINE artifacts are named after the project, unpackaged,
    without a namespace, encrypted, unless given otherwise."""
    if artifacts.get("type") == "NO_ARTIFACTS":
        return artifacts
    filled = {"name": project, "packaging": "NONE", "encryptionDisabled": False}
    if artifacts.get("type") == "S3":
        filled["namespaceType"] = "NONE"
    return {**filled, **artifacts}


def environment_defaults(environment: dict) -> dict:
    """An environment as AWS keeps it: CodeBuild pulls the image, unprivileged, no variables, unless given."""
    filled = {"imagePullCredentialsType": "CODEBUILD", "privilegedMode": False, "environmentVariables": []}
    return {**filled, **environment}


def with_defaults(settings: dict, project: str) -> dict:
    """CreateProject's parameters, or UpdateProject's changes, with the members AWS fills when they are left
    out (its answers show them)."""
    filled = dict(settings)
    if "source" in filled:
        filled["source"] = source_defaults(filled["source"])
    if "artifacts" in filled:
        filled["artifacts"] = artifacts_defaults(filled["artifacts"], project)
    if "environment" in filled:
        filled["environment"] = environment_defaults(filled["environment"])
    return filled


def linux_only(environment_type: str) -> str | None:
    """Why a build on this image type cannot run locally, or None when it can."""
    if environment_type not in WINDOWS_IMAGE_TYPES:
        return None
    return (
        f"Local builds run Linux images only, and this build's environment type is {environment_type}. "
        "Use a Linux image (type LINUX_CONTAINER, image aws/codebuild/amazonlinux-x86_64-standard:5.0), "
        "or run Windows builds on AWS with LAB_BACKEND=aws."
    )
