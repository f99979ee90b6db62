"""CodeBuild on the local endpoint: builds really run; projects stay in moto.

Ours: StartBuild, BatchGetBuilds, StopBuild, RetryBuild, ListBuilds, ListBuildsForProject,
BatchDeleteBuilds, InvalidateProjectCache, and CreateProject and UpdateProject (checked by `projects`, kept
by moto). The pipeline engine calls start_pipeline_build(), wait() and stop() in-process; a batch (batches.py)
start_batch_build().

Each build runs in a thread of its own (job.BuildJob), from a Plan fixed when it starts.
"""

import base64
import copy
import logging
import shutil
import threading
import uuid

from .. import motoapi
from ..awsjson import AwsError, now
from ..context import StopSignal
from ..dispatch import JsonService, request_region
from ..labpages.links import PageLinks
from . import projects, sandbox
from .job import BatchMember, BuildJob, Plan, Target, end_leftover_processes
from .reports import ReportStore, reports_folder
from .sources import PRIMARY, Source
from .store import BuildStore, builds_folder

log = logging.getLogger("labhelpers.endpoint")
OPERATIONS = {
    "CreateProject",
    "UpdateProject",
    "StartBuild",
    "RetryBuild",
    "BatchGetBuilds",
    "StopBuild",
    "ListBuilds",
    "ListBuildsForProject",
    "BatchDeleteBuilds",
    "InvalidateProjectCache",
}
DEFAULT_TIMEOUT_MINUTES = 60
DEFAULT_QUEUED_TIMEOUT_MINUTES = 480
TIMEOUT_MINUTES = range(5, 2161)
MAX_BATCH_IDS = 100
STOP_WAIT_SECONDS = 10.0  # StopBuild answers once the build has stopped, or after this long
SOURCE_TYPES = {"NO_SOURCE", "S3", "CODECOMMIT"}
VARIABLE_TYPES = {"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"}


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def _required(params: dict, name: str):
    value = params.get(name)
    if value in (None, "", [], {}):
        raise _invalid(f"{name} is required.")
    return value


# -- the service ------------------------------------------------------------------------------------


class CodeBuildService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(
        self,
        ctx,
        store: BuildStore | None = None,
        *,
        on_write=None,
        page_size: int = 100,
        reports: ReportStore | None = None,
    ):
        self.ctx = ctx
        self.links = PageLinks(ctx)
        self.store = store or BuildStore(builds_folder(ctx.layout))
        self.reports = reports or ReportStore(reports_folder(ctx.layout))
        self.page_size = page_size
        self._on_write = on_write or (lambda service: None)
        self._cancels: dict[str, StopSignal] = {}
        self._lock = threading.Lock()
        self._caller_name: str | None = None
        for build_id in self.store.interrupted:
            end_leftover_processes(build_id)
            shutil.rmtree(self.store.work_folder(build_id), ignore_errors=True)
        sandbox.problem()  # checked once; the log says so when builds cannot hide the home folder

    def owns(self, operation: str) -> bool:
        return operation in OPERATIONS and super().owns(operation)

    def close(self) -> None:
        """End the processes of running builds; their records end FAULT, with the reason, at next start."""
        with self._lock:
            running = list(self._cancels)
        for build_id in running:
            end_leftover_processes(build_id)

    # -- projects (kept in moto) ---------------------------------------------------------------------

    def create_project(self, params):
        """CreateProject: the checks are ours (projects), moto keeps the project."""
        region = request_region()
        projects.check_project(params, self.ctx.account)
        check_variables(params["environment"].get("environmentVariables") or [])
        params = projects.with_defaults(params, params["name"])
        defaults = {
            "timeoutInMinutes": DEFAULT_TIMEOUT_MINUTES,
            "queuedTimeoutInMinutes": DEFAULT_QUEUED_TIMEOUT_MINUTES,
        }
        with motoapi.LOCK:
            if motoapi.codebuild_project(self.ctx.account, region, params["name"]) is not None:
                raise AwsError(
                    "ResourceAlreadyExistsException",
                    f"Project already exists: {self._project_arn(params['name'], region)}",
                )
            metadata = motoapi.create_codebuild_project(self.ctx.account, region, params, defaults)
        self._on_write("codebuild")
        return {"project": {key: value for key, value in metadata.items() if value is not None}}

    def update_project(self, params):
        """UpdateProject (moto lacks it): the given settings replace the project's; the rest stay."""
        region = request_region()
        name = _required(params, "name")
        self.project(name, region)  # ResourceNotFoundException for an unknown project
        changes = {key: value for key, value in params.items() if key in _UPDATABLE}
        projects.check_changes(changes, self.ctx.account)
        check_variables((changes.get("environment") or {}).get("environmentVariables") or [])
        changes = projects.with_defaults(changes, name)
        answer = motoapi.update_codebuild_project(
            self.ctx.account, region, name, {**changes, "lastModifiedDate": now()}
        )
        self._on_write("codebuild")
        return {"project": {key: value for key, value in answer.items() if value is not None}}

    def invalidate_project_cache(self, params):
        """InvalidateProjectCache: local builds keep no cache between builds (the buildspec's cache section is
        ignored), so there is nothing to clear once the project is found."""
        self.project(_required(params, "projectName"), request_region())
        return {}

    # -- builds by hand ------------------------------------------------------------------------------

    def start_build(self, params):
        region = request_region()
        project = self.project(_required(params, "projectName"), region)
        return {"build": self._start_manual(project, params, region)}

    def retry_build(self, params):
        region = request_region()
        original = self._build(_required(params, "id"), region)
        request = self.store.request(original["id"])
        if request is None:
            raise _invalid(
                f"Build {original['id']} was started by CodePipeline; retry the pipeline stage instead."
            )
        project = self.project(original["projectName"], region)
        return {"build": self._start_manual(project, request, region)}

    def batch_get_builds(self, params):
        region = request_region()
        found, missing = found_and_not(id_list(params), lambda each: self.store.get(_build_id(each), region))
        return {"builds": found, "buildsNotFound": missing}

    def stop_build(self, params):
        return {"build": self.stop(_required(params, "id"), region=request_region())}

    def list_builds(self, params):
        return self._listing(params, request_region(), None)

    def list_builds_for_project(self, params):
        region = request_region()
        name = self.project(_required(params, "projectName"), region)["name"]
        return self._listing(params, region, name)

    def batch_delete_builds(self, params):
        region = request_region()
        deleted, not_deleted = [], []
        for build_id in id_list(params):
            build = self.store.get(_build_id(build_id), region)
            if build is None:
                not_deleted.append({"id": build_id, "statusCode": "BUILD_NOT_FOUND"})
            elif not build["buildComplete"]:
                not_deleted.append({"id": build_id, "statusCode": "BUILD_IN_PROGRESS"})
            else:
                self.store.delete(build["id"])
                deleted.append(build_id)
        return {"buildsDeleted": deleted, "buildsNotDeleted": not_deleted}

    # -- the pipeline engine's API (in-process) -----------------------------------------------------

    def start_pipeline_build(
        self,
        project: str,
        *,
        region: str,
        sources: list[tuple[str, dict]],
        primary: str,
        outputs: list[tuple[str, dict]],
        environment_variables: list[dict] | None = None,
        initiator: str,
        timeout_seconds: int | None = None,
        source_revision: str | None = None,
    ) -> str:
        """Start a build for a CodeBuild action and return its id at once.

        `sources` and `outputs` are (artifact name, {"bucket", "key"}) zips in the artifact store; `primary`
        names the input that becomes CODEBUILD_SRC_DIR (the others are CODEBUILD_SRC_DIR_<name>). One output
        takes the buildspec's primary artifacts; several take the secondary artifacts named like them.
        `environment_variables` are the action's (StartBuild overrides). `source_revision` is the primary
        input's source revision as CodePipeline has it (a commit id, an S3 version id): the build's
        resolvedSourceVersion and CODEBUILD_RESOLVED_SOURCE_VERSION, as on AWS. `timeout_seconds` replaces the
        project's timeout at a granularity StartBuild does not offer (for tests and demos).
        Raises AwsError (ResourceNotFoundException, InvalidInputException) if the build cannot start.
        """
        names = [name for name, _ in sources]
        if primary not in names:
            raise _invalid(f"The primary source {primary!r} is not one of the input artifacts {names}.")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise _invalid("timeout_seconds must be positive.")
        check_variables(environment_variables or [])
        definition = self.project(project, region)
        ordered = sorted(sources, key=lambda pair: pair[0] != primary)
        locations = [(name, f"{place['bucket']}/{place['key']}") for name, place in ordered]
        targets = [
            Target(None if len(outputs) == 1 else name, place["bucket"], "", place["key"], zipped=True)
            for name, place in outputs
        ]
        arn = f"arn:aws:s3:::{locations[0][1]}"
        build = self._new_build(definition, region, initiator)
        build.update(
            sourceVersion=arn,
            source=_pipeline_source(definition["source"]),
            secondarySources=[
                {"type": "S3", "location": location, "sourceIdentifier": name}
                for name, location in locations[1:]
            ],
            secondarySourceVersions=[
                {"sourceIdentifier": name, "sourceVersion": f"arn:aws:s3:::{location}"}
                for name, location in locations[1:]
            ],
            **_artifact_fields(targets, {}),
        )
        variables = _merge_variables(
            definition["environment"].get("environmentVariables") or [], environment_variables or []
        )
        build["environment"]["environmentVariables"] = variables
        plan = Plan(
            build_id=build["id"],
            region=region,
            buildspec=definition["source"].get("buildspec") or "",
            sources=[
                Source(PRIMARY if name == primary else name, "S3", location) for name, location in locations
            ],
            targets=targets,
            variables=variables,
            timeout_seconds=timeout_seconds or build["timeoutInMinutes"] * 60,
            source_revision=source_revision,
            **_log_place(build),
        )
        return self._launch(plan, build, request=None)["id"]

    def wait(self, build_id: str, timeout: float | None = None) -> dict:
        """Block until the build ends (or `timeout` seconds pass) and return it as BatchGetBuilds does."""
        self._build(build_id, None)
        return self.store.wait(_build_id(build_id), timeout)

    def stop(self, build_id: str, *, region: str | None = None) -> dict:
        """Stop a running build; return it once stopped (a build already over is returned as it is)."""
        build = self._build(build_id, region)
        with self._lock:
            cancel = self._cancels.get(build["id"])
        if cancel is None:
            return build
        cancel.set()
        return self.store.wait(build["id"], STOP_WAIT_SECONDS)

    # -- starting ------------------------------------------------------------------------------------

    def start_batch_build(self, project: str, params: dict, region: str, member: BatchMember) -> dict:
        """Start one build of a batch (StartBuild's parameters, as the batch made them); answer the build."""
        return self._start_manual(self.project(project, region), params, region, member)

    def _start_manual(
        self, project: dict, params: dict, region: str, member: BatchMember | None = None
    ) -> dict:
        """A build of StartBuild's parameters: the project's settings with the overrides applied."""
        source = manual_source(project, params)
        secondary = params.get("secondarySourcesOverride", project.get("secondarySources")) or []
        versions = params.get("secondarySourcesVersionOverride", project.get("secondarySourceVersions")) or []
        secondary_versions = {item.get("sourceIdentifier"): item.get("sourceVersion") for item in versions}
        artifacts = params.get("artifactsOverride") or project["artifacts"]
        secondary_artifacts = (
            params.get("secondaryArtifactsOverride", project.get("secondaryArtifacts")) or []
        )
        overrides = params.get("environmentVariablesOverride") or []
        check_variables(overrides)
        timeout = params.get("timeoutInMinutesOverride") or project.get("timeoutInMinutes")
        timeout = timeout or DEFAULT_TIMEOUT_MINUTES
        if timeout not in TIMEOUT_MINUTES:
            raise _invalid(f"timeoutInMinutes must be from 5 to 2160, not {timeout}.")
        source_version = params.get("sourceVersion") or project.get("sourceVersion")

        if member:
            build = self._new_build(project, region, member.initiator, member.build_id)
            build["buildBatchArn"] = member.batch_arn
        else:
            build = self._new_build(project, region, self.caller(region))
        build_uuid = build["id"].rpartition(":")[2]
        folder = member.identifier if member else ""
        targets = manual_targets(project["name"], artifacts, secondary_artifacts, build_uuid, folder)
        variables = _merge_variables(project["environment"].get("environmentVariables") or [], overrides)
        build["environment"].update(environment_overrides(params), environmentVariables=variables)
        build.update(
            source=source,
            secondarySources=secondary,
            secondarySourceVersions=versions,
            timeoutInMinutes=timeout,
            serviceRole=params.get("serviceRoleOverride") or build["serviceRole"],
            **_artifact_fields(targets, artifacts, secondary_artifacts),
            **({"sourceVersion": source_version} if source_version else {}),
        )
        if params.get("logsConfigOverride"):
            build["logs"] = _logs_field(
                params["logsConfigOverride"], build, region, self.links.build_log(build["id"])
            )
        plan = Plan(
            build_id=build["id"],
            region=region,
            buildspec=source.get("buildspec") or "",
            sources=[
                Source(PRIMARY, source["type"], source.get("location", ""), source_version),
                *(
                    Source(
                        item["sourceIdentifier"],
                        item["type"],
                        item["location"],
                        secondary_versions.get(item["sourceIdentifier"]),
                    )
                    for item in _checked_secondary_sources(secondary)
                ),
            ],
            targets=targets,
            variables=variables,
            timeout_seconds=timeout * 60,
            batch_identifier=member.identifier if member else None,
            **_log_place(build),
        )
        return self._launch(plan, build, request=params, on_finished=member.on_finished if member else None)

    def _new_build(self, project: dict, region: str, initiator: str, build_id: str | None = None) -> dict:
        """The fields every build starts with; the caller adds its source and artifacts."""
        name = project["name"]
        build_id = build_id or f"{name}:{uuid.uuid4()}"
        build = {
            "id": build_id,
            "arn": f"arn:aws:codebuild:{region}:{self.ctx.account}:build/{build_id}",
            "startTime": now(),
            "currentPhase": "SUBMITTED",
            "buildStatus": "IN_PROGRESS",
            "projectName": name,
            "phases": [],
            "cache": project.get("cache") or {"type": "NO_CACHE"},
            "environment": copy.deepcopy(project["environment"]),
            "serviceRole": project.get("serviceRole", ""),
            "timeoutInMinutes": project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES,
            "queuedTimeoutInMinutes": project.get("queuedTimeoutInMinutes") or DEFAULT_QUEUED_TIMEOUT_MINUTES,
            "buildComplete": False,
            "initiator": initiator,
            "encryptionKey": project.get("encryptionKey")
            or f"arn:aws:kms:{region}:{self.ctx.account}:alias/aws/s3",
            "exportedEnvironmentVariables": [],
        }
        build["logs"] = _logs_field(
            project.get("logsConfig") or {}, build, region, self.links.build_log(build["id"])
        )
        return build

    def _launch(self, plan: Plan, build: dict, request: dict | None, on_finished=None) -> dict:
        stored = self.store.create(plan.region, build, request)
        cancel = StopSignal()
        with self._lock:
            self._cancels[stored["id"]] = cancel

        def finished(build_id: str) -> None:
            self._finished(build_id)
            if on_finished:
                on_finished(build_id)

        job = BuildJob(self.ctx, self.store, plan, cancel, finished, self.reports)
        threading.Thread(target=job.run, name=f"build-{stored['id']}", daemon=True).start()
        return stored

    def _finished(self, build_id: str) -> None:
        with self._lock:
            self._cancels.pop(build_id, None)

    # -- lookups ---------------------------------------------------------------------------------------

    def _project_arn(self, name: str, region: str) -> str:
        return f"arn:aws:codebuild:{region}:{self.ctx.account}:project/{name}"

    def project(self, name: str, region: str) -> dict:
        """The project's settings as moto keeps them (a name or an ARN); ResourceNotFoundException if none."""
        name = name.rpartition(":project/")[2] if name.startswith("arn:") else name
        metadata = motoapi.codebuild_project(self.ctx.account, region, name)
        if metadata is None:
            raise AwsError(
                "ResourceNotFoundException", f"Project cannot be found: {self._project_arn(name, region)}"
            )
        return metadata

    def _build(self, build_id: str, region: str | None) -> dict:
        if ":" not in build_id:
            raise _invalid(f"Invalid build ID provided: {build_id}")
        build = self.store.get(_build_id(build_id), region)
        if build is None:
            raise AwsError("ResourceNotFoundException", f"Build {build_id} does not exist")
        return build

    def caller(self, region: str) -> str:
        """The initiator of builds started by hand: the caller's IAM name, as the endpoint's STS tells it."""
        if self._caller_name is None:
            arn = self.ctx.client("sts", region).get_caller_identity()["Arn"]
            self._caller_name = arn.split(":", 5)[5].split("/", 1)[-1]
        return self._caller_name

    def _listing(self, params: dict, region: str, project: str | None) -> dict:
        newest = newest_first(params)
        ordered = self.store.ordered(region, project, newest_first=newest)
        token = params.get("nextToken")
        if token:
            after = _decode_token(token)
            ordered = [(seq, bid) for seq, bid in ordered if (seq < after if newest else seq > after)]
        page = ordered[: self.page_size]
        answer = {"ids": [build_id for _, build_id in page]}
        if len(ordered) > len(page):
            answer["nextToken"] = _encode_token(page[-1][0])
        return answer


# -- helpers ------------------------------------------------------------------------------------------


_UPDATABLE = {
    "description",
    "source",
    "secondarySources",
    "sourceVersion",
    "secondarySourceVersions",
    "artifacts",
    "secondaryArtifacts",
    "cache",
    "environment",
    "serviceRole",
    "timeoutInMinutes",
    "queuedTimeoutInMinutes",
    "tags",
    "vpcConfig",
    "logsConfig",
    "badgeEnabled",
    "concurrentBuildLimit",
    "buildBatchConfig",
}


def _buildspec_field(source: dict) -> dict:
    return {"buildspec": source["buildspec"]} if source.get("buildspec") else {}


def _pipeline_source(project_source: dict) -> dict:
    """A pipeline build's source: the project's CODEPIPELINE source as it is (with its gitCloneDepth, say), of
    another type only its buildspec."""
    own = project_source if project_source["type"] == "CODEPIPELINE" else _buildspec_field(project_source)
    return projects.source_defaults({**own, "type": "CODEPIPELINE"})


def manual_source(project: dict, params: dict) -> dict:
    """The project's source with StartBuild's overrides; CODEPIPELINE only through a pipeline."""
    source = copy.deepcopy(project["source"])
    kind = params.get("sourceTypeOverride")
    if kind and kind != source["type"]:
        source = projects.source_defaults({"type": kind, **_buildspec_field(source)})
    if params.get("sourceLocationOverride"):
        source["location"] = params["sourceLocationOverride"]
    if params.get("buildspecOverride"):
        source["buildspec"] = params["buildspecOverride"]
    if params.get("gitCloneDepthOverride") is not None:
        source["gitCloneDepth"] = params["gitCloneDepthOverride"]
    if source["type"] == "CODEPIPELINE":
        raise _invalid(
            f"Project {project['name']} takes its source from CodePipeline (source type CODEPIPELINE), "
            "so only a pipeline can start its builds. To start one by hand, pass sourceTypeOverride "
            "(NO_SOURCE with buildspecOverride, S3 or CODECOMMIT with sourceLocationOverride)."
        )
    _check_source(source, "source")
    return source


def _checked_secondary_sources(sources: list[dict]) -> list[dict]:
    identifiers = set()
    for item in sources:
        identifier = item.get("sourceIdentifier")
        if not identifier or identifier in identifiers:
            raise _invalid("Each secondary source needs its own sourceIdentifier.")
        identifiers.add(identifier)
        _check_source(item, f"secondary source {identifier}")
    return sources


def _check_source(source: dict, what: str) -> None:
    if source.get("type") not in SOURCE_TYPES:
        raise _invalid(
            f"The {what} type {source.get('type')} is not available on the local endpoint; "
            f"use one of {sorted(SOURCE_TYPES)}."
        )
    if source["type"] != "NO_SOURCE" and not source.get("location"):
        raise _invalid(f"The {what} of type {source['type']} needs a location.")


def manual_targets(
    project: str, artifacts: dict, secondary: list[dict], build_uuid: str, batch_folder: str = ""
) -> list[Target]:
    """Where StartBuild's artifacts go: S3 targets, NO_ARTIFACTS none, CODEPIPELINE only from a pipeline. A
    batch's build puts them in a folder named by its identifier, so that the batch's builds keep theirs."""
    if artifacts.get("type") == "CODEPIPELINE":
        raise _invalid(
            f"Project {project} sends its artifacts to CodePipeline (artifacts type CODEPIPELINE), so only "
            "a pipeline can start its builds. To start one by hand, pass artifactsOverride "
            "(S3 or NO_ARTIFACTS)."
        )
    if any(not item.get("artifactIdentifier") for item in secondary):
        raise _invalid("Each secondary artifact needs an artifactIdentifier.")
    targets = []
    for identifier, settings in [
        (None, artifacts),
        *((item["artifactIdentifier"], item) for item in secondary),
    ]:
        if settings.get("type") == "NO_ARTIFACTS":
            continue
        if settings.get("type") != "S3" or not settings.get("location"):
            raise _invalid(f"Artifacts must be S3 with a bucket as location, or NO_ARTIFACTS: {settings}")
        path = settings.get("path") or ""
        namespace = build_uuid if settings.get("namespaceType") == "BUILD_ID" else ""
        name = settings.get("name") or project
        targets.append(
            Target(
                identifier,
                settings["location"].removeprefix("arn:aws:s3:::"),  # a bucket's name or its ARN
                "/".join(part for part in (path.strip("/"), batch_folder, namespace) if part),
                "" if name == "/" else name,
                zipped=settings.get("packaging") == "ZIP",
                buildspec_names=bool(settings.get("overrideArtifactName")),
            )
        )
    return targets


def _artifact_fields(targets: list[Target], artifacts: dict, secondary: list[dict] = ()) -> dict:
    """The build record's artifacts and secondaryArtifacts, before the build writes them."""
    settings = {None: artifacts, **{item.get("artifactIdentifier"): item for item in secondary}}
    shown = {}
    for target in targets:
        declared = settings.get(target.identifier, {})
        shown[target.identifier] = {
            "location": target.location(),
            "encryptionDisabled": bool(declared.get("encryptionDisabled", False)),
            **({"overrideArtifactName": True} if declared.get("overrideArtifactName") else {}),
            **({"artifactIdentifier": target.identifier} if target.identifier else {}),
        }
    return {
        "artifacts": shown.pop(None, {"location": ""}),
        "secondaryArtifacts": list(shown.values()),
    }


_ENVIRONMENT_OVERRIDES = {  # StartBuild's parameter -> the environment's member, and the enum it takes
    "environmentTypeOverride": ("type", "EnvironmentType"),
    "computeTypeOverride": ("computeType", "ComputeType"),
    "imageOverride": ("image", None),
    "privilegedModeOverride": ("privilegedMode", None),
}


def environment_overrides(params: dict) -> dict:
    """The environment members StartBuild's overrides replace."""
    changes = {}
    for parameter, (member, shape) in _ENVIRONMENT_OVERRIDES.items():
        value = params.get(parameter)
        if value is None:
            continue
        allowed = projects.enum_values(shape) if shape else ()
        if shape and value not in allowed:
            raise _invalid(f"Invalid {parameter} {value!r}: use one of {', '.join(allowed)}.")
        changes[member] = value
    return changes


def check_variables(variables: list[dict]) -> None:
    for variable in variables:
        name = variable.get("name")
        if not name or "value" not in variable:
            raise _invalid(f"An environment variable needs a name and a value: {variable}")
        if name.startswith("CODEBUILD_"):
            raise _invalid(
                f"Invalid environment variable name {name}: names starting with CODEBUILD_ are reserved."
            )
        if (variable.get("type") or "PLAINTEXT") not in VARIABLE_TYPES:
            raise _invalid(
                f"Environment variable {name} has type {variable['type']}; "
                f"use one of {sorted(VARIABLE_TYPES)}."
            )


def _merge_variables(project: list[dict], overrides: list[dict]) -> list[dict]:
    """The project's variables with the overrides replacing those of the same name."""
    merged = {item["name"]: {"type": "PLAINTEXT", **item} for item in project}
    merged.update({item["name"]: {"type": "PLAINTEXT", **item} for item in overrides})
    return list(merged.values())


def _logs_field(config: dict, build: dict, region: str, deep_link: str) -> dict:
    """The build record's logs: CloudWatch Logs group /aws/codebuild/<project>, stream <uuid>; the deep link
    to the endpoint's page of the log, as AWS's leads to the console's."""
    cloudwatch = config.get("cloudWatchLogs") or {}
    s3_logs = {"status": "DISABLED", "encryptionDisabled": False}
    if cloudwatch.get("status") == "DISABLED":
        return {"cloudWatchLogs": {"status": "DISABLED"}, "s3Logs": s3_logs}
    group = cloudwatch.get("groupName") or f"/aws/codebuild/{build['projectName']}"
    build_uuid = build["id"].rpartition(":")[2]
    stream = f"{cloudwatch['streamName']}/{build_uuid}" if cloudwatch.get("streamName") else build_uuid
    account = build["arn"].split(":")[4]
    return {
        "groupName": group,
        "streamName": stream,
        "deepLink": deep_link,
        "cloudWatchLogsArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}",
        "cloudWatchLogs": {"status": "ENABLED"},
        "s3Logs": s3_logs,
    }


def _log_place(build: dict) -> dict:
    logs = build["logs"]
    return {"log_group": logs.get("groupName"), "log_stream": logs.get("streamName")}


def id_list(params: dict, what: str = "build", *, least: int = 1) -> list[str]:
    """The request's `ids`: a list of `least` to 100 ids of `what`."""
    ids = params.get("ids")
    if not isinstance(ids, list) or len(ids) < least:
        raise _invalid(f"ids is required: give {least} to {MAX_BATCH_IDS} {what} ids.")
    if len(ids) > MAX_BATCH_IDS:
        raise _invalid(f"At most {MAX_BATCH_IDS} {what} ids are allowed.")
    return ids


def found_and_not(ids: list[str], get) -> tuple[list[dict], list[str]]:
    """What `get` finds for each id, in order, and the ids it does not find."""
    found = {each: get(each) for each in ids}
    return [item for item in found.values() if item], [each for each, item in found.items() if item is None]


def newest_first(params: dict) -> bool:
    """The request's sortOrder: DESCENDING (the default) lists the newest first."""
    order = params.get("sortOrder") or "DESCENDING"
    if order not in ("ASCENDING", "DESCENDING"):
        raise _invalid(f"sortOrder must be ASCENDING or DESCENDING, not {order!r}.")
    return order == "DESCENDING"


def _build_id(build_id_or_arn: str) -> str:
    return build_id_or_arn.rpartition(":build/")[2] if build_id_or_arn.startswith("arn:") else build_id_or_arn


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"after:{seq}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        prefix, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if prefix == "after":
            return int(seq)
    except (ValueError, UnicodeDecodeError):
        pass
    raise _invalid("The nextToken is not valid; pass the nextToken of the previous answer.")
