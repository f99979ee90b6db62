"""One CodeDeploy in-place deployment on a local instance, run the way the CodeDeploy agent runs it.

`deploy()` walks the lifecycle events in order, runs the AppSpec hooks with bash inside the instance,
copies `files` on Install, and reports each event the way BatchGetDeploymentTargets does. What the
agent keeps on an EC2 host under /opt/codedeploy-agent/deployment-root is kept here under
`<root>/.lab/deployments`:

    <group id>/<deployment id>/deployment-archive/          the revision (DownloadBundle)
    <group id>/<deployment id>/logs/scripts.log             the deployment's log
    deployment-instructions/<group id>_last_successful_install   whose ApplicationStop runs next time
    deployment-instructions/<group id>-cleanup              what the last Install created
"""

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..awsjson import now
from ..context import StopSignal
from .appspec import (
    MAX_EVENT_SECONDS,
    AppSpec,
    AppSpecError,
    FileMapping,
    Hook,
    Permission,
    load_revision,
)
from .instance import LocalInstance

IN_PLACE_EVENTS = (
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
)
BLOCK_TRAFFIC_EVENTS = ("BeforeBlockTraffic", "BlockTraffic", "AfterBlockTraffic")
ALLOW_TRAFFIC_EVENTS = ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
# Their scripts come from the previous successful revision on the instance.
PREVIOUS_REVISION_EVENTS = ("BeforeBlockTraffic", "AfterBlockTraffic", "ApplicationStop")
FILE_EXISTS_DEFAULT = "DISALLOW"
LOG_TAIL_CHARS = 2048  # what the agent keeps of a script's output (ScriptLog)
KEPT_REVISIONS = 5
HEALTH_CONSTRAINTS = {
    "code": "HEALTH_CONSTRAINTS",
    "message": "The overall deployment failed because too many individual instances failed deployment, "
    "too few healthy instances are available for deployment, or some instances in your deployment group "
    "are experiencing problems.",
}
MANUAL_STOP = {"code": "MANUAL_STOP", "message": "The deployment was stopped manually."}
_SCRIPT_AT = "Script at specified location: "
_ALREADY_EXISTS = "The deployment failed because a specified file already exists at this location: "
_SIMPLE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class DeployResult:
    status: Literal["Succeeded", "Failed", "Stopped"]
    lifecycle_events: list[dict]  # BatchGetDeploymentTargets' lifecycleEvents
    error_information: dict[str, str] | None  # GetDeployment's errorInformation
    command_seconds: float  # time spent inside hook scripts
    log: str


def lifecycle_event_names(with_load_balancer: bool = False) -> tuple[str, ...]:
    """The events an in-place deployment reports, in order."""
    if with_load_balancer:
        return BLOCK_TRAFFIC_EVENTS + IN_PLACE_EVENTS + ALLOW_TRAFFIC_EVENTS
    return IN_PLACE_EVENTS


def deploy_warnings(spec: AppSpec, with_load_balancer: bool) -> list[str]:
    """What in `spec` CodeDeploy ignores (the agent never fails on it), for deploymentStatusMessages."""
    warnings = [f"{spec.filename} {warning}" for warning in spec.warnings]
    if not with_load_balancer:
        unused = [name for name in BLOCK_TRAFFIC_EVENTS + ALLOW_TRAFFIC_EVENTS if spec.hooks.get(name)]
        if unused:
            warnings.append(
                f"{spec.filename}: {', '.join(unused)} hooks run only in deployments with traffic control "
                "(a load balancer); this deployment has none, so their scripts never run"
            )
    return [f"Warning: {warning}" for warning in warnings]


def deploy(
    spec: AppSpec,
    *,
    revision_dir: Path,
    instance: LocalInstance,
    env: Mapping[str, str],
    deployment_id: str,
    application_name: str,
    deployment_group_name: str,
    deployment_group_id: str,
    on_event: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
    file_exists_behavior: str | None = None,
    ignore_application_stop_failures: bool = False,
    with_load_balancer: bool = False,
) -> DeployResult:
    """Deploy the extracted revision `revision_dir` (whose AppSpec is `spec`) to `instance`.

    Hooks get `env` plus the CodeDeploy variables, never this process's environment. `on_event` gets a
    copy of a lifecycle event each time its status changes. Setting `cancel` stops the deployment: a
    running script is killed and the remaining events are skipped. `file_exists_behavior` is the
    deployment's setting; the AppSpec's own wins over it.
    """
    for name in (deployment_id, deployment_group_id):
        if not _SIMPLE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a folder; deployment and group ids are simple names")
    run = _Deployment(
        spec=spec,
        revision_dir=revision_dir,
        instance=instance,
        variables={
            **env,
            **instance.environment(),
            "DEPLOYMENT_ID": deployment_id,
            "APPLICATION_NAME": application_name,
            "DEPLOYMENT_GROUP_NAME": deployment_group_name,
            "DEPLOYMENT_GROUP_ID": deployment_group_id,
        },
        deployment_id=deployment_id,
        group_id=deployment_group_id,
        on_event=on_event or (lambda event: None),
        cancel=cancel or StopSignal(),
        file_exists_behavior=spec.file_exists_behavior or file_exists_behavior or FILE_EXISTS_DEFAULT,
        ignore_stop_failures=ignore_application_stop_failures,
    )
    return run.run(lifecycle_event_names(with_load_balancer))


class _EventFailed(Exception):
    def __init__(self, error_code: str, message: str, script_name: str = "", stopped: bool = False):
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.script_name = script_name
        self.stopped = stopped


class _Deployment:
    def __init__(
        self,
        *,
        spec: AppSpec,
        revision_dir: Path,
        instance: LocalInstance,
        variables: dict[str, str],
        deployment_id: str,
        group_id: str,
        on_event: Callable[[dict], None],
        cancel: threading.Event,
        file_exists_behavior: str,
        ignore_stop_failures: bool,
    ):
        self.spec = spec
        self.revision_dir = revision_dir
        self.instance = instance
        self.variables = variables
        self.deployment_id = deployment_id
        self.on_event = on_event
        self.cancel = cancel
        self.file_exists_behavior = file_exists_behavior
        self.ignore_stop_failures = ignore_stop_failures
        deployments = instance.lab_dir / "deployments"
        self.group_dir = deployments / group_id
        self.instructions = deployments / "deployment-instructions"
        self.last_successful = self.instructions / f"{group_id}_last_successful_install"
        self.cleanup_file = self.instructions / f"{group_id}-cleanup"
        self.deployment_dir = self.group_dir / deployment_id
        self.archive = self.deployment_dir / "deployment-archive"
        self.command_seconds = 0.0
        self.log_lines: list[str] = []
        self.event_lines: list[str] = []

    # --- the lifecycle -------------------------------------------------------------------------------

    def run(self, names: tuple[str, ...]) -> DeployResult:
        self.instructions.mkdir(parents=True, exist_ok=True)
        (self.deployment_dir / "logs").mkdir(parents=True, exist_ok=True)
        previous = self.last_successful.read_text().strip() if self.last_successful.is_file() else None
        handlers = {
            "DownloadBundle": self.download_bundle,
            "Install": self.install,
            "BlockTraffic": self.no_load_balancer,
            "AllowTraffic": self.no_load_balancer,
        }
        with open(self.deployment_dir / "logs" / "scripts.log", "a", encoding="utf-8") as log_file:
            self.log_file = log_file
            for warning in self.spec.warnings:
                self.note(f"[lab] {self.spec.filename} {warning}", in_tail=False)
            events = [{"lifecycleEventName": name, "status": "Pending"} for name in names]
            status = "Succeeded"
            for event in events:
                name = event["lifecycleEventName"]
                if status != "Succeeded" or self.cancel.is_set():
                    status = "Stopped" if status == "Succeeded" else status
                    self.skip(event)
                    continue
                self.begin(event)
                try:
                    if name in PREVIOUS_REVISION_EVENTS:
                        self.run_previous_hooks(name, previous)
                    else:
                        handlers.get(name, self.run_current_hooks)(name)
                    self.finish(event, "Succeeded")
                except _EventFailed as failure:
                    status = self.fail(event, failure, status)
        if status == "Succeeded":
            self.last_successful.write_text(
                f"/{self.deployment_dir.relative_to(self.instance.root).as_posix()}\n"
            )
        self.prune()
        error = {"Succeeded": None, "Failed": HEALTH_CONSTRAINTS, "Stopped": MANUAL_STOP}[status]
        return DeployResult(
            status=status,
            lifecycle_events=events,
            error_information=dict(error) if error else None,
            command_seconds=round(self.command_seconds, 3),
            log="".join(f"{line}\n" for line in self.log_lines),
        )

    def begin(self, event: dict) -> None:
        event["startTime"] = now()
        event["status"] = "InProgress"
        self.event_lines = []
        self.note(f"LifecycleEvent - {event['lifecycleEventName']}", in_tail=False)
        self.on_event(_copy(event))

    def finish(self, event: dict, status: str, failure: _EventFailed | None = None) -> None:
        tail = "".join(f"{line}\n" for line in self.event_lines)[-LOG_TAIL_CHARS:]
        event["diagnostics"] = {
            "errorCode": failure.error_code if failure else "Success",
            "scriptName": failure.script_name if failure else "",
            "message": failure.message if failure else "Succeeded",
            "logTail": tail,
        }
        event["endTime"] = now()
        event["status"] = status
        self.on_event(_copy(event))

    def fail(self, event: dict, failure: _EventFailed, status: str) -> str:
        """Report a failed event; the deployment's status from here on."""
        name = event["lifecycleEventName"]
        if self.ignore_stop_failures and name in PREVIOUS_REVISION_EVENTS and not failure.stopped:
            self.note(
                f"[lab] {name} failed, ignored (ignoreApplicationStopFailures): {failure.message}",
                in_tail=False,
            )
            self.finish(event, "Succeeded")
            return status
        self.note(f"[lab] {name} failed: {failure.message}", in_tail=False)
        self.finish(event, "Failed", failure)
        return "Stopped" if failure.stopped else "Failed"

    def skip(self, event: dict) -> None:
        event["endTime"] = now()
        event["status"] = "Skipped"
        self.on_event(_copy(event))

    def note(self, line: str, *, in_tail: bool = True) -> None:
        """A line of the deployment's log; `in_tail` lines also make up the event's logTail."""
        if in_tail:
            self.event_lines.append(line)
        self.log_lines.append(f"{_timestamp()} {line}")
        self.log_file.write(f"{self.log_lines[-1]}\n")
        self.log_file.flush()

    # --- events --------------------------------------------------------------------------------------

    def download_bundle(self, name: str) -> None:
        try:
            if self.archive.exists():
                shutil.rmtree(self.archive)
            shutil.copytree(self.revision_dir, self.archive, symlinks=True)
        except OSError as exc:
            raise _EventFailed(
                "UnknownError", f"The revision could not be copied to the instance: {exc}"
            ) from None
        self.note(f"[lab] revision copied to {self.instance_path(self.archive)}", in_tail=False)

    def install(self, name: str) -> None:
        _Install(self).run()

    def no_load_balancer(self, name: str) -> None:
        self.note(f"[lab] {name}: the local instance has no load balancer", in_tail=False)

    def run_previous_hooks(self, name: str, previous: str | None) -> None:
        """Scripts of the last successful revision; nothing on the first deployment to the instance."""
        archive = self.instance.root / (previous or "").lstrip("/") / "deployment-archive"
        if previous is None or not archive.is_dir():
            self.note(f"[lab] {name}: no earlier successful revision on this instance", in_tail=False)
            return
        try:
            spec = load_revision(archive)
        except AppSpecError as exc:
            raise _EventFailed(
                "UnknownError", f"The previous revision's AppSpec cannot be read: {exc}"
            ) from None
        self.run_hooks(name, spec, archive)

    def run_current_hooks(self, name: str) -> None:
        self.run_hooks(name, self.spec, self.archive)

    def run_hooks(self, name: str, spec: AppSpec, archive: Path) -> None:
        hooks = spec.hooks.get(name, ())
        if hooks:
            self.event_lines.append(f"LifecycleEvent - {name}")
        event_deadline = time.monotonic() + MAX_EVENT_SECONDS
        for hook in hooks:
            if self.cancel.is_set():
                raise _EventFailed("UnknownError", "The deployment was stopped.", hook.location, stopped=True)
            self.note(f"Script - {hook.location}")
            script = self.locate(spec, archive, hook)
            if self.instance.isolation_warning:
                self.note(f"[lab] {self.instance.isolation_warning}")
            if hook.runas not in (None, "root"):
                self.note(f"[lab] runas {hook.runas}: the local instance runs every hook as root")
            seconds = min(hook.timeout, max(event_deadline - time.monotonic(), 0))
            outcome = self.instance.run_script(
                self.instance_path(script),
                env={**self.variables, "LIFECYCLE_EVENT": name},
                timeout=seconds,
                on_output=lambda stream, line: self.note(f"[{stream}]{line}"),
                cancel=self.cancel,
            )
            self.command_seconds += outcome.seconds
            if outcome.ended_by == "cancel":
                raise _EventFailed(
                    "UnknownError",
                    "The deployment was stopped while this script ran.",
                    hook.location,
                    stopped=True,
                )
            if outcome.ended_by == "timeout":
                message = f"{_SCRIPT_AT}{hook.location} failed to complete in {round(seconds)} seconds"
                raise _EventFailed("ScriptTimedOut", message, hook.location)
            if outcome.exit_code != 0:
                user = f" run as user {hook.runas}" if hook.runas else ""
                message = f"{_SCRIPT_AT}{hook.location}{user} failed with exit code {outcome.exit_code}"
                raise _EventFailed("ScriptFailed", message, hook.location)

    def locate(self, spec: AppSpec, archive: Path, hook: Hook) -> Path:
        try:
            script = spec.script_path(archive, hook)
        except AppSpecError as exc:
            raise _EventFailed("UnknownError", str(exc), hook.location) from None
        if not script.exists():
            message = f"Script does not exist at specified location: {hook.location}"
            raise _EventFailed("ScriptMissing", message, hook.location)
        if not script.is_file():
            message = f"{_SCRIPT_AT}{hook.location} is not a file and cannot be run"
            raise _EventFailed("ScriptNotExecutable", message, hook.location)
        return script

    def instance_path(self, host_path: Path) -> str:
        return f"/{host_path.relative_to(self.instance.root).as_posix()}"

    def prune(self) -> None:
        """Keep the group's newest revisions and the last successful one (the agent's max_revisions)."""
        keep = self.last_successful.read_text().strip() if self.last_successful.is_file() else ""
        folders = sorted((p for p in self.group_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for folder in folders[:-KEPT_REVISIONS]:
            if self.instance_path(folder) != keep and folder != self.deployment_dir:
                shutil.rmtree(folder, ignore_errors=True)


class _Install:
    """The Install event: undo the group's previous Install, copy `files`, apply `permissions`."""

    def __init__(self, deployment: _Deployment):
        self.deployment = deployment
        self.instance = deployment.instance
        self.spec = deployment.spec
        self.steps: list[tuple[Path | None, str]] = []  # (source, destination); no source: make a folder
        self.copies: dict[str, Path] = {}
        self.made_dirs: set[str] = set()

    def run(self) -> None:
        try:
            self.remove_previous_install()
            for mapping in self.spec.files:
                self.plan_mapping(mapping)
            permissions = self.plan_permissions()
            self.execute()
            for target, permission in permissions:
                self.apply(target, permission)
        except OSError as exc:
            raise _EventFailed(
                "UnknownError", f"The deployment failed while installing files: {exc}"
            ) from None

    # --- the plan ------------------------------------------------------------------------------------

    def plan_mapping(self, mapping: FileMapping) -> None:
        try:
            source = self.spec.source_path(self.deployment.archive, mapping)
        except AppSpecError as exc:
            raise _EventFailed("UnknownError", str(exc)) from None
        if not source.exists() and not source.is_symlink():
            raise _EventFailed(
                "UnknownError",
                f"The deployment failed because the source {mapping.source} named in {self.spec.filename} "
                f"line {mapping.line} is not in the revision",
            )
        if source.is_dir() and not source.is_symlink():
            self.plan_missing_ancestors(mapping.destination)
            self.plan_directory(source, mapping.destination)
        else:
            destination = _join(mapping.destination, source.name)
            self.plan_missing_ancestors(destination)
            self.plan_copy(source, destination)

    def plan_directory(self, source: Path, destination: str) -> None:
        if not self.is_directory(destination):
            self.plan_mkdir(destination)
        for entry in sorted(source.iterdir()):
            target = _join(destination, entry.name)
            if entry.is_dir() and not entry.is_symlink():
                self.plan_directory(entry, target)
            else:
                self.plan_copy(entry, target)

    def plan_missing_ancestors(self, destination: str) -> None:
        missing = []
        parent = _parent(destination)
        while parent != "/" and not self.is_directory(parent):
            missing.insert(0, parent)
            parent = _parent(parent)
        for folder in missing:
            self.plan_mkdir(folder)

    def plan_mkdir(self, destination: str) -> None:
        self.check_writable(destination)
        if destination in self.copies or self.host(destination).exists():
            raise _EventFailed("UnknownError", _ALREADY_EXISTS + destination)
        self.steps.append((None, destination))
        self.made_dirs.add(destination)

    def plan_copy(self, source: Path, destination: str) -> None:
        self.check_writable(destination)
        if destination in self.copies or destination in self.made_dirs:
            raise _EventFailed(
                "UnknownError",
                f"The deployment failed because {self.spec.filename} installs two files at {destination}; "
                "remove one of them from the files section",
            )
        if self.host(destination).exists():
            behavior = self.deployment.file_exists_behavior
            if behavior == "DISALLOW":
                raise _EventFailed("UnknownError", _ALREADY_EXISTS + destination)
            if behavior == "RETAIN":
                self.deployment.note(f"[lab] RETAIN: kept the existing {destination}", in_tail=False)
                return
        self.steps.append((source, destination))
        self.copies[destination] = source

    def plan_permissions(self) -> list[tuple[str, Permission]]:
        """Permissions apply to what this Install creates: a copied file, or matches inside a folder."""
        planned: dict[str, Permission] = {}
        for permission in self.spec.permissions:
            if permission.object in self.copies:
                targets = [permission.object] if "file" in permission.types else []
                if targets and (permission.pattern != "**" or permission.except_):
                    raise _EventFailed(
                        "UnknownError",
                        f"The deployment failed because the permissions for the file {permission.object} "
                        f"({self.spec.filename} line {permission.line}) use pattern or except, which only "
                        "folders can have",
                    )
            elif self.is_directory(permission.object):
                targets = [t for t in self.copies if "file" in permission.types and _matches(permission, t)]
                targets += [
                    t for t in self.made_dirs if "directory" in permission.types and _matches(permission, t)
                ]
            else:
                targets = []
            for target in targets:
                if target in planned:
                    raise _EventFailed(
                        "UnknownError",
                        f"The deployment failed because {self.spec.filename} sets the permissions of "
                        f"{target} more than once",
                    )
                planned[target] = permission
        return list(planned.items())

    # --- doing it ------------------------------------------------------------------------------------

    def remove_previous_install(self) -> None:
        """Delete what the previous Install created, newest first, so none of it counts as existing."""
        cleanup = self.deployment.cleanup_file
        if not cleanup.is_file():
            return
        for destination in reversed(cleanup.read_text().splitlines()):
            path = self.entry(destination)
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    self.deployment.note(
                        f"[lab] kept {destination}: it holds files no deployment installed", in_tail=False
                    )
        cleanup.unlink()

    def execute(self) -> None:
        """Make the folders and copy the files, listing each in the cleanup file as it is done."""
        with open(self.deployment.cleanup_file, "w", encoding="utf-8") as cleanup:
            for source, destination in self.steps:
                if source is None:
                    self.host(destination).mkdir()
                elif source.is_symlink():  # copied as a link, as the agent does
                    entry = self.entry(destination)
                    entry.unlink(missing_ok=True)
                    entry.symlink_to(source.readlink())
                else:
                    shutil.copy2(source, self.host(destination))
                cleanup.write(f"{destination}\n")
                cleanup.flush()
        self.deployment.note(
            f"[lab] installed {len(self.copies)} file(s) and {len(self.made_dirs)} folder(s)", in_tail=False
        )

    def apply(self, target: str, permission: Permission) -> None:
        """Set the mode; owner, group, acls and context are recorded (hooks run as root, see instance)."""
        if permission.mode is not None:
            self.host(target).chmod(permission.mode)
        recorded = {
            key: value
            for key, value in (
                ("owner", permission.owner),
                ("group", permission.group),
                ("acls", list(permission.acls)),
                ("context", dict(permission.context or {})),
            )
            if value
        }
        if recorded:
            with open(self.instance.lab_dir / "permissions.log", "a", encoding="utf-8") as log:
                log.write(
                    json.dumps({"path": target, "deploymentId": self.deployment.deployment_id, **recorded})
                )
                log.write("\n")
            self.deployment.note(f"[lab] recorded, not applied: {target} {recorded}", in_tail=False)

    def host(self, destination: str) -> Path:
        return self.instance.path(destination)

    def entry(self, destination: str) -> Path:
        """Like host(), without following a symbolic link in the last component."""
        return self.instance.path(_parent(destination)) / destination.rsplit("/", 1)[1]

    def is_directory(self, destination: str) -> bool:
        return destination in self.made_dirs or self.host(destination).is_dir()

    def check_writable(self, destination: str) -> None:
        resolved = "/" + self.host(destination).relative_to(self.instance.root).as_posix()
        reason = self.instance.off_limits(resolved)
        if reason:
            raise _EventFailed(
                "UnknownError", f"The deployment failed because {destination} cannot be written: {reason}"
            )


def _matches(permission: Permission, target: str) -> bool:
    """The agent's rule: anything under the object for "**", else a simple glob on an immediate child."""
    base = permission.object.rstrip("/") + "/"
    if not target.startswith(base):
        return False
    relative = target[len(base) :]
    if any(_simple_glob(pattern, relative) for pattern in permission.except_):
        return False
    return permission.pattern == "**" or _simple_glob(permission.pattern, relative)


def _simple_glob(pattern: str, name: str) -> bool:
    """`*` matches any run of characters; nothing else is special; never across a `/`."""
    regex = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return "/" not in name and re.fullmatch(regex, name) is not None


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _copy(event: dict) -> dict:
    return {key: dict(value) if isinstance(value, dict) else value for key, value in event.items()}


def _timestamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
