"""CodeCommit's API on the real local endpoint, through boto3 and the aws CLI: repositories, branches,
commits, files, folders, differences, and CodeCommit's exception types."""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labhelpers.local import config


def error_code(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return caught.value.response["Error"]["Code"]


@pytest.fixture
def cc(endpoint):
    return endpoint.client("codecommit")


@pytest.fixture
def repo(cc, unique):
    """A repository whose main branch holds README.md, src/app.py (executable) and docs/guide.md."""
    name = f"repo-{unique}"
    cc.create_repository(repositoryName=name)
    first = cc.create_commit(
        repositoryName=name,
        branchName="main",
        commitMessage="first",
        authorName="Ada",
        email="ada@example.com",
        putFiles=[
            {"filePath": "README.md", "fileContent": b"# hello\n"},
            {"filePath": "src/app.py", "fileContent": b"print('hi')\n", "fileMode": "EXECUTABLE"},
            {"filePath": "docs/guide.md", "fileContent": b"guide\n"},
        ],
    )
    return name, first["commitId"]


def test_create_get_list_batch_and_delete_round_trip(cc, endpoint, unique):
    name = f"round-{unique}"
    created = cc.create_repository(
        repositoryName=name, repositoryDescription="demo app", tags={"team": "lab"}
    )
    metadata = created["repositoryMetadata"]
    assert metadata["repositoryName"] == name
    assert metadata["repositoryDescription"] == "demo app"
    assert metadata["Arn"] == f"arn:aws:codecommit:{config.REGION}:111122223333:{name}"
    assert metadata["accountId"] == "111122223333"
    assert metadata["cloneUrlHttp"] == f"{endpoint.url}/v1/repos/{name}"
    assert "defaultBranch" not in metadata
    assert metadata["creationDate"] == metadata["lastModifiedDate"]

    fetched = cc.get_repository(repositoryName=name)["repositoryMetadata"]
    assert fetched == metadata
    listed = cc.list_repositories()["repositories"]
    assert {"repositoryName": name, "repositoryId": metadata["repositoryId"]} in listed
    assert cc.list_tags_for_resource(resourceArn=metadata["Arn"])["tags"] == {"team": "lab"}

    batch = cc.batch_get_repositories(repositoryNames=[name, f"missing-{unique}"])
    assert [r["repositoryId"] for r in batch["repositories"]] == [metadata["repositoryId"]]
    assert batch["repositoriesNotFound"] == [f"missing-{unique}"]
    assert batch["errors"][0]["errorCode"] == "RepositoryDoesNotExistException"

    cc.update_repository_description(repositoryName=name, repositoryDescription="changed")
    assert cc.get_repository(repositoryName=name)["repositoryMetadata"]["repositoryDescription"] == "changed"

    assert cc.delete_repository(repositoryName=name)["repositoryId"] == metadata["repositoryId"]
    assert "repositoryId" not in cc.delete_repository(repositoryName=name)
    assert error_code(cc.get_repository, repositoryName=name) == "RepositoryDoesNotExistException"
    assert name not in [r["repositoryName"] for r in cc.list_repositories()["repositories"]]


def test_aws_cli_creates_reads_and_deletes(endpoint, unique):
    name = f"cli-{unique}"
    created = json.loads(endpoint.aws("codecommit", "create-repository", "--repository-name", name).stdout)
    assert created["repositoryMetadata"]["cloneUrlHttp"] == f"{endpoint.url}/v1/repos/{name}"
    got = json.loads(endpoint.aws("codecommit", "get-repository", "--repository-name", name).stdout)
    assert got["repositoryMetadata"]["repositoryId"] == created["repositoryMetadata"]["repositoryId"]
    names = endpoint.aws(
        "codecommit", "list-repositories", "--query", "repositories[].repositoryName", "--output", "text"
    ).stdout.split()
    assert name in names

    missing = endpoint.aws(
        "codecommit", "get-branch", "--repository-name", name, "--branch-name", "main", check=False
    )
    assert missing.returncode != 0
    assert "(BranchDoesNotExistException)" in missing.stderr

    deleted = json.loads(endpoint.aws("codecommit", "delete-repository", "--repository-name", name).stdout)
    assert deleted == {"repositoryId": created["repositoryMetadata"]["repositoryId"]}


def test_repository_names_follow_codecommit_rules(cc, unique):
    for bad in ("has space", "ends.git", "slash/inside", ".."):
        assert error_code(cc.create_repository, repositoryName=bad) == "InvalidRepositoryNameException", bad
    cc.create_repository(repositoryName=f"dup-{unique}")
    assert error_code(cc.create_repository, repositoryName=f"dup-{unique}") == "RepositoryNameExistsException"
    assert error_code(cc.create_repository, repositoryName=f"x-{unique}", tags={"aws:x": "y"}) == (
        "InvalidSystemTagUsageException"
    )


def test_list_repositories_sorts_by_date_and_order(cc, unique):
    names = [f"sort-{unique}-{letter}" for letter in "bca"]
    for name in names:
        cc.create_repository(repositoryName=name)
    newest_first = [
        r["repositoryName"]
        for r in cc.list_repositories(sortBy="lastModifiedDate", order="descending")["repositories"]
        if r["repositoryName"] in names
    ]
    assert newest_first == names[::-1]
    by_name = [
        r["repositoryName"]
        for r in cc.list_repositories(order="descending")["repositories"]
        if r["repositoryName"] in names
    ]
    assert by_name == sorted(names, reverse=True)
    assert error_code(cc.list_repositories, nextToken="not-a-token") == "InvalidContinuationTokenException"


def test_missing_required_parameters_are_codecommit_errors_not_500(endpoint):
    raw = boto3.client(
        "codecommit",
        endpoint_url=endpoint.url,
        region_name=config.REGION,
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    assert error_code(raw.get_repository) == "RepositoryNameRequiredException"
    assert error_code(raw.get_branch, repositoryName="any") == "BranchNameRequiredException"
    assert error_code(raw.get_commit, repositoryName="any") == "CommitIdRequiredException"
    assert error_code(raw.get_file, repositoryName="any") == "PathRequiredException"
    assert error_code(raw.get_differences, repositoryName="any") == "CommitRequiredException"
    assert error_code(raw.batch_get_repositories) == "RepositoryNamesRequiredException"


def test_read_files_folders_commits_and_blobs(cc, repo):
    name, commit_id = repo
    assert cc.get_repository(repositoryName=name)["repositoryMetadata"]["defaultBranch"] == "main"
    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == commit_id

    app = cc.get_file(repositoryName=name, filePath="/src/app.py")
    assert (app["fileContent"], app["fileMode"], app["fileSize"]) == (b"print('hi')\n", "EXECUTABLE", 12)
    assert (app["commitId"], app["filePath"]) == (commit_id, "src/app.py")
    assert cc.get_blob(repositoryName=name, blobId=app["blobId"])["content"] == b"print('hi')\n"
    for specifier in ("main", commit_id, "refs/heads/main", "HEAD"):
        got = cc.get_file(repositoryName=name, filePath="README.md", commitSpecifier=specifier)
        assert got["fileContent"] == b"# hello\n", specifier

    root = cc.get_folder(repositoryName=name, folderPath="/")
    assert root["commitId"] == commit_id
    assert root["treeId"] == cc.get_commit(repositoryName=name, commitId=commit_id)["commit"]["treeId"]
    assert [f["absolutePath"] for f in root["files"]] == ["README.md"]
    assert [(f["absolutePath"], f["relativePath"]) for f in root["subFolders"]] == [
        ("docs", "docs"),
        ("src", "src"),
    ]
    src = cc.get_folder(repositoryName=name, folderPath="src")
    assert src["folderPath"] == "src"
    assert [(f["absolutePath"], f["relativePath"], f["fileMode"]) for f in src["files"]] == [
        ("src/app.py", "app.py", "EXECUTABLE")
    ]
    assert src["treeId"] == root["subFolders"][1]["treeId"]

    commit = cc.get_commit(repositoryName=name, commitId=commit_id)["commit"]
    assert (commit["message"], commit["parents"], commit["additionalData"]) == ("first", [], "")
    assert (commit["author"]["name"], commit["author"]["email"]) == ("Ada", "ada@example.com")
    seconds, offset = commit["author"]["date"].split()
    assert seconds.isdigit() and offset == "+0000"
    assert commit["committer"] == commit["author"]


def test_put_file_needs_the_current_parent_and_new_content(cc, repo):
    name, first = repo
    put = cc.put_file(
        repositoryName=name,
        branchName="main",
        filePath="notes/todo.txt",
        fileContent=b"one\n",
        parentCommitId=first,
        commitMessage="add todo",
        name="Bob",
        email="bob@example.com",
    )
    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == put["commitId"]
    commit = cc.get_commit(repositoryName=name, commitId=put["commitId"])["commit"]
    assert (commit["parents"], commit["message"], commit["treeId"]) == ([first], "add todo", put["treeId"])
    todo = cc.get_file(repositoryName=name, filePath="notes/todo.txt")
    assert (todo["fileContent"], todo["blobId"], todo["fileMode"]) == (b"one\n", put["blobId"], "NORMAL")

    def put_file(**kwargs):
        return cc.put_file(repositoryName=name, branchName="main", **kwargs)

    assert error_code(put_file, filePath="a.txt", fileContent=b"x") == "ParentCommitIdRequiredException"
    assert error_code(put_file, filePath="a.txt", fileContent=b"x", parentCommitId=first) == (
        "ParentCommitIdOutdatedException"
    )
    assert error_code(put_file, filePath="a.txt", fileContent=b"x", parentCommitId="abc") == (
        "InvalidParentCommitIdException"
    )
    assert error_code(put_file, filePath="a.txt", fileContent=b"x", parentCommitId="0" * 40) == (
        "ParentCommitDoesNotExistException"
    )
    current = put["commitId"]
    assert error_code(put_file, filePath="notes/todo.txt", fileContent=b"one\n", parentCommitId=current) == (
        "SameFileContentException"
    )
    assert error_code(put_file, filePath="empty.txt", fileContent=b"", parentCommitId=current) == (
        "FileContentRequiredException"
    )
    assert error_code(
        put_file, filePath="README.md/inside.txt", fileContent=b"x", parentCommitId=current
    ) == ("DirectoryNameConflictsWithFileNameException")
    assert error_code(put_file, filePath="src", fileContent=b"x", parentCommitId=current) == (
        "FileNameConflictsWithDirectoryNameException"
    )
    assert error_code(put_file, filePath="../escape", fileContent=b"x", parentCommitId=current) == (
        "InvalidPathException"
    )
    assert (
        error_code(
            cc.put_file,
            repositoryName=name,
            branchName="nope",
            filePath="a.txt",
            fileContent=b"x",
            parentCommitId=current,
        )
        == "BranchDoesNotExistException"
    )
    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == current


def test_create_commit_adds_updates_moves_and_deletes(cc, repo):
    name, first = repo
    made = cc.create_commit(
        repositoryName=name,
        branchName="main",
        parentCommitId=first,
        putFiles=[
            {"filePath": "README.md", "fileContent": b"# changed\n"},
            {"filePath": "lib/app.py", "sourceFile": {"filePath": "src/app.py", "isMove": True}},
        ],
        deleteFiles=[{"filePath": "docs/guide.md"}],
        setFileModes=[],
    )
    assert [f["absolutePath"] for f in made["filesAdded"]] == ["lib/app.py"]
    assert [f["absolutePath"] for f in made["filesUpdated"]] == ["README.md"]
    assert sorted(f["absolutePath"] for f in made["filesDeleted"]) == ["docs/guide.md", "src/app.py"]
    root = cc.get_folder(repositoryName=name, folderPath="/", commitSpecifier=made["commitId"])
    assert [f["absolutePath"] for f in root["subFolders"]] == ["lib"], "emptied folders disappear"
    moved = cc.get_file(repositoryName=name, filePath="lib/app.py")
    assert (moved["fileContent"], moved["fileMode"]) == (b"print('hi')\n", "EXECUTABLE")

    modes = cc.create_commit(
        repositoryName=name,
        branchName="main",
        parentCommitId=made["commitId"],
        setFileModes=[{"filePath": "lib/app.py", "fileMode": "NORMAL"}],
        deleteFiles=[{"filePath": "README.md"}],
        keepEmptyFolders=True,
    )
    assert [f["fileMode"] for f in modes["filesUpdated"]] == ["NORMAL"]
    assert cc.get_file(repositoryName=name, filePath="lib/app.py")["fileMode"] == "NORMAL"

    def commit(**kwargs):
        return cc.create_commit(
            repositoryName=name, branchName="main", parentCommitId=modes["commitId"], **kwargs
        )

    assert error_code(commit) == "FileEntryRequiredException"
    assert error_code(commit, deleteFiles=[{"filePath": "gone.txt"}]) == "FileDoesNotExistException"
    assert error_code(commit, putFiles=[{"filePath": "lib/app.py", "fileContent": b"print('hi')\n"}]) == (
        "NoChangeException"
    )
    assert (
        error_code(
            commit,
            deleteFiles=[{"filePath": "lib/app.py"}],
            setFileModes=[{"filePath": "lib/app.py", "fileMode": "EXECUTABLE"}],
        )
        == "SamePathRequestException"
    )
    assert (
        error_code(
            commit,
            putFiles=[{"filePath": "a", "fileContent": b"1"}, {"filePath": "a/b", "fileContent": b"2"}],
        )
        == "PutFileEntryConflictException"
    )
    assert error_code(commit, putFiles=[{"filePath": "x.txt"}]) == "SourceFileOrContentRequiredException"


def test_keep_empty_folders_leaves_a_gitkeep(cc, repo):
    name, first = repo
    made = cc.create_commit(
        repositoryName=name,
        branchName="main",
        parentCommitId=first,
        deleteFiles=[{"filePath": "docs/guide.md"}],
        keepEmptyFolders=True,
    )
    assert [f["absolutePath"] for f in made["filesAdded"]] == ["docs/.gitkeep"]
    docs = cc.get_folder(repositoryName=name, folderPath="docs")
    assert [f["relativePath"] for f in docs["files"]] == [".gitkeep"]


def test_branches_create_list_delete_and_default(cc, repo):
    name, first = repo
    cc.create_branch(repositoryName=name, branchName="feature/x", commitId=first)
    assert cc.list_branches(repositoryName=name)["branches"] == ["feature/x", "main"]
    assert cc.get_branch(repositoryName=name, branchName="feature/x")["branch"]["commitId"] == first
    assert error_code(cc.create_branch, repositoryName=name, branchName="main", commitId=first) == (
        "BranchNameExistsException"
    )
    assert error_code(cc.create_branch, repositoryName=name, branchName="bad..name", commitId=first) == (
        "InvalidBranchNameException"
    )
    assert error_code(cc.delete_branch, repositoryName=name, branchName="main") == (
        "DefaultBranchCannotBeDeletedException"
    )
    assert error_code(cc.update_default_branch, repositoryName=name, defaultBranchName="nope") == (
        "BranchDoesNotExistException"
    )
    cc.update_default_branch(repositoryName=name, defaultBranchName="feature/x")
    assert cc.get_repository(repositoryName=name)["repositoryMetadata"]["defaultBranch"] == "feature/x"
    deleted = cc.delete_branch(repositoryName=name, branchName="main")
    assert deleted["deletedBranch"] == {"branchName": "main", "commitId": first}
    assert "deletedBranch" not in cc.delete_branch(repositoryName=name, branchName="main")
    assert cc.list_branches(repositoryName=name)["branches"] == ["feature/x"]


def test_bad_branches_commits_and_paths_give_codecommit_exceptions(cc, repo, unique):
    name, first = repo
    assert error_code(cc.get_branch, repositoryName=name, branchName="nope") == "BranchDoesNotExistException"
    assert error_code(cc.get_branch, repositoryName=f"no-{unique}", branchName="main") == (
        "RepositoryDoesNotExistException"
    )
    assert error_code(cc.get_commit, repositoryName=name, commitId="xyz") == "InvalidCommitIdException"
    assert (
        error_code(cc.get_commit, repositoryName=name, commitId="0" * 40) == "CommitIdDoesNotExistException"
    )
    assert error_code(cc.create_branch, repositoryName=name, branchName="b", commitId="nothex") == (
        "InvalidCommitIdException"
    )
    assert error_code(cc.create_branch, repositoryName=name, branchName="b", commitId="1" * 40) == (
        "CommitDoesNotExistException"
    )
    assert error_code(cc.get_file, repositoryName=name, filePath="README.md", commitSpecifier="nope") == (
        "CommitDoesNotExistException"
    )
    assert error_code(cc.get_file, repositoryName=name, filePath="missing.txt") == "FileDoesNotExistException"
    assert error_code(cc.get_file, repositoryName=name, filePath="src") == "FileDoesNotExistException"
    assert (
        error_code(cc.get_folder, repositoryName=name, folderPath="README.md")
        == "FolderDoesNotExistException"
    )
    assert error_code(cc.get_blob, repositoryName=name, blobId=first) == "InvalidBlobIdException"
    assert error_code(cc.get_blob, repositoryName=name, blobId="2" * 40) == "BlobIdDoesNotExistException"

    empty = f"empty-{unique}"
    cc.create_repository(repositoryName=empty)
    assert cc.list_branches(repositoryName=empty)["branches"] == []
    assert (
        error_code(cc.get_file, repositoryName=empty, filePath="README.md") == "CommitDoesNotExistException"
    )
    assert error_code(cc.get_folder, repositoryName=empty, folderPath="/") == "CommitDoesNotExistException"


def test_get_differences_between_commits_paths_and_pages(cc, repo):
    name, first = repo
    second = cc.create_commit(
        repositoryName=name,
        branchName="main",
        parentCommitId=first,
        putFiles=[
            {"filePath": "README.md", "fileContent": b"# v2\n"},
            {"filePath": "src/util.py", "fileContent": b"x = 1\n"},
        ],
        deleteFiles=[{"filePath": "docs/guide.md"}],
    )["commitId"]

    everything = cc.get_differences(repositoryName=name, afterCommitSpecifier=first)["differences"]
    assert [(d["changeType"], d["afterBlob"]["path"]) for d in everything] == [
        ("A", "README.md"),
        ("A", "docs/guide.md"),
        ("A", "src/app.py"),
    ]
    assert everything[2]["afterBlob"]["mode"] == "100755"

    changed = cc.get_differences(
        repositoryName=name, beforeCommitSpecifier=first, afterCommitSpecifier="main"
    )
    summary = [
        (d["changeType"], (d.get("beforeBlob") or d["afterBlob"])["path"]) for d in changed["differences"]
    ]
    assert summary == [("M", "README.md"), ("D", "docs/guide.md"), ("A", "src/util.py")]
    modified = changed["differences"][0]
    readme_then = cc.get_file(repositoryName=name, filePath="README.md", commitSpecifier=first)["blobId"]
    readme_now = cc.get_file(repositoryName=name, filePath="README.md")["blobId"]
    assert (modified["beforeBlob"]["blobId"], modified["afterBlob"]["blobId"]) == (readme_then, readme_now)

    in_src = cc.get_differences(
        repositoryName=name, beforeCommitSpecifier=first, afterCommitSpecifier=second, afterPath="src"
    )["differences"]
    assert [d["afterBlob"]["path"] for d in in_src] == ["src/util.py"]
    assert (
        error_code(
            cc.get_differences,
            repositoryName=name,
            beforeCommitSpecifier=first,
            afterCommitSpecifier=second,
            afterPath="nowhere",
        )
        == "PathDoesNotExistException"
    )
    assert error_code(cc.get_differences, repositoryName=name, afterCommitSpecifier="nope") == (
        "CommitDoesNotExistException"
    )

    first_page = cc.get_differences(
        repositoryName=name, beforeCommitSpecifier=first, afterCommitSpecifier=second, MaxResults=2
    )
    assert len(first_page["differences"]) == 2 and "NextToken" in first_page
    pages = cc.get_paginator("get_differences").paginate(
        repositoryName=name,
        beforeCommitSpecifier=first,
        afterCommitSpecifier=second,
        PaginationConfig={"PageSize": 1},
    )
    paged = [d for page in pages for d in page["differences"]]
    assert paged == changed["differences"]
    assert error_code(cc.get_differences, repositoryName=name, afterCommitSpecifier=second, MaxResults=0) == (
        "InvalidMaxResultsException"
    )


def cli_json(endpoint, *args: str) -> dict:
    return json.loads(endpoint.aws("codecommit", *args).stdout)


def test_batch_get_commits_answers_commits_and_errors(cc, endpoint, repo):
    name, first = repo
    missing, invalid = "0" * 40, "abc"
    got = cc.batch_get_commits(repositoryName=name, commitIds=[first, missing, invalid])
    assert [c["commitId"] for c in got["commits"]] == [first]
    assert got["commits"][0] == cc.get_commit(repositoryName=name, commitId=first)["commit"]
    assert [(e["commitId"], e["errorCode"]) for e in got["errors"]] == [
        (missing, "CommitIdDoesNotExistException"),
        (invalid, "InvalidCommitIdException"),
    ]
    assert error_code(cc.batch_get_commits, repositoryName=name, commitIds=[]) == (
        "CommitIdsListRequiredException"
    )
    too_many = [first] * 101
    assert error_code(cc.batch_get_commits, repositoryName=name, commitIds=too_many) == (
        "CommitIdsLimitExceededException"
    )
    # The CLI example's command: the documented shape.
    shown = cli_json(endpoint, "batch-get-commits", "--repository-name", name, "--commit-ids", first)
    assert set(shown["commits"][0]) == {
        "additionalData",
        "committer",
        "author",
        "commitId",
        "treeId",
        "parents",
        "message",
    }
    assert set(shown["commits"][0]["author"]) == {"date", "name", "email"}


def test_delete_file_commits_without_it(cc, endpoint, repo):
    name, first = repo
    assert (
        error_code(
            cc.delete_file,
            repositoryName=name,
            branchName="main",
            filePath="docs/guide.md",
            parentCommitId="0" * 40,
        )
        == "ParentCommitDoesNotExistException"
    )
    deleted = cc.delete_file(
        repositoryName=name, branchName="main", filePath="docs/guide.md", parentCommitId=first
    )
    assert deleted["filePath"] == "docs/guide.md"
    assert (
        deleted["blobId"]
        == cc.get_file(repositoryName=name, filePath="docs/guide.md", commitSpecifier=first)["blobId"]
    )
    commit = cc.get_commit(repositoryName=name, commitId=deleted["commitId"])["commit"]
    assert commit["parents"] == [first] and commit["treeId"] == deleted["treeId"]
    root = cc.get_folder(repositoryName=name, folderPath="/")
    assert [f["relativePath"] for f in root["subFolders"]] == ["src"]  # the emptied folder is gone
    assert (
        error_code(
            cc.delete_file, repositoryName=name, branchName="main", filePath="README.md", parentCommitId=first
        )
        == "ParentCommitIdOutdatedException"
    )
    assert (
        error_code(
            cc.delete_file,
            repositoryName=name,
            branchName="main",
            filePath="gone.md",
            parentCommitId=deleted["commitId"],
        )
        == "FileDoesNotExistException"
    )

    kept = cc.delete_file(
        repositoryName=name,
        branchName="main",
        filePath="src/app.py",
        parentCommitId=deleted["commitId"],
        keepEmptyFolders=True,
    )
    src = cc.get_folder(repositoryName=name, folderPath="src")
    assert [f["relativePath"] for f in src["files"]] == [".gitkeep"]
    # The CLI example's command: the documented shape.
    shown = cli_json(
        endpoint,
        "delete-file",
        "--repository-name",
        name,
        "--branch-name",
        "main",
        "--file-path",
        "README.md",
        "--parent-commit-id",
        kept["commitId"],
    )
    assert set(shown) == {"blobId", "commitId", "filePath", "treeId"}


def test_list_file_commit_history_pages_the_versions(cc, repo):
    name, first = repo
    tips = [first]
    for n in range(3):
        made = cc.put_file(
            repositoryName=name,
            branchName="main",
            filePath="README.md",
            fileContent=f"v{n}\n".encode(),
            parentCommitId=tips[-1],
        )
        tips.append(made["commitId"])
    other = cc.put_file(
        repositoryName=name,
        branchName="main",
        filePath="other.txt",
        fileContent=b"x",
        parentCommitId=tips[-1],
    )
    history = cc.list_file_commit_history(repositoryName=name, filePath="README.md")["revisionDag"]
    assert [v["commit"]["commitId"] for v in history] == tips[::-1]
    assert history[0]["revisionChildren"] == [] and history[1]["revisionChildren"] == [tips[-1]]
    assert history[-1]["path"] == "README.md" and len(history[-1]["blobId"]) == 40
    page = cc.list_file_commit_history(repositoryName=name, filePath="README.md", maxResults=3)
    rest = cc.list_file_commit_history(
        repositoryName=name, filePath="README.md", maxResults=3, nextToken=page["nextToken"]
    )
    assert page["revisionDag"] + rest["revisionDag"] == history and "nextToken" not in rest
    older = cc.list_file_commit_history(repositoryName=name, filePath="README.md", commitSpecifier=tips[1])
    assert [v["commit"]["commitId"] for v in older["revisionDag"]] == [tips[1], first]
    assert (
        cc.list_file_commit_history(
            repositoryName=name, filePath="other.txt", commitSpecifier=other["commitId"]
        )["revisionDag"][0]["commit"]["commitId"]
        == other["commitId"]
    )
    assert (
        error_code(cc.list_file_commit_history, repositoryName=name, filePath="README.md", maxResults=0)
        == "InvalidMaxResultsException"
    )
    assert (
        error_code(
            cc.list_file_commit_history, repositoryName=name, filePath="README.md", commitSpecifier="nope"
        )
        == "CommitDoesNotExistException"
    )


def test_update_repository_name_moves_the_clone_url(cc, endpoint, repo, unique):
    name, first = repo
    renamed = f"renamed-{unique}"
    cc.create_repository(repositoryName=f"taken-{unique}")
    assert error_code(cc.update_repository_name, oldName=name, newName=f"taken-{unique}") == (
        "RepositoryNameExistsException"
    )
    assert error_code(cc.update_repository_name, oldName=f"none-{unique}", newName=renamed) == (
        "RepositoryDoesNotExistException"
    )
    assert error_code(cc.update_repository_name, oldName=name, newName="bad name") == (
        "InvalidRepositoryNameException"
    )
    before = cc.get_repository(repositoryName=name)["repositoryMetadata"]
    # The CLI example's command: no output.
    assert (
        endpoint.aws("codecommit", "update-repository-name", "--old-name", name, "--new-name", renamed).stdout
        == ""
    )
    after = cc.get_repository(repositoryName=renamed)["repositoryMetadata"]
    assert after["repositoryId"] == before["repositoryId"]
    assert after["cloneUrlHttp"] == f"{endpoint.url}/v1/repos/{renamed}"
    assert after["Arn"].endswith(f":{renamed}")
    assert cc.get_branch(repositoryName=renamed, branchName="main")["branch"]["commitId"] == first
    assert error_code(cc.get_repository, repositoryName=name) == "RepositoryDoesNotExistException"


def test_get_folder_lists_the_root_for_empty_and_slash(cc, endpoint, repo):
    name, _ = repo
    slash = cc.get_folder(repositoryName=name, folderPath="/")
    assert cc.get_folder(repositoryName=name, folderPath="") == slash
    # The CLI example's command: the documented shape.
    shown = cli_json(endpoint, "get-folder", "--repository-name", name, "--folder-path", "")
    assert shown["folderPath"] == ""
    assert set(shown) == {
        "commitId",
        "files",
        "folderPath",
        "subFolders",
        "subModules",
        "symbolicLinks",
        "treeId",
    }
    assert set(shown["files"][0]) == {"absolutePath", "blobId", "fileMode", "relativePath"}


def test_repository_triggers_are_checked_kept_and_tested(cc, endpoint, repo):
    name, _ = repo
    topic = f"arn:aws:sns:{config.REGION}:111122223333:topic"
    trigger = {"name": "notify", "destinationArn": topic, "branches": ["main"], "events": ["all"]}
    assert cc.get_repository_triggers(repositoryName=name)["triggers"] == []
    put = cc.put_repository_triggers(repositoryName=name, triggers=[trigger])
    got = cc.get_repository_triggers(repositoryName=name)
    assert got["configurationId"] == put["configurationId"]
    assert got["triggers"] == [{**trigger, "customData": ""}]
    assert "triggers" not in cc.get_repository(repositoryName=name)["repositoryMetadata"]
    bad = {
        "InvalidRepositoryTriggerEventsException": {"events": ["all", "createReference"]},
        "InvalidRepositoryTriggerDestinationArnException": {"destinationArn": "arn:aws:s3:::bucket"},
        "InvalidRepositoryTriggerRegionException": {
            "destinationArn": topic.replace(config.REGION, "xx-west-9")
        },
        "InvalidRepositoryTriggerBranchNameException": {"branches": ["bad..name"]},
        "MaximumBranchesExceededException": {"branches": [f"b{n}" for n in range(11)]},
        "InvalidRepositoryTriggerCustomDataException": {"customData": "x" * 1001},
    }
    for code, change in bad.items():
        assert (
            error_code(cc.put_repository_triggers, repositoryName=name, triggers=[{**trigger, **change}])
            == code
        )
    too_many = [{**trigger, "name": f"t{n}"} for n in range(11)]
    assert error_code(cc.put_repository_triggers, repositoryName=name, triggers=too_many) == (
        "MaximumRepositoryTriggersExceededException"
    )
    # Kept, never delivered locally: the test reports that honestly, in AWS's shape.
    tested = cc.test_repository_triggers(repositoryName=name, triggers=[trigger])
    assert tested["successfulExecutions"] == []
    assert tested["failedExecutions"][0]["trigger"] == "notify"
    assert "does not deliver" in tested["failedExecutions"][0]["failureMessage"]
    # The CLI examples' commands: the documented shapes.
    shown = cli_json(
        endpoint,
        "test-repository-triggers",
        "--repository-name",
        name,
        "--triggers",
        f"name=MyFirstTrigger,destinationArn={topic},branches=main,events=all",
    )
    assert set(shown) == {"successfulExecutions", "failedExecutions"}
    shown = cli_json(endpoint, "get-repository-triggers", "--repository-name", name)
    assert set(shown) == {"configurationId", "triggers"}
    assert set(shown["triggers"][0]) == {"destinationArn", "branches", "name", "customData", "events"}
    cc.put_repository_triggers(repositoryName=name, triggers=[])
    assert cc.get_repository_triggers(repositoryName=name)["triggers"] == []
