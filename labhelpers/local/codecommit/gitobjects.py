"""Reading git objects as CodeCommit names them: refs, branches, commits and their API form."""

import re
import time

from dulwich.objects import Commit, Tag, format_timezone

from ..awsjson import AwsError
from .store import BRANCH_PREFIX


def read_ref(repo, ref: str) -> bytes | None:
    try:
        return repo.refs[ref.encode()]
    except KeyError:
        return None


def branch_names(repo) -> list[str]:
    return [ref.decode() for ref in repo.refs.keys(base=BRANCH_PREFIX.encode())]


def branch_tip(repo, branch: str) -> bytes:
    tip = read_ref(repo, BRANCH_PREFIX + branch)
    if tip is None:
        raise AwsError("BranchDoesNotExistException", f"Branch {branch} does not exist.")
    return tip


def find_commit(repo, sha: bytes) -> Commit | None:
    """The commit `sha` names, through annotated tags; None if there is none."""
    try:
        found = repo.object_store[sha]
        while isinstance(found, Tag):
            found = repo.object_store[found.object[1]]
    except KeyError:
        return None
    return found if isinstance(found, Commit) else None


def new_commit(
    repo, tree_id: bytes, parents: list[bytes], identity: bytes, message: str, when=None
) -> Commit:
    """Write a commit (author and committer `identity`, at `when` epoch seconds UTC, else now)."""
    commit = Commit()
    commit.tree = tree_id
    commit.parents = parents
    commit.author = commit.committer = identity
    commit.author_time = commit.commit_time = int(time.time()) if when is None else when
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message.encode()
    repo.object_store.add_object(commit)
    return commit


def commit_info(commit: Commit) -> dict:
    return {
        "commitId": commit.id.decode(),
        "treeId": commit.tree.decode(),
        "parents": [parent.decode() for parent in commit.parents],
        "message": commit.message.decode("utf-8", "replace"),
        "author": _user(commit.author, commit.author_time, commit.author_timezone),
        "committer": _user(commit.committer, commit.commit_time, commit.commit_timezone),
        "additionalData": "",
    }


def _user(identity: bytes, seconds: int, offset: int) -> dict:
    """Name, email and date ("<epoch seconds> <+hhmm>") as CodeCommit reports a commit's people."""
    text = identity.decode("utf-8", "replace")
    found = re.fullmatch(r"(.*?)\s*<([^>]*)>\s*", text)
    name, email = found.groups() if found else (text, "")
    return {"name": name, "email": email, "date": f"{seconds} {format_timezone(offset).decode()}"}
