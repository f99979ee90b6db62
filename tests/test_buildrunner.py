"""The local CodeBuild runner (labhelpers.local.codebuild.runner): real bash builds in tmp_path."""

import json
import os
import pwd
import select
import shutil
import threading
import time
import zipfile
from io import BytesIO
from pathlib import Path

import pytest

from labhelpers.local.codebuild.buildspec import load
from labhelpers.local.codebuild.runner import BuildResult, run_build
from labhelpers.local.context import StopSignal

SAMPLES = Path("/work/shared/reference/samples/buildspecs")
ALL_PHASES = [
    "SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD",
    "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING", "COMPLETED",
]  # fmt: skip


class Build:
    """One build in tmp_path: the primary source folder `src`, extra sources, a log and phase events."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.src = tmp_path / "src"
        self.src.mkdir()
        self.sources = {"SourceArtifact": self.src}
        self.lines: list[str] = []
        self.phase_events: list[dict] = []

    def add_source(self, name: str) -> Path:
        folder = self.tmp_path / name
        folder.mkdir()
        self.sources[name] = folder
        return folder

    def run(self, buildspec: str = "", *, env=None, timeout=30, on_log=None, **kwargs) -> BuildResult:
        if isinstance(buildspec, str) and "\n" in buildspec:
            (self.src / "buildspec.yml").write_text(buildspec)
            buildspec = ""
        return run_build(
            buildspec,
            work_root=self.tmp_path / "work",
            sources=self.sources,
            primary="SourceArtifact",
            env=env or {},
            timeout_seconds=timeout,
            on_log=on_log or self.lines.append,
            on_phase=self.phase_events.append,
            **kwargs,
        )

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def messages(self) -> list[str]:
        """Log lines without the [Container] timestamp prefix."""
        return [line.split(" ", 3)[3] if line.startswith("[Container] ") else line for line in self.lines]


@pytest.fixture
def build(tmp_path):
    return Build(tmp_path)


def build_phase(*commands: str, before: str = "", after: str = "") -> str:
    """A 0.2 buildspec whose build phase runs `commands`; `before`/`after` add YAML around the phases."""
    lines = "".join(f"      - {json.dumps(command)}\n" for command in commands)
    return f"version: 0.2\n{before}phases:\n  build:\n    commands:\n{lines}{after}"


def phase(result: BuildResult, phase_type: str) -> dict:
    (record,) = [record for record in result.phases if record["phaseType"] == phase_type]
    return record


def phase_types(result: BuildResult) -> list[str]:
    return [record["phaseType"] for record in result.phases]


def process_is_gone(pid: int, wait_seconds: float = 5) -> bool:
    """True once the process has exited (a zombie counts); SIGKILL takes a moment to land."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([pidfd], [], [], wait_seconds)  # readable when the process exits
        return bool(readable)
    finally:
        os.close(pidfd)


# -- a successful build, phase by phase -------------------------------------------------------------


def test_successful_build_reports_every_phase(build):
    result = build.run("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n")

    assert result.build_status == "SUCCEEDED"
    assert result.error is None
    assert result.current_phase == "COMPLETED"
    assert phase_types(result) == ALL_PHASES
    for record in result.phases[:-1]:
        assert record["phaseStatus"] == "SUCCEEDED"
        assert record["endTime"] >= record["startTime"]
        assert isinstance(record["durationInSeconds"], int)
    assert "contexts" not in phase(result, "SUBMITTED")
    assert phase(result, "BUILD")["contexts"] == [{"statusCode": "", "message": ""}]
    assert result.phases[-1].keys() == {"phaseType", "startTime"}


def test_on_phase_hears_each_phase_start_and_end(build):
    build.run("version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n")
    events = [(event["phaseType"], event.get("phaseStatus")) for event in build.phase_events]
    assert events[:4] == [
        ("SUBMITTED", None),
        ("SUBMITTED", "SUCCEEDED"),
        ("QUEUED", None),
        ("QUEUED", "SUCCEEDED"),
    ]
    assert ("BUILD", None) in events
    assert events.index(("BUILD", None)) < events.index(("BUILD", "SUCCEEDED"))
    assert events[-1] == ("COMPLETED", None)


def test_log_lines_look_like_codebuild(build):
    build.run("version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi\n")
    assert all(line.startswith("[Container] 20") for line in build.lines if line != "hi")
    assert build.lines[0].split(" ", 3)[2].count(".") == 1  # 2026/11/26 10:00:00.123456
    messages = build.messages()
    start = messages.index("Entering phase BUILD")
    assert messages[start : start + 5] == [
        "Entering phase BUILD",
        "Running command echo hi",
        "hi",
        "Phase complete: BUILD State: SUCCEEDED",
        "Phase context status code:  Message: ",
    ]
    assert f"CODEBUILD_SRC_DIR={build.src}" in messages
    assert f"YAML location is {build.src / 'buildspec.yml'}" in messages
    assert "Phases found in YAML: 1" in messages
    assert " BUILD: 1 commands" in messages


def test_output_is_streamed_while_the_command_runs(build):
    # The command waits (on a FIFO) until on_log has seen its first line: buffered output would time out.
    gate = build.tmp_path / "gate"
    os.mkfifo(gate)

    def on_log(line):
        build.lines.append(line)
        if line == "first":
            with open(gate, "w") as release:
                release.write("go\n")

    result = build.run(
        build_phase(f"echo first; read answer < {gate}; echo $answer"),
        on_log=on_log,
        timeout=20,
    )
    assert result.build_status == "SUCCEEDED"
    messages = build.messages()
    running = messages.index(f"Running command echo first; read answer < {gate}; echo $answer")
    assert messages[running + 1 : running + 4] == ["first", "go", "Phase complete: BUILD State: SUCCEEDED"]


def test_stdout_and_stderr_and_unterminated_lines_are_logged_in_order(build):
    build.run(
        "version: 0.2\nphases:\n  build:\n    commands:\n"
        "      - echo out; echo err >&2; echo out2\n"
        "      - printf 'no newline'\n"
        "      - echo next\n"
    )
    messages = build.messages()
    first = messages.index("out")
    assert messages[first : first + 3] == ["out", "err", "out2"]
    assert messages[messages.index("no newline") + 1] == "Running command echo next"


# -- shell state ------------------------------------------------------------------------------------


def test_version_0_2_keeps_exports_variables_and_folder_across_commands_and_phases(build):
    result = build.run(
        """version: 0.2
phases:
  install:
    commands:
      - export FROM_INSTALL=installed
      - PLAIN=kept
      - mkdir -p deep/er && cd deep
  pre_build:
    commands:
      - cd er
  build:
    commands:
      - echo "$FROM_INSTALL $PLAIN $(pwd)"
"""
    )
    assert result.build_status == "SUCCEEDED"
    assert f"installed kept {build.src}/deep/er" in build.lines


def test_version_0_1_runs_each_command_in_its_own_shell(build):
    result = build.run(
        """version: 0.1
environment_variables:
  plaintext:
    GREETING: hello
phases:
  build:
    commands:
      - export LOST=yes; mkdir -p sub; cd sub
      - echo "lost=${LOST:-no} in $(pwd) $GREETING"
"""
    )
    assert result.build_status == "SUCCEEDED"
    assert f"lost=no in {build.src} hello" in build.lines


def test_a_command_that_exits_fails_and_later_commands_get_a_fresh_shell(build):
    result = build.run(
        """version: 0.2
phases:
  build:
    commands:
      - export GONE=1
      - exit 4
  post_build:
    commands:
      - echo "post_build runs, GONE=${GONE:-unset}"
"""
    )
    assert (
        phase(result, "BUILD")["contexts"][0]["message"]
        == "Error while executing command: exit 4. Reason: exit status 4"
    )
    assert "post_build runs, GONE=unset" in build.lines


def test_env_shell_sh_uses_posix_sh(build):
    result = build.run(
        "version: 0.2\nenv:\n  shell: /bin/sh\nphases:\n  build:\n    commands:\n"
        "      - export A=1\n"
        '      - echo "bash=${BASH_VERSION:-none} A=$A"\n'
    )
    assert result.build_status == "SUCCEEDED"
    assert "bash=none A=1" in build.lines


def test_commands_cannot_read_the_script_from_stdin(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - cat\n      - echo after cat\n"
    )
    assert result.build_status == "SUCCEEDED"
    assert "after cat" in build.lines


def test_shell_mistakes_fail_the_command_without_hanging_the_build(build):
    result = build.run(
        build_phase(
            'echo "unterminated', "exec >/dev/null 2>&1", "echo hidden", "set -e", "false", "echo fresh shell"
        ),
        timeout=20,
    )
    assert result.build_status == "FAILED"
    assert phase(result, "BUILD")["contexts"][0]["message"].startswith(
        'Error while executing command: echo "unterminated'
    )

    second = build_phase("exec >/dev/null 2>&1", "echo hidden", "set -e", "false", "echo never")
    second += "  post_build:\n    commands: [echo fresh shell]\n"
    result = build.run(second, timeout=20)
    assert (
        phase(result, "BUILD")["contexts"][0]["message"]
        == "Error while executing command: false. Reason: exit status 1"
    )
    assert "hidden" not in build.lines
    assert "fresh shell" in build.lines


# -- environment ------------------------------------------------------------------------------------


def test_build_never_sees_the_parent_environment(build, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret-key")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALREALREAL")
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("LAB_PARENT_ONLY", "parent")
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands:\n      - env > $CODEBUILD_SRC_DIR/env.txt\n",
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "eu-west-1"},
    )
    assert result.build_status == "SUCCEEDED"
    seen = dict(
        line.split("=", 1) for line in (build.src / "env.txt").read_text().splitlines() if "=" in line
    )
    assert "AWS_PROFILE" not in seen
    assert "LAB_PARENT_ONLY" not in seen
    assert seen["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert seen["AWS_ACCESS_KEY_ID"] == "testing"
    assert "real-secret-key" not in (build.src / "env.txt").read_text()
    assert seen["HOME"] == str(build.tmp_path / "work" / "home")
    assert seen["TMPDIR"].startswith(str(build.tmp_path / "work"))
    assert seen["PATH"] and seen["LANG"]


def test_codebuild_variables_and_precedence(build):
    other = build.add_source("source2")
    result = build.run(
        """version: 0.2
env:
  variables:
    FROM_SPEC: spec
    OVERRIDDEN: spec
    CODEBUILD_SRC_DIR: /nowhere
phases:
  build:
    commands:
      - echo "$FROM_SPEC $OVERRIDDEN $CODEBUILD_SRC_DIR $CODEBUILD_SRC_DIR_source2 $CODEBUILD_BUILD_ID"
      - echo "start=${#CODEBUILD_START_TIME} succeeding=$CODEBUILD_BUILD_SUCCEEDING"
""",
        env={"OVERRIDDEN": "override", "CODEBUILD_BUILD_ID": "demo-build:1234"},
    )
    assert result.build_status == "SUCCEEDED"
    assert f"spec override {build.src} {other} demo-build:1234" in build.lines
    assert "start=13 succeeding=1" in build.lines


def test_parameter_store_values_come_from_env_and_are_masked(build):
    result = build.run(
        "version: 0.2\nenv:\n  parameter-store:\n    PASSWORD: /lab/password\n"
        "phases:\n  build:\n    commands:\n      - echo password is $PASSWORD\n",
        env={"PASSWORD": "hunter2-s3cret"},
    )
    assert result.build_status == "SUCCEEDED"
    assert "password is ***" in build.lines
    assert "hunter2-s3cret" not in build.text


def test_missing_parameter_fails_download_source(build):
    result = build.run(build_phase("echo", before="env:\n  parameter-store:\n    PASSWORD: /lab/password\n"))
    assert result.build_status == "FAILED"
    assert phase(result, "DOWNLOAD_SOURCE")["contexts"] == [
        {"statusCode": "Decrypted Variables Error", "message": "parameter does not exist: /lab/password"}
    ]
    assert phase_types(result) == [
        "SUBMITTED",
        "QUEUED",
        "PROVISIONING",
        "DOWNLOAD_SOURCE",
        "FINALIZING",
        "COMPLETED",
    ]


# -- failures and transitions -----------------------------------------------------------------------


def test_failing_command_fails_its_phase_and_skips_the_rest_of_it(build):
    result = build.run(
        """version: 0.2
phases:
  build:
    commands:
      - echo before
      - sh -c 'exit 3'
      - echo never
    finally:
      - echo finally runs
  post_build:
    commands:
      - echo "post_build runs with CODEBUILD_BUILD_SUCCEEDING=$CODEBUILD_BUILD_SUCCEEDING"
"""
    )
    assert result.build_status == "FAILED"
    message = "Error while executing command: sh -c 'exit 3'. Reason: exit status 3"
    assert phase(result, "BUILD")["phaseStatus"] == "FAILED"
    assert phase(result, "BUILD")["contexts"] == [
        {"statusCode": "COMMAND_EXECUTION_ERROR", "message": message}
    ]
    assert result.error == f"Phase BUILD FAILED: {message}"
    messages = build.messages()
    assert "never" not in messages
    assert "Command did not exit successfully sh -c 'exit 3' exit status 3" in messages
    assert f"Phase context status code: COMMAND_EXECUTION_ERROR Message: {message}" in messages
    assert messages.index("finally runs") < messages.index("Phase complete: BUILD State: FAILED")
    # spec §5.4: after a BUILD failure, POST_BUILD and UPLOAD_ARTIFACTS still run
    assert "post_build runs with CODEBUILD_BUILD_SUCCEEDING=0" in messages
    assert phase(result, "POST_BUILD")["phaseStatus"] == "SUCCEEDED"
    assert phase_types(result) == ALL_PHASES


def test_failing_finally_fails_the_phase(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands: [echo ok]\n    finally: [false, echo skipped]\n"
    )
    assert (
        phase(result, "BUILD")["contexts"][0]["message"]
        == "Error while executing command: false. Reason: exit status 1"
    )
    assert "skipped" not in build.lines


@pytest.mark.parametrize("failing", ["install", "pre_build"])
def test_install_or_pre_build_failure_skips_to_finalizing(build, failing):
    result = build.run(
        f"version: 0.2\nphases:\n  {failing}:\n    commands: [false]\n"
        "  build:\n    commands: [echo build]\n  post_build:\n    commands: [echo post]\n"
        "artifacts:\n  files: ['**/*']\n"
    )
    assert result.build_status == "FAILED"
    assert phase(result, failing.upper())["phaseStatus"] == "FAILED"
    assert "BUILD" not in phase_types(result)
    assert "POST_BUILD" not in phase_types(result)
    assert "UPLOAD_ARTIFACTS" not in phase_types(result)
    assert phase_types(result)[-2:] == ["FINALIZING", "COMPLETED"]
    assert "build" not in build.lines


def test_on_failure_abort_stops_the_build(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    on-failure: ABORT\n    commands: [false]\n"
        "  post_build:\n    commands: [echo post]\nartifacts:\n  files: ['**/*']\n"
    )
    assert result.build_status == "FAILED"
    assert phase_types(result)[-4:] == ["PRE_BUILD", "BUILD", "FINALIZING", "COMPLETED"]
    assert "post" not in build.lines


def test_on_failure_continue_runs_the_next_phases_but_the_build_fails(build):
    result = build.run(
        "version: 0.2\nphases:\n  pre_build:\n    on-failure: CONTINUE\n    commands: [false]\n"
        "  build:\n    commands: [echo build runs]\n"
    )
    assert "build runs" in build.lines
    assert phase(result, "PRE_BUILD")["phaseStatus"] == "FAILED"
    assert phase(result, "BUILD")["phaseStatus"] == "SUCCEEDED"
    assert result.build_status == "FAILED"
    assert phase_types(result) == ALL_PHASES


def test_on_failure_retry_reruns_the_phase(build):
    # Fails on the first two attempts, succeeds on the third.
    flaky = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 2 ]"
    result = build.run(
        f"version: 0.2\nphases:\n  build:\n    on-failure: RETRY-2\n    commands:\n      - {flaky}\n"
    )
    assert result.build_status == "SUCCEEDED"
    assert (build.src / "count").read_text().strip() == "3"
    assert "Retrying phase BUILD: attempt 3 of 3" in build.messages()


@pytest.mark.parametrize(
    ("on_failure", "attempts"),
    [("RETRY-1", 2), ("RETRY-2-exit status 1$", 3), ("RETRY-5-exit status 9", 1)],
)
def test_on_failure_retry_gives_up_and_needs_a_matching_error(build, on_failure, attempts):
    result = build.run(
        build_phase("echo x >> tries; false").replace("commands:", f"on-failure: {on_failure}\n    commands:")
    )
    assert result.build_status == "FAILED"
    assert (build.src / "tries").read_text() == "x\n" * attempts


# -- buildspec problems ---------------------------------------------------------------------------


def test_missing_buildspec_fails_download_source(build):
    result = build.run("")
    record = phase(result, "DOWNLOAD_SOURCE")
    assert record["phaseStatus"] == "FAILED"
    assert record["contexts"] == [
        {"statusCode": "YAML_FILE_ERROR", "message": "YAML file does not exist: buildspec.yml"}
    ]
    assert result.build_status == "FAILED"


def test_invalid_buildspec_reports_reason_and_line(build):
    result = build.run("version: 0.2\nphases:\n  build:\n    commands:\n      - echo Result: done\n")
    context = phase(result, "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR"
    assert context["message"].endswith(
        "line 5: phases.build.commands must be a list of strings; item 1 is a "
        "mapping (put quotes around a command that contains ': ')"
    )


def test_buildspec_path_inline_text_and_parsed_object(build):
    (build.src / "ci").mkdir()
    (build.src / "ci" / "spec.yml").write_text(
        "version: 0.2\nphases:\n  build:\n    commands: [echo from path]\n"
    )
    assert build.run("ci/spec.yml").build_status == "SUCCEEDED"
    assert "from path" in build.lines
    inline = "version: 0.2\nphases:\n  build:\n    commands: [echo inline]\n"
    result = run_build(
        inline, work_root=build.tmp_path / "w2", sources=build.sources, primary="SourceArtifact",
        env={}, timeout_seconds=30, on_log=build.lines.append,
    )  # fmt: skip
    assert result.build_status == "SUCCEEDED"
    assert "inline" in build.lines
    parsed = load("version: 0.2\nphases:\n  build:\n    commands: [echo parsed]\n")
    assert build.run(parsed).build_status == "SUCCEEDED"
    assert "parsed" in build.lines


def test_bad_arguments_are_programming_errors(build):
    with pytest.raises(ValueError, match="primary source"):
        run_build(
            "", work_root=build.tmp_path, sources={}, primary="x", env={}, timeout_seconds=5, on_log=print
        )


# -- exported variables -----------------------------------------------------------------------------


def test_exported_variables_take_their_value_at_the_end_of_post_build(build):
    result = build.run(
        """version: 0.2
env:
  variables:
    FROM_SPEC: spec-value
  exported-variables: [IMAGE_TAG, FROM_SPEC, NEVER_SET, CHANGED]
phases:
  install:
    commands:
      - CHANGED=early
  pre_build:
    commands:
      - IMAGE_TAG=v1-$(echo abc)
  post_build:
    commands:
      - export CHANGED="late value"
"""
    )
    assert result.exported_variables == {
        "IMAGE_TAG": "v1-abc",
        "FROM_SPEC": "spec-value",
        "NEVER_SET": "",
        "CHANGED": "late value",
    }


# -- artifacts ----------------------------------------------------------------------------------------


def zip_names(artifact) -> list[str]:
    return zipfile.ZipFile(BytesIO(artifact.zip_bytes())).namelist()


def test_artifacts_with_base_directory_discard_paths_exclusions_and_secondary(build):
    result = build.run(
        """version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/css dist/js docs
      - echo page > dist/index.html; echo css > dist/css/site.css; echo js > dist/js/app.js
      - echo map > dist/js/app.js.map; echo readme > docs/README.md
      - printf '#!/bin/sh\\n' > dist/run.sh; chmod +x dist/run.sh
artifacts:
  files: ['**/*']
  base-directory: dist
  exclude-paths: ['**/*.map']
  secondary-artifacts:
    flat:
      files: [dist/js/*, docs/README.md]
      discard-paths: yes
    docs:
      files: [docs]
      name: docs-$(echo 42)
"""
    )
    assert result.build_status == "SUCCEEDED"
    primary, flat, docs = result.artifacts
    assert (primary.identifier, flat.identifier, docs.identifier) == (None, "flat", "docs")
    assert [name for name, _ in primary.files] == ["css/site.css", "index.html", "js/app.js", "run.sh"]
    assert primary.base_directory == build.src / "dist"
    assert [name for name, _ in flat.files] == ["README.md", "app.js", "app.js.map"]
    assert dict(flat.files)["app.js"] == build.src / "dist" / "js" / "app.js"
    assert [name for name, _ in docs.files] == ["docs/README.md"]
    assert docs.name == "docs-42"
    assert zip_names(primary) == ["css/site.css", "index.html", "js/app.js", "run.sh"]
    with zipfile.ZipFile(BytesIO(primary.zip_bytes())) as zf:
        assert (zf.getinfo("run.sh").external_attr >> 16) & 0o111
    assert "Found 4 file(s)" in build.messages()


def test_artifact_paths_expand_variables_and_absolute_paths(build):
    result = build.run(
        """version: 0.2
env:
  variables:
    OUT: out
phases:
  build:
    commands:
      - mkdir -p $OUT && echo zip > $OUT/app.zip
      - echo '{}' > $TMPDIR/build.json
artifacts:
  files:
    - $CODEBUILD_SRC_DIR/$OUT/app.zip
    - $TMPDIR/build.json
"""
    )
    assert result.build_status == "SUCCEEDED"
    names = [name for name, _ in result.artifacts[0].files]
    tmpdir = str(build.tmp_path / "work" / "tmp").lstrip("/")
    assert names == ["out/app.zip", f"{tmpdir}/build.json"]


def test_missing_artifact_file_fails_upload_artifacts(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands: [echo]\nartifacts:\n  files: [target/app.jar]\n"
    )
    record = phase(result, "UPLOAD_ARTIFACTS")
    assert record["phaseStatus"] == "FAILED"
    assert record["contexts"] == [
        {"statusCode": "CLIENT_ERROR", "message": "no matching artifact paths found"}
    ]
    assert result.build_status == "FAILED"
    assert result.artifacts == []
    messages = build.messages()
    assert messages.index("Expanding target/app.jar") + 1 == messages.index(
        "Skipping invalid file path target/app.jar"
    )


def test_some_missing_artifact_files_are_skipped(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands: [touch here.txt]\n"
        "artifacts:\n  files: [here.txt, missing.txt, 'nothing/*']\n"
    )
    assert result.build_status == "SUCCEEDED"
    assert [name for name, _ in result.artifacts[0].files] == ["here.txt"]
    assert "Skipping invalid file path missing.txt" in build.messages()
    assert "Skipping invalid file path nothing/*" not in build.messages()


def test_missing_base_directory(build):
    result = build.run(build_phase("echo", after="artifacts:\n  files: ['**/*']\n  base-directory: dist\n"))
    assert phase(result, "UPLOAD_ARTIFACTS")["contexts"] == [
        {"statusCode": "CLIENT_ERROR", "message": "no matching base directory path found for dist"}
    ]


def test_glob_base_directory_takes_the_contents_of_each_match(build):
    result = build.run(
        build_phase(
            "mkdir -p my-build1 my-build2 other; touch my-build1/a my-build2/b other/c",
            after="artifacts:\n  files: ['**/*']\n  base-directory: 'my-build*'\n",
        )
    )
    assert [name for name, _ in result.artifacts[0].files] == ["a", "b"]


def test_single_star_stays_in_its_folder(build):
    result = build.run(
        build_phase(
            "mkdir -p lib/deep; touch a.txt b.json lib/one.js lib/deep/two.js lib/deep/c.txt",
            after="artifacts:\n  files: ['*.txt', 'lib/*', 'lib/deep/?wo.js']\n",
        )
    )
    assert [name for name, _ in result.artifacts[0].files] == ["a.txt", "lib/deep/two.js", "lib/one.js"]


def test_only_secondary_artifacts_is_a_client_error(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands: [touch a]\n"
        "artifacts:\n  secondary-artifacts:\n    one:\n      files: [a]\n"
    )
    assert phase(result, "UPLOAD_ARTIFACTS")["contexts"] == [
        {"statusCode": "CLIENT_ERROR", "message": "no definition for primary artifacts in buildspec"}
    ]


def test_duplicate_names_after_discard_paths_keep_the_first_file(build):
    result = build.run(
        "version: 0.2\nphases:\n  build:\n    commands: ['mkdir a b; echo A > a/x; echo B > b/x']\n"
        "artifacts:\n  files: ['**/x']\n  discard-paths: yes\n"
    )
    assert result.artifacts[0].files == (("x", build.src / "a" / "x"),)
    assert any(message.startswith(f"Skipping {build.src / 'b' / 'x'}") for message in build.messages())


# -- timeout, stop, timing ------------------------------------------------------------------------------


def test_timeout_kills_the_whole_process_group(build):
    pid_file = build.tmp_path / "child.pid"
    started = time.monotonic()
    result = build.run(
        f"version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 300 & echo $! > {pid_file}; wait\n"
        "  post_build:\n    commands: [echo post]\n",
        timeout=2,
    )
    assert time.monotonic() - started < 15
    assert result.build_status == "TIMED_OUT"
    record = phase(result, "BUILD")
    assert record["phaseStatus"] == "TIMED_OUT"
    assert record["contexts"] == [{"statusCode": "BUILD_TIMED_OUT", "message": "Build has timed out."}]
    assert phase_types(result)[-3:] == ["BUILD", "FINALIZING", "COMPLETED"]
    assert "post" not in build.lines
    assert result.error == "Phase BUILD TIMED_OUT: Build has timed out."
    assert process_is_gone(int(pid_file.read_text()))


def test_cancel_stops_the_build_and_its_children(build):
    pid_file = build.tmp_path / "child.pid"
    cancel = StopSignal()

    def on_log(line):
        build.lines.append(line)
        if line == "started":
            cancel.set()

    started = time.monotonic()
    result = build.run(
        build_phase(f"sleep 300 & echo $! > {pid_file}; echo started; wait"),
        on_log=on_log,
        cancel=cancel,
        timeout=60,
    )
    assert time.monotonic() - started < 15
    assert result.build_status == "STOPPED"
    assert phase(result, "BUILD")["phaseStatus"] == "STOPPED"
    assert process_is_gone(int(pid_file.read_text()))


def test_a_build_stopped_before_it_runs_ends_stopped_in_submitted(build):
    cancel = StopSignal()
    cancel.set()
    result = build.run(build_phase("echo never"), cancel=cancel)
    assert result.build_status == "STOPPED"
    assert result.error == "Phase SUBMITTED STOPPED: Build was stopped."
    assert "never" not in build.text


def threads_back_to(count: int, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while threading.active_count() > count:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def test_no_thread_outlives_a_build_that_could_have_been_stopped(build):
    idle = threading.active_count()
    for _ in range(3):
        result = build.run(build_phase("echo quick"), cancel=StopSignal(), timeout=3600)
        assert result.build_status == "SUCCEEDED"
    assert threads_back_to(idle), [thread.name for thread in threading.enumerate()]


def test_background_processes_do_not_outlive_the_build(build):
    pid_file = build.tmp_path / "server.pid"
    result = build.run(
        f"version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 300 & echo $! > {pid_file}\n"
    )
    assert result.build_status == "SUCCEEDED"
    assert process_is_gone(int(pid_file.read_text()))


def test_command_seconds_counts_the_commands_only(build):
    result = build.run("version: 0.2\nphases:\n  build:\n    commands: [sleep 0.3]\n")
    assert 0.3 <= result.command_seconds < 5


# -- real samples that run on plain Linux -------------------------------------------------------------


def copy_sample(build: Build, prefix: str) -> None:
    (path,) = SAMPLES.glob(f"{prefix}-*.yml")
    shutil.copy(path, build.src / "buildspec.yml")


def test_sample_003_pipeline_batch_output_file(build):
    copy_sample(build, "003")
    result = build.run()
    assert result.build_status == "SUCCEEDED"
    assert [artifact.identifier for artifact in result.artifacts] == [None, "artifact1", "artifact2"]
    for artifact in result.artifacts:
        assert artifact.files == (("output_file", build.src / "output_file"),)
    assert (build.src / "output_file").read_text() == "file\n"


def test_sample_002_multiple_sources_and_secondary_base_directories(build):
    source1, source2 = build.add_source("source1"), build.add_source("source2")
    copy_sample(build, "002")
    result = build.run()
    assert result.build_status == "SUCCEEDED"
    primary, artifact1, artifact2 = result.artifacts
    assert ("buildspec.yml", build.src / "buildspec.yml") in primary.files
    assert artifact1.files == (("file1", source1 / "file1"),)
    assert artifact2.files == (("file2", source2 / "file2"),)
    assert (
        "Skipping install of runtimes. Runtime version selection is not supported by this build image."
        in " ".join(build.messages())
    )


def test_sample_009_env_variables_and_action_overrides(build):
    copy_sample(build, "009")
    result = build.run(env={"SAMPLEENVVAR": "from the pipeline action"})
    assert result.build_status == "SUCCEEDED"
    assert "Locally_Set_Environment" in build.lines
    assert "from the pipeline action" in build.lines
    assert "Put build commands here" in build.lines


@pytest.mark.parametrize(
    ("before", "after", "where"),
    [
        ("run-as: nobody-else\n", "", "run-as"),
        ("", "    run-as: nobody-else\n", "phases.build.run-as"),
    ],
)
def test_run_as_another_user_is_refused_saying_what_to_do(build, before, after, where):
    result = build.run(build_phase("touch ran", before=before, after=after))
    context = phase(result, "DOWNLOAD_SOURCE")["contexts"][0]
    assert result.build_status == "FAILED" and context["statusCode"] == "YAML_FILE_ERROR"
    assert context["message"].startswith(f"{where}: nobody-else: the local endpoint runs every build as ")
    assert "remove run-as" in context["message"] and "LAB_BACKEND=aws" in context["message"]
    assert any(context["message"] in line for line in build.lines)
    assert not (build.src / "ran").exists()


def test_run_as_the_builds_own_user_is_honoured(build):
    me = pwd.getpwuid(os.getuid()).pw_name  # no sandbox wrapper here: the build runs as this user
    result = build.run(build_phase("whoami > who", before=f"run-as: {me}\n", after=f"    run-as: {me}\n"))
    assert result.build_status == "SUCCEEDED"
    assert (build.src / "who").read_text().strip() == me
    assert f"run-as: running as {me}" in build.text


def test_a_yaml_error_is_the_failure_message_and_in_the_log(build):
    result = build.run("version: 0.2\nphases:\n  build:\n    commands:\n      - echo {{name}}\n     - x\n")
    context = phase(result, "DOWNLOAD_SOURCE")["contexts"][0]
    assert context["statusCode"] == "YAML_FILE_ERROR"
    assert context["message"].startswith("buildspec.yml line 6, column 6: this is not valid YAML. ")
    assert (
        "{{placeholder}}" in context["message"]
        and "(PyYAML: while parsing a block mapping" in context["message"]
    )
    assert f"Phase context status code: YAML_FILE_ERROR Message: {context['message']}" in build.text
