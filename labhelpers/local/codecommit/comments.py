"""Comments on the change between two commits, of a pull request or of two compared commits:
PostCommentForPullRequest, GetCommentsForPullRequest, PostCommentForComparedCommit and
GetCommentsForComparedCommit, kept in the CommentStore. A comment is on the change, or on a file at a position
if `location` says so; the listings group comments (replies too) by those commits and location, oldest first.
A clientRequestToken makes a post idempotent: the same post again answers the first comment."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ..awsjson import AwsError, now
from ..paging import with_token
from .gitobjects import find_commit
from .params import file_path, object_id, offset_page, optional_string, required
from .pulls import max_results
from .store import check_name
from .tree import tree_entry

MAX_CONTENT = 10240
COMMENTS_PAGE = 100
MAX_COMMENTS_PAGE = 500


def comment_content(params) -> str:
    content = required(params, "content", "CommentContentRequiredException")
    if len(content) > MAX_CONTENT:
        raise AwsError(
            "CommentContentSizeLimitExceededException", f"content: at most {MAX_CONTENT} characters."
        )
    return content


class CommitComments:
    """Operations of CodeCommitService (a mixin over PullRequests and CommentReactions)."""

    def post_comment_for_pull_request(self, params):
        content = comment_content(params)
        token = optional_string(params, "clientRequestToken")
        with self._commented(params) as (name, record), self.store.open(name) as repo:
            where = {"pullRequestId": record["pullRequest"]["pullRequestId"], **_where(repo, name, params)}
            kept = self.new_comment(name, where, content, token)
        return self._posted(name, kept)

    def get_comments_for_pull_request(self, params):
        limit = max_results(params, COMMENTS_PAGE, most=MAX_COMMENTS_PAGE)
        with self._commented(params, repository_required=False) as (name, record):
            pull_id = record["pullRequest"]["pullRequestId"]
        wanted = {
            key: _commit_id(params, key) for key in ("beforeCommitId", "afterCommitId") if params.get(key)
        }
        found = [
            kept
            for kept in self.comments.all(name)
            if kept["where"].get("pullRequestId") == pull_id
            and all(kept["where"].get(key) == value for key, value in wanted.items())
        ]
        page, token = offset_page(self._grouped(name, found), params.get("nextToken"), limit)
        return with_token({"commentsForPullRequestData": page}, token)

    def post_comment_for_compared_commit(self, params):
        name = check_name(params.get("repositoryName"))
        content = comment_content(params)
        token = optional_string(params, "clientRequestToken")
        with self.store.lock(name), self.store.open(name) as repo:
            kept = self.new_comment(name, _where(repo, name, params, before_required=False), content, token)
        return self._posted(name, kept)

    def get_comments_for_compared_commit(self, params):
        name = check_name(params.get("repositoryName"))
        limit = max_results(params, COMMENTS_PAGE, most=MAX_COMMENTS_PAGE)
        with self.store.open(name) as repo:
            commits = _commits(repo, name, params, before_required=False)
        found = [
            kept
            for kept in self.comments.all(name)
            if "pullRequestId" not in kept["where"]
            and all(kept["where"].get(key) == commits.get(key) for key in ("beforeCommitId", "afterCommitId"))
        ]
        page, token = offset_page(self._grouped(name, found), params.get("nextToken"), limit)
        return with_token({"commentsForComparedCommitData": page}, token)

    # -- shared with replies -------------------------------------------------------------------------

    def new_comment(
        self, name: str, where: dict, content: str, token: str | None, in_reply_to: str | None = None
    ) -> dict:
        """The stored comment a post makes in repository `name` (hold its lock): a new one, or the one an
        earlier post of the same operation with the same clientRequestToken made."""
        asked = (where, content, in_reply_to)
        for kept in self.comments.all(name) if token else ():
            comment = kept["comment"]
            earlier = (kept["where"], comment.get("content"), comment.get("inReplyTo"))
            if comment.get("clientRequestToken") == token and _operation(earlier) == _operation(asked):
                if earlier != asked:
                    raise AwsError(
                        "IdempotencyParameterMismatchException",
                        f"clientRequestToken {token} was used for another comment.",
                    )
                return kept
        stamp = now()
        comment = {
            "commentId": uuid.uuid4().hex,
            "content": content,
            **({"inReplyTo": in_reply_to} if in_reply_to else {}),
            "creationDate": stamp,
            "lastModifiedDate": stamp,
            "authorArn": self.caller(),
            "deleted": False,
            **({"clientRequestToken": token} if token else {}),
        }
        return self.comments.add(name, where, comment)

    @contextmanager
    def _commented(self, params, repository_required: bool = True) -> Iterator[tuple[str, dict]]:
        """The pull request, locked, checked to be in `repositoryName` when that is given."""
        given = params.get("repositoryName")
        name = check_name(given) if given or repository_required else None
        with self._locked(params) as (pull_name, record):
            if name is not None and name != pull_name:
                self.store.get(name)
                raise AwsError(
                    "RepositoryNotAssociatedWithPullRequestException",
                    f"repositoryName: the pull request is in {pull_name}, not {name}.",
                )
            yield pull_name, record

    def _posted(self, name: str, kept: dict) -> dict:
        return {"repositoryName": name, **kept["where"], "comment": self.shown(kept)}

    def _grouped(self, name: str, found: list[dict]) -> list[dict]:
        groups: dict[str, dict] = {}
        for kept in found:
            key = repr(sorted(kept["where"].items()))
            group = groups.setdefault(key, {"repositoryName": name, **kept["where"], "comments": []})
            group["comments"].append(self.shown(kept))
        return list(groups.values())


def _operation(request: tuple[dict, str | None, str | None]) -> str:
    """The operation of a post (where, content, inReplyTo): a clientRequestToken is one operation's."""
    where, _, in_reply_to = request
    if in_reply_to:
        return "PostCommentReply"
    return "PostCommentForPullRequest" if "pullRequestId" in where else "PostCommentForComparedCommit"


def _where(repo, name: str, params, before_required: bool = True) -> dict:
    """Where a post comments: the commits, and the file's blobs and location if `location` is given."""
    commits = _commits(repo, name, params, before_required)
    if commits.get("beforeCommitId") == commits["afterCommitId"]:
        raise AwsError(
            "BeforeCommitIdAndAfterCommitIdAreSameException",
            "beforeCommitId and afterCommitId are the same commit.",
        )
    blobs, location = _located(repo, params.get("location"), commits)
    return {**commits, **blobs, **({"location": location} if location else {})}


def _commits(repo, name: str, params, before_required: bool) -> dict:
    """beforeCommitId (unless optional and not given) and afterCommitId, each a commit of the repository."""
    keys = (["beforeCommitId"] if before_required or params.get("beforeCommitId") else []) + ["afterCommitId"]
    commits = {}
    for key in keys:
        sha = _commit_id(params, key)
        if find_commit(repo, sha.encode()) is None:
            raise AwsError("CommitDoesNotExistException", f"{key} {sha} does not exist in {name}.")
        commits[key] = sha
    return commits


def _commit_id(params, key: str) -> str:
    value = required(params, key, "CommitIdRequiredException")
    return object_id(value, "InvalidCommitIdException").decode()


def _located(repo, location, commits: dict) -> tuple[dict, dict | None]:
    """The blob IDs of the commented file before and after, and the checked location; ({}, None) if none."""
    if not location:
        return {}, None
    path = file_path(location.get("filePath"))
    version = location.get("relativeFileVersion") or "AFTER"
    if version not in ("BEFORE", "AFTER"):
        raise AwsError(
            "InvalidRelativeFileVersionEnumException", "relativeFileVersion must be BEFORE or AFTER."
        )
    position = location.get("filePosition", 0)
    if position < 0:
        raise AwsError("InvalidFilePositionException", "filePosition must not be negative.")
    blobs = {}
    for key, sha in commits.items():
        entry = tree_entry(repo, find_commit(repo, sha.encode()).tree, path)
        if entry is not None:
            blobs[key.replace("CommitId", "BlobId")] = entry[1].decode()
    if f"{version.lower()}BlobId" not in blobs:
        raise AwsError(
            "PathDoesNotExistException", f"location: {path} does not exist in the {version.lower()} commit."
        )
    return blobs, {"filePath": path, "filePosition": position, "relativeFileVersion": version}
