"""One CodeBuild build batch, run in a thread of its own.

SUBMITTED, then DOWNLOAD_BATCHSPEC: the primary source is fetched once (its commit is the version every build
of the batch runs) and the buildspec's batch section read (batchspec). IN_PROGRESS: each entry of the batch
becomes a real build of the project (CodeBuildService.start_batch_build) once the entries it depends on have
succeeded; the batch moves when a build ends (the build tells the batch), on StopBuildBatch, or when the
batch's timeout passes, never on a timer of its own. COMBINE_ARTIFACTS (batch_artifacts), then the end: a
phase named after the batch's status (SUCCEEDED, FAILED or STOPPED). The batch's buildGroups show each
build's summary; a build not yet started shows PENDING, as AWS shows it.
"""

import logging
import queue
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass

from botocore.exceptions import ClientError

from ..archives import ArchiveError
from ..awsjson import AwsError, now
from .batch_artifacts import combine
from .batch_store import BatchStore, end_batch_with_fault
from .batchspec import BatchEntry, EnvOverride, load_batch
from .buildspec import BuildspecError
from .job import BatchMember
from .sources import PRIMARY, Source, SourceError, fetch_source

log = logging.getLogger("labhelpers.endpoint")

SUCCEEDED, FAILED, STOPPED, TIMED_OUT, PENDING = "SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT", "PENDING"
_STOP, _FINISHED = "stop", "finished"
# StartBuildBatch's parameters that its builds take as StartBuild's of the same name
_SHARED_OVERRIDES = (
    "secondarySourcesOverride",
    "secondarySourcesVersionOverride",
    "artifactsOverride",
    "secondaryArtifactsOverride",
    "sourceTypeOverride",
    "sourceLocationOverride",
    "gitCloneDepthOverride",
    "buildspecOverride",
    "environmentTypeOverride",
    "imageOverride",
    "computeTypeOverride",
    "privilegedModeOverride",
    "logsConfigOverride",
    "serviceRoleOverride",
)


@dataclass(frozen=True)
class BatchSource:
    """The batch's primary source and buildspec setting, as StartBuildBatch fixed them."""

    kind: str
    location: str
    version: str | None
    buildspec: str  # inline YAML (it has a newline), or a path in the source ('' is buildspec.yml)


class BatchJob:
    """Runs one batch (or its retry) and keeps its stored record up to date."""

    def __init__(
        self,
        ctx,
        builds,
        store: BatchStore,
        batch_id: str,
        region: str,
        source: BatchSource,
        on_finished,
        retry_type: str | None = None,
        minute_seconds: float = 60.0,
    ):
        self.ctx = ctx
        self.builds = builds  # the CodeBuildService
        self.store = store
        self.batch_id = batch_id
        self.region = region
        self.source = source
        self.retry_type = retry_type  # RETRY_ALL_BUILDS or RETRY_FAILED_BUILDS: a retry of a batch that ran
        self.minute_seconds = minute_seconds  # a minute of timeoutInMins (tests shorten it)
        self.on_finished = on_finished  # told the batch id once the thread is done
        self.events: queue.Queue = queue.Queue()  # (_FINISHED, build id) or (_STOP, None)
        self.stop_requested = threading.Event()
        self.running: dict[str, str] = {}  # build id -> identifier
        self.refused: dict[str, str] = {}  # identifier -> why its build could not start

    def stop(self) -> None:
        self.stop_requested.set()
        self.events.put((_STOP, None))

    def run(self) -> None:
        try:
            self.execute()
        except Exception as exc:  # our fault: the batch ends FAULT, never hangs
            log.exception("build batch %s failed locally", self.batch_id)
            message = f"The local endpoint failed to run the batch: {type(exc).__name__}: {exc}"
            self.stop_running()
            self.store.update(self.batch_id, lambda batch: end_batch_with_fault(batch, now(), message))
        finally:
            shutil.rmtree(self.store.work_folder(self.batch_id), ignore_errors=True)
            self.on_finished(self.batch_id)

    def execute(self) -> None:
        self.next_phase("DOWNLOAD_BATCHSPEC")
        plan = self.store.plan(self.batch_id)
        if plan is None:
            try:
                plan = self.read_batchspec()
            except (BuildspecError, SourceError) as exc:
                code = "YAML_FILE_ERROR" if isinstance(exc, BuildspecError) else "CLIENT_ERROR"
                return self.end(FAILED, code, str(exc))
            self.store.set_plan(self.batch_id, plan)
            self.store.update(self.batch_id, lambda batch: self.plan_groups(batch, plan))
        elif self.retry_type:
            self.store.update(self.batch_id, lambda batch: _run_again(batch, self.retry_type))
        self.next_phase("IN_PROGRESS")
        status, message = self.run_builds(plan)
        if status == STOPPED:
            return self.end(STOPPED)
        if status != SUCCEEDED:
            return self.end(status, "BUILD_TIMED_OUT" if status == TIMED_OUT else "CLIENT_ERROR", message)
        self.next_phase("COMBINE_ARTIFACTS")
        try:
            self.combine_artifacts()
        except (ClientError, ArchiveError) as exc:
            return self.end(FAILED, "CLIENT_ERROR", f"The builds' artifacts could not be combined: {exc}")
        self.end(SUCCEEDED)

    def combine_artifacts(self) -> None:
        """With buildBatchConfig.combineArtifacts and S3 artifacts: the builds' artifacts, put together."""
        batch = self.store.get(self.batch_id)
        settings = self.store.request(self.batch_id).get("artifactsOverride")
        settings = settings or self.builds.project(batch["projectName"], self.region)["artifacts"]
        if not batch["buildBatchConfig"].get("combineArtifacts") or settings.get("type") != "S3":
            return
        arns = {group["identifier"]: group["currentBuildSummary"]["arn"] for group in batch["buildGroups"]}
        found = {name: self.builds.store.get(arn.partition(":build/")[2]) for name, arn in arns.items()}
        builds = {name: build for name, build in found.items() if build}
        folder = self.store.work_folder(self.batch_id) / "combined"
        artifacts = combine(self.ctx.client("s3", self.region), batch, settings, builds, folder)
        self.store.update(self.batch_id, lambda record: record.update(artifacts=artifacts))

    # -- DOWNLOAD_BATCHSPEC ------------------------------------------------------------------------

    def read_batchspec(self) -> dict:
        """Fetch the primary source, read the batch section, check it against the batch's restrictions."""
        batch = self.store.get(self.batch_id)
        folder = self.store.work_folder(self.batch_id) / "src"
        source = Source(PRIMARY, self.source.kind, self.source.location, self.source.version)
        resolved = fetch_source(self.ctx, self.region, source, folder)
        setting = self.source.buildspec
        if "\n" in setting:
            text, filename = setting, "the inline buildspec"
        else:
            filename = setting or "buildspec.yml"
            path = folder / filename
            if not path.is_file():
                raise BuildspecError(filename, 1, f"YAML file does not exist: {filename}")
            text = path.read_text(errors="replace")
        spec = load_batch(text, filename)
        _check_restrictions(spec.entries, batch)
        if resolved:
            self.store.update(self.batch_id, lambda record: record.update(resolvedSourceVersion=resolved))
        return {
            "fastFail": spec.fast_fail,
            "resolvedSourceVersion": resolved,
            "entries": [asdict(entry) for entry in spec.entries],
        }

    def plan_groups(self, batch: dict, plan: dict) -> None:
        """The batch's buildGroups, each with the id its build will have, PENDING."""
        project, requested = batch["projectName"], now()
        batch["buildGroups"] = [
            {
                "identifier": entry["identifier"],
                "dependsOn": list(entry["depends_on"]),
                "ignoreFailure": entry["ignore_failure"],
                "currentBuildSummary": _pending(batch, f"{project}:{uuid.uuid4()}", requested),
            }
            for entry in plan["entries"]
        ]

    # -- IN_PROGRESS -------------------------------------------------------------------------------

    def run_builds(self, plan: dict) -> tuple[str, str]:
        """Start builds as their dependencies allow, until none is left to run; the batch's status and why."""
        entries = {item["identifier"]: _entry(item) for item in plan["entries"]}
        timeout = self.store.get(self.batch_id)["buildBatchConfig"]["timeoutInMins"] * self.minute_seconds
        deadline = time.time() + timeout
        interrupted = (STOPPED, "The batch build was stopped.") if self.stop_requested.is_set() else None
        while True:
            if interrupted is None:
                self.start_ready(entries, plan)
            if not self.running:
                break
            try:  # once interrupted, the builds stopped: their ends come
                wait = None if interrupted else max(0.0, deadline - time.time())
                kind, build_id = self.events.get(timeout=wait)
            except queue.Empty:
                kind, build_id = _STOP, None
                interrupted = interrupted or (
                    TIMED_OUT,
                    "The batch timed out (buildBatchConfig.timeoutInMins).",
                )
            if kind == _STOP:
                interrupted = interrupted or (STOPPED, "The batch build was stopped.")
                self.stop_running()
                continue
            failed = self.build_ended(build_id)
            if failed and plan["fastFail"] and interrupted is None:
                interrupted = (FAILED, f"Build {failed} failed and the batch fails fast (batch.fast-fail).")
                self.stop_running()
        self.skip_pending(set(entries))
        if interrupted:
            return interrupted
        failures = [
            group["identifier"]
            for group in self.store.get(self.batch_id)["buildGroups"]
            if group["currentBuildSummary"]["buildStatus"] != SUCCEEDED and not group["ignoreFailure"]
        ]
        if failures:
            reasons = "".join(f" {name}: {why}" for name, why in self.refused.items())
            return FAILED, f"Builds that failed or could not run: {', '.join(failures)}.{reasons}"
        return SUCCEEDED, ""

    def stop_running(self) -> None:
        for build_id in list(self.running):
            self.builds.stop(build_id)

    def start_ready(self, entries: dict[str, BatchEntry], plan: dict) -> None:
        """Start the pending builds whose dependencies are done (succeeded, or failed with ignore-failure);
        those behind a failed dependency will not run."""
        groups = {group["identifier"]: group for group in self.store.get(self.batch_id)["buildGroups"]}
        status = {name: group["currentBuildSummary"]["buildStatus"] for name, group in groups.items()}

        def done(name: str) -> bool:
            over = status[name] not in (PENDING, "IN_PROGRESS")
            return status[name] == SUCCEEDED or (over and groups[name]["ignoreFailure"])

        def blocked(name: str) -> bool:
            return any(
                status[need] not in (PENDING, "IN_PROGRESS") and not done(need)
                for need in entries[name].depends_on
            )

        skipped: set[str] = set()
        while more := {name for name in entries if status[name] == PENDING and blocked(name)}:
            skipped |= more
            status.update(dict.fromkeys(more, STOPPED))
        self.skip_pending(skipped)
        for name, entry in entries.items():
            if status[name] == PENDING and all(done(need) for need in entry.depends_on):
                self.start(entry, groups[name]["currentBuildSummary"]["arn"], plan)

    def start(self, entry: BatchEntry, arn: str, plan: dict) -> None:
        batch = self.store.get(self.batch_id)
        build_id = arn.rpartition(":build/")[2]
        member = BatchMember(
            batch_arn=batch["arn"],
            identifier=entry.identifier,
            build_id=build_id,
            initiator=batch["initiator"],
            on_finished=lambda finished: self.events.put((_FINISHED, finished)),
        )
        params = _build_params(self.store.request(self.batch_id), entry, plan["resolvedSourceVersion"])
        self.running[build_id] = entry.identifier
        try:
            build = self.builds.start_batch_build(batch["projectName"], params, self.region, member)
        except AwsError as exc:
            self.running.pop(build_id)
            self.set_summary(entry.identifier, {"buildStatus": FAILED})
            self.refused[entry.identifier] = exc.message
            return
        self.set_summary(entry.identifier, {"requestedOn": build["startTime"], "buildStatus": "IN_PROGRESS"})

    def build_ended(self, build_id: str) -> str | None:
        """Show the build's outcome in its group; answer its identifier if it failed (not ignored)."""
        identifier = self.running.pop(build_id, None)
        if identifier is None:
            return None
        build = self.builds.store.get(build_id)
        summary = _summary_of(build, identifier) if build else {"buildStatus": FAILED}  # deleted meanwhile
        self.set_summary(identifier, summary)
        group = next(g for g in self.store.get(self.batch_id)["buildGroups"] if g["identifier"] == identifier)
        return identifier if summary["buildStatus"] != SUCCEEDED and not group["ignoreFailure"] else None

    def skip_pending(self, identifiers: set[str]) -> None:
        """These builds, if still pending, will not run: they show STOPPED, as AWS shows them."""

        def change(batch: dict) -> None:
            for group in batch["buildGroups"]:
                summary = group["currentBuildSummary"]
                if summary["buildStatus"] == PENDING and group["identifier"] in identifiers:
                    summary["buildStatus"] = STOPPED

        self.store.update(self.batch_id, change)

    def set_summary(self, identifier: str, changes: dict) -> None:
        def change(batch: dict) -> None:
            for group in batch["buildGroups"]:
                if group["identifier"] == identifier:
                    group["currentBuildSummary"].update(changes)

        self.store.update(self.batch_id, change)

    # -- phases ------------------------------------------------------------------------------------

    def next_phase(self, phase_type: str) -> None:
        """Close the open phase (succeeded) and open `phase_type`."""
        self.store.update(self.batch_id, lambda batch: _open_phase(batch, phase_type, SUCCEEDED))

    def end(self, status: str, code: str = "", message: str = "") -> None:
        """Close the open phase with the batch's status, then the closing phase: the batch is complete."""

        def change(batch: dict) -> None:
            _open_phase(batch, status if status in (SUCCEEDED, STOPPED) else FAILED, status, code, message)
            batch.update(
                currentPhase=batch["phases"][-1]["phaseType"],
                buildBatchStatus=status,
                endTime=batch["phases"][-1]["startTime"],
                complete=True,
            )

        self.store.update(self.batch_id, change)


# -- helpers ------------------------------------------------------------------------------------------


def _open_phase(batch: dict, phase_type: str, closing_status: str, code: str = "", message: str = "") -> None:
    moment = now()
    phases = batch["phases"]
    if phases and "endTime" not in phases[-1]:
        phases[-1].update(
            phaseStatus=closing_status,
            endTime=moment,
            durationInSeconds=int(max(0.0, moment - phases[-1]["startTime"])),
            **({"contexts": [{"statusCode": code, "message": message}]} if message else {}),
        )
    phases.append({"phaseType": phase_type, "startTime": moment})
    batch["currentPhase"] = phase_type


def _pending(batch: dict, build_id: str, requested: float) -> dict:
    """A build not started yet: the ARN it will have, and PENDING (a status AWS shows, not in its enum)."""
    prefix = batch["arn"].partition(":build-batch/")[0]
    return {"arn": f"{prefix}:build/{build_id}", "requestedOn": requested, "buildStatus": PENDING}


def _run_again(batch: dict, retry_type: str) -> None:
    """A retry: the builds to run again (all, or those that did not succeed) are PENDING again, with new ids;
    the summaries of their builds that ran are kept in priorBuildSummaryList."""
    for group in batch["buildGroups"]:
        summary = group["currentBuildSummary"]
        if retry_type == "RETRY_FAILED_BUILDS" and summary["buildStatus"] == SUCCEEDED:
            continue
        if "primaryArtifact" in summary:  # its build ran (a build skipped has none)
            group.setdefault("priorBuildSummaryList", []).append(summary)
        group["currentBuildSummary"] = _pending(batch, f"{batch['projectName']}:{uuid.uuid4()}", now())


def _entry(item: dict) -> BatchEntry:
    return BatchEntry(
        identifier=item["identifier"],
        buildspec=item["buildspec"],
        env=EnvOverride(**item["env"]),
        ignore_failure=item["ignore_failure"],
        depends_on=tuple(item["depends_on"]),
    )


def _check_restrictions(entries: tuple[BatchEntry, ...], batch: dict) -> None:
    restrictions = batch["buildBatchConfig"].get("restrictions") or {}
    most = restrictions.get("maximumBuildsAllowed")
    if most is not None and len(entries) > most:
        raise SourceError(
            f"The batch has {len(entries)} builds and buildBatchConfig.restrictions.maximumBuildsAllowed is "
            f"{most}: raise it (UpdateProject, or buildBatchConfigOverride) or run fewer builds."
        )
    allowed = restrictions.get("computeTypesAllowed")
    for entry in entries:
        compute_type = entry.env.compute_type or batch["environment"]["computeType"]
        if allowed and compute_type not in allowed:
            raise SourceError(
                f"Build {entry.identifier} uses compute type {compute_type}, which "
                f"buildBatchConfig.restrictions.computeTypesAllowed ({', '.join(allowed)}) does not allow."
            )


def _build_params(request: dict, entry: BatchEntry, resolved: str | None) -> dict:
    """The StartBuild parameters of one build of the batch."""
    params = {key: request[key] for key in _SHARED_OVERRIDES if key in request}
    version = resolved or request.get("sourceVersion")
    if version:
        params["sourceVersion"] = version
    if request.get("buildTimeoutInMinutesOverride"):
        params["timeoutInMinutesOverride"] = request["buildTimeoutInMinutesOverride"]
    if entry.buildspec:
        params["buildspecOverride"] = entry.buildspec
    variables = {item["name"]: item for item in request.get("environmentVariablesOverride") or []}
    variables.update({name: {"name": name, "value": value} for name, value in entry.env.variables.items()})
    if variables:
        params["environmentVariablesOverride"] = list(variables.values())
    for key, value in (
        ("computeTypeOverride", entry.env.compute_type),
        ("imageOverride", entry.env.image),
        ("environmentTypeOverride", entry.env.environment_type),
        ("privilegedModeOverride", entry.env.privileged_mode),
    ):
        if value is not None:
            params[key] = value
    return params


def _summary_of(build: dict, identifier: str) -> dict:
    """A finished build as its group's currentBuildSummary shows it."""
    primary = build.get("artifacts") or {}
    return {
        "buildStatus": build["buildStatus"],
        "primaryArtifact": {
            "type": "S3" if primary.get("location") else "NO_ARTIFACTS",
            **({"location": primary["location"]} if primary.get("location") else {}),
            "identifier": identifier,
        },
        "secondaryArtifacts": [
            {"type": "S3", "location": item["location"], "identifier": item.get("artifactIdentifier", "")}
            for item in build.get("secondaryArtifacts") or []
        ],
    }
