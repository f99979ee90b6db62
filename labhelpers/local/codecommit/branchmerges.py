"""Merging two commit specifiers without a pull request: MergeBranchesByFastForward, MergeBranchesBySquash
and MergeBranchesByThreeWay move targetBranch (by default the destination, when it names a branch) through
the RepoStore, so pipelines watching it start; CreateUnreferencedMergeCommit writes the merge commit and
moves nothing; GetMergeCommit and GetMergeOptions tell what a merge would give."""

from dulwich.graph import can_fast_forward

from ..awsjson import AwsError
from .gitobjects import branch_tip, new_commit, read_ref
from .mergeplan import Merge, commit_merger, fast_forward
from .mergesettings import merge_option, merge_settings
from .params import branch_name, commit_identity, required
from .store import BRANCH_PREFIX, check_name


class BranchMerges:
    """Operations of CodeCommitService (a mixin: it needs `store` and `_specified_commit`)."""

    def merge_branches_by_fast_forward(self, params):
        return self._merge_into_branch(params, fast_forward)

    def merge_branches_by_squash(self, params):
        return self._merge_into_branch(params, _merger(params, "SQUASH_MERGE"))

    def merge_branches_by_three_way(self, params):
        return self._merge_into_branch(params, _merger(params, "THREE_WAY_MERGE"))

    def create_unreferenced_merge_commit(self, params):
        merge = _merger(params, merge_option(params, fast_forward_allowed=False))
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            commit = merge(repo, *self._merge_commits(repo, name, params))
        return {"commitId": commit.id.decode(), "treeId": commit.tree.decode()}

    def get_merge_commit(self, params):
        """The three-way merge commit of the two specifiers (unreferenced, made once: the same inputs give
        the same commit); without mergedCommitId when conflicts stand in its way."""
        settings = merge_settings(params)
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            plan = self._merge_of(repo, name, params, settings.detail_level)
            answer = merge_ids(plan)
            if not plan.unresolved(settings):
                source, destination = plan.source, plan.destination
                commit = new_commit(
                    repo,
                    plan.tree(settings),
                    [destination.id, source.id],
                    commit_identity(None, None),
                    f"Merge {params['sourceCommitSpecifier']} into {params['destinationCommitSpecifier']}",
                    when=max(source.commit_time, destination.commit_time),
                )
                answer["mergedCommitId"] = commit.id.decode()
        return answer

    def get_merge_options(self, params):
        settings = merge_settings(params)
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            plan = self._merge_of(repo, name, params, settings.detail_level)
            options = (
                ["FAST_FORWARD_MERGE"] if can_fast_forward(repo, plan.destination.id, plan.source.id) else []
            )
            if not plan.unresolved(settings):
                options += ["SQUASH_MERGE", "THREE_WAY_MERGE"]
        return {"mergeOptions": options, **merge_ids(plan)}

    def _merge_of(self, repo, name: str, params, detail_level: str) -> Merge:
        return Merge(repo, *self._merge_commits(repo, name, params), detail_level)

    def _merge_commits(self, repo, name: str, params) -> list:
        """The commits sourceCommitSpecifier and destinationCommitSpecifier name."""
        specifiers = [
            required(params, key, "CommitRequiredException")
            for key in ("sourceCommitSpecifier", "destinationCommitSpecifier")
        ]
        return [self._specified_commit(repo, name, specifier) for specifier in specifiers]

    def _merge_into_branch(self, params, merge) -> dict:
        """`merge(repo, source, destination)` -> the commit the target branch moves to."""
        name = check_name(params.get("repositoryName"))
        with self.store.lock(name), self.store.open(name) as repo:
            source, destination = self._merge_commits(repo, name, params)
            target = self._target_branch(repo, name, params)
            old = branch_tip(repo, target)
            commit = merge(repo, source, destination)
            moved = commit.id == old or self.store.update_ref(
                name, BRANCH_PREFIX + target, old.decode(), commit.id.decode()
            )
            if not moved:
                raise AwsError("ConcurrentReferenceUpdateException", f"{target} moved during the merge.")
        return {"commitId": commit.id.decode(), "treeId": commit.tree.decode()}

    def _target_branch(self, repo, name: str, params) -> str:
        """targetBranch, else the branch destinationCommitSpecifier names."""
        if params.get("targetBranch") is not None:
            branch = branch_name(params, "targetBranch")
        else:
            specifier = params["destinationCommitSpecifier"]
            default = self.store.get(name).get("defaultBranch")
            branch = default if specifier == "HEAD" else specifier.removeprefix(BRANCH_PREFIX)
            if not branch or read_ref(repo, BRANCH_PREFIX + branch) is None:
                raise AwsError(
                    "InvalidTargetBranchException",
                    f"targetBranch: the destination {specifier} is not a branch; name the branch to merge "
                    "into.",
                )
        if read_ref(repo, BRANCH_PREFIX + branch) is None and read_ref(repo, "refs/tags/" + branch):
            raise AwsError("BranchNameIsTagNameException", f"targetBranch: {branch} is a tag, not a branch.")
        branch_tip(repo, branch)
        return branch


def _merger(params, option: str):
    source, destination = params.get("sourceCommitSpecifier"), params.get("destinationCommitSpecifier")
    return commit_merger(params, option, f"Merge {source} into {destination}")


def merge_ids(plan: Merge) -> dict:
    """The commits a merge evaluated, as the merge operations answer them."""
    ids = {"sourceCommitId": plan.source.id.decode(), "destinationCommitId": plan.destination.id.decode()}
    return {**ids, "baseCommitId": plan.base.id.decode()} if plan.base else ids
