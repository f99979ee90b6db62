"""CodeBuild on the local endpoint: builds really run; projects stay in moto.

Ours: StartBuild, BatchGetBuilds, StopBuild, RetryBuild, ListBuilds, ListBuildsForProject,
BatchDeleteBuilds, and CreateProject (moto's, without its demand for a `location` on CODEPIPELINE and
NO_SOURCE projects). The pipeline engine calls start_pipeline_build(), wait() and stop() in-process.

Each build runs in a thread of its own. It fetches its sources (an S3 zip, a CodeCommit repository
through the endpoint's git server, or nothing) into `<state>/builds/<uuid>/work`, runs the buildspec
with buildrunner, streams the log to CloudWatch Logs (`/aws/codebuild/<project>`, stream `<uuid>`) and
writes its artifacts to S3, all through the endpoint's own APIs. The build's environment is the
endpoint's dummy identity and CodeBuild's variables, never this process's environment.
"""

import base64
import copy
import functools
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from . import buildspec
from .archives import ArchiveError, extract_zip
from .awsjson import AwsError, now
from .buildrunner import BASE_PATH, FAILED, SUCCEEDED, BuildArtifact, BuildResult, run_build
from .buildstore import BuildStore, builds_folder, end_with_fault
from .dispatch import JsonService, request_region
from .motoapp import LOCK

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
}
DEFAULT_TIMEOUT_MINUTES = 60
DEFAULT_QUEUED_TIMEOUT_MINUTES = 480
TIMEOUT_MINUTES = range(5, 2161)
MAX_BATCH_IDS = 100
STOP_WAIT_SECONDS = 10.0  # StopBuild answers once the build has stopped, or after this long
LOG_FLUSH_SECONDS = 2.0
LOG_BATCH_LINES = 1000
LOG_EVENT_CHARS = 256 * 1024 - 26
LOG_BATCH_BYTES = 1_000_000
PRIMARY = "(primary)"  # the primary source's name for the runner; never a valid sourceIdentifier
VENV_BIN = Path(sys.executable).parent  # the lab's `aws` CLI, for buildspecs that call the endpoint
SOURCE_TYPES = {"NO_SOURCE", "S3", "CODECOMMIT"}
VARIABLE_TYPES = {"PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"}
_LOCATIONLESS_SOURCES = {"CODEPIPELINE", "NO_SOURCE"}
_KEPT_BY_US = ("secondarySources", "secondarySourceVersions", "secondaryArtifacts")  # moto drops them


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def _required(params: dict, name: str):
    value = params.get(name)
    if value in (None, "", [], {}):
        raise _invalid(f"{name} is required.")
    return value


# -- what a build is made of ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """Where one source comes from: `kind` NO_SOURCE, S3 (`location` bucket/key of a zip) or CODECOMMIT."""

    identifier: str  # PRIMARY, or the secondary source's identifier
    kind: str
    location: str = ""
    version: str | None = None

    def describe(self) -> str:
        which = "primary source" if self.identifier == PRIMARY else f"secondary source {self.identifier}"
        return f"{which} and source version {self.version}" if self.version else which


@dataclass(frozen=True)
class _Target:
    """Where one of the buildspec's artifacts goes in S3 (`identifier` None: its primary artifacts)."""

    identifier: str | None
    bucket: str
    folder: str  # the key's path and build-id parts
    name: str  # '' puts the artifact straight into `folder`
    zipped: bool
    buildspec_names: bool = False  # overrideArtifactName: the buildspec's artifact name wins

    def key(self, buildspec_name: str | None = None) -> str:
        name = buildspec_name if self.buildspec_names and buildspec_name else self.name
        return "/".join(part.strip("/") for part in (self.folder, name) if part.strip("/"))

    def location(self, buildspec_name: str | None = None) -> str:
        return f"arn:aws:s3:::{self.bucket}/{self.key(buildspec_name)}"


@dataclass(frozen=True)
class _Plan:
    """Everything a build needs to run, fixed when it starts."""

    build_id: str
    region: str
    buildspec: str  # the project's buildspec setting: inline YAML, or a path in the primary source
    sources: list[_Source]  # primary first
    targets: list[_Target]
    variables: list[dict]  # {name, value, type}: the project's, then the overrides
    timeout_seconds: int
    log_group: str | None  # None: CloudWatch Logs disabled
    log_stream: str | None


class _BuildFailure(Exception):
    """What fails a phase the runner does not run itself (fetching sources, writing artifacts)."""

    def __init__(self, status_code: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


# -- the service ------------------------------------------------------------------------------------


class CodeBuildService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(self, ctx, store: BuildStore | None = None, *, on_write=None, page_size: int = 100):
        self.ctx = ctx
        self.store = store or BuildStore(builds_folder(ctx.layout))
        self.page_size = page_size
        self._on_write = on_write or (lambda service: None)
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._caller_name: str | None = None
        for build_id in self.store.interrupted:
            _end_leftover_processes(build_id)
            shutil.rmtree(self.store.work_folder(build_id), ignore_errors=True)

    def owns(self, operation: str) -> bool:
        return operation in OPERATIONS and super().owns(operation)

    # -- projects (kept in moto) ---------------------------------------------------------------------

    def create_project(self, params):
        """moto's CreateProject, except that CODEPIPELINE and NO_SOURCE projects need no `location`."""
        from moto.codebuild import responses as moto_rules
        from moto.core.exceptions import JsonRESTError

        region = request_region()
        name = _required(params, "name")
        source, artifacts = _required(params, "source"), _required(params, "artifacts")
        environment, service_role = _required(params, "environment"), _required(params, "serviceRole")
        _check_variables(environment.get("environmentVariables") or [])
        with LOCK:
            backend = self._moto_backend(region)
            try:  # moto's checks, shown a stand-in location where AWS needs none
                moto_rules._validate_required_params_source(_with_location(source, _LOCATIONLESS_SOURCES))
                moto_rules._validate_required_params_service_role(self.ctx.account, region, service_role)
                moto_rules._validate_required_params_artifacts(_with_location(artifacts, {"CODEPIPELINE"}))
                moto_rules._validate_required_params_environment(environment)
                moto_rules._validate_required_params_project_name(name)
            except JsonRESTError as exc:
                raise AwsError(exc.error_type, exc.message) from exc
            if name in backend.codebuild_projects:
                raise AwsError(
                    "ResourceAlreadyExistsException",
                    f"Project already exists: {self._project_arn(name, region)}",
                )
            metadata = backend.create_project(
                project_name=name,
                description=params.get("description"),
                project_source=copy.deepcopy(source),
                artifacts=copy.deepcopy(artifacts),
                environment=copy.deepcopy(environment),
                service_role=service_role,
                tags=params.get("tags"),
                cache=params.get("cache"),
                timeout=params.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES,
                queued_timeout=params.get("queuedTimeoutInMinutes") or DEFAULT_QUEUED_TIMEOUT_MINUTES,
                source_version=params.get("sourceVersion"),
                logs_config=params.get("logsConfig"),
                vpc_config=params.get("vpcConfig"),
            )
            metadata.update({key: copy.deepcopy(params[key]) for key in _KEPT_BY_US if key in params})
            answer = {key: value for key, value in metadata.items() if value is not None}
            answer = copy.deepcopy(answer)
        self._on_write("codebuild")
        return {"project": answer}

    def update_project(self, params):
        """UpdateProject (moto lacks it): the given settings replace the project's; the rest stay."""
        region = request_region()
        name = _required(params, "name")
        self._project(name, region)  # ResourceNotFoundException for an unknown project
        changes = {key: copy.deepcopy(value) for key, value in params.items() if key in _UPDATABLE}
        _check_variables((changes.get("environment") or {}).get("environmentVariables") or [])
        with LOCK:
            project = self._moto_backend(region).codebuild_projects[name]
            project.project_metadata.update(changes, lastModifiedDate=now())
            if "serviceRole" in changes:
                project.service_role = changes["serviceRole"]
            answer = copy.deepcopy(project.project_metadata)
        self._on_write("codebuild")
        return {"project": {key: value for key, value in answer.items() if value is not None}}

    # -- builds by hand ------------------------------------------------------------------------------

    def start_build(self, params):
        region = request_region()
        project = self._project(_required(params, "projectName"), region)
        return {"build": self._start_manual(project, params, region)}

    def retry_build(self, params):
        region = request_region()
        original = self._build(_required(params, "id"), region)
        request = self.store.request(original["id"])
        if request is None:
            raise _invalid(
                f"Build {original['id']} was started by CodePipeline; retry the pipeline stage instead."
            )
        project = self._project(original["projectName"], region)
        return {"build": self._start_manual(project, request, region)}

    def batch_get_builds(self, params):
        ids = _batch_ids(params)
        region = request_region()
        found = {build_id: self.store.get(_build_id(build_id), region) for build_id in ids}
        answer = {"builds": [build for build in found.values() if build]}
        missing = [build_id for build_id, build in found.items() if build is None]
        return {**answer, **({"buildsNotFound": missing} if missing else {})}

    def stop_build(self, params):
        return {"build": self.stop(_required(params, "id"), region=request_region())}

    def list_builds(self, params):
        return self._listing(params, request_region(), None)

    def list_builds_for_project(self, params):
        region = request_region()
        name = self._project(_required(params, "projectName"), region)["name"]
        return self._listing(params, region, name)

    def batch_delete_builds(self, params):
        region = request_region()
        deleted, not_deleted = [], []
        for build_id in _batch_ids(params):
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
    ) -> str:
        """Start a build for a CodeBuild action and return its id at once.

        `sources` and `outputs` are (artifact name, {"bucket", "key"}) zips in the artifact store; `primary`
        names the input that becomes CODEBUILD_SRC_DIR (the others are CODEBUILD_SRC_DIR_<name>). One output
        takes the buildspec's primary artifacts; several take the secondary artifacts named like them.
        `environment_variables` are the action's (StartBuild overrides). `timeout_seconds` replaces the
        project's timeout at a granularity StartBuild does not offer (for tests and demos).
        Raises AwsError (ResourceNotFoundException, InvalidInputException) if the build cannot start.
        """
        names = [name for name, _ in sources]
        if primary not in names:
            raise _invalid(f"The primary source {primary!r} is not one of the input artifacts {names}.")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise _invalid("timeout_seconds must be positive.")
        _check_variables(environment_variables or [])
        definition = self._project(project, region)
        ordered = sorted(sources, key=lambda pair: pair[0] != primary)
        locations = [(name, f"{place['bucket']}/{place['key']}") for name, place in ordered]
        targets = [
            _Target(None if len(outputs) == 1 else name, place["bucket"], "", place["key"], zipped=True)
            for name, place in outputs
        ]
        arn = f"arn:aws:s3:::{locations[0][1]}"
        build = self._new_build(definition, region, initiator)
        build.update(
            sourceVersion=arn,
            source={"type": "CODEPIPELINE", **_buildspec_field(definition["source"]), "insecureSsl": False},
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
        plan = _Plan(
            build_id=build["id"],
            region=region,
            buildspec=definition["source"].get("buildspec") or "",
            sources=[
                _Source(PRIMARY if name == primary else name, "S3", location) for name, location in locations
            ],
            targets=targets,
            variables=variables,
            timeout_seconds=timeout_seconds or build["timeoutInMinutes"] * 60,
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

    def _start_manual(self, project: dict, params: dict, region: str) -> dict:
        """A build of StartBuild's parameters: the project's settings with the overrides applied."""
        source = _manual_source(project, params)
        secondary = params.get("secondarySourcesOverride", project.get("secondarySources")) or []
        versions = params.get("secondarySourcesVersionOverride", project.get("secondarySourceVersions")) or []
        secondary_versions = {item.get("sourceIdentifier"): item.get("sourceVersion") for item in versions}
        artifacts = params.get("artifactsOverride") or project["artifacts"]
        secondary_artifacts = (
            params.get("secondaryArtifactsOverride", project.get("secondaryArtifacts")) or []
        )
        overrides = params.get("environmentVariablesOverride") or []
        _check_variables(overrides)
        timeout = params.get("timeoutInMinutesOverride") or project.get("timeoutInMinutes")
        timeout = timeout or DEFAULT_TIMEOUT_MINUTES
        if timeout not in TIMEOUT_MINUTES:
            raise _invalid(f"timeoutInMinutes must be from 5 to 2160, not {timeout}.")
        source_version = params.get("sourceVersion") or project.get("sourceVersion")

        build = self._new_build(project, region, self._caller(region))
        build_uuid = build["id"].rpartition(":")[2]
        targets = _manual_targets(project["name"], artifacts, secondary_artifacts, build_uuid)
        variables = _merge_variables(project["environment"].get("environmentVariables") or [], overrides)
        build["environment"]["environmentVariables"] = variables
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
            build["logs"] = _logs_field(params["logsConfigOverride"], build, region)
        plan = _Plan(
            build_id=build["id"],
            region=region,
            buildspec=source.get("buildspec") or "",
            sources=[
                _Source(PRIMARY, source["type"], source.get("location", ""), source_version),
                *(
                    _Source(
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
            **_log_place(build),
        )
        return self._launch(plan, build, request=params)

    def _new_build(self, project: dict, region: str, initiator: str) -> dict:
        """The fields every build starts with; the caller adds its source and artifacts."""
        name = project["name"]
        build_id = f"{name}:{uuid.uuid4()}"
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
        build["logs"] = _logs_field(project.get("logsConfig") or {}, build, region)
        return build

    def _launch(self, plan: _Plan, build: dict, request: dict | None) -> dict:
        stored = self.store.create(plan.region, build, request)
        cancel = threading.Event()
        with self._lock:
            self._cancels[stored["id"]] = cancel
        run = _BuildRun(self, plan, cancel)
        threading.Thread(target=run.run, name=f"build-{stored['id']}", daemon=True).start()
        return stored

    def _finished(self, build_id: str) -> None:
        with self._lock:
            self._cancels.pop(build_id, None)

    # -- lookups ---------------------------------------------------------------------------------------

    def _moto_backend(self, region: str):
        from moto.backends import get_backend

        return get_backend("codebuild")[self.ctx.account][region]

    def _project_arn(self, name: str, region: str) -> str:
        return f"arn:aws:codebuild:{region}:{self.ctx.account}:project/{name}"

    def _project(self, name: str, region: str) -> dict:
        """The project's settings as moto keeps them (a name or an ARN); ResourceNotFoundException if none."""
        name = name.rpartition(":project/")[2] if name.startswith("arn:") else name
        with LOCK:
            found = self._moto_backend(region).codebuild_projects.get(name)
            metadata = copy.deepcopy(found.project_metadata) if found else None
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

    def _caller(self, region: str) -> str:
        """The initiator of builds started by hand: the caller's IAM name, as the endpoint's STS tells it."""
        if self._caller_name is None:
            arn = self.ctx.client("sts", region).get_caller_identity()["Arn"]
            self._caller_name = arn.split(":", 5)[5].split("/", 1)[-1]
        return self._caller_name

    def _listing(self, params: dict, region: str, project: str | None) -> dict:
        order = params.get("sortOrder") or "DESCENDING"
        if order not in ("ASCENDING", "DESCENDING"):
            raise _invalid(f"sortOrder must be ASCENDING or DESCENDING, not {order!r}.")
        newest_first = order == "DESCENDING"
        ordered = self.store.ordered(region, project, newest_first=newest_first)
        token = params.get("nextToken")
        if token:
            after = _decode_token(token)
            ordered = [(seq, bid) for seq, bid in ordered if (seq < after if newest_first else seq > after)]
        page = ordered[: self.page_size]
        answer = {"ids": [build_id for _, build_id in page]}
        if len(ordered) > len(page):
            answer["nextToken"] = _encode_token(page[-1][0])
        return answer


# -- one running build ------------------------------------------------------------------------------


class _BuildRun:
    """Runs one build in its own thread and keeps its stored record up to date."""

    def __init__(self, service: CodeBuildService, plan: _Plan, cancel: threading.Event):
        self.ctx = service.ctx
        self.service = service
        self.store = service.store
        self.plan = plan
        self.cancel = cancel
        self.work = self.store.work_folder(plan.build_id)
        self.logs = _LogStream(self.ctx.client("logs", plan.region), plan.log_group, plan.log_stream)
        self.uploaded: dict[str | None, dict] = {}  # artifact identifier -> what the build record shows

    def run(self) -> None:
        build_id = self.plan.build_id
        try:
            try:
                self.logs.open()
                ending = functools.partial(self.finish, result=self.execute())
            except Exception as exc:  # our fault, not the buildspec's: the build ends FAULT, never hangs
                log.exception("build %s failed locally", build_id)
                message = f"The local endpoint failed to run the build: {type(exc).__name__}: {exc}"
                ending = functools.partial(end_with_fault, when=now(), message=message)
            self.logs.flush()  # the whole log is there once the build shows complete
            shutil.rmtree(self.work, ignore_errors=True)
            self.store.update(build_id, ending)
        finally:
            self.service._finished(build_id)

    def execute(self) -> BuildResult:
        folders: dict[str, Path] = {}
        try:
            versions = {}
            for source in self.plan.sources:
                folder = self.work / ("src" if source.identifier == PRIMARY else f"src_{source.identifier}")
                versions[source.identifier] = self.fetch(source, folder)
                folders[source.identifier] = folder
            resolved = versions[PRIMARY]
            env = self.environment(folders[PRIMARY], resolved)
        except _BuildFailure as failure:
            return self.setup_failed(failure)
        if resolved:
            self.store.update(self.plan.build_id, lambda build: build.update(resolvedSourceVersion=resolved))
        result = run_build(
            self.plan.buildspec,
            work_root=self.work / "agent",
            sources=folders,
            primary=PRIMARY,
            env=env,
            timeout_seconds=self.plan.timeout_seconds,
            on_log=self.logs.write,
            on_phase=self.on_phase,
            cancel=self.cancel,
        )
        upload_phase = next((p for p in result.phases if p["phaseType"] == "UPLOAD_ARTIFACTS"), None)
        if upload_phase and upload_phase.get("phaseStatus") == SUCCEEDED:
            self.upload(result, upload_phase)
        return result

    def on_phase(self, phase: dict) -> None:
        """A phase started or ended: send the log so far, and show the phase (COMPLETED waits for finish)."""
        self.logs.flush()
        if phase["phaseType"] == "COMPLETED":
            return

        def show(build: dict) -> None:
            phases = build["phases"]
            known = [index for index, shown in enumerate(phases) if shown["phaseType"] == phase["phaseType"]]
            if known:
                phases[known[0]] = phase
            else:
                phases.append(phase)
                build["currentPhase"] = phase["phaseType"]

        self.store.update(self.plan.build_id, show)

    def finish(self, build: dict, result: BuildResult) -> None:
        ended = now()
        phases = [phase for phase in result.phases if phase["phaseType"] != "COMPLETED"]
        build.update(
            phases=[*phases, {"phaseType": "COMPLETED", "startTime": ended}],
            currentPhase="COMPLETED",
            buildStatus=result.build_status,
            endTime=ended,
            buildComplete=True,
            exportedEnvironmentVariables=[
                {"name": name, "value": value} for name, value in result.exported_variables.items()
            ],
        )
        for artifact in [build["artifacts"], *build["secondaryArtifacts"]]:
            artifact.update(self.uploaded.get(artifact.get("artifactIdentifier"), {}))

    # -- sources ---------------------------------------------------------------------------------------

    def fetch(self, source: _Source, folder: Path) -> str | None:
        """Put the source into `folder`; return the version it resolved to (a commit id), if any."""
        folder.mkdir(parents=True, exist_ok=True)
        if source.kind == "S3":
            return self.fetch_s3(source, folder)
        if source.kind == "CODECOMMIT":
            return self.fetch_codecommit(source, folder)
        return None

    def fetch_s3(self, source: _Source, folder: Path) -> str | None:
        bucket, _, key = source.location.removeprefix("arn:aws:s3:::").partition("/")
        request = {"Bucket": bucket, "Key": key, **({"VersionId": source.version} if source.version else {})}
        try:
            body = self.ctx.client("s3", self.plan.region).get_object(**request)["Body"].read()
            extract_zip(body, folder)
            return source.version
        except ClientError as exc:
            error = exc.response["Error"]
            raise _BuildFailure(
                "CLIENT_ERROR", f"{error.get('Code')}: {error.get('Message')} for {source.describe()}"
            ) from exc
        except ArchiveError as exc:
            raise _BuildFailure(
                "CLIENT_ERROR", f"s3://{bucket}/{key} is not a usable zip ({exc}) for {source.describe()}"
            ) from exc

    def fetch_codecommit(self, source: _Source, folder: Path) -> str:
        """Clone the repository from the endpoint's git server, at the source version (else its HEAD)."""
        from dulwich import porcelain

        name = source.location.rstrip("/").rpartition("/v1/repos/")[2]
        if not name:
            raise _BuildFailure(
                "CLIENT_ERROR", f"{source.location!r} is not a CodeCommit clone URL (…/v1/repos/<repository>)"
            )
        try:
            repo = porcelain.clone(
                f"{self.ctx.url}/v1/repos/{name}", str(folder), checkout=False, errstream=io.BytesIO()
            )
        except Exception as exc:
            raise _BuildFailure("CLIENT_ERROR", f"repository not found for {source.describe()}") from exc
        with closing(repo):
            commit = _resolve_commit(repo, source.version)
            if commit is None:
                raise _BuildFailure("CLIENT_ERROR", f"reference not found for {source.describe()}")
            porcelain.reset(repo, "hard", commit.id)
            return commit.id.decode()

    # -- environment -------------------------------------------------------------------------------------

    def environment(self, primary_folder: Path, resolved: str | None) -> dict[str, str]:
        """The build's whole environment: nothing of this process's, the endpoint's dummy identity last."""
        variables = {item["name"]: self.variable_value(item) for item in self.plan.variables}
        secret_names = {item["name"] for item in self.plan.variables if item["type"] != "PLAINTEXT"}
        self.logs.mask(variables[name] for name in secret_names)  # the runner masks the buildspec's own
        build = self.store.get(self.plan.build_id)
        return {
            "PATH": f"{VENV_BIN}{os.pathsep}{BASE_PATH}",
            **self.buildspec_secrets(primary_folder),
            **variables,
            **self.ctx.process_env(self.plan.region),
            **_codebuild_variables(build, resolved, self.plan.log_stream),
        }

    def variable_value(self, variable: dict) -> str:
        kind, reference = variable.get("type") or "PLAINTEXT", variable["value"]
        if kind == "PLAINTEXT":
            return reference
        value = self.secret(kind, reference)
        if value is None:
            if kind == "PARAMETER_STORE":
                raise _BuildFailure("Decrypted Variables Error", f"parameter does not exist: {reference}")
            raise _BuildFailure(
                "Secrets Manager Error",
                f"ResourceNotFoundException: Secrets Manager can't find the specified secret: {reference}",
            )
        return value

    def buildspec_secrets(self, primary_folder: Path) -> dict[str, str]:
        """The values of the buildspec's parameter-store and secrets-manager names that exist.

        The runner fails the build for a missing one, with CodeBuild's message."""
        setting = self.plan.buildspec
        try:
            text = setting if "\n" in setting else (primary_folder / (setting or "buildspec.yml")).read_text()
            spec = buildspec.load(text)
        except (OSError, UnicodeDecodeError, buildspec.BuildspecError):
            return {}  # the runner reports the buildspec's problem
        wanted = [("PARAMETER_STORE", name, ref) for name, ref in spec.env.parameter_store.items()]
        wanted += [("SECRETS_MANAGER", name, ref) for name, ref in spec.env.secrets_manager.items()]
        values = {name: self.secret(kind, reference) for kind, name, reference in wanted}
        return {name: value for name, value in values.items() if value is not None}

    def secret(self, kind: str, reference: str) -> str | None:
        """A Parameter Store or Secrets Manager value from the endpoint; None if it does not exist."""
        try:
            if kind == "PARAMETER_STORE":
                ssm = self.ctx.client("ssm", self.plan.region)
                return ssm.get_parameter(Name=reference, WithDecryption=True)["Parameter"]["Value"]
            secret_id, json_key, stage, version = _secret_reference(reference)
            request = {"SecretId": secret_id, "VersionStage": stage, "VersionId": version}
            request = {key: value for key, value in request.items() if value}
            text = self.ctx.client("secretsmanager", self.plan.region).get_secret_value(**request)[
                "SecretString"
            ]
            return str(json.loads(text)[json_key]) if json_key else text
        except (ClientError, KeyError, ValueError, TypeError):
            return None

    # -- artifacts ---------------------------------------------------------------------------------------

    def upload(self, result: BuildResult, upload_phase: dict) -> None:
        """Write the collected artifacts to their S3 targets; a failure fails UPLOAD_ARTIFACTS."""
        produced = {artifact.identifier: artifact for artifact in result.artifacts}
        metadata = {"codebuild-buildarn": self.store.get(self.plan.build_id)["arn"]}
        try:
            for target in self.plan.targets:
                artifact = produced.get(target.identifier)
                if artifact is None:
                    raise _BuildFailure("CLIENT_ERROR", _missing_artifact_message(target, produced))
                self.uploaded[target.identifier] = self.write(target, artifact, metadata)
        except ClientError as exc:
            error = exc.response["Error"]
            self.fail_upload(result, upload_phase, f"{error.get('Code')}: {error.get('Message')}")
        except _BuildFailure as failure:
            self.fail_upload(result, upload_phase, failure.message)

    def write(self, target: _Target, artifact: BuildArtifact, metadata: dict) -> dict:
        """Write one artifact (a zip, or its files under a folder); answer what the build record shows."""
        s3 = self.ctx.client("s3", self.plan.region)
        key = target.key(artifact.name)
        if not target.zipped:
            for arcname, path in artifact.files:
                name = f"{key}/{arcname}" if key else arcname
                s3.put_object(Bucket=target.bucket, Key=name, Body=path.read_bytes(), Metadata=metadata)
            return {"location": target.location(artifact.name)}
        if not key:
            raise _BuildFailure("CLIENT_ERROR", "the artifact needs a name or a path for its zip file")
        data = artifact.zip_bytes()
        s3.put_object(Bucket=target.bucket, Key=key, Body=data, Metadata=metadata)
        return {
            "location": target.location(artifact.name),
            "md5sum": hashlib.md5(data).hexdigest(),
            "sha256sum": hashlib.sha256(data).hexdigest(),
        }

    def fail_upload(self, result: BuildResult, upload_phase: dict, message: str) -> None:
        upload_phase.update(phaseStatus=FAILED, contexts=[{"statusCode": "CLIENT_ERROR", "message": message}])
        if result.build_status == SUCCEEDED:
            result.build_status = FAILED
        self.logs.write(_container_line("Phase complete: UPLOAD_ARTIFACTS State: FAILED"))
        self.logs.write(_container_line(f"Phase context status code: CLIENT_ERROR Message: {message}"))

    def setup_failed(self, failure: _BuildFailure) -> BuildResult:
        """Sources or variables could not be had: the build fails in DOWNLOAD_SOURCE, as CodeBuild's does."""
        for line in (
            "Phase is DOWNLOAD_SOURCE",
            "Phase complete: DOWNLOAD_SOURCE State: FAILED",
            f"Phase context status code: {failure.status_code} Message: {failure.message}",
        ):
            self.logs.write(_container_line(line))
        phases = [
            _closed_phase("SUBMITTED"),
            _closed_phase("QUEUED"),
            _closed_phase("PROVISIONING"),
            _closed_phase("DOWNLOAD_SOURCE", FAILED, failure.status_code, failure.message),
            _closed_phase("FINALIZING"),
        ]
        return BuildResult(FAILED, phases, "FINALIZING", error=failure.message)


# -- CloudWatch Logs --------------------------------------------------------------------------------


class _LogStream:
    """The build's log stream: lines are buffered and sent in batches (each phase change flushes).

    Writing the log never fails the build: a failure to write is noted in the endpoint's log."""

    def __init__(self, client, group: str | None, stream: str | None):
        self._client = client
        self.group, self.stream = group, stream
        self._pending: list[dict] = []
        self._masked: list[str] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        self._last_timestamp = 0

    def open(self) -> None:
        if self.group is None:
            return
        try:
            try:
                self._client.create_log_group(logGroupName=self.group)
            except self._client.exceptions.ResourceAlreadyExistsException:
                pass
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except (BotoCoreError, ClientError) as exc:
            log.warning("no CloudWatch Logs for this build: %s %s: %s", self.group, self.stream, exc)
            self.group = None

    def mask(self, secrets) -> None:
        """Show these values as *** in the log."""
        self._masked = sorted({value for value in secrets if value}, key=len, reverse=True)

    def write(self, line: str) -> None:
        if self.group is None:
            return
        for secret in self._masked:
            line = line.replace(secret, "***")
        with self._lock:
            self._last_timestamp = max(self._last_timestamp, int(time.time() * 1000))
            message = line[:LOG_EVENT_CHARS] + "\n"  # CodeBuild's events end with the newline
            self._pending.append({"timestamp": self._last_timestamp, "message": message})
            if (
                len(self._pending) >= LOG_BATCH_LINES
                or time.monotonic() - self._last_flush >= LOG_FLUSH_SECONDS
            ):
                self._send()

    def flush(self) -> None:
        if self.group is not None:
            with self._lock:
                self._send()

    def _send(self) -> None:
        events, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        for batch in _batches(events):
            try:
                self._client.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=batch
                )
            except (BotoCoreError, ClientError) as exc:
                log.warning("lost %d log lines of %s %s: %s", len(batch), self.group, self.stream, exc)


def _batches(events: list[dict]) -> list[list[dict]]:
    """PutLogEvents-sized batches: at most 10,000 events and about 1 MB each."""
    batches, current, size = [], [], 0
    for event in events:
        event_size = len(event["message"].encode()) + 26
        if current and (len(current) == 10_000 or size + event_size > LOG_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(event)
        size += event_size
    return [*batches, current] if current else batches


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
}


def _with_location(settings: dict, locationless: set[str]) -> dict:
    """`settings` with a stand-in location where AWS needs none (moto's checks want one)."""
    if settings.get("type") in locationless and not settings.get("location"):
        return {**settings, "location": "not-used"}
    return settings


def _buildspec_field(source: dict) -> dict:
    return {"buildspec": source["buildspec"]} if source.get("buildspec") else {}


def _manual_source(project: dict, params: dict) -> dict:
    """The project's source with StartBuild's overrides; CODEPIPELINE only through a pipeline."""
    source = copy.deepcopy(project["source"])
    kind = params.get("sourceTypeOverride")
    if kind and kind != source["type"]:
        source = {"type": kind, **_buildspec_field(source)}
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


def _manual_targets(project: str, artifacts: dict, secondary: list[dict], build_uuid: str) -> list[_Target]:
    """Where StartBuild's artifacts go: S3 targets, NO_ARTIFACTS none, CODEPIPELINE only from a pipeline."""
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
            _Target(
                identifier,
                settings["location"],
                "/".join(part for part in (path.strip("/"), namespace) if part),
                "" if name == "/" else name,
                zipped=settings.get("packaging") == "ZIP",
                buildspec_names=bool(settings.get("overrideArtifactName")),
            )
        )
    return targets


def _artifact_fields(targets: list[_Target], artifacts: dict, secondary: list[dict] = ()) -> dict:
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


def _missing_artifact_message(target: _Target, produced: dict) -> str:
    if target.identifier is None:
        return "no definition for primary artifacts in buildspec"
    found = sorted(identifier for identifier in produced if identifier)
    return (
        f"no secondary artifact with identifier {target.identifier} in buildspec (it has {found or 'none'}): "
        "with several output artifacts, each output artifact name must equal a secondary-artifacts identifier"
    )


def _check_variables(variables: list[dict]) -> None:
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


def _logs_field(config: dict, build: dict, region: str) -> dict:
    """The build record's logs: CloudWatch Logs group /aws/codebuild/<project>, stream <uuid>."""
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
        "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEvent:group={group};stream={stream}",
        "cloudWatchLogsArn": f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream}",
        "cloudWatchLogs": {"status": "ENABLED"},
        "s3Logs": s3_logs,
    }


def _log_place(build: dict) -> dict:
    logs = build["logs"]
    return {"log_group": logs.get("groupName"), "log_stream": logs.get("streamName")}


def _codebuild_variables(build: dict, resolved: str | None, log_stream: str | None) -> dict[str, str]:
    """CodeBuild's own variables (build spec §5.3)."""
    variables = {
        "CODEBUILD_BUILD_ARN": build["arn"],
        "CODEBUILD_BUILD_ID": build["id"],
        "CODEBUILD_BUILD_NUMBER": str(build["buildNumber"]),
        "CODEBUILD_BUILD_IMAGE": build["environment"].get("image", ""),
        "CODEBUILD_INITIATOR": build["initiator"],
        "CODEBUILD_KMS_KEY_ID": build["encryptionKey"],
        "CODEBUILD_LOG_PATH": log_stream or "",
        "CODEBUILD_SOURCE_REPO_URL": build["source"].get("location", ""),
        "CODEBUILD_SOURCE_VERSION": build.get("sourceVersion", ""),
    }
    if resolved:
        variables["CODEBUILD_RESOLVED_SOURCE_VERSION"] = resolved
    return variables


def _secret_reference(reference: str) -> tuple[str, str, str, str]:
    """secret-id:json-key:version-stage:version-id, where the secret id may be an ARN (with its colons)."""
    parts = reference.split(":")
    cut = 7 if reference.startswith("arn:") else 1
    rest = [*parts[cut:], "", "", ""]
    return ":".join(parts[:cut]), rest[0], rest[1], rest[2]


def _resolve_commit(repo, version: str | None):
    """The commit a CodeCommit source version names: a commit id, a branch, a tag, or HEAD if none."""
    from dulwich.objectspec import parse_commit

    if not version:
        candidates = ["HEAD"]
    else:
        candidates = [f"refs/remotes/origin/{version.removeprefix('refs/heads/')}", version]
    for candidate in candidates:
        try:
            return parse_commit(repo, candidate.encode())
        except (KeyError, ValueError):
            continue
    return None


def _closed_phase(phase_type: str, status: str = SUCCEEDED, code: str = "", message: str = "") -> dict:
    moment = now()
    phase = {
        "phaseType": phase_type,
        "phaseStatus": status,
        "startTime": moment,
        "endTime": moment,
        "durationInSeconds": 0,
    }
    if phase_type not in ("SUBMITTED", "QUEUED"):
        phase["contexts"] = [{"statusCode": code, "message": message}]
    return phase


def _container_line(message: str) -> str:
    """A log line in the CodeBuild agent's style, like buildrunner's."""
    return f"[Container] {datetime.now(UTC):%Y/%m/%d %H:%M:%S.%f} {message}"


def _batch_ids(params: dict) -> list[str]:
    ids = params.get("ids")
    if not ids or not isinstance(ids, list):
        raise _invalid("ids is required: give 1 to 100 build ids.")
    if len(ids) > MAX_BATCH_IDS:
        raise _invalid(f"At most {MAX_BATCH_IDS} build ids are allowed.")
    return ids


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


def _end_leftover_processes(build_id: str) -> None:
    """Kill what a build left running when the endpoint stopped under it (found by its CODEBUILD_BUILD_ID)."""
    marker = f"CODEBUILD_BUILD_ID={build_id}".encode()
    own_group = os.getpgrp()
    for process in Path("/proc").glob("[0-9]*"):
        try:
            if marker not in (process / "environ").read_bytes().split(b"\0"):
                continue
            group = os.getpgid(int(process.name))
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
        except (OSError, ValueError):
            continue
