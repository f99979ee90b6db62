"""CodeCommit merges of branches and their conflicts on the real local endpoint, through boto3 and the aws
CLI's examples: fast-forward, squash and three-way merges into a branch, unreferenced merge commits, merge
options, and conflicts at file and line level with their strategies and resolutions."""

import base64
import json

import pytest
from test_codecommit import error_code
from test_codecommit_pulls import example_differences, put, tip

from labhelpers.local.codecommit.diff3 import merge_lines

README = b"line 1\nline 2\nline 3\nline 4\nline 5\n"


@pytest.fixture
def cc(endpoint):
    return endpoint.client("codecommit")


@pytest.fixture
def repo(cc, unique):
    """main holds readme.md (five lines) and docs/guide.md; the branches of the CLI's examples fork from it:
    bugfix-bug1233 (= main), bugfix-bug1234 and bugfix-1234 (one file more each), and
    feature-randomizationfeature (line 1 of readme.md changed), while main changed line 1 otherwise."""
    name = f"merge-{unique}"
    cc.create_repository(repositoryName=name)
    first = cc.create_commit(
        repositoryName=name,
        branchName="main",
        putFiles=[
            {"filePath": "readme.md", "fileContent": README},
            {"filePath": "docs/guide.md", "fileContent": b"guide\n"},
        ],
    )["commitId"]
    for branch in ("bugfix-bug1233", "bugfix-bug1234", "bugfix-1234", "feature-randomizationfeature"):
        cc.create_branch(repositoryName=name, branchName=branch, commitId=first)
    put(cc, name, "bugfix-bug1234", "fix1234.txt", b"fixed\n")
    put(cc, name, "bugfix-1234", "fix.txt", b"fixed too\n")
    put(cc, name, "feature-randomizationfeature", "readme.md", README.replace(b"line 1", b"feature's 1"))
    put(cc, name, "main", "readme.md", README.replace(b"line 1", b"main's 1"))
    return name


def specifiers(name: str, source: str, destination: str = "main") -> dict:
    return {
        "repositoryName": name,
        "sourceCommitSpecifier": source,
        "destinationCommitSpecifier": destination,
    }


def content(cc, name: str, path: str, where: str) -> bytes:
    return cc.get_file(repositoryName=name, filePath=path, commitSpecifier=where)["fileContent"]


# -- merging into a branch ---------------------------------------------------------------------------


def test_fast_forward_moves_the_destination_or_the_target_branch(cc, repo):
    source = tip(cc, repo, "bugfix-bug1234")
    merged = cc.merge_branches_by_fast_forward(**specifiers(repo, "bugfix-bug1234", "bugfix-bug1233"))
    assert merged["commitId"] == source == tip(cc, repo, "bugfix-bug1233")
    assert merged["treeId"] == cc.get_commit(repositoryName=repo, commitId=source)["commit"]["treeId"]

    older = cc.get_commit(repositoryName=repo, commitId=source)["commit"]["parents"][0]
    cc.create_branch(repositoryName=repo, branchName="release", commitId=older)
    into_release = {**specifiers(repo, "bugfix-bug1234", older), "targetBranch": "release"}
    assert cc.merge_branches_by_fast_forward(**into_release)["commitId"] == tip(cc, repo, "release") == source

    diverged = specifiers(repo, "feature-randomizationfeature")
    assert error_code(cc.merge_branches_by_fast_forward, **diverged) == "ManualMergeRequiredException"
    assert error_code(cc.merge_branches_by_fast_forward, **specifiers(repo, "bugfix-bug1234", older)) == (
        "InvalidTargetBranchException"
    )
    missing_target = {**specifiers(repo, "bugfix-bug1234", "main"), "targetBranch": "nope"}
    assert error_code(cc.merge_branches_by_fast_forward, **missing_target) == "BranchDoesNotExistException"
    assert error_code(cc.merge_branches_by_fast_forward, **specifiers(repo, "nope")) == (
        "CommitDoesNotExistException"
    )
    assert error_code(cc.merge_branches_by_fast_forward, **specifiers(repo, "")) == "CommitRequiredException"
    assert error_code(cc.merge_branches_by_fast_forward, **specifiers("no-such-repo", "main")) == (
        "RepositoryDoesNotExistException"
    )


def test_squash_and_three_way_merges_commit_onto_the_destination(cc, repo):
    before, source = tip(cc, repo, "main"), tip(cc, repo, "bugfix-bug1234")
    merged = cc.merge_branches_by_three_way(
        **specifiers(repo, "bugfix-bug1234"), authorName="Jorge Souza", email="jorge@example.com"
    )
    commit = cc.get_commit(repositoryName=repo, commitId=merged["commitId"])["commit"]
    assert tip(cc, repo, "main") == merged["commitId"]
    assert commit["parents"] == [before, source]
    assert (commit["author"]["name"], commit["author"]["email"]) == ("Jorge Souza", "jorge@example.com")
    assert content(cc, repo, "fix1234.txt", "main") == b"fixed\n"
    assert content(cc, repo, "readme.md", "main").startswith(b"main's 1")

    before = tip(cc, repo, "main")
    squashed = cc.merge_branches_by_squash(**specifiers(repo, "bugfix-1234"), commitMessage="squash it")
    commit = cc.get_commit(repositoryName=repo, commitId=squashed["commitId"])["commit"]
    assert (commit["parents"], commit["message"]) == ([before], "squash it")
    assert content(cc, repo, "fix.txt", "main") == b"fixed too\n"
    assert error_code(
        cc.merge_branches_by_squash, **specifiers(repo, "bugfix-1234"), commitMessage="x" * (100 * 1024 + 1)
    ) == ("CommitMessageLengthExceededException")
    assert error_code(cc.merge_branches_by_squash, **specifiers(repo, "bugfix-1234"), email="a b") == (
        "InvalidEmailException"
    )


def test_an_emptied_folder_is_kept_only_when_asked(cc, repo):
    base = tip(cc, repo, "bugfix-bug1233")
    for branch in ("emptier", "kept", "plain"):
        cc.create_branch(repositoryName=repo, branchName=branch, commitId=base)
    cc.delete_file(repositoryName=repo, branchName="emptier", filePath="docs/guide.md", parentCommitId=base)
    cc.merge_branches_by_squash(**specifiers(repo, "emptier", "kept"), keepEmptyFolders=True)
    assert content(cc, repo, "docs/.gitkeep", "kept") == b""
    cc.merge_branches_by_squash(**specifiers(repo, "emptier", "plain"))
    assert error_code(cc.get_folder, repositoryName=repo, folderPath="docs", commitSpecifier="plain") == (
        "FolderDoesNotExistException"
    )


def test_create_unreferenced_merge_commit_moves_no_branch(cc, repo):
    before = {branch: tip(cc, repo, branch) for branch in ("main", "bugfix-1234")}
    made = cc.create_unreferenced_merge_commit(
        **specifiers(repo, "bugfix-1234"), mergeOption="THREE_WAY_MERGE", authorName="Maria Garcia"
    )
    assert {branch: tip(cc, repo, branch) for branch in before} == before
    commit = cc.get_commit(repositoryName=repo, commitId=made["commitId"])["commit"]
    assert (commit["parents"], commit["treeId"]) == ([before["main"], before["bugfix-1234"]], made["treeId"])
    squash = cc.create_unreferenced_merge_commit(
        **specifiers(repo, "bugfix-1234"), mergeOption="SQUASH_MERGE"
    )
    assert cc.get_commit(repositoryName=repo, commitId=squash["commitId"])["commit"]["parents"] == [
        before["main"]
    ]
    assert error_code(
        cc.create_unreferenced_merge_commit,
        **specifiers(repo, "bugfix-1234"),
        mergeOption="FAST_FORWARD_MERGE",
    ) == ("InvalidMergeOptionException")
    assert error_code(
        cc.create_unreferenced_merge_commit, **specifiers(repo, "bugfix-1234"), mergeOption="OCTOPUS"
    ) == ("InvalidMergeOptionException")


def test_merge_options_and_the_merge_commit_say_what_a_merge_would_give(cc, repo):
    ahead = cc.get_merge_options(**specifiers(repo, "bugfix-bug1234", "bugfix-bug1233"))
    assert ahead["mergeOptions"] == ["FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE"]
    assert ahead["baseCommitId"] == ahead["destinationCommitId"] == tip(cc, repo, "bugfix-bug1233")
    assert cc.get_merge_options(**specifiers(repo, "bugfix-1234"))["mergeOptions"] == [
        "SQUASH_MERGE",
        "THREE_WAY_MERGE",
    ]
    conflicting = specifiers(repo, "feature-randomizationfeature")
    assert cc.get_merge_options(**conflicting)["mergeOptions"] == []
    assert cc.get_merge_options(**conflicting, conflictResolutionStrategy="ACCEPT_SOURCE")[
        "mergeOptions"
    ] == [
        "SQUASH_MERGE",
        "THREE_WAY_MERGE",
    ]
    assert error_code(cc.get_merge_options, **conflicting, conflictDetailLevel="WORD_LEVEL") == (
        "InvalidConflictDetailLevelException"
    )

    merge = cc.get_merge_commit(**specifiers(repo, "bugfix-1234"))
    assert cc.get_merge_commit(**specifiers(repo, "bugfix-1234")) == merge  # the same commit every time
    commit = cc.get_commit(repositoryName=repo, commitId=merge["mergedCommitId"])["commit"]
    assert commit["parents"] == [merge["destinationCommitId"], merge["sourceCommitId"]]
    assert "mergedCommitId" not in cc.get_merge_commit(**conflicting)
    accepted = cc.get_merge_commit(**conflicting, conflictResolutionStrategy="ACCEPT_DESTINATION")
    assert content(cc, repo, "readme.md", accepted["mergedCommitId"]).startswith(b"main's 1")


# -- conflicts ---------------------------------------------------------------------------------------


@pytest.fixture
def lines_repo(cc, repo):
    """Besides the examples' branches: `other-lines` changed line 5 of readme.md (main changed line 1)."""
    cc.create_branch(
        repositoryName=repo,
        branchName="other-lines",
        commitId=cc.get_merge_options(**specifiers(repo, "bugfix-1234"))["baseCommitId"],
    )
    put(cc, repo, "other-lines", "readme.md", README.replace(b"line 5", b"other 5"))
    return repo


def test_line_level_merges_changes_to_other_lines_and_automerge_settles_file_conflicts(cc, lines_repo):
    repo = lines_repo
    other = specifiers(repo, "other-lines")
    assert error_code(cc.merge_branches_by_three_way, **other) == "ManualMergeRequiredException"
    assert error_code(cc.merge_branches_by_three_way, **other, conflictResolutionStrategy="SOMETHING") == (
        "InvalidConflictResolutionStrategyException"
    )
    made = cc.create_unreferenced_merge_commit(
        **other, mergeOption="THREE_WAY_MERGE", conflictDetailLevel="LINE_LEVEL"
    )
    merged = README.replace(b"line 1", b"main's 1").replace(b"line 5", b"other 5")
    assert content(cc, repo, "readme.md", made["commitId"]) == merged
    cc.merge_branches_by_squash(**other, conflictResolutionStrategy="AUTOMERGE")
    assert content(cc, repo, "readme.md", "main") == merged

    same_line = specifiers(repo, "feature-randomizationfeature")
    for level in ("FILE_LEVEL", "LINE_LEVEL"):
        assert error_code(
            cc.merge_branches_by_three_way,
            **same_line,
            conflictDetailLevel=level,
            conflictResolutionStrategy="AUTOMERGE",
        ) == ("ManualMergeRequiredException")


def test_conflict_resolution_entries_settle_conflicts_file_by_file(cc, repo):
    put(cc, repo, "feature-randomizationfeature", "docs/guide.md", b"feature's guide\n")
    put(cc, repo, "main", "docs/guide.md", b"main's guide\n")
    conflicting = specifiers(repo, "feature-randomizationfeature")

    def merge(**resolution):
        return cc.create_unreferenced_merge_commit(
            **conflicting,
            mergeOption="THREE_WAY_MERGE",
            conflictResolutionStrategy="AUTOMERGE",
            conflictResolution=resolution,
        )["commitId"]

    new_readme = {"filePath": "readme.md", "replacementType": "USE_NEW_CONTENT", "content": b"both\n"}
    base_guide = {"filePath": "docs/guide.md", "replacementType": "KEEP_BASE", "fileMode": "EXECUTABLE"}
    commit = merge(replaceContents=[new_readme, base_guide])
    assert content(cc, repo, "readme.md", commit) == b"both\n"
    guide = cc.get_file(repositoryName=repo, filePath="docs/guide.md", commitSpecifier=commit)
    assert (guide["fileContent"], guide["fileMode"]) == (b"guide\n", "EXECUTABLE")

    commit = merge(
        replaceContents=[{"filePath": "readme.md", "replacementType": "KEEP_SOURCE"}],
        deleteFiles=[{"filePath": "docs/guide.md"}],
    )
    assert content(cc, repo, "readme.md", commit).startswith(b"feature's 1")
    assert error_code(cc.get_file, repositoryName=repo, filePath="docs/guide.md", commitSpecifier=commit) == (
        "FileDoesNotExistException"
    )

    assert error_code(merge, replaceContents=[new_readme]) == "ManualMergeRequiredException"  # guide left
    errors = {
        "MultipleConflictResolutionEntriesException": {
            "replaceContents": [new_readme],
            "deleteFiles": [{"filePath": "readme.md"}],
        },
        "InvalidConflictResolutionException": {"deleteFiles": [{"filePath": "fix.txt"}]},
        "ReplacementContentRequiredException": {
            "replaceContents": [{"filePath": "readme.md", "replacementType": "USE_NEW_CONTENT"}]
        },
        "InvalidReplacementContentException": {
            "replaceContents": [{"filePath": "readme.md", "replacementType": "KEEP_BASE", "content": b"x"}]
        },
        "InvalidReplacementTypeException": {
            "replaceContents": [{"filePath": "readme.md", "replacementType": "KEEP_ALL"}]
        },
        "InvalidFileModeException": {"setFileModes": [{"filePath": "readme.md", "fileMode": "WRITABLE"}]},
        "InvalidPathException": {"deleteFiles": [{"filePath": "../readme.md"}]},
        "MaximumConflictResolutionEntriesExceededException": {
            "deleteFiles": [{"filePath": f"f{n}.txt"} for n in range(101)]
        },
    }
    for code, resolution in errors.items():
        assert error_code(merge, **resolution) == code, code


def test_get_merge_conflicts_lists_conflicting_files_a_page_at_a_time(cc, repo):
    put(cc, repo, "feature-randomizationfeature", "docs/guide.md", b"feature's guide\n")
    put(cc, repo, "main", "docs/guide.md", b"main's guide\n")
    conflicting = {**specifiers(repo, "feature-randomizationfeature"), "mergeOption": "THREE_WAY_MERGE"}
    first = cc.get_merge_conflicts(**conflicting, maxConflictFiles=1)
    assert first["mergeable"] is False
    assert [c["filePath"] for c in first["conflictMetadataList"]] == ["docs/guide.md"]
    second = cc.get_merge_conflicts(**conflicting, maxConflictFiles=1, nextToken=first["nextToken"])
    [readme] = second["conflictMetadataList"]
    assert "nextToken" not in second
    assert readme == {
        "filePath": "readme.md",
        "fileSizes": {"source": len(README) + 5, "destination": len(README) + 2, "base": len(README)},
        "fileModes": {"source": "NORMAL", "destination": "NORMAL", "base": "NORMAL"},
        "objectTypes": {"source": "FILE", "destination": "FILE", "base": "FILE"},
        "numberOfConflicts": 1,
        "isBinaryFile": {"source": False, "destination": False, "base": False},
        "contentConflict": True,
        "fileModeConflict": False,
        "objectTypeConflict": False,
        "mergeOperations": {"source": "M", "destination": "M"},
    }
    assert (
        cc.get_merge_conflicts(**conflicting, conflictResolutionStrategy="ACCEPT_SOURCE")["mergeable"] is True
    )
    fast = cc.get_merge_conflicts(**{**conflicting, "mergeOption": "FAST_FORWARD_MERGE"})
    assert (fast["mergeable"], fast["conflictMetadataList"]) == (False, [])
    assert error_code(cc.get_merge_conflicts, **conflicting, maxConflictFiles=0) == (
        "InvalidMaxConflictFilesException"
    )
    assert error_code(cc.get_merge_conflicts, **conflicting, nextToken="bogus") == (
        "InvalidContinuationTokenException"
    )
    clean = cc.get_merge_conflicts(**specifiers(repo, "bugfix-1234"), mergeOption="SQUASH_MERGE")
    assert (clean["mergeable"], clean["conflictMetadataList"]) == (True, [])


def decoded(detail: dict) -> tuple[int, int, bytes]:
    return detail["startLine"], detail["endLine"], base64.b64decode(detail["hunkContent"])


def test_describe_merge_conflicts_shows_the_hunks_of_a_file(cc, lines_repo):
    repo = lines_repo
    put(
        cc,
        repo,
        "other-lines",
        "readme.md",
        README.replace(b"line 1", b"other 1").replace(b"line 5", b"other 5"),
    )
    asked = {**specifiers(repo, "other-lines"), "mergeOption": "THREE_WAY_MERGE", "filePath": "readme.md"}

    whole = cc.describe_merge_conflicts(**asked)
    [hunk] = whole["mergeHunks"]
    assert hunk["isConflict"] is True
    assert decoded(hunk["base"]) == (0, 5, README)
    assert decoded(hunk["destination"]) == (0, 5, README.replace(b"line 1", b"main's 1"))

    lines = cc.describe_merge_conflicts(**asked, conflictDetailLevel="LINE_LEVEL")
    assert lines["conflictMetadata"]["numberOfConflicts"] == 1
    first, last = lines["mergeHunks"]
    assert (first["isConflict"], decoded(first["source"]), decoded(first["destination"])) == (
        True,
        (0, 1, b"other 1\n"),
        (0, 1, b"main's 1\n"),
    )
    assert (last["isConflict"], decoded(last["source"]), decoded(last["destination"])) == (
        False,
        (4, 5, b"other 5\n"),
        (4, 5, b"line 5\n"),
    )
    paged = cc.describe_merge_conflicts(**asked, conflictDetailLevel="LINE_LEVEL", maxMergeHunks=1)
    assert paged["mergeHunks"] == [first]
    rest = cc.describe_merge_conflicts(
        **asked, conflictDetailLevel="LINE_LEVEL", maxMergeHunks=1, nextToken=paged["nextToken"]
    )
    assert rest["mergeHunks"] == [last]

    assert (
        error_code(cc.describe_merge_conflicts, **{**asked, "filePath": "nope.md"})
        == "FileDoesNotExistException"
    )
    assert error_code(cc.describe_merge_conflicts, **{**asked, "mergeOption": "FAST_FORWARD_MERGE"}) == (
        "InvalidMergeOptionException"
    )
    assert (
        error_code(cc.describe_merge_conflicts, **asked, maxMergeHunks=0) == "InvalidMaxMergeHunksException"
    )

    batch = cc.batch_describe_merge_conflicts(
        **{k: v for k, v in asked.items() if k != "filePath"},
        conflictDetailLevel="LINE_LEVEL",
        maxMergeHunks=1,
        filePaths=["readme.md", "nope.md"],
    )
    [described] = batch["conflicts"]
    assert described["conflictMetadata"] == lines["conflictMetadata"]
    assert described["mergeHunks"] == [first]
    assert batch["errors"] == [
        {
            "filePath": "nope.md",
            "exceptionName": "FileDoesNotExistException",
            "message": batch["errors"][0]["message"],
        }
    ]


def test_a_mode_changed_on_both_sides_and_a_file_where_a_folder_is_conflict(cc, repo):
    base = tip(cc, repo, "bugfix-bug1233")
    for branch, mode in (("exec-a", "EXECUTABLE"), ("exec-b", "SYMLINK")):
        cc.create_branch(repositoryName=repo, branchName=branch, commitId=base)
        cc.create_commit(
            repositoryName=repo,
            branchName=branch,
            parentCommitId=base,
            setFileModes=[{"filePath": "docs/guide.md", "fileMode": mode}],
        )
    modes = cc.batch_describe_merge_conflicts(
        **specifiers(repo, "exec-a", "exec-b"), mergeOption="SQUASH_MERGE"
    )
    [conflict] = modes["conflicts"]
    metadata = conflict["conflictMetadata"]
    assert (metadata["fileModeConflict"], metadata["objectTypeConflict"], metadata["contentConflict"]) == (
        True,
        True,
        False,
    )
    assert metadata["fileModes"] == {"source": "EXECUTABLE", "destination": "SYMLINK", "base": "NORMAL"}
    assert metadata["objectTypes"] == {"source": "FILE", "destination": "SYMBOLIC_LINK", "base": "FILE"}

    cc.create_branch(repositoryName=repo, branchName="docs-file", commitId=base)
    cc.delete_file(repositoryName=repo, branchName="docs-file", filePath="docs/guide.md", parentCommitId=base)
    put(cc, repo, "docs-file", "docs", b"a file now\n")
    put(cc, repo, "bugfix-bug1233", "docs/more.md", b"more\n")
    folder = specifiers(repo, "docs-file", "bugfix-bug1233")
    [conflict] = cc.get_merge_conflicts(**folder, mergeOption="THREE_WAY_MERGE")["conflictMetadataList"]
    assert conflict["filePath"] == "docs"
    assert conflict["objectTypes"] == {"source": "FILE", "destination": "DIRECTORY", "base": "DIRECTORY"}
    cc.merge_branches_by_three_way(**folder, conflictResolutionStrategy="ACCEPT_SOURCE")
    assert content(cc, repo, "docs", "bugfix-bug1233") == b"a file now\n"


def lines(text: str) -> list[bytes]:
    return [f"{word}\n".encode() for word in text.split()]


@pytest.mark.parametrize(
    ("base", "source", "destination", "merged", "conflicts"),
    [
        ("a b c", "a b c", "a b c", "a b c", 0),
        ("a b c", "a X c", "a b c Y", "a X c Y", 0),  # apart: both kept
        ("a b c", "a X c", "a X c", "a X c", 0),  # the same change on both sides
        ("a b c", "a c", "a b c d", "a c d", 0),  # a deletion and an addition elsewhere
        ("a c", "a X c", "a Y c", None, 1),  # two insertions at one place
        ("a b c", "a c", "a Y c", None, 1),  # deleted on one side, changed on the other
        ("", "a", "b", None, 1),  # added on both sides, differently
        ("a b c d e", "A b c d E", "a b C d e", "A b C d E", 0),
    ],
)
def test_the_line_merge_conflicts_only_where_both_sides_changed_the_same_lines(
    base, source, destination, merged, conflicts
):
    merge = merge_lines(lines(base), lines(source), lines(destination))
    assert merge.conflicts == conflicts
    assert merge.merged == (lines(merged) if merged is not None else None)


# -- the aws CLI's examples --------------------------------------------------------------------------

EXAMPLES = [
    "merge-branches-by-fast-forward",
    "merge-branches-by-squash",
    "merge-branches-by-three-way",
    "create-unreferenced-merge-commit",
    "get-merge-commit",
    "get-merge-options",
    "get-merge-conflicts",
    "describe-merge-conflicts",
    "batch-describe-merge-conflicts",
]


@pytest.mark.parametrize("command", EXAMPLES)
def test_merge_cli_examples_answer_the_documented_shape(endpoint, repo, command):
    assert example_differences(endpoint, command, repo) == []


def test_the_cli_reports_a_conflict_with_its_code(endpoint, repo):
    failed = endpoint.aws(
        "codecommit",
        "merge-branches-by-three-way",
        "--repository-name",
        repo,
        "--source-commit-specifier",
        "feature-randomizationfeature",
        "--destination-commit-specifier",
        "main",
        check=False,
    )
    assert failed.returncode != 0
    assert "ManualMergeRequiredException" in failed.stderr
    answer = endpoint.aws(
        "codecommit",
        "get-merge-options",
        "--repository-name",
        repo,
        "--source-commit-specifier",
        "feature-randomizationfeature",
        "--destination-commit-specifier",
        "main",
        "--conflict-resolution-strategy",
        "ACCEPT_DESTINATION",
    )
    assert json.loads(answer.stdout)["mergeOptions"] == ["SQUASH_MERGE", "THREE_WAY_MERGE"]
