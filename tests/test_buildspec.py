"""Buildspec parsing (labhelpers.local.codebuild.buildspec): real samples parse, mistakes show their line."""

from pathlib import Path

import pytest

from labhelpers.local.codebuild.buildspec import BuildspecError, OnFailure, load

SAMPLES = Path("/work/shared/reference/samples/buildspecs")
SAMPLE_FILES = sorted(SAMPLES.glob("*.yml"))
BUILD = "phases:\n  build:\n    commands: [make]\n"


def sample(prefix: str):
    (path,) = [path for path in SAMPLE_FILES if path.name.startswith(prefix)]
    return load(path.read_text(), path.name)


def test_there_are_samples():
    assert len(SAMPLE_FILES) >= 13


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: path.name)
def test_every_sample_parses(path):
    spec = load(path.read_text(), path.name)
    assert spec.version in ("0.1", "0.2")
    assert spec.phases
    assert spec.warnings == ()


def test_docs_example_with_finally_and_secondary_artifacts():
    spec = sample("001")
    assert spec.env.variables == {"JAVA_HOME": "/usr/lib/jvm/java-8-openjdk-amd64"}
    assert spec.env.parameter_store == {"LOGIN_PASSWORD": "/CodeBuild/dockerLoginPassword"}
    assert list(spec.phases) == ["install", "pre_build", "build", "post_build"]
    assert spec.phases["install"].finally_commands == (
        "echo This always runs even if the update or install command fails",
    )
    assert spec.artifacts.files == ("target/messageUtil-1.0.jar",)
    assert spec.artifacts.discard_paths is True
    assert set(spec.secondary_artifacts) == {"artifact1", "artifact2"}
    assert spec.secondary_artifacts["artifact2"].files == ("target/artifact-2.0.jar",)


def test_runtime_versions_are_kept_as_written():
    assert sample("004").phases["install"].runtime_versions == {"golang": "1.13", "nodejs": "12"}
    assert sample("008").phases["install"].runtime_versions == {"dotnet": "8.0"}


def test_only_secondary_artifacts_parse_without_primary():
    spec = sample("004")
    assert spec.artifacts is None
    assert spec.secondary_artifacts["nodejs_artifacts"].files == ("index.js", "package.json")
    assert spec.secondary_artifacts["golang_artifacts"].base_directory == "golang-app"


def test_exported_variables_and_on_failure():
    assert sample("005").env.exported_variables == ("IMAGE_URI",)
    spec = sample("007")
    assert spec.phases["pre_build"].on_failure == OnFailure("ABORT")
    assert spec.phases["post_build"].on_failure is None
    assert spec.env.variables["GIT_URL"] == "${git_url}"


def test_legacy_version_0_1():
    spec = sample("010")
    assert spec.version == "0.1"
    assert spec.phases["install"].commands == ("npm install jsonlint -g",)  # a bare string
    assert (
        spec.env.variables["CHILD_TEMPLATES"] == "security-stack.yml\nserver-stack.yml\ndatabase-stack.yml\n"
    )
    assert spec.phases["pre_build"].commands[1].startswith("for cfn_template in $TEMPLATE_FILES; do\n")


def test_files_may_be_a_single_string():
    assert sample("011").artifacts.files == ("images.json",)
    assert sample("012").artifacts.files == ("cf_inputs.json",)
    assert sample("012").artifacts.discard_paths is True


def test_commented_out_sections_are_not_there():
    spec = sample("013")
    assert list(spec.phases) == ["install", "build"]
    assert spec.artifacts is None
    assert spec.env.parameter_store == {"ansible_private_key": "ansible_private_key"}


def test_artifact_settings():
    spec = load(
        """version: 0.2
phases:
  build:
    commands: [make]
artifacts:
  files: ['**/*']
  base-directory: dist
  exclude-paths: ['**/*.map']
  name: site-$CODEBUILD_BUILD_NUMBER
  enable-symlinks: no
  s3-prefix: builds
"""
    )
    assert spec.artifacts.files == ("**/*",)
    assert spec.artifacts.base_directory == "dist"
    assert spec.artifacts.exclude_paths == ("**/*.map",)
    assert spec.artifacts.name == "site-$CODEBUILD_BUILD_NUMBER"
    assert spec.artifacts.discard_paths is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RETRY", OnFailure("RETRY", 3, ".*")),
        ("RETRY-5", OnFailure("RETRY", 5, ".*")),
        ("RETRY-^Error$", OnFailure("RETRY", 3, "^Error$")),
        ("Retry-4-^Error$", OnFailure("RETRY", 4, "^Error$")),
        ("Retry-8-/.+/", OnFailure("RETRY", 8, ".+")),
        ("RETRY-2-exit-status", OnFailure("RETRY", 2, "exit-status")),
        ("continue", OnFailure("CONTINUE")),
    ],
)
def test_on_failure_forms(text, expected):
    spec = load(f"version: 0.2\nphases:\n  build:\n    on-failure: {text}\n    commands: [make]\n")
    assert spec.phases["build"].on_failure == expected


def test_unknown_keys_are_warnings_with_their_line():
    spec = load("version: 0.2\nphases:\n  build:\n    commands: [make]\n    comands: [oops]\nartefacts: {}\n")
    assert spec.warnings == (
        "buildspec.yml line 5: unknown key phases.build.comands (ignored)",
        "buildspec.yml line 6: unknown key artefacts (ignored)",
    )


def test_error_names_file_line_and_reason():
    text = """version: 0.2

phases:
  build:
    commands:
      - echo one
      - echo Result: done
"""
    with pytest.raises(BuildspecError) as caught:
        load(text, "ci/buildspec.yml")
    error = caught.value
    assert (error.filename, error.line) == ("ci/buildspec.yml", 7)
    assert error.reason.startswith("phases.build.commands must be a list of strings; item 2 is a mapping")
    assert str(error).startswith("ci/buildspec.yml line 7: phases.build.commands must be a list of strings")
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      make: all\n",
            5,
            "phases.build.commands must be a list",
        ),
        ("phases:\n  build:\n    commands: [make]\n", 1, "version is required"),
        ("version: 0.3\nphases:\n  build:\n    commands: [make]\n", 1, "version must be 0.2"),
        ("version: 0.2\n", 1, "phases is required"),
        ("version: 0.2\nphases:\n  test:\n    commands: [make]\n", 3, "phases.test is not a phase"),
        ("version: 0.2\nphases:\n  build:\n    finally: [make]\n", 3, "phases.build.commands is required"),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [make]\n  build:\n    commands: [x]\n",
            5,
            "phases.build is defined twice (first on line 3)",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: IGNORE\n    commands: [make]\n",
            4,
            "phases.build.on-failure must be ABORT, CONTINUE, RETRY",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-101\n    commands: [make]\n",
            4,
            "between 0 and 100",
        ),
        (
            "version: 0.2\n" + BUILD + "artifacts:\n  files: [a]\n  discard-paths: maybe\n",
            7,
            "artifacts.discard-paths must be yes or no",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands: [make]\nartifacts:\n  name: x\n",
            6,
            "artifacts.files is required",
        ),
        (
            "version: 0.2\nenv:\n  exported-variables: [AWS_REGION]\n" + BUILD,
            3,
            "AWS_REGION cannot be exported",
        ),
        (
            "version: 0.2\nenv:\n  shell: powershell.exe\nphases:\n  build:\n    commands: [make]\n",
            3,
            "env.shell must be bash or /bin/sh",
        ),
        (
            "version: 0.2\nenv:\n  variables: [A, B]\nphases:\n  build:\n    commands: [make]\n",
            3,
            "env.variables must be a mapping",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n    - make\n   - bad indent\n",
            6,
            "expected <block end>",
        ),
        ("version: 0.2\nphases:\n  build:\n    commands: [make\n", 5, "expected ',' or ']'"),
        ("", 1, "the buildspec is empty"),
    ],
)
def test_malformed_buildspecs(text, line, reason):
    with pytest.raises(BuildspecError) as caught:
        load(text)
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert caught.value.filename == "buildspec.yml"


def test_a_batch_only_buildspec_says_batch_builds_need_startbuildbatch():
    text = "version: 0.2\nbatch:\n  build-list:\n    - identifier: linux\n      buildspec: linux.yml\n"
    with pytest.raises(BuildspecError) as caught:
        load(text)
    assert caught.value.line == 2
    message = str(caught.value)
    assert "batch section and no phases" in message and "StartBuildBatch" in message
    assert "phases is required" not in message


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo {{name}}\n     - x\n",
            "line 6, column 6",
            "{{placeholder}} templates: render them",
        ),
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a\n     - x\n",
            "line 6, column 6",
            "indented like the lines of the same block",
        ),
    ],
)
def test_yaml_errors_give_line_column_and_a_hint_then_pyyamls_words(text, where, hint):
    with pytest.raises(BuildspecError) as caught:
        load(text)
    message = str(caught.value)
    assert message.startswith(f"buildspec.yml {where}: this is not valid YAML. ")
    assert hint in message
    assert "(PyYAML: while parsing a block mapping, expected <block end>" in message
    assert caught.value.line == 6 and caught.value.column == 6
