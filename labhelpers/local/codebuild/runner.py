"""Run a buildspec the way a CodeBuild container does, with bash in a local work folder.

`run_build` walks CodeBuild's phases (SUBMITTED ... COMPLETED), runs the buildspec's commands in
one shell (buildspec 0.2) or one shell per command (0.1), streams CodeBuild-style log lines, and
returns the phases as BatchGetBuilds reports them, the exported variables and the artifact files.
It knows nothing about HTTP, boto3 or the pipeline engine: the local CodeBuild service calls it.

The build sees only the environment given to it (never this process's, so never the user's AWS
credentials) and is killed as a whole process group on timeout or stop.
"""

import os
import posixpath
import pwd
import queue
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..archives import zip_dir
from ..awsjson import now
from ..context import StopSignal
from .buildspec import PHASE_NAMES, ArtifactSpec, Buildspec, BuildspecError, Phase, ReportSpec
from .buildspec import load as load_buildspec

SUCCEEDED, FAILED, FAULT, TIMED_OUT, STOPPED = "SUCCEEDED", "FAILED", "FAULT", "TIMED_OUT", "STOPPED"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_CONTAINER_PHASES = {"DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS"}
_PHASES_WITHOUT_CONTEXT = {"SUBMITTED", "QUEUED"}
_INTERRUPT_CONTEXTS = {
    TIMED_OUT: ("BUILD_TIMED_OUT", "Build has timed out."),
    STOPPED: ("BUILD_STOPPED", "Build was stopped."),
}
_LINE_LIMIT = 1 << 20  # longer output lines are split
_READER_JOIN_SECONDS = 5  # output of processes that escaped the process group is not waited for longer
_GLOB_CHARS = re.compile(r"[*?\[]")
_NO_RUNTIME_SELECTION = "Runtime version selection is not supported by this build image."


@dataclass(frozen=True)
class BuildArtifact:
    """The files of one artifact, ready to zip (`zip_bytes()`, or archives.zip_dir with `files`)."""

    identifier: str | None  # None for the primary (top-level) artifact, else its secondary-artifacts key
    name: str | None  # the buildspec's name, expanded; CodePipeline artifacts do not use it
    base_directory: Path
    files: tuple[tuple[str, Path], ...]  # (path inside the zip, absolute file path)

    def zip_bytes(self) -> bytes:
        return zip_dir(self.base_directory, files=self.files)


@dataclass(frozen=True)
class ReportFiles:
    """The files the buildspec's `reports` entry `name` found, to be read before the work folder goes."""

    name: str  # a report group name or ARN
    file_format: str
    files: tuple[Path, ...]
    problem: str = ""  # why no files could be looked for (a missing base directory)


@dataclass
class BuildResult:
    build_status: str  # SUCCEEDED | FAILED | FAULT | TIMED_OUT | STOPPED
    phases: list[dict]  # BatchGetBuilds' BuildPhase shape, in order
    current_phase: str
    exported_variables: dict[str, str] = field(default_factory=dict)
    artifacts: list[BuildArtifact] = field(default_factory=list)  # primary first, then secondary
    command_seconds: float = 0.0  # time spent in the buildspec's own commands
    error: str | None = None
    reports: list[ReportFiles] = field(default_factory=list)


def run_build(
    spec: Buildspec | str,
    *,
    work_root: Path,
    sources: dict[str, Path],
    primary: str,
    env: dict[str, str],
    timeout_seconds: int,
    on_log: Callable[[str], None],
    on_phase: Callable[[dict], None] | None = None,
    cancel: StopSignal | None = None,
    wrapper: tuple[str, ...] = (),
) -> BuildResult:
    """Run one build to completion and return its result; never raises for a failing build.

    `spec` is a parsed Buildspec or the project's buildspec setting: inline YAML text (it has a
    newline), or a path relative to the primary source ('' means buildspec.yml), read and parsed
    in DOWNLOAD_SOURCE like CodeBuild does. `sources` maps input artifact names to extracted
    folders; `primary` names CODEBUILD_SRC_DIR, the others are CODEBUILD_SRC_DIR_<name>.
    `env` (the project's variables with the StartBuild overrides applied, the CODEBUILD_* identity
    of the build, the region, the local endpoint and dummy credentials, and the resolved values of
    the buildspec's parameter-store and secrets-manager names) overrides the buildspec's variables.
    `on_log` receives each log line as it happens; `on_phase` each phase dict as it starts and ends.
    `wrapper` is a command prefix the build's shells run under (the sandbox that hides the home folder).
    """
    if primary not in sources:
        raise ValueError(f"primary source {primary!r} is not one of the sources {sorted(sources)}")
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    build = _Build(
        spec, Path(work_root), sources, primary, env, timeout_seconds, on_log, on_phase, cancel, wrapper
    )
    try:
        return build.run()
    finally:
        build.control.close()


class _PhaseFailed(Exception):
    def __init__(self, status_code: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class _Interrupted(Exception):
    """The build timed out or was stopped: `status` is TIMED_OUT or STOPPED."""

    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


class _Control:
    """The build's deadline and stop request, and the queue on which shells report events."""

    def __init__(self, timeout_seconds: int, cancel: StopSignal | None):
        self.events: queue.Queue = queue.Queue()
        self.deadline = time.monotonic() + timeout_seconds
        self.cancel = cancel
        self.interrupted: str | None = None
        self.over = cancel.when_set(self._stopped, timeout_seconds) if cancel is not None else None

    def _stopped(self) -> None:
        self.events.put((None, "stop", 0))

    def close(self) -> None:
        """The build is over: its watcher ends now."""
        if self.over is not None:
            self.over.set()

    def check(self) -> None:
        """Raise _Interrupted if the build was stopped or ran out of time."""
        if self.interrupted is None:
            if self.cancel is not None and self.cancel.is_set():
                self.interrupted = STOPPED
            elif time.monotonic() >= self.deadline:
                self.interrupted = TIMED_OUT
        if self.interrupted:
            raise _Interrupted(self.interrupted)

    def next_event(self) -> tuple:
        """The next shell event, or _Interrupted when the deadline passes or a stop arrives first."""
        try:
            event = self.events.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            self.interrupted = self.interrupted or TIMED_OUT
            raise _Interrupted(self.interrupted) from None
        if event[1] == "stop":
            self.interrupted = self.interrupted or STOPPED
            raise _Interrupted(self.interrupted)
        return event


@dataclass(frozen=True)
class _ShellKind:
    argv: tuple[str, ...]
    marker_fd: int  # a descriptor duplicated from stdout that commands are unlikely to redirect


def _shell_kind(name: str | None, wrapper: tuple[str, ...] = ()) -> _ShellKind:
    if name in ("sh", "/bin/sh"):
        return _ShellKind((*wrapper, "/bin/sh"), 9)  # dash only knows single-digit descriptors
    return _ShellKind((*wrapper, shutil.which("bash") or "/bin/bash", "--noprofile", "--norc"), 19)


class _Shell:
    """One shell process reading its script from a FIFO, in its own process group.

    After each command it prints `<token> status <n>` on the same pipe as the command's output, so
    the reader thread passes on every output line before the status. Its exit prints `<token> exit <n>`.
    """

    def __init__(self, kind: _ShellKind, *, fifo: Path, cwd: Path, env: dict, token: str, on_output, events):
        self._token = token
        self._marker_fd = kind.marker_fd
        self._on_output = on_output
        self._events = events
        self._fifo = fifo
        fifo.unlink(missing_ok=True)  # left over from an earlier build in the same work folder
        os.mkfifo(fifo, 0o600)
        # Commands get /dev/null as stdin and cannot read the script; the shell keeps the FIFO to itself.
        self.process = subprocess.Popen(
            [*kind.argv, str(fifo)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._script = os.open(fifo, os.O_RDWR)  # read-write: opening never waits for the shell
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        fd = self._marker_fd
        self._write(f'exec {fd}>&1\ntrap \'printf "%s exit %d\\n" {token} "$?" >&{fd}\' EXIT\n')

    def source(self, script: Path) -> None:
        """Run a script file in this shell; its exit status arrives as a 'status' event."""
        fd = self._marker_fd
        self._write(f". {shlex.quote(str(script))}\nprintf '%s status %d\\n' {self._token} \"$?\" >&{fd}\n")

    def _write(self, text: str) -> None:
        os.write(self._script, text.encode())

    def _read_output(self) -> None:
        marker = re.compile(rf"(.*){self._token} (status|exit) (\d+)\Z", re.DOTALL)
        with self.process.stdout as output:
            for raw in iter(lambda: output.readline(_LINE_LIMIT), b""):
                line = raw.decode(errors="replace").rstrip("\r\n")
                found = marker.match(line)
                if found is None:
                    self._on_output(line)
                    continue
                if found[1]:
                    self._on_output(found[1])
                self._events.put((self, found[2], int(found[3])))
        self._events.put((self, "ended", self.process.wait()))

    def kill(self) -> None:
        """Kill the shell and everything it started (its whole process group)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        os.close(self._script)
        self._fifo.unlink(missing_ok=True)
        self._reader.join(_READER_JOIN_SECONDS)


class _Session:
    """Runs commands for the build: in one long-lived shell (0.2) or a new shell per command (0.1)."""

    def __init__(
        self,
        control: _Control,
        *,
        kind: _ShellKind,
        cwd: Path,
        env: dict,
        scripts: Path,
        one_shell: bool,
        on_output,
    ):
        self.control = control
        self.env = env
        self.token = f"__codebuild_{secrets.token_hex(12)}__"
        self._kind, self._cwd, self._scripts = kind, cwd, scripts
        self._one_shell = one_shell
        self._on_output = on_output
        self._shell: _Shell | None = None
        self._count = 0

    def run(self, command: str) -> int:
        """Run one command and return its exit status (negative: the shell was killed by that signal)."""
        self.control.check()
        self._count += 1
        script = self._scripts / f"command-{self._count:04d}.sh"
        script.write_text(command + "\n")
        shell = self._shell or self._start()
        shell.source(script)
        while True:
            try:
                source, kind, value = self.control.next_event()
            except _Interrupted:
                self.close()
                raise
            if source is not shell:
                continue  # a late event from a shell that already ended
            if kind != "status" or not self._one_shell:
                self.close()  # the shell exited (exit, set -e, exec...), or 0.1's one-command shell is done
            return value

    def set_variable(self, name: str, value: str) -> None:
        """Set a variable for the rest of the build, in the running shell too."""
        self.env[name] = value
        if self._shell is not None:
            self.run(f"export {name}={shlex.quote(value)}")

    def _start(self) -> _Shell:
        fifo = self._scripts / f"shell-{self._count:04d}.fifo"
        self._shell = _Shell(
            self._kind,
            fifo=fifo,
            cwd=self._cwd,
            env=self.env,
            token=self.token,
            on_output=self._on_output,
            events=self.control.events,
        )
        return self._shell

    def close(self) -> None:
        if self._shell is not None:
            self._shell.kill()
            self._shell = None


def _reason(status: int) -> str:
    """How Go's os/exec (CodeBuild's agent) words an exit: 'exit status 1' or 'signal: killed'."""
    if status < 0:
        return f"signal: {signal.strsignal(-status).lower()}"
    return f"exit status {status}"


def _container_line(message: str) -> str:
    return f"[Container] {datetime.now(UTC):%Y/%m/%d %H:%M:%S.%f} {message}"


class _Build:
    def __init__(
        self,
        spec,
        work_root: Path,
        sources: dict,
        primary: str,
        env: dict,
        timeout_seconds: int,
        on_log,
        on_phase,
        cancel,
        wrapper,
    ):
        self.spec_setting = spec
        self.wrapper = tuple(wrapper)
        self.spec: Buildspec | None = spec if isinstance(spec, Buildspec) else None
        self.work_root = work_root
        self.src_dir = Path(sources[primary])
        self.sources = {name: Path(path) for name, path in sources.items()}
        self.primary = primary
        self.given_env = dict(env)
        self.control = _Control(timeout_seconds, cancel)
        self._on_log = on_log
        self._on_phase = on_phase
        self._log_lock = threading.Lock()
        self._masked: list[str] = []
        self.session: _Session | None = None
        self.phases: list[dict] = []
        self.exported: dict[str, str] = {}
        self.artifacts: list[BuildArtifact] = []
        self.reports: list[ReportFiles] = []
        self.command_seconds = 0.0

    # -- logging --------------------------------------------------------------------------------

    def log(self, message: str) -> None:
        self._emit(_container_line(message))

    def _emit(self, line: str) -> None:
        for secret in self._masked:
            line = line.replace(secret, "***")
        with self._log_lock:
            self._on_log(line)

    # -- the phase sequence ---------------------------------------------------------------------

    def run(self) -> BuildResult:
        try:
            self.phase("SUBMITTED")
            self.phase("QUEUED")
            ready = self.phase("PROVISIONING", self.provision) == SUCCEEDED
            ready = ready and self.phase("DOWNLOAD_SOURCE", self.download_source) == SUCCEEDED
            if ready and self.run_user_phases():
                self.phase("UPLOAD_ARTIFACTS", self.upload_artifacts)
            if ready and self.spec.reports and not self.control.interrupted:
                self.reports = [self.collect_report(name, spec) for name, spec in self.spec.reports.items()]
            self.phase("FINALIZING", self.finalize)
        finally:
            if self.session is not None:
                self.session.close()
        self.phases.append({"phaseType": "COMPLETED", "startTime": now()})
        self._report(self.phases[-1])
        return self.result()

    def run_user_phases(self) -> bool:
        """INSTALL..POST_BUILD with CodeBuild's transitions; True if UPLOAD_ARTIFACTS should follow."""
        for name in PHASE_NAMES:
            phase = self.spec.phases.get(name, Phase())
            status = self.phase(name.upper(), lambda phase=phase, name=name: self.run_phase(name, phase))
            if status == SUCCEEDED:
                continue
            if self.control.interrupted:
                return False
            try:
                self.session.set_variable("CODEBUILD_BUILD_SUCCEEDING", "0")
            except _Interrupted:
                return False
            action = phase.on_failure.action if phase.on_failure else None
            if action == "ABORT" or (action != "CONTINUE" and name in ("install", "pre_build")):
                return False
            # BUILD and POST_BUILD failures still run the later phases (spec §5.4).
        return True

    def phase(self, phase_type: str, body: Callable[[], None] | None = None) -> str:
        record = {"phaseType": phase_type, "startTime": now()}
        self.phases.append(record)
        self._report(record)
        if phase_type in _CONTAINER_PHASES - {"DOWNLOAD_SOURCE", "UPLOAD_ARTIFACTS"}:
            self.log(f"Entering phase {phase_type}")
        status, code, message = SUCCEEDED, "", ""
        try:
            if phase_type != "FINALIZING":
                self.control.check()
            if body is not None:
                body()
        except _PhaseFailed as failure:
            status, code, message = FAILED, failure.status_code, failure.message
        except _Interrupted as interrupt:
            status = interrupt.status
            code, message = _INTERRUPT_CONTEXTS[status]
        except OSError as exc:  # the work folder or the shell failed: our side, not the buildspec's
            status, code, message = FAULT, "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"
        end = now()
        record.update(phaseStatus=status, endTime=end, durationInSeconds=int(end - record["startTime"]))
        if phase_type not in _PHASES_WITHOUT_CONTEXT:
            record["contexts"] = [{"statusCode": code, "message": message}]
        if phase_type in _CONTAINER_PHASES:
            self.log(f"Phase complete: {phase_type} State: {status}")
            self.log(f"Phase context status code: {code} Message: {message}")
        self._report(record)
        return status

    def _report(self, record: dict) -> None:
        if self._on_phase is not None:
            self._on_phase(dict(record))

    def result(self) -> BuildResult:
        statuses = [record.get("phaseStatus") for record in self.phases]
        build_status = next((s for s in (TIMED_OUT, STOPPED, FAULT, FAILED) if s in statuses), SUCCEEDED)
        error = None
        if build_status != SUCCEEDED:
            failed = next(record for record in self.phases if record.get("phaseStatus") == build_status)
            # SUBMITTED and QUEUED have no contexts: only a stop or the timeout ends them
            contexts = failed.get("contexts") or [{"message": _INTERRUPT_CONTEXTS[build_status][1]}]
            error = f"Phase {failed['phaseType']} {build_status}: {contexts[0]['message']}"
        return BuildResult(
            build_status=build_status,
            phases=self.phases,
            current_phase=self.phases[-1]["phaseType"],
            exported_variables=self.exported,
            artifacts=self.artifacts,
            command_seconds=self.command_seconds,
            error=error,
            reports=self.reports,
        )

    # -- phase bodies ---------------------------------------------------------------------------

    def provision(self) -> None:
        for folder in ("home", "tmp", "scripts"):
            (self.work_root / folder).mkdir(parents=True, exist_ok=True)

    def download_source(self) -> None:
        self.log("Phase is DOWNLOAD_SOURCE")
        for name, folder in self.sources.items():
            if not folder.is_dir():
                raise _PhaseFailed("CLIENT_ERROR", f"source {name} is not a folder: {folder}")
        self.log(f"CODEBUILD_SRC_DIR={self.src_dir}")
        for name, folder in self.secondary_sources().items():
            self.log(f"CODEBUILD_SRC_DIR_{name}={folder}")
        self.spec = self.spec or self.load_spec()
        for warning in self.spec.warnings:
            self.log(warning)
        self.check_run_as()
        self.log("Processing environment variables")
        self.check_secret_values()
        runtimes = self.spec.phases.get("install", Phase()).runtime_versions
        if runtimes:
            self.log(f"Skipping install of runtimes. {_NO_RUNTIME_SELECTION}")
        else:
            self.log("No runtime version selected in buildspec.")
        self.log(f"Moving to directory {self.src_dir}")
        self.log(f"Phases found in YAML: {len(self.spec.phases)}")
        for name, phase in self.spec.phases.items():
            self.log(f" {name.upper()}: {len(phase.commands)} commands")
        self.session = _Session(
            self.control,
            kind=_shell_kind(self.spec.env.shell, self.wrapper),
            cwd=self.src_dir,
            env=self.build_env(),
            scripts=self.work_root / "scripts",
            one_shell=self.spec.version != "0.1",
            on_output=self._emit,
        )

    def load_spec(self) -> Buildspec:
        setting = self.spec_setting
        if "\n" in setting:
            return self.parse(setting, "the project's inline buildspec")
        path = self.src_dir / (setting or "buildspec.yml")
        self.log(f"YAML location is {path}")
        if not path.is_file():
            raise _PhaseFailed("YAML_FILE_ERROR", f"YAML file does not exist: {setting or 'buildspec.yml'}")
        return self.parse(path.read_text(errors="replace"), setting or "buildspec.yml")

    @staticmethod
    def parse(text: str, filename: str) -> Buildspec:
        try:
            return load_buildspec(text, filename)
        except BuildspecError as exc:
            raise _PhaseFailed("YAML_FILE_ERROR", str(exc)) from exc

    def build_user(self) -> str:
        """Who the build's shell is: root in the sandbox (its user namespace maps us to root), else us."""
        return "root" if self.wrapper else pwd.getpwuid(os.getuid()).pw_name

    def check_run_as(self) -> None:
        """run-as is honoured when it names the build's own user; the sandbox cannot switch to another."""
        wanted = [("run-as", self.spec.run_as)] + [
            (f"phases.{name}.run-as", phase.run_as) for name, phase in self.spec.phases.items()
        ]
        user = self.build_user()
        for where, name in wanted:
            if name is None:
                continue
            if name != user:
                raise _PhaseFailed(
                    "YAML_FILE_ERROR",
                    f"{where}: {name}: the local endpoint runs every build as {user} and cannot switch to "
                    f"another Linux user; remove run-as (or set it to {user}), or use LAB_BACKEND=aws to "
                    f"run the build as {name}",
                )
            self.log(f"{where}: running as {user}")

    def check_secret_values(self) -> None:
        """Parameter Store and Secrets Manager values come resolved in `env`; a missing one fails here."""
        if self.spec.env.parameter_store:
            self.log("Decrypting parameter store environment variables")
        for name, parameter in self.spec.env.parameter_store.items():
            if name not in self.given_env:
                raise _PhaseFailed("Decrypted Variables Error", f"parameter does not exist: {parameter}")
        for name in self.spec.env.secrets_manager:
            if name not in self.given_env:
                raise _PhaseFailed(
                    "Secrets Manager Error",
                    "ResourceNotFoundException: Secrets Manager can't find the specified secret.",
                )
        secret_names = {*self.spec.env.parameter_store, *self.spec.env.secrets_manager}
        values = {self.given_env[name] for name in secret_names if self.given_env[name]}
        self._masked = sorted(values, key=len, reverse=True)

    def secondary_sources(self) -> dict[str, Path]:
        return {name: folder for name, folder in self.sources.items() if name != self.primary}

    def build_env(self) -> dict[str, str]:
        """Base + buildspec variables + given env + the source folders; nothing from os.environ."""
        base = {
            "PATH": BASE_PATH,
            "HOME": str(self.work_root / "home"),
            "TMPDIR": str(self.work_root / "tmp"),
            "LANG": "C.UTF-8",
            "CODEBUILD_START_TIME": str(int(self.phases[0]["startTime"] * 1000)),
        }
        folders = {
            f"CODEBUILD_SRC_DIR_{name}": str(folder) for name, folder in self.secondary_sources().items()
        }
        return {
            **base,
            **self.spec.env.variables,
            **self.given_env,
            "CODEBUILD_SRC_DIR": str(self.src_dir),
            **folders,
            "CODEBUILD_BUILD_SUCCEEDING": "1",
        }

    def run_phase(self, name: str, phase: Phase) -> None:
        """The phase's commands, then its finally block; RETRY re-runs both while the error matches."""
        retry = phase.on_failure if phase.on_failure and phase.on_failure.action == "RETRY" else None
        attempts = 1 + (retry.retries if retry else 0)
        for attempt in range(1, attempts + 1):
            failure = self.run_commands(phase.commands)
            finally_failure = self.run_commands(phase.finally_commands)
            failure = failure or finally_failure
            if failure is None:
                return
            if attempt < attempts and re.search(retry.pattern, failure):
                self.log(f"Retrying phase {name.upper()}: attempt {attempt + 1} of {attempts}")
                continue
            raise _PhaseFailed("COMMAND_EXECUTION_ERROR", failure)

    def run_commands(self, commands: tuple[str, ...]) -> str | None:
        """Run commands in order, stopping at the first failure; return its context message."""
        for command in commands:
            self.log(f"Running command {command}")
            started = time.monotonic()
            try:
                status = self.session.run(command)
            finally:
                self.command_seconds += time.monotonic() - started
            if status != 0:
                self.log(f"Command did not exit successfully {command} {_reason(status)}")
                return f"Error while executing command: {command}. Reason: {_reason(status)}"
        return None

    def upload_artifacts(self) -> None:
        if self.spec.artifacts is None and self.spec.secondary_artifacts:
            raise _PhaseFailed("CLIENT_ERROR", "no definition for primary artifacts in buildspec")
        wanted = [(None, self.spec.artifacts)] if self.spec.artifacts else []
        wanted += list(self.spec.secondary_artifacts.items())
        self.artifacts = [self.collect_artifact(identifier, artifact) for identifier, artifact in wanted]

    def collect_artifact(self, identifier: str | None, artifact: ArtifactSpec) -> BuildArtifact:
        base_text, name, *patterns = self.expand(
            [artifact.base_directory or ".", artifact.name or "", *artifact.files, *artifact.exclude_paths]
        )
        files = patterns[: len(artifact.files)]
        excludes = [_glob_regex(posixpath.normpath(exclude)) for exclude in patterns[len(artifact.files) :]]
        self.log(f"Expanding base directory path: {base_text}")
        self.log("Assembling file list")
        self.log(f"Expanding {base_text}")
        bases = _matching_dirs(base_text, self.src_dir)
        if not bases:
            self.log(f"Skipping invalid file path {base_text}")
            raise _PhaseFailed("CLIENT_ERROR", f"no matching base directory path found for {base_text}")
        self.log(f"Expanding file paths for base directory {base_text}")
        self.log("Assembling file list")
        picked: dict[str, Path] = {}
        for pattern in files:
            self.log(f"Expanding {pattern}")
            matches = [match for base in bases for match in _matching_files(pattern, base)]
            if not matches and not _GLOB_CHARS.search(pattern):
                self.log(f"Skipping invalid file path {pattern}")
            for relative, path in matches:
                if _excluded(excludes, relative):
                    continue
                arcname = posixpath.basename(relative) if artifact.discard_paths else relative
                if picked.setdefault(arcname, path) != path:
                    self.log(f"Skipping {path}: {arcname} is already taken by {picked[arcname]}")
        if not picked:
            raise _PhaseFailed("CLIENT_ERROR", "no matching artifact paths found")
        self.log(f"Found {len(picked)} file(s)")
        return BuildArtifact(identifier, name or None, bases[0], tuple(sorted(picked.items())))

    def collect_report(self, name: str, spec: ReportSpec) -> ReportFiles:
        """The files of one report, found even when the build failed (as CodeBuild does)."""
        base = spec.base_directory or "."
        bases = _matching_dirs(base, self.src_dir)
        if not bases:
            return ReportFiles(
                name, spec.file_format, (), f"no matching base directory path found for {base}"
            )
        found = {
            path for pattern in spec.files for folder in bases for _, path in _matching_files(pattern, folder)
        }
        return ReportFiles(name, spec.file_format, tuple(sorted(found)))

    def expand(self, texts: list[str]) -> list[str]:
        """Expand $VARIABLES and $(commands) in artifact settings, in the build's own shell."""
        needing = [text for text in texts if "$" in text or "`" in text]
        if not needing:
            return texts
        output = self.work_root / "scripts" / "expanded"
        delimiter = f"{self.session.token}EOF"
        lines = ["set +eu", "{"]
        for text in needing:
            lines += [f"cat <<{delimiter}", text, delimiter, "printf '\\0'"]
        lines.append(f"}} > {shlex.quote(str(output))}")
        if self.session.run("\n".join(lines)) != 0:
            raise _PhaseFailed("CLIENT_ERROR", f"could not expand the artifact paths {needing}")
        values = iter(value.removesuffix("\n") for value in output.read_text().split("\0"))
        return [next(values) if text in needing else text for text in texts]

    def finalize(self) -> None:
        if self.session is None or self.control.interrupted:
            return
        names = self.spec.env.exported_variables
        if names:
            output = self.work_root / "scripts" / "exported"
            values = " ".join(f'"${{{name}-}}"' for name in names)
            try:
                self.session.run(f"printf '%s\\0' {values} > {shlex.quote(str(output))}")
            except _Interrupted:
                return
            self.exported = dict(zip(names, output.read_text().split("\0")[:-1], strict=True))
        self.session.close()


# -- artifact file matching (CodeBuild's globs: '*' within a name, '**' across folders) ------------


def _glob_regex(pattern: str) -> re.Pattern:
    parts, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        elif pattern[index] == "[" and (close := pattern.find("]", index + 2)) != -1:
            members = pattern[index + 1 : close]
            members = "^" + members[1:] if members.startswith("!") else members
            parts.append("[" + members.replace("\\", "\\\\") + "]")
            index = close + 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts) + r"\Z")


def _split_anchor(pattern: str, base: Path) -> tuple[Path, str]:
    """(folder the pattern is relative to, normalised relative pattern)."""
    if pattern.startswith("/"):
        return Path("/"), posixpath.normpath(pattern).lstrip("/") or "."
    return base, posixpath.normpath(pattern)


def _walk(anchor: Path, pattern: str) -> Iterator[tuple[str, Path, bool]]:
    """(path relative to anchor, path, is a folder) under the pattern's literal leading folders."""
    literal = []
    for part in pattern.split("/"):
        if _GLOB_CHARS.search(part):
            break
        literal.append(part)
    top = anchor.joinpath(*literal)
    max_depth = None if "**" in pattern else pattern.count("/") + 1
    for dirpath, dirnames, filenames in os.walk(top):
        relative_dir = os.path.relpath(dirpath, anchor)
        dirnames.sort()  # walk in a stable order: the first of two files with one name wins
        entries = [(name, True) for name in dirnames] + [(name, False) for name in sorted(filenames)]
        for name, is_dir in entries:
            yield posixpath.normpath(f"{relative_dir}/{name}"), Path(dirpath, name), is_dir
        depth = 0 if relative_dir == "." else relative_dir.count(os.sep) + 1
        if max_depth is not None and depth + 1 >= max_depth:
            dirnames.clear()  # entries deeper than the pattern cannot match


def _matching_dirs(pattern: str, src_dir: Path) -> list[Path]:
    anchor, relative = _split_anchor(pattern, src_dir)
    if not _GLOB_CHARS.search(relative):
        folder = anchor / relative
        return [folder] if folder.is_dir() else []
    regex = _glob_regex(relative)
    return [path for rel, path, is_dir in _walk(anchor, relative) if is_dir and regex.match(rel)]


def _matching_files(pattern: str, base: Path) -> list[tuple[str, Path]]:
    """(name relative to base, path) of the files a pattern selects; a folder selects all its files."""
    anchor, relative = _split_anchor(pattern, base)
    if not _GLOB_CHARS.search(relative):
        target = anchor / relative
        if target.is_file():
            return [(_name_in_artifact(target, base), target)]
        if target.is_dir():
            return _matching_files(f"{pattern.rstrip('/')}/**/*", base)
        return []
    regex = _glob_regex(relative)
    return [
        (_name_in_artifact(path, base), path)
        for rel, path, is_dir in _walk(anchor, relative)
        if not is_dir and path.is_file() and regex.match(rel)
    ]


def _name_in_artifact(path: Path, base: Path) -> str:
    """Relative to the base directory; a file from outside it keeps its full path (without the '/')."""
    resolved = os.path.normpath(path)
    relative = os.path.relpath(resolved, base)
    if relative.startswith(".."):
        return resolved.lstrip("/")
    return Path(relative).as_posix()


def _excluded(excludes: list[re.Pattern], relative: str) -> bool:
    """True if an exclude pattern matches the file or one of its folders."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return any(regex.match(prefix) for regex in excludes for prefix in prefixes)
