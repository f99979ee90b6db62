"""One CodeBuild build, run in a thread of its own.

It fetches its sources (sources.py) into `<state>/builds/<uuid>/work`, runs the buildspec with the runner,
streams the log to CloudWatch Logs (`/aws/codebuild/<project>`, stream `<uuid>`) and writes its artifacts to
S3, all through the endpoint's own APIs. The build's environment is the endpoint's dummy identity and
CodeBuild's variables, never this process's environment.
"""

import functools
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from ..archives import ArchiveError, checked_file
from ..awsjson import now
from . import buildspec, sandbox
from .logs import LogStream
from .projects import linux_only
from .reports import ReportStore
from .runner import BASE_PATH, FAILED, SUCCEEDED, BuildArtifact, BuildResult, run_build
from .sources import PRIMARY, Source, SourceError, fetch_source
from .store import BuildStore, end_with_fault

log = logging.getLogger("labhelpers.endpoint")

VENV_BIN = Path(sys.executable).parent  # the lab's `aws` CLI, for buildspecs that call the endpoint


# -- what a build is made of ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
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
class BatchMember:
    """What makes a build one of a batch's: the batch, its identifier there, the id given to it in advance."""

    batch_arn: str
    identifier: str
    build_id: str
    initiator: str
    on_finished: Callable[[str], None]  # told the build id once the build is over


@dataclass(frozen=True)
class Plan:
    """Everything a build needs to run, fixed when it starts."""

    build_id: str
    region: str
    buildspec: str  # the project's buildspec setting: inline YAML, or a path in the primary source
    sources: list[Source]  # primary first
    targets: list[Target]
    variables: list[dict]  # {name, value, type}: the project's, then the overrides
    timeout_seconds: int
    log_group: str | None  # None: CloudWatch Logs disabled
    log_stream: str | None
    source_revision: str | None = None  # a pipeline build's: the primary input's source revision
    batch_identifier: str | None = None  # a batch's build: its identifier in the batch buildspec


class _BuildFailure(Exception):
    """What fails a phase the runner does not run itself (provisioning, sources, writing artifacts)."""

    def __init__(self, status_code: str, message: str, phase: str = "DOWNLOAD_SOURCE"):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.phase = phase


# -- one running build ------------------------------------------------------------------------------


class BuildJob:
    """Runs one build in its own thread and keeps its stored record up to date."""

    def __init__(
        self,
        ctx,
        store: BuildStore,
        plan: Plan,
        cancel: threading.Event,
        on_finished: Callable[[str], None],
        reports: ReportStore,
    ):
        self.ctx = ctx
        self.store = store
        self.reports = reports
        self.on_finished = on_finished  # told the build id once the thread is done
        self.plan = plan
        self.cancel = cancel
        self.work = self.store.work_folder(plan.build_id)
        self.logs = LogStream(self.ctx.client("logs", plan.region), plan.log_group, plan.log_stream)
        self.uploaded: dict[str | None, dict] = {}  # artifact identifier -> what the build record shows
        self.report_arns: list[str] = []
        self.pace = ctx.pace()
        self.held = 0.0  # seconds of the pace's line gaps so far

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
            self.on_finished(build_id)

    def execute(self) -> BuildResult:
        folders: dict[str, Path] = {}
        try:
            refused = linux_only(self.store.get(self.plan.build_id)["environment"].get("type", ""))
            if refused:
                raise _BuildFailure("CLIENT_ERROR", refused, phase="PROVISIONING")
            versions = {}
            for source in self.plan.sources:
                folder = self.work / ("src" if source.identifier == PRIMARY else f"src_{source.identifier}")
                versions[source.identifier] = self.fetch(source, folder)
                folders[source.identifier] = folder
            resolved = versions[PRIMARY] or self.plan.source_revision
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
            on_log=self.on_log,
            on_phase=self.on_phase,
            cancel=self.cancel,
            wrapper=tuple(sandbox.wrapper(self.work)),
        )
        upload_phase = next((p for p in result.phases if p["phaseType"] == "UPLOAD_ARTIFACTS"), None)
        if upload_phase and upload_phase.get("phaseStatus") == SUCCEEDED:
            self.upload(result, upload_phase)
        if result.reports:
            build = self.store.get(self.plan.build_id)
            self.report_arns = self.reports.record_build(build, self.plan.region, result.reports, self.log)
        return result

    def log(self, message: str) -> None:
        self.logs.write(_container_line(message))

    def on_log(self, line: str) -> None:
        self.logs.write(line)
        self.hold()

    def hold(self) -> None:
        """The pace's gap: what the build has written shows in CloudWatch Logs, then it waits a moment (a stop
        ends the wait); a log longer than the pace's budget flows on at once."""
        gap = min(self.pace.line_seconds, self.pace.line_budget_seconds - self.held)
        if gap > 0:
            self.logs.flush()
            self.held += gap
            self.cancel.wait(gap)

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
        if "endTime" not in phase:
            self.hold()  # a phase that starts shows as the build's current phase for a moment at least

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
            **({"reportArns": self.report_arns} if self.report_arns else {}),
        )
        for artifact in [build["artifacts"], *build["secondaryArtifacts"]]:
            artifact.update(self.uploaded.get(artifact.get("artifactIdentifier"), {}))

    # -- sources ---------------------------------------------------------------------------------------

    def fetch(self, source: Source, folder: Path) -> str | None:
        try:
            return fetch_source(self.ctx, self.plan.region, source, folder)
        except SourceError as exc:
            raise _BuildFailure("CLIENT_ERROR", str(exc)) from exc

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
            **self.ctx.build_env(self.plan.region),
            **_codebuild_variables(build, resolved, self.plan),
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
        except ArchiveError as exc:
            self.fail_upload(result, upload_phase, str(exc))

    def write(self, target: Target, artifact: BuildArtifact, metadata: dict) -> dict:
        """Write one artifact (a zip, or its files under a folder); answer what the build record shows."""
        s3 = self.ctx.client("s3", self.plan.region)
        key = target.key(artifact.name)
        if not target.zipped:
            for arcname, path in artifact.files:
                name = f"{key}/{arcname}" if key else arcname
                checked_file(path, artifact.base_directory, arcname)
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
        """The image, sources or variables could not be had: the build fails in PROVISIONING or
        DOWNLOAD_SOURCE, as CodeBuild's does."""
        for line in (
            f"Phase is {failure.phase}",
            f"Phase complete: {failure.phase} State: FAILED",
            f"Phase context status code: {failure.status_code} Message: {failure.message}",
        ):
            self.logs.write(_container_line(line))
        phases = [_closed_phase("SUBMITTED"), _closed_phase("QUEUED")]
        if failure.phase == "DOWNLOAD_SOURCE":
            phases.append(_closed_phase("PROVISIONING"))
        phases += [
            _closed_phase(failure.phase, FAILED, failure.status_code, failure.message),
            _closed_phase("FINALIZING"),
        ]
        return BuildResult(FAILED, phases, "FINALIZING", error=failure.message)


# -- helpers ------------------------------------------------------------------------------------------


def _missing_artifact_message(target: Target, produced: dict) -> str:
    if target.identifier is None:
        return "no definition for primary artifacts in buildspec"
    found = sorted(identifier for identifier in produced if identifier)
    return (
        f"no secondary artifact with identifier {target.identifier} in buildspec (it has {found or 'none'}): "
        "with several output artifacts, each output artifact name must equal a secondary-artifacts identifier"
    )


def _codebuild_variables(build: dict, resolved: str | None, plan: Plan) -> dict[str, str]:
    """CodeBuild's own variables (build spec §5.3)."""
    variables = {
        "CODEBUILD_BUILD_ARN": build["arn"],
        "CODEBUILD_BUILD_ID": build["id"],
        "CODEBUILD_BUILD_NUMBER": str(build["buildNumber"]),
        "CODEBUILD_BUILD_IMAGE": build["environment"].get("image", ""),
        "CODEBUILD_INITIATOR": build["initiator"],
        "CODEBUILD_KMS_KEY_ID": build["encryptionKey"],
        "CODEBUILD_LOG_PATH": plan.log_stream or "",
        "CODEBUILD_PROJECT_ARN": build["arn"].replace(":build/", ":project/").rpartition(":")[0],
        "CODEBUILD_SOURCE_REPO_URL": build["source"].get("location", ""),
        "CODEBUILD_SOURCE_VERSION": build.get("sourceVersion", ""),
    }
    if resolved:
        variables["CODEBUILD_RESOLVED_SOURCE_VERSION"] = resolved
    if plan.batch_identifier:
        variables["CODEBUILD_BATCH_BUILD_IDENTIFIER"] = plan.batch_identifier
    return variables


def _secret_reference(reference: str) -> tuple[str, str, str, str]:
    """secret-id:json-key:version-stage:version-id, where the secret id may be an ARN (with its colons)."""
    parts = reference.split(":")
    cut = 7 if reference.startswith("arn:") else 1
    rest = [*parts[cut:], "", "", ""]
    return ":".join(parts[:cut]), rest[0], rest[1], rest[2]


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
    """A log line in the CodeBuild agent's style, like the runner's."""
    return f"[Container] {datetime.now(UTC):%Y/%m/%d %H:%M:%S.%f} {message}"


def end_leftover_processes(build_id: str) -> None:
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
