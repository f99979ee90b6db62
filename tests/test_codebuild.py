"""CodeBuild on the real local endpoint, through boto3 and the aws CLI: builds that really run their
phases, logs in CloudWatch Logs, artifacts in S3, sources from S3 and CodeCommit, stop, listings, a
restart during a build; and the pipeline engine's in-process API on a service of the test's own."""

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint

from labhelpers.local import config, process
from labhelpers.local.awsjson import AwsError
from labhelpers.local.codebuild import sandbox
from labhelpers.local.codebuild.service import CodeBuildService

ROLE = f"arn:aws:iam::{config.ACCOUNT}:role/lab-codebuild"
ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_SMALL",
}
ALL_PHASES = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
]


def buildspec(*commands: str, head: str = "", tail: str = "") -> str:
    """A version 0.2 buildspec whose build phase runs `commands`."""
    lines = "".join(f"      - {json.dumps(command)}\n" for command in commands)
    return f"version: 0.2\n{head}phases:\n  build:\n    commands:\n{lines}{tail}"


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def zip_contents(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def create_project(cb, name: str, source: dict, artifacts: dict | None = None, **settings) -> dict:
    settings = {"environment": ENVIRONMENT, "serviceRole": ROLE, **settings}
    return cb.create_project(
        name=name, source=source, artifacts=artifacts or {"type": "NO_ARTIFACTS"}, **settings
    )["project"]


def wait_for(cb, build_id: str, until=lambda build: build["buildComplete"], timeout: float = 60) -> dict:
    """Poll BatchGetBuilds the way a client does, until `until(build)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = cb.batch_get_builds(ids=[build_id])["builds"][0]
        if until(build):
            return build
        time.sleep(0.1)
    raise AssertionError(f"build {build_id} did not get there in {timeout} s: {build}")


def in_phase(name: str):
    return lambda build: build["currentPhase"] == name


def phase(build: dict, name: str) -> dict:
    return next(item for item in build["phases"] if item["phaseType"] == name)


def log_text(endpoint, build: dict) -> str:
    events = endpoint.client("logs").get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"], startFromHead=True
    )["events"]
    return "".join(event["message"] for event in events)


def leftover_processes(build_id: str) -> list[int]:
    """Processes still running with this build's CODEBUILD_BUILD_ID."""
    marker = f"CODEBUILD_BUILD_ID={build_id}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def cb(endpoint):
    return endpoint.client("codebuild")


@pytest.fixture
def bucket(endpoint, unique):
    name = f"cb-{unique}"
    endpoint.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": config.REGION}
    )
    return name


# -- builds by hand ---------------------------------------------------------------------------------


def test_no_source_build_reports_real_phases_variables_and_logs(cb, endpoint, unique):
    name = f"nosource-{unique}"
    spec = buildspec(
        "export GREETING=hello",
        'echo "build $CODEBUILD_BUILD_ID number $CODEBUILD_BUILD_NUMBER says $GREETING to $WHO in $TEAM"',
        "sleep 1",
        head="env:\n  exported-variables: [GREETING]\n",
    )
    project_variables = [
        {"name": "WHO", "value": "project", "type": "PLAINTEXT"},
        {"name": "TEAM", "value": "lab"},
    ]
    create_project(
        cb,
        name,
        {"type": "NO_SOURCE", "buildspec": spec},
        environment={**ENVIRONMENT, "environmentVariables": project_variables},
    )
    started = cb.start_build(
        projectName=name, environmentVariablesOverride=[{"name": "WHO", "value": "override"}]
    )["build"]
    assert started["buildStatus"] == "IN_PROGRESS" and started["buildComplete"] is False

    build = wait_for(cb, started["id"])
    build_uuid = build["id"].split(":")[1]
    assert build["id"] == f"{name}:{build_uuid}"
    assert build["arn"] == f"arn:aws:codebuild:{config.REGION}:{config.ACCOUNT}:build/{build['id']}"
    assert (build["buildStatus"], build["currentPhase"], build["buildNumber"]) == (
        "SUCCEEDED",
        "COMPLETED",
        1,
    )
    assert [item["phaseType"] for item in build["phases"]] == ALL_PHASES
    assert {item["phaseStatus"] for item in build["phases"][:-1]} == {"SUCCEEDED"}
    assert "phaseStatus" not in build["phases"][-1]
    assert phase(build, "BUILD")["durationInSeconds"] >= 1
    times = [build["startTime"]] + [
        t for item in build["phases"] for t in (item["startTime"], item.get("endTime"))
    ]
    times = [t for t in times if t is not None] + [build["endTime"]]
    assert times == sorted(times)
    assert build["exportedEnvironmentVariables"] == [{"name": "GREETING", "value": "hello"}]
    assert {v["name"]: v["value"] for v in build["environment"]["environmentVariables"]} == {
        "WHO": "override",
        "TEAM": "lab",
    }
    assert build["initiator"] and build["serviceRole"] == ROLE
    assert build["logs"]["groupName"] == f"/aws/codebuild/{name}"
    assert build["logs"]["streamName"] == build_uuid
    assert (
        build["logs"]["deepLink"] == f"{endpoint.url}/_lab/builds/{build['id']}/log"
    )  # the log's local page

    events = json.loads(
        endpoint.aws(
            "logs",
            "get-log-events",
            "--log-group-name",
            f"/aws/codebuild/{name}",
            "--log-stream-name",
            build_uuid,
            "--start-from-head",
        ).stdout
    )["events"]
    lines = [event["message"] for event in events]
    assert f"build {build['id']} number 1 says hello to override in lab\n" in lines
    assert any(line.startswith("[Container] ") and "Entering phase BUILD" in line for line in lines)
    assert any("Running command sleep 1" in line for line in lines)

    second = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert second["buildNumber"] == 2


def test_codepipeline_project_needs_no_location_and_only_a_pipeline_starts_it(cb, unique):
    name = f"pipeline-{unique}"
    spec = buildspec("echo from a pipeline project")
    create_project(cb, name, {"type": "CODEPIPELINE", "buildspec": spec}, {"type": "CODEPIPELINE"})
    project = cb.batch_get_projects(names=[name])["projects"][0]
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": spec, "insecureSsl": False}
    assert project["artifacts"] == {
        "type": "CODEPIPELINE",
        "name": name,
        "packaging": "NONE",
        "encryptionDisabled": False,
    }
    assert project["timeoutInMinutes"] == 60

    with pytest.raises(ClientError) as caught:
        cb.start_build(projectName=name)
    assert caught.value.response["Error"]["Code"] == "InvalidInputException"
    assert "sourceTypeOverride" in caught.value.response["Error"]["Message"]

    started = cb.start_build(
        projectName=name,
        sourceTypeOverride="NO_SOURCE",
        buildspecOverride=buildspec("echo by hand"),
        artifactsOverride={"type": "NO_ARTIFACTS"},
    )["build"]
    assert wait_for(cb, started["id"])["buildStatus"] == "SUCCEEDED"

    with pytest.raises(ClientError) as caught:
        create_project(cb, f"s3-{unique}", {"type": "S3"})
    assert caught.value.response["Error"]["Code"] == "InvalidInputException"


BAD_PROJECTS = {
    "an S3 source without a location": ({"source": {"type": "S3"}}, "source.location"),
    "a CODECOMMIT source without a location": ({"source": {"type": "CODECOMMIT"}}, "source.location"),
    "an unknown source type": ({"source": {"type": "FTP", "location": "x"}}, "source.type"),
    "S3 artifacts without a bucket": ({"artifacts": {"type": "S3"}}, "artifacts.location"),
    "NO_ARTIFACTS with a location": (
        {"artifacts": {"type": "NO_ARTIFACTS", "location": "b"}},
        "artifacts.location",
    ),
    "an unknown image type": ({"environment": {**ENVIRONMENT, "type": "LINUX"}}, "environment.type"),
    "an unknown compute type": (
        {"environment": {**ENVIRONMENT, "computeType": "HUGE"}},
        "environment.computeType",
    ),
    "a role of another account": ({"serviceRole": "arn:aws:iam::999999999999:role/r"}, "serviceRole"),
    "a name with a space": ({"name": "my project"}, "project name"),
}


@pytest.mark.parametrize("settings, field", BAD_PROJECTS.values(), ids=BAD_PROJECTS)
def test_a_bad_project_setting_answers_400_naming_the_field(cb, unique, settings, field):
    request = {
        "name": f"bad-{unique}",
        "source": {"type": "NO_SOURCE", "buildspec": buildspec("true")},
        "artifacts": {"type": "NO_ARTIFACTS"},
        "environment": ENVIRONMENT,
        "serviceRole": ROLE,
        **settings,
    }
    with pytest.raises(ClientError) as caught:
        cb.create_project(**request)
    answer = caught.value.response
    assert answer["Error"]["Code"] == "InvalidInputException"
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert field in answer["Error"]["Message"]
    assert cb.batch_get_projects(names=[request["name"]])["projects"] == []


def test_the_aws_cli_is_told_at_once_that_an_s3_source_needs_a_location(endpoint, unique):
    answer = endpoint.aws(
        "codebuild", "create-project", "--name", f"cli-{unique}", "--source", "type=S3",
        "--artifacts", "type=NO_ARTIFACTS", "--service-role", ROLE, "--environment",
        "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
        "--debug", check=False,
    )  # fmt: skip
    assert answer.returncode == 255, answer.stderr[-2000:]  # aws CLI v1: an error the service answered
    assert (
        "An error occurred (InvalidInputException) when calling the CreateProject operation" in answer.stderr
    )
    assert "source.location is required for a S3 source" in answer.stderr
    assert answer.stderr.count('"POST / HTTP/1.1" 400') == 1  # not retried as a server fault


@pytest.mark.parametrize(
    "image_type", ["WINDOWS_SERVER_2019_CONTAINER", "WINDOWS_SERVER_2022_CONTAINER", "WINDOWS_CONTAINER"]
)
def test_a_windows_project_is_kept_and_its_build_fails_at_once_saying_why(cb, unique, image_type):
    name = f"win-{unique}"
    environment = {**ENVIRONMENT, "type": image_type, "image": "aws/codebuild/windows-base:2019-3.0"}
    spec = buildspec("Write-Host hi")
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec}, environment=environment)
    assert cb.batch_get_projects(names=[name])["projects"][0]["environment"]["type"] == image_type

    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"], timeout=10)
    assert build["buildStatus"] == "FAILED"
    phases = {phase["phaseType"]: phase for phase in build["phases"]}
    assert phases["PROVISIONING"]["phaseStatus"] == "FAILED"
    message = phases["PROVISIONING"]["contexts"][0]["message"]
    assert "Local builds run Linux images only" in message and image_type in message
    assert "LAB_BACKEND=aws" in message
    assert "BUILD" not in phases and "DOWNLOAD_SOURCE" not in phases  # nothing ran under bash


def test_a_link_out_of_the_build_folder_fails_the_upload_and_never_reaches_s3(cb, endpoint, bucket, unique):
    secret = Path(f"/tmp/lab-host-secret-{unique}")
    secret.write_text("a file of the host's\n")
    try:
        name = f"link-{unique}"
        spec = buildspec(
            f"ln -s {secret} stolen.txt", "echo mine > mine.txt", tail="artifacts:\n  files: ['**/*']\n"
        )
        create_project(
            cb,
            name,
            {"type": "NO_SOURCE", "buildspec": spec},
            {"type": "S3", "location": bucket, "name": "out.zip"},
        )
        build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    finally:
        secret.unlink()
    assert build["buildStatus"] == "FAILED"
    upload = next(phase for phase in build["phases"] if phase["phaseType"] == "UPLOAD_ARTIFACTS")
    assert upload["phaseStatus"] == "FAILED"
    assert (
        "'stolen.txt'" in upload["contexts"][0]["message"] and "outside" in upload["contexts"][0]["message"]
    )
    assert "Contents" not in endpoint.client("s3").list_objects_v2(Bucket=bucket, Prefix=name)


def test_s3_source_secrets_and_s3_artifacts(cb, endpoint, bucket, unique):
    s3 = endpoint.client("s3")
    endpoint.client("ssm").put_parameter(Name=f"/lab/{unique}/color", Value="teal", Type="String")
    endpoint.client("ssm").put_parameter(
        Name=f"/lab/{unique}/token", Value="s3cr3t-value", Type="SecureString"
    )
    endpoint.client("secretsmanager").create_secret(
        Name=f"lab-{unique}", SecretString=json.dumps({"user": "ada", "password": "pw"})
    )
    spec = (
        "version: 0.2\n"
        f"env:\n  parameter-store:\n    TOKEN: /lab/{unique}/token\n"
        "phases:\n  build:\n    commands:\n"
        "      - mkdir -p out\n"
        "      - cp app/hello.txt out/\n"
        '      - echo "$COLOR $DB_USER" > out/settings.txt\n'
        '      - echo "token is $TOKEN"\n'
        '      - echo "report of $CODEBUILD_BUILD_NUMBER" > report.txt\n'
        "artifacts:\n  base-directory: out\n  files: ['**/*']\n"
        "  secondary-artifacts:\n    report:\n      files: [report.txt]\n"
    )
    s3.put_object(
        Bucket=bucket, Key="src/app.zip", Body=zip_of({"buildspec.yml": spec, "app/hello.txt": "hi\n"})
    )
    name = f"s3src-{unique}"
    create_project(
        cb,
        name,
        {"type": "S3", "location": f"{bucket}/src/app.zip"},
        {
            "type": "S3",
            "location": bucket,
            "path": "builds",
            "namespaceType": "BUILD_ID",
            "name": "app.zip",
            "packaging": "ZIP",
        },
        secondaryArtifacts=[
            {
                "type": "S3",
                "location": f"arn:aws:s3:::{bucket}",  # as the bucket's ARN
                "path": "reports",
                "name": "r",
                "artifactIdentifier": "report",
            }
        ],
        environment={
            **ENVIRONMENT,
            "environmentVariables": [
                {"name": "COLOR", "value": f"/lab/{unique}/color", "type": "PARAMETER_STORE"},
                {"name": "DB_USER", "value": f"lab-{unique}:user", "type": "SECRETS_MANAGER"},
            ],
        },
    )

    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    build_uuid = build["id"].split(":")[1]
    key = f"builds/{build_uuid}/app.zip"
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/{key}"
    stored = s3.get_object(Bucket=bucket, Key=key)
    data = stored["Body"].read()
    assert stored["Metadata"]["codebuild-buildarn"] == build["arn"]
    assert build["artifacts"]["md5sum"] == hashlib.md5(data).hexdigest()
    assert zip_contents(data) == {"hello.txt": "hi\n", "settings.txt": "teal ada\n"}
    assert build["secondaryArtifacts"] == [
        {
            "location": f"arn:aws:s3:::{bucket}/reports/r",
            "artifactIdentifier": "report",
            "encryptionDisabled": False,
        }
    ]
    report = s3.get_object(Bucket=bucket, Key="reports/r/report.txt")["Body"].read().decode()
    assert report == "report of 1\n"
    text = log_text(endpoint, build)
    assert "token is ***\n" in text and "s3cr3t-value" not in text


def test_missing_parameter_fails_download_source(cb, unique):
    name = f"noparam-{unique}"
    variables = [{"name": "GONE", "value": f"/lab/{unique}/missing", "type": "PARAMETER_STORE"}]
    create_project(
        cb,
        name,
        {"type": "NO_SOURCE", "buildspec": buildspec("echo never")},
        environment={**ENVIRONMENT, "environmentVariables": variables},
    )
    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert build["buildStatus"] == "FAILED"
    assert phase(build, "DOWNLOAD_SOURCE")["contexts"] == [
        {
            "statusCode": "Decrypted Variables Error",
            "message": f"parameter does not exist: /lab/{unique}/missing",
        }
    ]
    assert "BUILD" not in [item["phaseType"] for item in build["phases"]]


def test_codecommit_source_builds_the_branch_head_or_the_given_commit(cb, endpoint, unique):
    cc = endpoint.client("codecommit")
    repository = f"cbrepo-{unique}"
    clone_url = cc.create_repository(repositoryName=repository)["repositoryMetadata"]["cloneUrlHttp"]
    spec = buildspec('echo "message: $(cat message.txt) at $CODEBUILD_RESOLVED_SOURCE_VERSION"')
    first = cc.put_file(
        repositoryName=repository, branchName="main", fileContent=spec.encode(), filePath="buildspec.yml"
    )["commitId"]
    first = cc.put_file(
        repositoryName=repository,
        branchName="main",
        fileContent=b"first\n",
        filePath="message.txt",
        parentCommitId=first,
    )["commitId"]
    second = cc.put_file(
        repositoryName=repository,
        branchName="main",
        fileContent=b"second\n",
        filePath="message.txt",
        parentCommitId=first,
    )["commitId"]
    name = f"ccsrc-{unique}"
    create_project(cb, name, {"type": "CODECOMMIT", "location": clone_url})

    head = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert head["buildStatus"] == "SUCCEEDED" and head["resolvedSourceVersion"] == second
    assert f"message: second at {second}\n" in log_text(endpoint, head)

    older = wait_for(cb, cb.start_build(projectName=name, sourceVersion=first)["build"]["id"])
    assert older["sourceVersion"] == first and older["resolvedSourceVersion"] == first
    assert f"message: first at {first}\n" in log_text(endpoint, older)

    missing = wait_for(cb, cb.start_build(projectName=name, sourceVersion="no-such-branch")["build"]["id"])
    assert missing["buildStatus"] == "FAILED"
    assert phase(missing, "DOWNLOAD_SOURCE")["contexts"][0] == {
        "statusCode": "CLIENT_ERROR",
        "message": "reference not found for primary source and source version no-such-branch",
    }


def test_failing_command_fails_the_build_with_its_exit_status(cb, endpoint, unique):
    name = f"failing-{unique}"
    spec = buildspec(
        "echo before", "sh -c 'exit 3'", "echo never", tail="  post_build:\n    commands: [echo post ran]\n"
    )
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec})
    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert (build["buildStatus"], build["currentPhase"]) == ("FAILED", "COMPLETED")
    assert phase(build, "BUILD")["phaseStatus"] == "FAILED"
    assert phase(build, "BUILD")["contexts"] == [
        {
            "statusCode": "COMMAND_EXECUTION_ERROR",
            "message": "Error while executing command: sh -c 'exit 3'. Reason: exit status 3",
        }
    ]
    assert phase(build, "POST_BUILD")["phaseStatus"] == "SUCCEEDED"
    text = log_text(endpoint, build)
    assert "before\n" in text and "post ran\n" in text and "never\n" not in text


def test_stop_build_stops_a_running_build(cb, unique):
    name = f"stop-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec("sleep 60")})
    build_id = cb.start_build(projectName=name)["build"]["id"]
    wait_for(cb, build_id, in_phase("BUILD"))
    began = time.monotonic()
    stopped = cb.stop_build(id=build_id)["build"]
    assert time.monotonic() - began < 10
    assert (stopped["buildStatus"], stopped["currentPhase"]) == ("STOPPED", "COMPLETED")
    assert phase(stopped, "BUILD")["phaseStatus"] == "STOPPED"
    assert phase(stopped, "BUILD")["contexts"] == [
        {"statusCode": "BUILD_STOPPED", "message": "Build was stopped."}
    ]
    assert cb.stop_build(id=build_id)["build"]["buildStatus"] == "STOPPED"
    assert leftover_processes(build_id) == []


def test_unknown_builds_are_reported_not_found(cb, unique):
    name = f"known-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec("true")})
    known = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    unknown = [f"{name}:00000000-0000-0000-0000-000000000000", "nothing:here"]
    answer = cb.batch_get_builds(ids=[known["id"], *unknown])
    assert [build["id"] for build in answer["builds"]] == [known["id"]]
    assert answer["buildsNotFound"] == unknown
    assert cb.batch_get_builds(ids=[known["id"]])["buildsNotFound"] == []
    with pytest.raises(ClientError) as caught:
        cb.stop_build(id=unknown[0])
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        cb.start_build(projectName=f"missing-{unique}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_listings_are_newest_first_and_builds_can_be_retried_and_deleted(cb, unique):
    name = f"list-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec("true")})
    ids = [wait_for(cb, cb.start_build(projectName=name)["build"]["id"])["id"] for _ in range(3)]
    assert cb.list_builds_for_project(projectName=name)["ids"] == ids[::-1]
    assert cb.list_builds_for_project(projectName=name, sortOrder="ASCENDING")["ids"] == ids
    everything = cb.list_builds()["ids"]
    assert [build_id for build_id in everything if build_id in ids] == ids[::-1]
    assert "nextToken" not in cb.list_builds_for_project(projectName=name)

    retried = wait_for(cb, cb.retry_build(id=ids[0])["build"]["id"])
    assert (retried["buildStatus"], retried["buildNumber"]) == ("SUCCEEDED", 4)
    deleted = cb.batch_delete_builds(ids=[ids[1], f"{name}:00000000-0000-0000-0000-000000000000"])
    assert deleted["buildsDeleted"] == [ids[1]]
    assert [item["statusCode"] for item in deleted["buildsNotDeleted"]] == ["BUILD_NOT_FOUND"]
    assert cb.list_builds_for_project(projectName=name)["ids"] == [retried["id"], ids[2], ids[0]]
    assert cb.batch_get_builds(ids=[ids[1]])["buildsNotFound"] == [ids[1]]

    with pytest.raises(ClientError) as caught:
        cb.list_builds_for_project(projectName=f"missing-{unique}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_aws_cli_starts_a_build_and_reads_it(cb, endpoint, unique):
    name = f"cli-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec('echo "hello $WHO"')})
    started = json.loads(
        endpoint.aws(
            "codebuild",
            "start-build",
            "--project-name",
            name,
            "--environment-variables-override",
            "name=WHO,value=cli,type=PLAINTEXT",
        ).stdout
    )["build"]
    wait_for(cb, started["id"])
    answer = json.loads(endpoint.aws("codebuild", "batch-get-builds", "--ids", started["id"]).stdout)
    build = answer["builds"][0]
    assert build["buildStatus"] == "SUCCEEDED"
    assert [item["phaseType"] for item in build["phases"]] == ALL_PHASES
    assert "hello cli\n" in log_text(endpoint, build)
    listed = json.loads(endpoint.aws("codebuild", "list-builds-for-project", "--project-name", name).stdout)
    assert listed["ids"] == [started["id"]]


def test_build_sees_the_endpoint_identity_never_the_users_environment(monkeypatch, tmp_path, unique):
    with monkeypatch.context() as users_shell:  # the endpoint starts from it; this test's clients do not
        users_shell.setenv("AWS_SECRET_ACCESS_KEY", "bogus-user-secret")
        users_shell.setenv("AWS_PROFILE", "users-profile")
        users_shell.setenv("LAB_TEST_SENTINEL", "from-the-users-shell")
        own = start_endpoint(tmp_path / "labhome")
    try:
        cb = own.client("codebuild")
        name = f"env-{unique}"
        spec = buildspec(
            "env | sort",
            "aws sts get-caller-identity --query Account --output text",
            # The endpoint starts the shell: its environment is unreadable from the build's namespace, and
            # holds nothing of the user's shell where it can be read.
            "echo endpoint environment:; tr '\\0' '\\n' < /proc/$PPID/environ || echo '(unreadable)'",
        )
        create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec})
        build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
        assert build["buildStatus"] == "SUCCEEDED", build["phases"]
        text = log_text(own, build)
    finally:
        process.stop(own.layout)
    assert f"AWS_SECRET_ACCESS_KEY={own.keys.secret_key}\n" in text
    assert f"AWS_ENDPOINT_URL={own.url}\n" in text
    assert f"CODEBUILD_BUILD_ID={build['id']}\n" in text
    assert f"\n{config.ACCOUNT}\n" in text  # the build's aws CLI reached the local endpoint
    for leaked in ("bogus-user-secret", "users-profile", "LAB_TEST_SENTINEL", "from-the-users-shell"):
        assert leaked not in text
    endpoint_environment = text.partition("endpoint environment:\n")[2]
    assert "PATH=" in endpoint_environment or "(unreadable)" in endpoint_environment
    assert "AWS_SECRET_ACCESS_KEY" not in endpoint_environment and "AWS_PROFILE" not in endpoint_environment


@pytest.mark.skipif(sandbox.problem() is not None, reason=f"no namespaces here: {sandbox.problem()}")
def test_a_build_sees_nothing_of_the_users_home_but_runs_the_labs_tools(cb, endpoint, unique):
    secret = Path.home() / f".lab-sandbox-{unique}"
    secret.write_text("a file of the user's home\n")
    try:
        name = f"home-{unique}"
        spec = buildspec(
            f"cat {secret} || echo 'the home folder is hidden'",
            'ls ~/ > /dev/null; echo "HOME is $HOME"',
            "aws sts get-caller-identity --query Account --output text",
            "echo built > out.txt && cat out.txt",
        )
        create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec})
        build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
        text = log_text(endpoint, build)
    finally:
        secret.unlink()
    assert build["buildStatus"] == "SUCCEEDED", text
    assert "the home folder is hidden" in text and "a file of the user's home" not in text
    assert f"\n{config.ACCOUNT}\n" in text and "\nbuilt\n" in text  # the lab's aws CLI and the build's folder


def test_a_build_running_when_the_endpoint_stops_ends_as_fault(fresh_endpoint, unique):
    cb = fresh_endpoint.client("codebuild")
    name = f"restart-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec("echo quick")})
    done = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    running = cb.start_build(projectName=name, buildspecOverride=buildspec("sleep 60"))["build"]["id"]
    wait_for(cb, running, in_phase("BUILD"))
    work = fresh_endpoint.layout.state / "builds" / running.split(":")[1] / "work"
    assert work.is_dir()

    assert leftover_processes(running)
    process.stop(fresh_endpoint.layout)
    assert leftover_processes(running) == [], "stopping the endpoint ends its builds' processes"
    again = start_endpoint(fresh_endpoint.layout.root)
    cb = again.client("codebuild")
    answer = cb.batch_get_builds(ids=[done["id"], running])
    before, interrupted = answer["builds"]
    assert before["buildStatus"] == "SUCCEEDED"
    assert [item["phaseType"] for item in before["phases"]] == ALL_PHASES
    assert "quick\n" in log_text(again, before)
    assert (interrupted["buildStatus"], interrupted["currentPhase"]) == ("FAULT", "COMPLETED")
    assert interrupted["buildComplete"] is True and interrupted["endTime"] >= interrupted["startTime"]
    assert phase(interrupted, "BUILD")["phaseStatus"] == "FAULT"
    assert "local endpoint stopped" in phase(interrupted, "BUILD")["contexts"][0]["message"]
    assert interrupted["phases"][-1]["phaseType"] == "COMPLETED"
    assert leftover_processes(running) == []
    assert not work.exists()

    after = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    assert after["buildNumber"] == 3
    assert cb.list_builds_for_project(projectName=name)["ids"] == [after["id"], running, done["id"]]


# -- the pipeline engine's in-process API -----------------------------------------------------------


@pytest.fixture
def service(endpoint, tmp_path):
    """A CodeBuild service of the test's own (projects in this process's moto), talking to the endpoint."""
    return CodeBuildService(endpoint.context(tmp_path / "service"), page_size=2)


def pipeline_project(service, name: str, spec: str | None = None, **source_settings) -> None:
    source = {"type": "CODEPIPELINE", **({"buildspec": spec} if spec else {}), **source_settings}
    service.create_project(
        {
            "name": name,
            "source": source,
            "artifacts": {"type": "CODEPIPELINE"},
            "environment": ENVIRONMENT,
            "serviceRole": ROLE,
        }
    )


def test_pipeline_build_reads_its_inputs_and_writes_its_output(service, endpoint, bucket, unique):
    s3 = endpoint.client("s3")
    spec = buildspec(
        "mkdir -p dist",
        'cp "$CODEBUILD_SRC_DIR_Extra/extra.txt" dist/',
        'echo "$STAGE $CODEBUILD_INITIATOR $CODEBUILD_SOURCE_VERSION" > dist/about.txt',
        tail="artifacts:\n  base-directory: dist\n  files: ['**/*']\n",
    )
    s3.put_object(Bucket=bucket, Key="pipe/SourceArti/aaaaaaa", Body=zip_of({"buildspec.yml": spec}))
    s3.put_object(Bucket=bucket, Key="pipe/Extra/bbbbbbb", Body=zip_of({"extra.txt": "extra\n"}))
    name = f"pipe-{unique}"
    pipeline_project(service, name, gitCloneDepth=1)
    build_id = service.start_pipeline_build(
        name,
        region=config.REGION,
        sources=[
            ("Extra", {"bucket": bucket, "key": "pipe/Extra/bbbbbbb"}),
            ("SourceArtifact", {"bucket": bucket, "key": "pipe/SourceArti/aaaaaaa"}),
        ],
        primary="SourceArtifact",
        outputs=[("BuildArtifact", {"bucket": bucket, "key": "pipe/BuildArtif/ccccccc"})],
        environment_variables=[{"name": "STAGE", "value": "beta", "type": "PLAINTEXT"}],
        initiator="codepipeline/demo",
    )
    build = service.wait(build_id, timeout=60)
    assert build["buildStatus"] == "SUCCEEDED", build["phases"]
    source_arn = f"arn:aws:s3:::{bucket}/pipe/SourceArti/aaaaaaa"
    assert build["source"] == {"type": "CODEPIPELINE", "gitCloneDepth": 1, "insecureSsl": False}
    assert build["sourceVersion"] == source_arn
    assert [item["sourceIdentifier"] for item in build["secondarySources"]] == ["Extra"]
    assert build["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/pipe/BuildArtif/ccccccc"
    assert build["initiator"] == "codepipeline/demo"
    output = s3.get_object(Bucket=bucket, Key="pipe/BuildArtif/ccccccc")["Body"].read()
    assert build["artifacts"]["md5sum"] == hashlib.md5(output).hexdigest()
    assert build["artifacts"]["sha256sum"] == hashlib.sha256(output).hexdigest()
    assert zip_contents(output) == {
        "extra.txt": "extra\n",
        "about.txt": f"beta codepipeline/demo {source_arn}\n",
    }


def test_pipeline_outputs_take_the_secondary_artifacts_of_their_names(service, endpoint, bucket, unique):
    s3 = endpoint.client("s3")
    secondary = "artifacts:\n  files: [web.txt]\n  secondary-artifacts:\n    Web:\n      files: [web.txt]\n"
    spec = buildspec("echo web > web.txt", "echo docs > docs.txt", tail=secondary)
    s3.put_object(Bucket=bucket, Key="src", Body=zip_of({"buildspec.yml": spec}))
    name = f"outputs-{unique}"
    pipeline_project(service, name)
    outputs = [("Web", {"bucket": bucket, "key": "out/web"}), ("Docs", {"bucket": bucket, "key": "out/docs"})]

    def run(buildspec_override: str | None = None) -> dict:
        if buildspec_override:
            s3.put_object(Bucket=bucket, Key="src", Body=zip_of({"buildspec.yml": buildspec_override}))
        build_id = service.start_pipeline_build(
            name,
            region=config.REGION,
            sources=[("Src", {"bucket": bucket, "key": "src"})],
            primary="Src",
            outputs=outputs,
            initiator="codepipeline/demo",
        )
        return service.wait(build_id, timeout=60)

    missing = run()
    assert missing["buildStatus"] == "FAILED"
    context = phase(missing, "UPLOAD_ARTIFACTS")["contexts"][0]
    assert context["statusCode"] == "CLIENT_ERROR" and "identifier Docs" in context["message"]

    both = secondary + "    Docs:\n      files: [docs.txt]\n"
    built = run(buildspec("echo web > web.txt", "echo docs > docs.txt", tail=both))
    assert built["buildStatus"] == "SUCCEEDED"
    assert [item["artifactIdentifier"] for item in built["secondaryArtifacts"]] == ["Web", "Docs"]
    assert zip_contents(s3.get_object(Bucket=bucket, Key="out/docs")["Body"].read()) == {"docs.txt": "docs\n"}
    assert zip_contents(s3.get_object(Bucket=bucket, Key="out/web")["Body"].read()) == {"web.txt": "web\n"}


def test_pipeline_build_times_out_and_stops_in_process(service, endpoint, bucket, unique):
    """StartBuild's timeouts are whole minutes (5 at least); the engine API takes seconds."""
    endpoint.client("s3").put_object(
        Bucket=bucket, Key="src", Body=zip_of({"buildspec.yml": buildspec("sleep 30")})
    )
    name = f"slow-{unique}"
    pipeline_project(service, name)
    start = {
        "region": config.REGION,
        "sources": [("Src", {"bucket": bucket, "key": "src"})],
        "primary": "Src",
        "outputs": [],
        "initiator": "codepipeline/demo",
    }
    began = time.monotonic()
    timed_out = service.wait(service.start_pipeline_build(name, timeout_seconds=1, **start), timeout=30)
    assert time.monotonic() - began < 15
    assert timed_out["buildStatus"] == "TIMED_OUT"
    assert phase(timed_out, "BUILD")["contexts"] == [
        {"statusCode": "BUILD_TIMED_OUT", "message": "Build has timed out."}
    ]

    build_id = service.start_pipeline_build(name, **start)
    deadline = time.monotonic() + 30
    while service.store.get(build_id)["currentPhase"] != "BUILD" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert service.stop(build_id)["buildStatus"] == "STOPPED"
    assert service.wait(build_id, timeout=1)["buildStatus"] == "STOPPED"


def test_listings_page_with_next_tokens(service, unique):
    name = f"pages-{unique}"
    service.create_project(
        {
            "name": name,
            "source": {"type": "NO_SOURCE", "buildspec": buildspec("true")},
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": ENVIRONMENT,
            "serviceRole": ROLE,
        }
    )
    ids = [service.start_build({"projectName": name})["build"]["id"] for _ in range(3)]
    for build_id in ids:
        assert service.wait(build_id, timeout=60)["buildStatus"] == "SUCCEEDED"
    for order, expected in (("DESCENDING", ids[::-1]), ("ASCENDING", ids)):
        first = service.list_builds_for_project({"projectName": name, "sortOrder": order})
        second = service.list_builds_for_project(
            {"projectName": name, "sortOrder": order, "nextToken": first["nextToken"]}
        )
        assert first["ids"] + second["ids"] == expected
        assert len(first["ids"]) == 2 and "nextToken" not in second
    with pytest.raises(AwsError) as caught:
        service.list_builds({"nextToken": "not-a-token"})
    assert caught.value.code == "InvalidInputException"


def test_create_project_answers_the_members_aws_fills(endpoint, bucket, unique):
    """As AWS's CreateProject answer (the CLI example's): the environment's pull credentials, privileged mode
    and variables, the artifacts' name, packaging, namespace and encryption, the source's insecureSsl."""
    name = f"defaults-{unique}"
    answer = endpoint.aws(
        "codebuild",
        "create-project",
        "--name",
        name,
        "--source",
        json.dumps({"type": "S3", "location": f"{bucket}/source.zip"}),
        "--artifacts",
        json.dumps({"type": "S3", "location": bucket}),
        "--environment",
        json.dumps(ENVIRONMENT),
        "--service-role",
        ROLE,
    )
    project = json.loads(answer.stdout)["project"]
    assert project["environment"] == {
        **ENVIRONMENT,
        "imagePullCredentialsType": "CODEBUILD",
        "privilegedMode": False,
        "environmentVariables": [],
    }
    assert project["artifacts"] == {
        "type": "S3",
        "location": bucket,
        "name": name,
        "namespaceType": "NONE",
        "packaging": "NONE",
        "encryptionDisabled": False,
    }
    assert project["source"] == {"type": "S3", "location": f"{bucket}/source.zip", "insecureSsl": False}
    cb = endpoint.client("codebuild")
    given = cb.update_project(
        name=name,
        environment={**ENVIRONMENT, "privilegedMode": True},
        artifacts={"type": "S3", "location": bucket, "name": "out.zip", "packaging": "ZIP"},
    )["project"]
    assert given["environment"]["privilegedMode"] is True
    assert given["environment"]["imagePullCredentialsType"] == "CODEBUILD"
    assert (given["artifacts"]["name"], given["artifacts"]["packaging"]) == ("out.zip", "ZIP")
    assert cb.batch_get_projects(names=[name])["projects"][0]["artifacts"] == given["artifacts"]
    build = cb.start_build(
        projectName=name, sourceTypeOverride="NO_SOURCE", buildspecOverride=buildspec("true")
    )["build"]
    assert build["source"] == {"type": "NO_SOURCE", "buildspec": buildspec("true"), "insecureSsl": False}
    assert build["environment"]["privilegedMode"] is True
    wait_for(cb, build["id"])


def test_update_project_replaces_the_given_settings_and_keeps_the_rest(endpoint, unique):
    codebuild = endpoint.client("codebuild")
    role = endpoint.client("iam").create_role(RoleName=f"upd-{unique}", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    environment = {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_SMALL",
    }
    codebuild.create_project(
        name=f"upd-{unique}",
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment=environment,
        serviceRole=role,
    )
    spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo updated\n"
    updated = codebuild.update_project(
        name=f"upd-{unique}", source={"type": "NO_SOURCE", "buildspec": spec}, timeoutInMinutes=15
    )["project"]
    assert updated["source"]["buildspec"] == spec and updated["timeoutInMinutes"] == 15
    found = codebuild.batch_get_projects(names=[f"upd-{unique}"])["projects"][0]
    assert (
        found["source"]["buildspec"] == spec and found["environment"]["image"] == "aws/codebuild/standard:7.0"
    )
    with pytest.raises(codebuild.exceptions.ResourceNotFoundException):
        codebuild.update_project(name=f"missing-{unique}", timeoutInMinutes=15)


def test_a_batch_buildspec_without_phases_fails_start_build_and_names_start_build_batch(endpoint, cb, unique):
    spec = "version: 0.2\nbatch:\n  build-list:\n    - identifier: linux\n"
    name = f"batch-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec})
    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    context = phase(build, "DOWNLOAD_SOURCE")["contexts"][0]
    assert build["buildStatus"] == "FAILED" and context["statusCode"] == "YAML_FILE_ERROR"
    for words in ("batch section and no phases", "StartBuildBatch"):
        assert words in context["message"]
    assert context["message"] in log_text(endpoint, build)


def test_invalidate_project_cache_finds_the_project_and_has_nothing_to_clear(endpoint, cb, unique):
    name = f"cache-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec("true")})
    assert endpoint.aws("codebuild", "invalidate-project-cache", "--project-name", name).stdout == ""
    with pytest.raises(ClientError) as missing:
        cb.invalidate_project_cache(projectName=f"missing-{unique}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert f"missing-{unique}" in missing.value.response["Error"]["Message"]
    status, answer = endpoint.call("CodeBuild_20161006.InvalidateProjectCache", {}, service="codebuild")
    assert (status, answer["__type"]) == (400, "InvalidInputException")
    assert "projectName" in answer["message"]


def test_curated_images_are_those_local_builds_run(endpoint):
    from tests import cli_examples_kit as kit

    answer = json.loads(
        endpoint.aws("codebuild", "list-curated-environment-images", "--output", "json").stdout
    )
    example = kit.parse("codebuild", kit.EXAMPLES / "codebuild" / "list-curated-environment-images.rst")[0]
    assert kit.shape_differences(example.output, answer, kit.output_shape(example)) == []
    images = [
        image["name"]
        for platform in answer["platforms"]
        for language in platform["languages"]
        for image in language["images"]
    ]
    assert {platform["platform"] for platform in answer["platforms"]} == {"AMAZON_LINUX", "UBUNTU"}
    assert ENVIRONMENT["image"] in images and "aws/codebuild/amazonlinux-x86_64-standard:5.0" in images
