"""CodeBuild batch builds on the real local endpoint, through boto3 and the aws CLI: build-list, build-matrix
and build-graph batches whose builds really run, in their order; stop, retry and delete; listings; the
errors AWS answers; and the shapes of the aws CLI's documented examples."""

import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint
from test_codebuild import ROLE, create_project, wait_for, zip_contents, zip_of

from labhelpers.local import config, process
from labhelpers.local.codebuild.batches import BuildBatchesService
from labhelpers.local.codebuild.service import CodeBuildService
from tests import cli_examples_kit as kit

BATCH = {"serviceRole": ROLE, "timeoutInMins": 60}
PHASES = "phases:\n  build:\n    commands:\n{commands}"
EXPORTS = "env:\n  exported-variables: [WHO, SIZE]\n"


def spec(batch: str, *commands: str) -> str:
    lines = "".join(f"      - {json.dumps(command)}\n" for command in commands or ["echo hi"])
    return f"version: 0.2\n{EXPORTS}batch:\n{batch}{PHASES.format(commands=lines)}"


def batch_project(cb, name: str, buildspec: str, **settings) -> dict:
    return create_project(
        cb, name, {"type": "NO_SOURCE", "buildspec": buildspec}, buildBatchConfig=BATCH, **settings
    )


def wait_batch(cb, batch_id: str, until=lambda batch: batch["complete"], timeout: float = 90) -> dict:
    """Poll BatchGetBuildBatches the way a client does, until `until(batch)` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = cb.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
        if until(batch):
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch {batch_id} did not get there in {timeout} s: {batch}")


def builds_of(cb, batch: dict) -> dict[str, dict]:
    """The batch's builds by identifier."""
    arns = {group["identifier"]: group["currentBuildSummary"]["arn"] for group in batch["buildGroups"]}
    found = cb.batch_get_builds(ids=list(arns.values()))["builds"]
    by_arn = {build["arn"]: build for build in found}
    return {identifier: by_arn[arn] for identifier, arn in arns.items() if arn in by_arn}


def exported(build: dict) -> dict[str, str]:
    return {item["name"]: item["value"] for item in build["exportedEnvironmentVariables"]}


def code_of(call) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"]


@pytest.fixture
def cb(endpoint):
    return endpoint.client("codebuild")


@pytest.fixture
def bucket(endpoint, unique):
    name = f"batch-{unique}"
    endpoint.client("s3").create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": config.REGION}
    )
    return name


def test_a_build_graph_runs_each_build_after_those_it_depends_on(cb, unique):
    graph = (
        "  build-graph:\n"
        "    - identifier: first\n"
        "      env:\n        variables:\n          SIZE: small\n"
        "    - identifier: second\n      depend-on: [first]\n"
        "      env:\n        compute-type: BUILD_GENERAL1_MEDIUM\n"
        "        variables:\n          SIZE: medium\n"
        "    - identifier: third\n      depend-on: [first, second]\n"
    )
    name = f"graph-{unique}"
    batch_project(cb, name, spec(graph, "export WHO=$CODEBUILD_BATCH_BUILD_IDENTIFIER"))
    started = cb.start_build_batch(projectName=name)["buildBatch"]
    assert started["id"].startswith(f"{name}:") and started["buildBatchStatus"] == "IN_PROGRESS"
    assert started["arn"] == f"arn:aws:codebuild:{config.REGION}:{config.ACCOUNT}:build-batch/{started['id']}"
    assert started["buildBatchNumber"] == 1 and started["complete"] is False
    assert started["buildBatchConfig"] == {**BATCH, "restrictions": {"maximumBuildsAllowed": 100}}

    batch = wait_batch(cb, started["id"])
    assert batch["buildBatchStatus"] == "SUCCEEDED" and batch["currentPhase"] == "SUCCEEDED"
    assert [p["phaseType"] for p in batch["phases"]] == [
        "SUBMITTED",
        "DOWNLOAD_BATCHSPEC",
        "IN_PROGRESS",
        "COMBINE_ARTIFACTS",
        "SUCCEEDED",
    ]
    assert all(p["phaseStatus"] == "SUCCEEDED" for p in batch["phases"][:-1])
    assert "endTime" not in batch["phases"][-1] and batch["endTime"] >= batch["startTime"]
    groups = {group["identifier"]: group for group in batch["buildGroups"]}
    assert groups["third"]["dependsOn"] == ["first", "second"] and groups["first"]["ignoreFailure"] is False
    summary = groups["first"]["currentBuildSummary"]
    assert summary["buildStatus"] == "SUCCEEDED" and summary["secondaryArtifacts"] == []
    assert summary["primaryArtifact"] == {"type": "NO_ARTIFACTS", "identifier": "first"}

    builds = builds_of(cb, batch)
    assert {build["buildBatchArn"] for build in builds.values()} == {batch["arn"]}
    assert {k: exported(b)["WHO"] for k, b in builds.items()} == {k: k for k in ("first", "second", "third")}
    assert exported(builds["second"])["SIZE"] == "medium"
    assert builds["second"]["environment"]["computeType"] == "BUILD_GENERAL1_MEDIUM"
    assert builds["first"]["environment"]["computeType"] == "BUILD_GENERAL1_SMALL"
    assert builds["second"]["startTime"] >= builds["first"]["endTime"]
    assert builds["third"]["startTime"] >= builds["second"]["endTime"]


def test_a_build_list_runs_its_builds_together_and_ignores_failures_it_may(cb, unique):
    listed = (
        "  build-list:\n"
        "    - identifier: good\n"
        "    - identifier: flaky\n      ignore-failure: true\n"
        "      env:\n        variables:\n          FAIL: 'yes'\n"
    )
    name = f"list-{unique}"
    batch_project(cb, name, spec(listed, 'test "$FAIL" != yes'))
    role = f"arn:aws:iam::{config.ACCOUNT}:role/other-builds"
    started = cb.start_build_batch(projectName=name, serviceRoleOverride=role)["buildBatch"]
    batch = wait_batch(cb, started["id"])
    status = {g["identifier"]: g["currentBuildSummary"]["buildStatus"] for g in batch["buildGroups"]}
    assert status == {"good": "SUCCEEDED", "flaky": "FAILED"}
    assert batch["buildBatchStatus"] == "SUCCEEDED" and batch["serviceRole"] == role
    assert {build["serviceRole"] for build in builds_of(cb, batch).values()} == {role}


def test_a_build_matrix_runs_every_combination(cb, unique):
    matrix = (
        "  build-matrix:\n"
        "    static:\n      env:\n        image: aws/codebuild/standard:7.0\n"
        "    dynamic:\n      env:\n        variables:\n"
        "          WHO: [ann, bob]\n          SIZE: [s, m]\n"
    )
    name = f"matrix-{unique}"
    batch_project(cb, name, spec(matrix))
    batch = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    assert batch["buildBatchStatus"] == "SUCCEEDED"
    builds = builds_of(cb, batch)
    assert sorted(builds) == ["build1", "build2", "build3", "build4"]
    pairs = sorted((exported(b)["WHO"], exported(b)["SIZE"]) for b in builds.values())
    assert pairs == [("ann", "m"), ("ann", "s"), ("bob", "m"), ("bob", "s")]


def test_a_failed_build_stops_those_behind_it_and_a_retry_runs_them_again(endpoint, cb, bucket, unique):
    graph = (
        "  build-graph:\n"
        "    - identifier: check\n      env:\n        variables:\n          NEEDS_FLAG: 'yes'\n"
        "    - identifier: after\n      depend-on: [check]\n"
        "    - identifier: apart\n"
    )
    command = f'test "$NEEDS_FLAG" != yes || aws s3 cp s3://{bucket}/flag flag'
    name = f"retry-{unique}"
    batch_project(cb, name, spec(graph, command))
    first = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    status = {g["identifier"]: g["currentBuildSummary"]["buildStatus"] for g in first["buildGroups"]}
    assert status == {"check": "FAILED", "after": "STOPPED", "apart": "SUCCEEDED"}
    assert first["buildBatchStatus"] == "FAILED" and first["currentPhase"] == "FAILED"
    in_progress = next(p for p in first["phases"] if p["phaseType"] == "IN_PROGRESS")
    assert in_progress["phaseStatus"] == "FAILED" and "check" in in_progress["contexts"][0]["message"]
    assert code_of(lambda: cb.retry_build_batch(id=first["id"], retryType="NOW")) == "InvalidInputException"

    endpoint.client("s3").put_object(Bucket=bucket, Key="flag", Body=b"go")
    retried = cb.retry_build_batch(id=first["id"], retryType="RETRY_FAILED_BUILDS")["buildBatch"]
    assert retried["buildBatchStatus"] == "IN_PROGRESS" and retried["complete"] is False
    assert (
        retried["phases"][-2]["phaseStatus"] == "RETRY" and retried["phases"][-1]["phaseType"] == "SUBMITTED"
    )
    second = wait_batch(cb, first["id"])
    assert second["buildBatchStatus"] == "SUCCEEDED" and second["buildBatchNumber"] == 1
    groups = {g["identifier"]: g for g in second["buildGroups"]}
    assert {k: g["currentBuildSummary"]["buildStatus"] for k, g in groups.items()} == dict.fromkeys(
        ("check", "after", "apart"), "SUCCEEDED"
    )
    assert [s["buildStatus"] for s in groups["check"]["priorBuildSummaryList"]] == ["FAILED"]
    assert "priorBuildSummaryList" not in groups["apart"]  # it had succeeded: not run again
    assert (
        groups["apart"]["currentBuildSummary"]
        == next(g for g in first["buildGroups"] if g["identifier"] == "apart")["currentBuildSummary"]
    )
    succeeded = code_of(lambda: cb.retry_build_batch(id=first["id"]))
    assert succeeded == "InvalidInputException"


def test_fast_fail_stops_the_running_builds_when_one_fails(cb, unique):
    listed = (
        "  fast-fail: true\n  build-list:\n"
        "    - identifier: fails\n      env:\n        variables:\n          QUICK: 'yes'\n"
        "    - identifier: slow\n"
    )
    name = f"fast-{unique}"
    batch_project(cb, name, spec(listed, 'if [ "$QUICK" = yes ]; then exit 3; fi; sleep 60'))
    started = time.monotonic()
    batch = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    assert time.monotonic() - started < 40
    status = {g["identifier"]: g["currentBuildSummary"]["buildStatus"] for g in batch["buildGroups"]}
    assert status == {"fails": "FAILED", "slow": "STOPPED"} and batch["buildBatchStatus"] == "FAILED"


def test_stop_build_batch_stops_its_builds_and_delete_removes_them(cb, unique):
    listed = "  build-list:\n    - identifier: sleeper\n"
    name = f"stop-{unique}"
    batch_project(cb, name, spec(listed, "sleep 60"))
    batch_id = cb.start_build_batch(projectName=name)["buildBatch"]["id"]
    running = wait_batch(
        cb,
        batch_id,
        lambda b: any(g["currentBuildSummary"]["buildStatus"] == "IN_PROGRESS" for g in b["buildGroups"]),
    )
    build_arn = running["buildGroups"][0]["currentBuildSummary"]["arn"]
    wait_for(cb, build_arn.partition(":build/")[2], lambda build: build["currentPhase"] == "BUILD")
    assert code_of(lambda: cb.delete_build_batch(id=batch_id)) == "InvalidInputException"

    stopped = cb.stop_build_batch(id=batch_id)["buildBatch"]
    assert stopped["buildBatchStatus"] == "STOPPED" and stopped["complete"] is True
    assert [p["phaseType"] for p in stopped["phases"]][-2:] == ["IN_PROGRESS", "STOPPED"]
    assert stopped["phases"][-2]["phaseStatus"] == "STOPPED"
    assert stopped["buildGroups"][0]["currentBuildSummary"]["buildStatus"] == "STOPPED"
    assert cb.batch_get_builds(ids=[build_arn])["builds"][0]["buildStatus"] == "STOPPED"

    answer = cb.delete_build_batch(id=stopped["arn"])
    assert answer["statusCode"] == "BATCH_DELETED" and answer["buildsDeleted"] == [build_arn]
    assert cb.batch_get_builds(ids=[build_arn])["buildsNotFound"] == [build_arn]
    assert cb.batch_get_build_batches(ids=[batch_id])["buildBatchesNotFound"] == [batch_id]


@pytest.mark.parametrize("packaging", ["ZIP", "NONE"])
def test_combine_artifacts_puts_each_builds_artifact_in_a_folder_of_its_identifier(
    endpoint, cb, bucket, unique, packaging
):
    listed = "  build-list:\n    - identifier: left\n    - identifier: right\n"
    artifacts = "artifacts:\n  files: [who.txt]\n"
    name = f"combine-{unique}"
    create_project(
        cb,
        name,
        {
            "type": "NO_SOURCE",
            "buildspec": spec(listed, "echo $CODEBUILD_BATCH_BUILD_IDENTIFIER > who.txt") + artifacts,
        },
        {"type": "S3", "location": bucket, "path": "out", "name": "site", "packaging": packaging},
        buildBatchConfig={**BATCH, "combineArtifacts": True},
    )
    batch = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    assert batch["buildBatchStatus"] == "SUCCEEDED", batch["phases"]
    assert batch["artifacts"]["location"] == f"arn:aws:s3:::{bucket}/out/site"
    summary = batch["buildGroups"][0]["currentBuildSummary"]["primaryArtifact"]
    assert summary == {"type": "S3", "location": f"arn:aws:s3:::{bucket}/out/left/site", "identifier": "left"}
    s3 = endpoint.client("s3")
    if packaging == "ZIP":
        combined = zip_contents(s3.get_object(Bucket=bucket, Key="out/site")["Body"].read())
        assert combined == {"left/who.txt": "left\n", "right/who.txt": "right\n"}
        assert batch["artifacts"]["md5sum"]
    else:
        keys = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="out/site/")["Contents"]}
        assert keys == {"out/site/left/who.txt", "out/site/right/who.txt"}
        assert s3.get_object(Bucket=bucket, Key="out/site/right/who.txt")["Body"].read() == b"right\n"


def test_a_batch_that_outlasts_its_timeout_stops_its_builds_and_times_out(endpoint, tmp_path, unique):
    """On a service of the test's own, where a minute of timeoutInMins lasts 0.2 s."""
    context = endpoint.context(tmp_path / "service")
    builds = CodeBuildService(context)
    batches = BuildBatchesService(context, builds, minute_seconds=0.2)
    name = f"timeout-{unique}"
    builds.create_project(
        {
            "name": name,
            "source": {
                "type": "NO_SOURCE",
                "buildspec": spec("  build-list:\n    - identifier: slow\n", "sleep 60"),
            },
            "artifacts": {"type": "NO_ARTIFACTS"},
            "environment": {"type": "LINUX_CONTAINER", "image": "img", "computeType": "BUILD_GENERAL1_SMALL"},
            "serviceRole": ROLE,
            "buildBatchConfig": {"serviceRole": ROLE, "timeoutInMins": 5},
        }
    )
    started = time.monotonic()
    batch_id = batches.start_build_batch({"projectName": name})["buildBatch"]["id"]
    batch = batches.store.wait(batch_id, 30)
    assert time.monotonic() - started < 20
    assert (batch["buildBatchStatus"], batch["currentPhase"]) == ("TIMED_OUT", "FAILED")
    in_progress = next(p for p in batch["phases"] if p["phaseType"] == "IN_PROGRESS")
    assert in_progress["phaseStatus"] == "TIMED_OUT"
    assert in_progress["contexts"][0]["statusCode"] == "BUILD_TIMED_OUT"
    summary = batch["buildGroups"][0]["currentBuildSummary"]
    assert summary["buildStatus"] == "STOPPED"
    assert builds.wait(summary["arn"].partition(":build/")[2], 10)["buildStatus"] == "STOPPED"


def test_a_batch_running_when_the_endpoint_stops_ends_as_fault_and_keeps_its_number(fresh_endpoint, unique):
    cb = fresh_endpoint.client("codebuild")
    name = f"restart-{unique}"
    batch_project(
        cb,
        name,
        spec("  build-graph:\n    - identifier: a\n    - identifier: b\n      depend-on: [a]\n", "sleep 60"),
    )
    batch_id = cb.start_build_batch(projectName=name)["buildBatch"]["id"]
    running = wait_batch(
        cb,
        batch_id,
        lambda b: (
            b["buildGroups"] and b["buildGroups"][0]["currentBuildSummary"]["buildStatus"] == "IN_PROGRESS"
        ),
    )
    wait_for(
        cb,
        running["buildGroups"][0]["currentBuildSummary"]["arn"],
        lambda build: build["currentPhase"] == "BUILD",
    )

    process.stop(fresh_endpoint.layout)
    cb = start_endpoint(fresh_endpoint.layout.root).client("codebuild")
    ended = cb.batch_get_build_batches(ids=[batch_id])["buildBatches"][0]
    assert (ended["buildBatchStatus"], ended["currentPhase"], ended["complete"]) == ("FAULT", "FAILED", True)
    in_progress = next(p for p in ended["phases"] if p["phaseType"] == "IN_PROGRESS")
    assert (
        in_progress["phaseStatus"] == "FAULT"
        and "local endpoint stopped" in in_progress["contexts"][0]["message"]
    )
    status = [g["currentBuildSummary"]["buildStatus"] for g in ended["buildGroups"]]
    assert status == ["FAULT", "STOPPED"]
    build = cb.batch_get_builds(ids=[ended["buildGroups"][0]["currentBuildSummary"]["arn"]])["builds"][0]
    assert build["buildStatus"] == "FAULT"
    again = cb.start_build_batch(
        projectName=name, buildspecOverride=spec("  build-list:\n    - identifier: a\n")
    )
    assert again["buildBatch"]["buildBatchNumber"] == 2
    assert wait_batch(cb, again["buildBatch"]["id"])["buildBatchStatus"] == "SUCCEEDED"


def test_listings_page_filter_and_sort(cb, unique):
    name = f"lists-{unique}"
    batch_project(cb, name, spec("  build-list:\n    - identifier: one\n"))
    ids = [cb.start_build_batch(projectName=name)["buildBatch"]["id"] for _ in range(3)]
    for batch_id in ids:
        wait_batch(cb, batch_id)
    assert cb.list_build_batches_for_project(projectName=name)["ids"] == ids[::-1]
    ascending = cb.list_build_batches_for_project(projectName=name, sortOrder="ASCENDING", maxResults=2)
    assert ascending["ids"] == ids[:2] and ascending["nextToken"]
    rest = cb.list_build_batches_for_project(
        projectName=name, sortOrder="ASCENDING", maxResults=2, nextToken=ascending["nextToken"]
    )
    assert rest["ids"] == ids[2:] and "nextToken" not in rest
    everyone = [i for page in cb.get_paginator("list_build_batches").paginate() for i in page["ids"]]
    assert set(ids) <= set(everyone)
    failed = cb.list_build_batches_for_project(projectName=name, filter={"status": "FAILED"})["ids"]
    assert failed == []
    numbers = [b["buildBatchNumber"] for b in cb.batch_get_build_batches(ids=ids)["buildBatches"]]
    assert numbers == [1, 2, 3]
    assert code_of(lambda: cb.list_build_batches(nextToken="junk")) == "InvalidInputException"
    assert code_of(lambda: cb.list_build_batches(filter={"status": "DONE"})) == "InvalidInputException"
    unknown = code_of(lambda: cb.list_build_batches_for_project(projectName=f"nope-{unique}"))
    assert unknown == "ResourceNotFoundException"


def test_start_build_batch_refuses_what_aws_refuses(cb, unique):
    name = f"plain-{unique}"
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": spec("  build-list:\n    - identifier: a\n")})
    with pytest.raises(ClientError) as caught:
        cb.start_build_batch(projectName=name)
    assert caught.value.response["Error"]["Code"] == "InvalidInputException"
    assert "buildBatchConfig" in caught.value.response["Error"]["Message"]
    missing = code_of(lambda: cb.start_build_batch(projectName=f"nope-{unique}"))
    assert missing == "ResourceNotFoundException"
    bad_role = {"serviceRole": "arn:aws:iam::999999999999:role/x"}
    override = code_of(lambda: cb.start_build_batch(projectName=name, buildBatchConfigOverride=bad_role))
    assert override == "InvalidInputException"
    timeout = code_of(
        lambda: cb.start_build_batch(
            projectName=name, buildBatchConfigOverride=BATCH, buildTimeoutInMinutesOverride=4000
        )
    )
    assert timeout == "InvalidInputException"
    assert code_of(lambda: cb.batch_get_build_batches(ids=["x:y"] * 101)) == "InvalidInputException"
    assert code_of(lambda: cb.stop_build_batch(id=f"{name}:none")) == "ResourceNotFoundException"
    assert code_of(lambda: cb.delete_build_batch(id="no-colon")) == "InvalidInputException"

    # the override is enough; the batch itself fails in DOWNLOAD_BATCHSPEC when its batchspec is wrong
    batch = cb.start_build_batch(
        projectName=name,
        buildBatchConfigOverride={**BATCH, "restrictions": {"maximumBuildsAllowed": 1}},
        buildspecOverride=spec("  build-list:\n    - identifier: a\n    - identifier: b\n"),
    )["buildBatch"]
    failed = wait_batch(cb, batch["id"])
    download = next(p for p in failed["phases"] if p["phaseType"] == "DOWNLOAD_BATCHSPEC")
    assert failed["buildBatchStatus"] == "FAILED" and download["phaseStatus"] == "FAILED"
    assert "maximumBuildsAllowed is 1" in download["contexts"][0]["message"]
    broken = cb.start_build_batch(
        projectName=name, buildBatchConfigOverride=BATCH, buildspecOverride="version: 0.2\nbatch:\n  x: 1\n"
    )["buildBatch"]
    context = next(
        p for p in wait_batch(cb, broken["id"])["phases"] if p["phaseType"] == "DOWNLOAD_BATCHSPEC"
    )
    assert context["contexts"][0]["statusCode"] == "YAML_FILE_ERROR"
    assert "line 2" in context["contexts"][0]["message"]


def test_a_build_the_batch_cannot_start_fails_the_batch_saying_why(cb, unique):
    listed = "  build-list:\n    - identifier: fine\n    - identifier: reserved\n"
    listed += "      env:\n        variables:\n          CODEBUILD_MINE: x\n"
    name = f"refused-{unique}"
    batch_project(cb, name, spec(listed))
    batch = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    status = {g["identifier"]: g["currentBuildSummary"]["buildStatus"] for g in batch["buildGroups"]}
    assert status == {"fine": "SUCCEEDED", "reserved": "FAILED"} and batch["buildBatchStatus"] == "FAILED"
    message = next(p for p in batch["phases"] if p["phaseType"] == "IN_PROGRESS")["contexts"][0]["message"]
    assert "reserved: Invalid environment variable name CODEBUILD_MINE" in message


def test_create_and_update_project_keep_build_batch_config(cb, unique):
    name = f"cfg-{unique}"
    made = batch_project(cb, name, spec("  build-list:\n    - identifier: a\n"))
    assert made["buildBatchConfig"] == BATCH
    changed = {
        **BATCH,
        "restrictions": {"computeTypesAllowed": ["BUILD_GENERAL1_SMALL"]},
        "combineArtifacts": False,
    }
    assert cb.update_project(name=name, buildBatchConfig=changed)["project"]["buildBatchConfig"] == changed
    assert cb.batch_get_projects(names=[name])["projects"][0]["buildBatchConfig"] == changed
    bad = {**BATCH, "restrictions": {"computeTypesAllowed": ["HUGE"]}}
    assert code_of(lambda: cb.update_project(name=name, buildBatchConfig=bad)) == "InvalidInputException"
    assert code_of(lambda: cb.update_project(name=name, buildBatchConfig={"timeoutInMins": 1})) == (
        "InvalidInputException"
    )
    # a build of the batch whose compute type the restrictions do not allow fails the batch
    batch = cb.start_build_batch(projectName=name, computeTypeOverride="BUILD_GENERAL1_LARGE")["buildBatch"]
    download = next(
        p for p in wait_batch(cb, batch["id"])["phases"] if p["phaseType"] == "DOWNLOAD_BATCHSPEC"
    )
    assert "computeTypesAllowed" in download["contexts"][0]["message"]


def test_a_codecommit_batch_runs_every_build_at_the_same_commit(endpoint, cb, unique):
    cc = endpoint.client("codecommit")
    repo = f"batch-repo-{unique}"
    clone_url = cc.create_repository(repositoryName=repo)["repositoryMetadata"]["cloneUrlHttp"]
    graph = "  build-graph:\n    - identifier: main\n    - identifier: own\n      buildspec: own.yml\n"
    commit = cc.put_file(
        repositoryName=repo, branchName="main", filePath="buildspec.yml", fileContent=spec(graph).encode()
    )["commitId"]
    own = "version: 0.2\nenv:\n  exported-variables: [WHO]\n" + PHASES.format(
        commands="      - export WHO=own\n"
    )
    commit = cc.put_file(
        repositoryName=repo,
        branchName="main",
        filePath="own.yml",
        fileContent=own.encode(),
        parentCommitId=commit,
    )["commitId"]
    name = f"cc-{unique}"
    create_project(
        cb,
        name,
        {"type": "CODECOMMIT", "location": clone_url},
        sourceVersion="refs/heads/main",
        buildBatchConfig=BATCH,
    )
    batch = wait_batch(cb, cb.start_build_batch(projectName=name)["buildBatch"]["id"])
    assert batch["buildBatchStatus"] == "SUCCEEDED" and batch["resolvedSourceVersion"] == commit
    builds = builds_of(cb, batch)
    assert {b["resolvedSourceVersion"] for b in builds.values()} == {commit}
    assert exported(builds["own"])["WHO"] == "own"


def cli_project(endpoint, cb, name: str, bucket: str, buildspec: str) -> None:
    """A project with the documented example's source settings (an S3 source here, a GitHub one there) and
    environment."""
    endpoint.client("s3").put_object(Bucket=bucket, Key="src.zip", Body=zip_of({"README": "batch"}))
    source = {
        "type": "S3",
        "location": f"{bucket}/src.zip",
        "buildspec": buildspec,
        "gitCloneDepth": 1,
        "gitSubmodulesConfig": {"fetchSubmodules": False},
        "reportBuildStatus": False,
        "insecureSsl": False,
    }
    environment = {
        "type": "LINUX_CONTAINER",
        "image": "aws/codebuild/amazonlinux2-x86_64-standard:3.0",
        "computeType": "BUILD_GENERAL1_SMALL",
        "environmentVariables": [],
        "privilegedMode": False,
        "imagePullCredentialsType": "CODEBUILD",
    }
    create_project(cb, name, source, environment=environment, buildBatchConfig=BATCH)


def shape_differences(endpoint, command: str, *args: str) -> list[str]:
    """How the CLI's answer differs in shape from the command's documented example (but resolvedSourceVersion,
    which a GitHub source's batch has, and an S3 source's has not)."""
    example = kit.parse("codebuild", kit.EXAMPLES / "codebuild" / f"{command}.rst")[0]
    answer = json.loads(endpoint.aws("codebuild", command, *args, "--output", "json").stdout)
    differences = kit.shape_differences(example.output, answer, kit.output_shape(example))
    return [difference for difference in differences if "resolvedSourceVersion" not in difference]


@pytest.mark.parametrize(
    "command",
    ["start-build-batch", "batch-get-build-batches", "list-build-batches", "list-build-batches-for-project"],
)
def test_cli_examples_shapes(endpoint, cb, bucket, unique, command):
    """The aws CLI's documented example output has the shape of the endpoint's answer."""
    name = f"cli-{unique}"
    cli_project(endpoint, cb, name, bucket, spec("  build-list:\n    - identifier: linux_small\n"))
    if command == "start-build-batch":
        args = ["--project-name", name]
    else:
        batch_id = endpoint.aws("codebuild", "start-build-batch", "--project-name", name).stdout
        batch_id = json.loads(batch_id)["buildBatch"]["id"]
        wait_batch(cb, batch_id)
        args = {
            "batch-get-build-batches": ["--ids", batch_id],
            "list-build-batches": [],
            "list-build-batches-for-project": ["--project-name", name],
        }[command]
    assert shape_differences(endpoint, command, *args) == []


def test_cli_stop_retry_and_delete_answer_the_documented_shapes(endpoint, cb, bucket, unique):
    name = f"cli-stop-{unique}"
    listed = "  build-list:\n    - identifier: quick\n    - identifier: linux_small\n"
    cli_project(
        endpoint,
        cb,
        name,
        bucket,
        spec(listed, '[ "$CODEBUILD_BATCH_BUILD_IDENTIFIER" = quick ] || sleep 60'),
    )
    started = json.loads(endpoint.aws("codebuild", "start-build-batch", "--project-name", name).stdout)
    batch_id = started["buildBatch"]["id"]

    def sleeping(batch: dict) -> bool:
        status = [group["currentBuildSummary"]["buildStatus"] for group in batch["buildGroups"]]
        return status == ["SUCCEEDED", "IN_PROGRESS"] or batch["complete"]

    wait_batch(cb, batch_id, sleeping)
    assert shape_differences(endpoint, "stop-build-batch", "--id", batch_id) == []
    assert shape_differences(endpoint, "retry-build-batch", "--id", batch_id) == []
    wait_batch(cb, batch_id, sleeping)
    endpoint.aws("codebuild", "stop-build-batch", "--id", batch_id)
    assert shape_differences(endpoint, "delete-build-batch", "--id", batch_id) == []
