"""Merging pull requests: MergePullRequestByFastForward, MergePullRequestBySquash and
MergePullRequestByThreeWay. The destination branch moves through the RepoStore, so a merge starts the
pipelines that watch it like any push. Conflicts are found file by file (a file both sides changed
differently conflicts, whatever conflictDetailLevel says: line-level merging would need the merge3
package) and refused with ManualMergeRequiredException; a conflictResolutionStrategy of ACCEPT_SOURCE or
ACCEPT_DESTINATION settles them, taking that side's file."""

import time

from dulwich.graph import can_fast_forward, find_merge_base
from dulwich.merge import Merger, three_way_merge
from dulwich.objects import Blob, Commit

from ..awsjson import AwsError
from .gitobjects import find_commit, read_ref
from .params import commit_identity, object_id, optional_string
from .store import check_name
from .tree import TreeEdit, tree_entry

STRATEGIES = ("NONE", "ACCEPT_SOURCE", "ACCEPT_DESTINATION", "AUTOMERGE")
DETAIL_LEVELS = ("FILE_LEVEL", "LINE_LEVEL")
MAX_MESSAGE = 100 * 1024


class PullRequestMerges:
    """Operations of CodeCommitService (a mixin over PullRequests and PullRequestApprovals)."""

    def merge_pull_request_by_fast_forward(self, params):
        def merge(repo, source: Commit, destination: Commit) -> bytes:
            if not can_fast_forward(repo, destination.id, source.id):
                raise AwsError(
                    "ManualMergeRequiredException",
                    "The destination branch has commits the source lacks: this is not a fast-forward merge; "
                    "merge by squash or three-way, or bring the source up to date.",
                )
            return source.id

        return self._merge(params, "FAST_FORWARD_MERGE", merge)

    def merge_pull_request_by_squash(self, params):
        return self._merge_commit(params, "SQUASH_MERGE", squash=True)

    def merge_pull_request_by_three_way(self, params):
        return self._merge_commit(params, "THREE_WAY_MERGE", squash=False)

    def _merge_commit(self, params, option: str, squash: bool):
        strategy = params.get("conflictResolutionStrategy") or "NONE"
        if strategy not in STRATEGIES:
            raise AwsError(
                "InvalidConflictResolutionStrategyException",
                f"conflictResolutionStrategy must be one of {', '.join(STRATEGIES)}.",
            )
        if params.get("conflictDetailLevel") not in (None, *DETAIL_LEVELS):
            raise AwsError(
                "InvalidConflictDetailLevelException", "conflictDetailLevel must be FILE_LEVEL or LINE_LEVEL."
            )
        if params.get("conflictResolution"):
            raise AwsError(
                "InvalidConflictResolutionException",
                "conflictResolution: the local endpoint does not apply resolutions file by file; "
                "use conflictResolutionStrategy, or resolve the conflicts with git and push.",
            )
        message = optional_string(params, "commitMessage")
        if message is not None and len(message) > MAX_MESSAGE:
            raise AwsError("CommitMessageLengthExceededException", "commitMessage is longer than 100 KB.")
        identity = commit_identity(params.get("authorName"), params.get("email"))

        def merge(repo, source: Commit, destination: Commit) -> bytes:
            tree_id = _merged_tree(repo, source, destination, strategy)
            commit = Commit()
            commit.tree = tree_id
            commit.parents = [destination.id] if squash else [destination.id, source.id]
            commit.author = commit.committer = identity
            commit.author_time = commit.commit_time = int(time.time())
            commit.author_timezone = commit.commit_timezone = 0
            commit.message = (
                message or f"{option.replace('_', ' ').capitalize()} of a pull request"
            ).encode()
            repo.object_store.add_object(commit)
            return commit.id

        return self._merge(params, option, merge)

    def _merge(self, params, option: str, merge) -> dict:
        """Check the pull request may merge, `merge(repo, source, destination)` -> the destination's new
        tip, move the destination there and record the pull request merged and closed."""
        name = check_name(params.get("repositoryName"))
        given = optional_string(params, "sourceCommitId")
        source_id = object_id(given, "InvalidCommitIdException") if given else None
        with self._locked(params) as (pull_name, record), self.store.open(pull_name) as repo:
            pull = record["pullRequest"]
            if pull_name != name:
                raise AwsError(
                    "RepositoryNotAssociatedWithPullRequestException",
                    f"repositoryName: pull request {pull['pullRequestId']} is in {pull_name}, not {name}.",
                )
            target = pull["pullRequestTargets"][0]
            if pull["pullRequestStatus"] != "OPEN":
                raise AwsError(
                    "PullRequestAlreadyClosedException", f"Pull request {pull['pullRequestId']} is closed."
                )
            tips = [read_ref(repo, target[key]) for key in ("sourceReference", "destinationReference")]
            for reference, tip in zip(("sourceReference", "destinationReference"), tips, strict=True):
                if tip is None:
                    raise AwsError("ReferenceDoesNotExistException", f"{target[reference]} no longer exists.")
            if source_id is not None and source_id != tips[0]:
                raise AwsError(
                    "TipOfSourceReferenceIsDifferentException",
                    f"sourceCommitId {given} is not the tip of {target['sourceReference']}.",
                )
            self.check_rules_satisfied(record)
            new_tip = merge(repo, find_commit(repo, tips[0]), find_commit(repo, tips[1]))
            reference = target["destinationReference"]
            if not self.store.update_ref(name, reference, tips[1].decode(), new_tip.decode()):
                raise AwsError("ConcurrentReferenceUpdateException", f"{reference} moved during the merge.")
            metadata = {
                "isMerged": True,
                "mergedBy": self.caller(),
                "mergeCommitId": new_tip.decode(),
                "mergeOption": option,
            }
            target["mergeMetadata"] = metadata
            self._event(
                record,
                "PULL_REQUEST_MERGE_STATE_CHANGED",
                pullRequestMergedStateChangedEventMetadata={
                    "repositoryName": name,
                    "destinationReference": reference,
                    "mergeMetadata": metadata,
                },
            )
            self.close_pull_request(record)
            self.pulls.save(name, record)
        return {"pullRequest": pull}


class _FileLevelMerger(Merger):
    """Called for a file both sides changed: a conflict (ours kept until a strategy settles it)."""

    def merge_blobs(self, base_blob, ours_blob: Blob | None, theirs_blob: Blob | None, path=None):
        if ours_blob is not None and theirs_blob is not None and ours_blob.id == theirs_blob.id:
            return ours_blob.as_raw_string(), False
        return (ours_blob or theirs_blob).as_raw_string(), True


def _merged_tree(repo, source: Commit, destination: Commit, strategy: str) -> bytes:
    bases = find_merge_base(repo, [destination.id, source.id])
    base = find_commit(repo, bases[0]) if bases else None
    merger = _FileLevelMerger(repo.object_store)
    tree, conflicts = three_way_merge(repo.object_store, base, destination, source, merger=merger)
    repo.object_store.add_object(tree)
    if not conflicts:
        return tree.id
    if strategy not in ("ACCEPT_SOURCE", "ACCEPT_DESTINATION"):
        listed = ", ".join(path.decode() for path in conflicts)
        raise AwsError(
            "ManualMergeRequiredException",
            f"The pull request has conflicts in {listed}: resolve them (conflictResolutionStrategy "
            "ACCEPT_SOURCE or ACCEPT_DESTINATION, or git) before merging.",
        )
    side = source if strategy == "ACCEPT_SOURCE" else destination
    edit = TreeEdit(repo, tree.id)
    for path in (path.decode() for path in conflicts):
        entry = tree_entry(repo, side.tree, path)
        if entry is None:
            if edit.existing(path):
                edit.delete(path)
        else:
            edit.put(path, entry[0], repo.object_store[entry[1]].as_raw_string())
    return edit.write_tree(keep_empty_folders=False)
