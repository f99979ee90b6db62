"""Merging pull requests: MergePullRequestByFastForward, MergePullRequestBySquash and
MergePullRequestByThreeWay. The destination branch moves through the RepoStore, so a merge starts the
pipelines that watch it like any push. What a merge gives, and its conflicts, mergeplan decides."""

from ..awsjson import AwsError
from .gitobjects import find_commit, read_ref
from .mergeplan import commit_merger, fast_forward
from .params import object_id, optional_string
from .store import check_name


class PullRequestMerges:
    """Operations of CodeCommitService (a mixin over PullRequests and PullRequestApprovals)."""

    def merge_pull_request_by_fast_forward(self, params):
        return self._merge(params, "FAST_FORWARD_MERGE", fast_forward)

    def merge_pull_request_by_squash(self, params):
        return self._merge_commit(params, "SQUASH_MERGE")

    def merge_pull_request_by_three_way(self, params):
        return self._merge_commit(params, "THREE_WAY_MERGE")

    def _merge_commit(self, params, option: str):
        message = f"{option.replace('_', ' ').capitalize()} of a pull request"
        return self._merge(params, option, commit_merger(params, option, message))

    def _merge(self, params, option: str, merge) -> dict:
        """Check the pull request may merge, `merge(repo, source, destination)` -> the commit the destination
        moves to, move it there and record the pull request merged and closed."""
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
            new_tip = merge(repo, find_commit(repo, tips[0]), find_commit(repo, tips[1])).id
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
