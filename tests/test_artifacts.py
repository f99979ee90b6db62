"""artifacts: the zip files a real Source → CodeBuild pipeline leaves in S3 on the local endpoint, located,
downloaded, listed and diffed in memory; hostile zips refused."""

import hashlib
import io
import json
import uuid
import zipfile

import pandas as pd
import pytest
from botocore.exceptions import ClientError
from pipeline_kit import Kit
from test_history import assert_schema, make_lab

from labhelpers import artifacts
from labhelpers.errors import LabError
from labhelpers.local import config

BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - echo "built from $(cat README.md)" > built.txt
      - printf 'a\\000b' > data.bin
      - sed -i 's/hello/HELLO/' README.md
artifacts:
  files:
    - README.md
    - built.txt
    - data.bin
    - keep.txt
"""
SOURCE_FILES = {"README.md": "hello\n", "notes.txt": "n\n", "keep.txt": "same\n"}
CODEBUILD_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def build_stage(project: str) -> dict:
    return {
        "name": "Build",
        "actions": [
            {
                "name": "Build",
                "actionTypeId": {
                    "category": "Build",
                    "owner": "AWS",
                    "provider": "CodeBuild",
                    "version": "1",
                },
                "configuration": {"ProjectName": project},
                "inputArtifacts": [{"name": "SourceOutput"}],
                "outputArtifacts": [{"name": "BuildOutput"}],
            }
        ],
    }


@pytest.fixture(scope="module")
def lab(endpoint):
    return make_lab(endpoint)


@pytest.fixture(scope="module")
def built(endpoint):
    """Two runs of Source → Build; between them README.md changed on main."""
    kit = Kit(endpoint, uuid.uuid4().hex[:8])
    commit = kit.setup(SOURCE_FILES)
    project, role = f"build-{kit.unique}", f"build-role-{kit.unique}"
    endpoint.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=CODEBUILD_TRUST)
    endpoint.client("codebuild").create_project(
        name=project,
        source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{config.ACCOUNT}:role/{role}",
    )
    first = kit.create(build_stage(project))
    assert kit.wait_status(first, "Succeeded", "Failed") == "Succeeded"
    endpoint.client("codecommit").create_commit(
        repositoryName=kit.repository,
        branchName="main",
        parentCommitId=commit,
        putFiles=[{"filePath": "README.md", "fileContent": b"hello again\n"}],
        commitMessage="second",
    )
    second = kit.start()
    assert kit.wait_status(second, "Succeeded", "Failed") == "Succeeded"
    return kit, first, second


def zip_of(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, 0o100644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def test_of_execution_locates_each_artifact_and_who_made_it(lab, built):
    kit, first, _ = built
    found = artifacts.of_execution(lab, first, kit.pipeline)

    assert_schema(found, artifacts.ARTIFACT_COLUMNS)
    assert found[["artifact", "stage", "action"]].values.tolist() == [
        ["SourceOutput", "Source", "Source"],
        ["BuildOutput", "Build", "Build"],
    ]
    assert set(found["execution_id"]) == {first} and set(found["bucket"]) == {kit.bucket}
    s3 = lab.client("s3")
    for row in found.itertuples():
        assert row.size == s3.head_object(Bucket=row.bucket, Key=row.key)["ContentLength"] > 0


def test_download_takes_a_row_a_location_or_a_uri(lab, built):
    kit, first, _ = built
    row = artifacts.of_execution(lab, first, kit.pipeline).iloc[0]
    data = artifacts.download(lab, row)
    assert zipfile.is_zipfile(io.BytesIO(data))
    assert artifacts.download(lab, {"bucket": row["bucket"], "key": row["key"]}) == data
    assert artifacts.download(lab, f"s3://{row['bucket']}/{row['key']}") == data
    with pytest.raises(LabError, match="s3://bucket/key"):
        artifacts.download(lab, "SourceOutput")
    with pytest.raises(ClientError) as missing:
        artifacts.download(lab, {"bucket": kit.bucket, "key": "no/such/key"})
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"


def test_files_lists_paths_sizes_modes_and_hashes(lab, built):
    kit, first, _ = built
    source = artifacts.of_execution(lab, first, kit.pipeline).set_index("artifact").loc["SourceOutput"]
    listed = artifacts.files(lab, source)

    assert_schema(listed, artifacts.FILE_COLUMNS)
    assert listed["path"].tolist() == sorted(SOURCE_FILES)
    by_path = listed.set_index("path")
    for path, text in SOURCE_FILES.items():
        assert by_path.loc[path, "size"] == len(text)
        assert by_path.loc[path, "sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert by_path.loc[path, "mode"] == "-rw-r--r--"


def test_diff_of_source_and_build_output_of_one_run(lab, built):
    kit, first, _ = built
    found = artifacts.of_execution(lab, first, kit.pipeline).set_index("artifact")
    changes = artifacts.diff(lab, found.loc["SourceOutput"], found.loc["BuildOutput"])

    assert_schema(changes.frame, artifacts.DIFF_COLUMNS)
    assert changes.frame[["path", "change"]].values.tolist() == [
        ["README.md", "changed"],
        ["built.txt", "added"],
        ["data.bin", "added"],
        ["keep.txt", "same"],
        ["notes.txt", "removed"],
    ]
    sizes = changes.frame.set_index("path")
    assert (sizes.loc["README.md", "size_a"], sizes.loc["README.md", "size_b"]) == (6, 6)
    assert pd.isna(sizes.loc["built.txt", "size_a"]) and sizes.loc["data.bin", "size_b"] == 3
    assert changes.counts() == {"added": 2, "removed": 1, "changed": 1, "same": 1}

    label_a, label_b = f"SourceOutput@{first[:8]}", f"BuildOutput@{first[:8]}"
    assert changes.unified("README.md") == (
        f"--- {label_a}/README.md\n+++ {label_b}/README.md\n@@ -1 +1 @@\n-hello\n+HELLO\n"
    )
    assert changes.unified("data.bin") == f"Binary files /dev/null and {label_b}/data.bin differ\n"
    assert changes.unified("notes.txt").endswith("+++ /dev/null\n@@ -1 +0,0 @@\n-n\n")
    assert changes.unified("keep.txt") == ""
    with pytest.raises(LabError, match="neither"):
        changes.unified("missing.txt")

    assert repr(changes).splitlines()[0] == (
        f"ArtifactDiff {label_a} → {label_b}: 2 added, 1 removed, 1 changed, 1 same"
    )
    assert "removed  notes.txt" in repr(changes) and "keep.txt" not in repr(changes)
    assert "<table" in changes._repr_html_() and "notes.txt" in changes._repr_html_()


def test_diff_of_build_output_of_two_runs(lab, built):
    kit, first, second = built
    outputs = [
        artifacts.of_execution(lab, run, kit.pipeline).set_index("artifact").loc["BuildOutput"]
        for run in (first, second)
    ]
    changes = artifacts.diff(lab, *outputs)
    assert changes.frame.set_index("path")["change"].to_dict() == {
        "README.md": "changed",
        "built.txt": "changed",
        "data.bin": "same",
        "keep.txt": "same",
    }
    assert "-built from hello\n+built from hello again\n" in changes.unified("built.txt")


def test_an_artifact_gone_from_the_store_has_no_size(lab, built):
    kit, _, _ = built
    run = kit.start()
    assert kit.wait_status(run, "Succeeded", "Failed") == "Succeeded"
    output = artifacts.of_execution(lab, run, kit.pipeline).set_index("artifact").loc["BuildOutput"]
    lab.client("s3").delete_object(Bucket=output["bucket"], Key=output["key"])
    sizes = artifacts.of_execution(lab, run, kit.pipeline).set_index("artifact")["size"]
    assert pd.isna(sizes["BuildOutput"]) and sizes["SourceOutput"] > 0


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "a/../../b.txt", "..\\evil.txt", "C:/x.txt"])
def test_entries_escaping_their_folder_are_refused(name):
    with pytest.raises(LabError, match="escapes its folder"):
        artifacts.files(None, zip_of({"ok.txt": b"ok", name: b"boom"}))


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(LabError, match="not a zip file"):
        artifacts.files(None, b"just text")


def test_a_mode_change_is_a_change():
    before = zip_of({"run.sh": b"echo\n", "dir/x": b"x"})
    after = zip_of({"run.sh": b"echo\n", "dir/x": b"x"}, modes={"run.sh": 0o100755})
    changes = artifacts.diff(None, before, after)
    assert changes.frame.set_index("path")["change"].to_dict() == {"dir/x": "same", "run.sh": "changed"}
    assert changes.unified("run.sh") == "old mode -rw-r--r--\nnew mode -rwxr-xr-x\n"
    assert (changes.a_label, changes.b_label) == ("a", "b")
