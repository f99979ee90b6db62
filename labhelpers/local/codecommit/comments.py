"""Comments on pull requests: PostCommentForPullRequest and GetCommentsForPullRequest, kept in the pull
request's record. A comment is on the change between two commits, on a file at a position if `location`
says so; GetCommentsForPullRequest groups comments by those commits and location, oldest first."""

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


class PullRequestComments:
    """Operations of CodeCommitService (a mixin over PullRequests)."""

    def post_comment_for_pull_request(self, params):
        content = required(params, "content", "CommentContentRequiredException")
        if len(content) > MAX_CONTENT:
            raise AwsError(
                "CommentContentSizeLimitExceededException", f"content: at most {MAX_CONTENT} characters."
            )
        token = optional_string(params, "clientRequestToken")
        with self._commented(params) as (name, record), self.store.open(name) as repo:
            commits = {key: _commit_id(params, key) for key in ("beforeCommitId", "afterCommitId")}
            if commits["beforeCommitId"] == commits["afterCommitId"]:
                raise AwsError(
                    "BeforeCommitIdAndAfterCommitIdAreSameException",
                    "beforeCommitId and afterCommitId are the same commit.",
                )
            trees = {}
            for key, sha in commits.items():
                commit = find_commit(repo, sha.encode())
                if commit is None:
                    raise AwsError("CommitDoesNotExistException", f"{key} {sha} does not exist in {name}.")
                trees[key] = commit.tree
            blobs, location = _located(repo, params.get("location"), trees)
            for kept in record.setdefault("comments", []):
                if token and kept["comment"].get("clientRequestToken") == token:
                    if kept["comment"]["content"] != content:
                        raise AwsError(
                            "IdempotencyParameterMismatchException",
                            f"clientRequestToken {token} was used for another comment.",
                        )
                    return _answer(record, kept)
            stamp = now()
            comment = {
                "commentId": uuid.uuid4().hex,
                "content": content,
                "creationDate": stamp,
                "lastModifiedDate": stamp,
                "authorArn": self.caller(),
                "deleted": False,
                "callerReactions": [],
                "reactionCounts": {},
                **({"clientRequestToken": token} if token else {}),
            }
            kept = {**commits, **blobs, **({"location": location} if location else {}), "comment": comment}
            record["comments"].append(kept)
            self.pulls.save(name, record)
        return _answer(record, kept)

    def get_comments_for_pull_request(self, params):
        with self._commented(params, repository_required=False) as (_, record):
            kept_comments = list(record.get("comments", []))
        wanted = {
            key: _commit_id(params, key) if params.get(key) else None
            for key in ("beforeCommitId", "afterCommitId")
        }
        groups: dict[tuple, dict] = {}
        for kept in kept_comments:
            if any(value not in (None, kept[key]) for key, value in wanted.items()):
                continue
            location = kept.get("location")
            key = (kept["beforeCommitId"], kept["afterCommitId"], tuple(sorted((location or {}).items())))
            where = {field: value for field, value in kept.items() if field != "comment"}
            groups.setdefault(key, {**_answer(record, where), "comments": []})["comments"].append(
                kept["comment"]
            )
        page, token = offset_page(
            list(groups.values()), params.get("nextToken"), max_results(params, COMMENTS_PAGE)
        )
        return with_token({"commentsForPullRequestData": page}, token)

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


def _commit_id(params, key: str) -> str:
    value = required(params, key, "CommitIdRequiredException")
    return object_id(value, "InvalidCommitIdException").decode()


def _located(repo, location, trees: dict) -> tuple[dict, dict | None]:
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
    for key, tree in trees.items():
        entry = tree_entry(repo, tree, path)
        if entry is not None:
            blobs[key.replace("CommitId", "BlobId")] = entry[1].decode()
    if f"{version.lower()}BlobId" not in blobs:
        raise AwsError(
            "PathDoesNotExistException", f"location: {path} does not exist in the {version.lower()} commit."
        )
    return blobs, {"filePath": path, "filePosition": position, "relativeFileVersion": version}


def _answer(record: dict, kept: dict) -> dict:
    target = record["pullRequest"]["pullRequestTargets"][0]
    return {
        "repositoryName": target["repositoryName"],
        "pullRequestId": record["pullRequest"]["pullRequestId"],
        **kept,
    }
