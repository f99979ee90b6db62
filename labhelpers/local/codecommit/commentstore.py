"""Comments on disk: one JSON file each in its repository's folder
(`<name>.git/codecommit-comments/<commentId>.json`, so comments go where the repository goes), whether on a
pull request or on two compared commits. Each file holds where the comment is (`where`: the pull request,
commits, blobs and location), the API's comment, and the reactions to it (`reactions`: user ARN -> value)."""

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ..awsjson import AwsError
from .params import required
from .store import RepoStore, write_json

FOLDER = "codecommit-comments"
_COMMENT_ID = re.compile(r"[A-Za-z0-9-]{1,128}")


def comment_id(params: dict, key: str = "commentId") -> str:
    value = required(params, key, "CommentIdRequiredException")
    if not _COMMENT_ID.fullmatch(value):
        raise AwsError("InvalidCommentIdException", f"{key}: {value!r} is not a comment ID.")
    return value


def check_not_deleted(kept: dict) -> None:
    if kept["comment"]["deleted"]:
        raise AwsError("CommentDeletedException", f"Comment {kept['comment']['commentId']} has been deleted.")


class CommentStore:
    def __init__(self, repos: RepoStore):
        self.repos = repos

    def find(self, commentid: str) -> tuple[str, dict]:
        """The repository name and record of a comment, else CodeCommit's exception."""
        for path in self.repos.root.glob(f"*.git/{FOLDER}/{commentid}.json"):
            return path.parent.parent.name.removesuffix(".git"), json.loads(path.read_text())
        raise AwsError("CommentDoesNotExistException", f"Comment {commentid} does not exist.")

    @contextmanager
    def locked(self, commentid: str) -> Iterator[tuple[str, dict]]:
        """As `find`, read under its repository's lock: for changes, which `save` writes."""
        name, _ = self.find(commentid)
        with self.repos.lock(name):
            yield self.find(commentid)

    def all(self, name: str) -> list[dict]:
        """The repository's comments, oldest first."""
        folder = self.repos.path(name) / FOLDER
        kept = [json.loads(path.read_text()) for path in folder.glob("*.json")]
        return sorted(kept, key=lambda one: one["posted"])

    def add(self, name: str, where: dict, comment: dict) -> dict:
        kept = {"where": where, "comment": comment, "reactions": {}, "posted": time.time_ns()}
        self.save(name, kept)
        return kept

    def save(self, name: str, kept: dict) -> None:
        folder = self.repos.path(name) / FOLDER
        folder.mkdir(exist_ok=True)
        write_json(folder / f"{kept['comment']['commentId']}.json", kept)
