"""Reading many commits at once, and the history of one file: BatchGetCommits, ListFileCommitHistory."""

from dulwich.walk import Walker

from ..awsjson import AwsError
from ..paging import with_token
from .gitobjects import commit_info, find_commit
from .params import FULL_ID, file_path, offset_page
from .store import check_name
from .tree import tree_entry

MAX_BATCH_COMMITS = 100
HISTORY_PAGE = 100


class CommitHistory:
    """Operations of CodeCommitService (a mixin: it needs `store` and `_specified_commit`)."""

    def batch_get_commits(self, params):
        name = check_name(params.get("repositoryName"))
        ids = params.get("commitIds")
        if not ids:
            raise AwsError("CommitIdsListRequiredException", "commitIds: give at least one commit ID.")
        if len(ids) > MAX_BATCH_COMMITS:
            raise AwsError(
                "CommitIdsLimitExceededException", f"commitIds: at most {MAX_BATCH_COMMITS} commit IDs."
            )
        commits, errors = [], []
        with self.store.open(name) as repo:
            for commit_id in ids:
                if not isinstance(commit_id, str) or not FULL_ID.fullmatch(commit_id):
                    errors.append(_error(commit_id, "InvalidCommitIdException", "is not a full commit ID"))
                elif (commit := find_commit(repo, commit_id.lower().encode())) is None:
                    errors.append(_error(commit_id, "CommitIdDoesNotExistException", f"is not in {name}"))
                else:
                    commits.append(commit_info(commit))
        return {"commits": commits, "errors": errors}

    def list_file_commit_history(self, params):
        """The commits that changed the file, newest first; each names the newer version that follows it."""
        name = check_name(params.get("repositoryName"))
        path = file_path(params.get("filePath"))
        limit = params.get("maxResults", HISTORY_PAGE)
        if not isinstance(limit, int) or limit < 1:
            raise AwsError("InvalidMaxResultsException", "maxResults must be a positive integer.")
        versions = []
        with self.store.open(name) as repo:
            tip = self._specified_commit(repo, name, params.get("commitSpecifier"))
            for entry in Walker(repo.object_store, [tip.id], paths=[path.encode()]):
                found = tree_entry(repo, entry.commit.tree, path)
                if found is None:
                    continue  # the commit deleted the file
                versions.append(
                    {"commit": commit_info(entry.commit), "blobId": found[1].decode(), "path": path}
                )
        for newer, version in zip([None, *versions], versions, strict=False):
            version["revisionChildren"] = [newer["commit"]["commitId"]] if newer else []
        page, token = offset_page(versions, params.get("nextToken"), limit)
        return with_token({"revisionDag": page}, token)


def _error(commit_id, code: str, why: str) -> dict:
    return {"commitId": commit_id, "errorCode": code, "errorMessage": f"commitIds: {commit_id} {why}."}
