"""git against CodeCommit on the local endpoint: real `git` clones, pushes and pulls; the API sees what
git pushed and git sees what the API wrote; repositories survive a restart; the store announces updates."""

import os
import subprocess
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import Endpoint
from werkzeug.serving import make_server

from labhelpers.local import config, process
from labhelpers.local.codecommit.gitserver import make_git_app
from labhelpers.local.codecommit.service import CodeCommitService
from labhelpers.local.codecommit.store import RepoStore
from labhelpers.local.dispatch import Dispatcher


def git(endpoint, *args, cwd=None, check=True):
    return endpoint.run(["git", *args], cwd=cwd, check=check)


def head(endpoint, work) -> str:
    return git(endpoint, "rev-parse", "HEAD", cwd=work).stdout.strip()


def clone_new_repository(endpoint, name, tmp_path):
    url = endpoint.client("codecommit").create_repository(repositoryName=name)["repositoryMetadata"][
        "cloneUrlHttp"
    ]
    work = tmp_path / name
    git(endpoint, "clone", url, str(work))
    return url, work


def commit_all(endpoint, work, message):
    git(endpoint, "add", "-A", cwd=work)
    git(endpoint, "commit", "-q", "-m", message, cwd=work)


def test_push_then_the_api_returns_what_was_pushed(endpoint, git_identity, tmp_path, unique):
    cc = endpoint.client("codecommit")
    name = f"pushed-{unique}"
    _, work = clone_new_repository(endpoint, name, tmp_path)
    (work / "README.md").write_text("hello\n")
    (work / "scripts").mkdir()
    (work / "scripts" / "start.sh").write_text("#!/bin/bash\necho start\n")
    (work / "scripts" / "start.sh").chmod(0o755)
    (work / "latest").symlink_to("README.md")
    commit_all(endpoint, work, "first commit")
    git(endpoint, "push", "origin", "main", cwd=work)
    first = head(endpoint, work)

    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == first
    assert cc.get_repository(repositoryName=name)["repositoryMetadata"]["defaultBranch"] == "main"
    assert cc.get_file(repositoryName=name, filePath="README.md")["fileContent"] == b"hello\n"
    assert cc.get_file(repositoryName=name, filePath="scripts/start.sh")["fileMode"] == "EXECUTABLE"
    link = cc.get_file(repositoryName=name, filePath="latest")
    assert (link["fileMode"], link["fileContent"]) == ("SYMLINK", b"README.md")
    root = cc.get_folder(repositoryName=name, folderPath="/")
    assert [s["absolutePath"] for s in root["symbolicLinks"]] == ["latest"]
    assert [s["absolutePath"] for s in root["subFolders"]] == ["scripts"]
    assert root["treeId"] == git(endpoint, "rev-parse", "HEAD^{tree}", cwd=work).stdout.strip()

    commit = cc.get_commit(repositoryName=name, commitId=first)["commit"]
    assert commit["message"] == "first commit\n"
    assert (commit["author"]["name"], commit["author"]["email"]) == ("Lab Tester", "tester@example.com")
    raw_date = git(endpoint, "log", "-1", "--format=%ad", "--date=raw", cwd=work).stdout.strip()
    assert commit["author"]["date"] == raw_date

    (work / "README.md").write_text("hello again\n")
    os.remove(work / "latest")
    commit_all(endpoint, work, "second")
    git(endpoint, "push", cwd=work)
    second = head(endpoint, work)
    assert cc.get_commit(repositoryName=name, commitId=second)["commit"]["parents"] == [first]
    differences = cc.get_differences(
        repositoryName=name, beforeCommitSpecifier=first, afterCommitSpecifier=second
    )
    assert [
        (d["changeType"], (d.get("afterBlob") or d["beforeBlob"])["path"]) for d in differences["differences"]
    ] == [
        ("M", "README.md"),
        ("D", "latest"),
    ]


def test_api_writes_reach_git_pull(endpoint, git_identity, tmp_path, unique):
    cc = endpoint.client("codecommit")
    name = f"pulled-{unique}"
    _, work = clone_new_repository(endpoint, name, tmp_path)
    first = cc.put_file(
        repositoryName=name,
        branchName="main",
        filePath="app/index.html",
        fileContent=b"<h1>v1</h1>",
        commitMessage="from the API",
        name="Api User",
        email="api@example.com",
    )
    second = cc.create_commit(
        repositoryName=name,
        branchName="main",
        parentCommitId=first["commitId"],
        putFiles=[{"filePath": "run.sh", "fileContent": b"echo run\n", "fileMode": "EXECUTABLE"}],
    )

    git(endpoint, "pull", "-q", "origin", "main", cwd=work)
    assert head(endpoint, work) == second["commitId"]
    assert (work / "app" / "index.html").read_text() == "<h1>v1</h1>"
    assert os.access(work / "run.sh", os.X_OK)
    log = git(endpoint, "log", "--format=%an <%ae> %s", cwd=work).stdout.splitlines()
    assert log[1] == "Api User <api@example.com> from the API"


def test_push_over_one_mebibyte_is_sent_chunked_and_lands(endpoint, git_identity, tmp_path, unique):
    name = f"big-{unique}"
    _, work = clone_new_repository(endpoint, name, tmp_path)
    (work / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    commit_all(endpoint, work, "big")
    traced = {**endpoint.env, "GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"}
    pushed = subprocess.run(
        ["git", "push", "origin", "main"], cwd=work, env=traced, capture_output=True, text=True, timeout=60
    )
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert "Transfer-Encoding: chunked" in pushed.stderr, (
        "git sent the pack in one piece: not the case under test"
    )
    cc = endpoint.client("codecommit")
    assert cc.get_branch(repositoryName=name, branchName="main")["branch"]["commitId"] == head(endpoint, work)
    assert cc.get_file(repositoryName=name, filePath="big.bin")["fileSize"] == 3 * 1024 * 1024


def test_push_to_an_unknown_repository_fails_naming_it(endpoint, git_identity, tmp_path, unique):
    work = tmp_path / "work"
    git(endpoint, "init", "-q", str(work))
    (work / "f.txt").write_text("x\n")
    commit_all(endpoint, work, "x")
    url = f"{endpoint.url}/v1/repos/nowhere-{unique}"
    failed = git(endpoint, "push", url, "main", cwd=work, check=False)
    assert failed.returncode != 0
    assert f"repository '{url}/' not found" in failed.stderr


def test_clone_url_with_git_suffix_and_first_branch_becomes_default(endpoint, git_identity, tmp_path, unique):
    cc = endpoint.client("codecommit")
    name = f"trunk-{unique}"
    url, work = clone_new_repository(endpoint, name, tmp_path)
    git(endpoint, "checkout", "-q", "-b", "trunk", cwd=work)
    (work / "f.txt").write_text("trunk\n")
    commit_all(endpoint, work, "on trunk")
    git(endpoint, "push", "-q", "origin", "trunk", cwd=work)
    git(endpoint, "push", "-q", "origin", "trunk:other", cwd=work)
    assert cc.get_repository(repositoryName=name)["repositoryMetadata"]["defaultBranch"] == "trunk"

    again = tmp_path / "again"
    git(endpoint, "clone", "-q", f"{url}.git", str(again))
    assert git(endpoint, "branch", "--show-current", cwd=again).stdout.strip() == "trunk"

    refused = git(endpoint, "push", "origin", "--delete", "trunk", cwd=work, check=False)
    assert refused.returncode != 0 and "default branch" in refused.stderr
    git(endpoint, "push", "-q", "origin", "--delete", "other", cwd=work)
    assert cc.list_branches(repositoryName=name)["branches"] == ["trunk"]


def test_repositories_and_commits_survive_a_restart(fresh_endpoint, git_identity, tmp_path):
    cc = fresh_endpoint.client("codecommit")
    _, work = clone_new_repository(fresh_endpoint, "kept", tmp_path)
    (work / "f.txt").write_text("kept\n")
    commit_all(fresh_endpoint, work, "kept")
    git(fresh_endpoint, "push", "-q", "origin", "main", cwd=work)
    before = cc.get_repository(repositoryName="kept")["repositoryMetadata"]

    process.stop(fresh_endpoint.layout)
    running = process.start(fresh_endpoint.layout)
    restarted = Endpoint(running.url, fresh_endpoint.layout, running.pid)

    cc = restarted.client("codecommit")
    after = cc.get_repository(repositoryName="kept")["repositoryMetadata"]
    assert {k: v for k, v in after.items() if not k.startswith("cloneUrl")} == {
        k: v for k, v in before.items() if not k.startswith("cloneUrl")
    }
    assert after["cloneUrlHttp"] == f"{restarted.url}/v1/repos/kept"
    assert cc.get_branch(repositoryName="kept", branchName="main")["branch"]["commitId"] == head(
        restarted, work
    )
    git(restarted, "clone", "-q", after["cloneUrlHttp"], str(tmp_path / "reclone"))
    assert (tmp_path / "reclone" / "f.txt").read_text() == "kept\n"


# -- the store in-process: subscribers see pushes and API writes --------------------------------------


@pytest.fixture
def local_store(tmp_path):
    """A temporary RepoStore served in-process by the endpoint's dispatcher (git and CodeCommit only)."""
    store = RepoStore(tmp_path / "repos", config.ACCOUNT, config.REGION)
    holder = {}
    service = CodeCommitService(store, clone_url=lambda name: f"{holder['url']}/v1/repos/{name}", page_size=2)
    server = make_server(
        "127.0.0.1", 0, Dispatcher(None, [service], git_app=make_git_app(store)), threaded=True
    )
    holder["url"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.client(
        "codecommit",
        endpoint_url=holder["url"],
        region_name=config.REGION,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        config=Config(retries={"max_attempts": 1}),
    )
    yield store, client
    server.shutdown()
    thread.join()


def run_git(*args, cwd=None):
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_subscribers_hear_pushes_and_api_writes(local_store, git_identity, tmp_path):
    store, cc = local_store
    heard = []
    unsubscribe = store.subscribe(lambda *update: heard.append(update))
    url = cc.create_repository(repositoryName="events")["repositoryMetadata"]["cloneUrlHttp"]
    work = tmp_path / "work"
    run_git("clone", "-q", url, str(work))
    (work / "f.txt").write_text("one\n")
    run_git("add", ".", cwd=work)
    run_git("commit", "-q", "-m", "one", cwd=work)
    run_git("push", "-q", "origin", "main", cwd=work)
    pushed = run_git("rev-parse", "HEAD", cwd=work)
    assert heard == [("events", "refs/heads/main", None, pushed)]
    assert store.get("events")["defaultBranch"] == "main"

    put = cc.put_file(
        repositoryName="events", branchName="main", filePath="g.txt", fileContent=b"g", parentCommitId=pushed
    )["commitId"]
    cc.create_branch(repositoryName="events", branchName="dev", commitId=put)
    cc.delete_branch(repositoryName="events", branchName="dev")
    run_git("push", "-q", "origin", "main:feature", cwd=work)
    assert heard[1:] == [
        ("events", "refs/heads/main", pushed, put),
        ("events", "refs/heads/dev", None, put),
        ("events", "refs/heads/dev", put, None),
        ("events", "refs/heads/feature", None, pushed),
    ]

    unsubscribe()
    cc.create_branch(repositoryName="events", branchName="quiet", commitId=put)
    assert len(heard) == 5


def test_a_failing_subscriber_does_not_break_writes(local_store):
    store, cc = local_store
    store.create("sturdy")

    def broken(*update):
        raise RuntimeError("listener bug")

    store.subscribe(broken)
    made = cc.put_file(repositoryName="sturdy", branchName="main", filePath="a.txt", fileContent=b"a")
    assert cc.get_branch(repositoryName="sturdy", branchName="main")["branch"]["commitId"] == made["commitId"]


def test_concurrent_writes_on_one_parent_let_exactly_one_win(local_store):
    store, cc = local_store
    store.create("race")
    parent = cc.put_file(repositoryName="race", branchName="main", filePath="a", fileContent=b"a")["commitId"]
    outcomes = []

    def write(index):
        try:
            cc.put_file(
                repositoryName="race",
                branchName="main",
                filePath=f"f{index}",
                fileContent=b"x",
                parentCommitId=parent,
            )
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])

    writers = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert sorted(outcomes) == ["ParentCommitIdOutdatedException"] * 7 + ["ok"]


def test_listings_page_with_next_tokens(local_store):
    store, cc = local_store
    for name in ("p-a", "p-b", "p-c"):
        store.create(name)
    first = cc.list_repositories()
    assert [r["repositoryName"] for r in first["repositories"]] == ["p-a", "p-b"] and first["nextToken"]
    pages = cc.get_paginator("list_repositories").paginate()
    assert [r["repositoryName"] for page in pages for r in page["repositories"]] == ["p-a", "p-b", "p-c"]

    commit = cc.put_file(repositoryName="p-a", branchName="main", filePath="a", fileContent=b"a")["commitId"]
    for branch in ("b1", "b2"):
        cc.create_branch(repositoryName="p-a", branchName=branch, commitId=commit)
    pages = cc.get_paginator("list_branches").paginate(repositoryName="p-a")
    assert [len(page["branches"]) for page in pages] == [2, 1]


def test_store_metadata_is_on_disk(tmp_path):
    store = RepoStore(tmp_path, "111122223333", "ap-southeast-1")
    created = store.create("disk", description="d")
    reopened = RepoStore(tmp_path, "111122223333", "ap-southeast-1")
    assert reopened.get("disk") == created
    assert (tmp_path / "disk.git" / "HEAD").is_file()
    assert [m["repositoryName"] for m in reopened.all()] == ["disk"]
    assert reopened.delete("disk")["repositoryId"] == created["repositoryId"]
    assert reopened.delete("disk") is None
    assert list(tmp_path.iterdir()) == []
