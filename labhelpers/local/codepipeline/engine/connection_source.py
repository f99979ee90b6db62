"""The CodeStarSourceConnection source action, run against the endpoint's own git server.

`FullRepositoryId` "owner/name" stands for the local repository `name`, the one `git push` reaches at
`/v1/repos/name`: the owner (and a GitLab group path before the name) means nothing locally. A run that a
push started uses the commit pushed (the destination branch's, or the tag's, as AWS does); any other run
uses the head of `BranchName`."""

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from dulwich.object_store import peel_sha

from ...codecommit.store import BRANCH_PREFIX
from .actions import ActionContext, ActionFailed, Outcome
from .records import Execution
from .sources import commit_outcome, require_code_zip, tree_zip

# Pushed revisions waiting for their source action; runs superseded before it leave theirs behind.
PENDING_KEPT = 10_000


def local_repository(full_repository_id: str) -> str:
    """The local repository a FullRepositoryId stands for: its last path segment."""
    return full_repository_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class PushedRevision:
    ref: str  # refs/heads/<branch> or refs/tags/<tag>
    commit: str


class PushedRevisions:
    """What a push started each execution for, by (execution id, source action name), until the action
    takes it. The execution is started under the same lock the action takes, so it never looks too early."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: OrderedDict[tuple[str, str], PushedRevision] = OrderedDict()

    def start(self, begin: Callable[[], Execution], revisions: dict[str, PushedRevision]) -> Execution:
        with self._lock:
            execution = begin()
            for action, revision in revisions.items():
                self._pending[(execution.id, action)] = revision
            while len(self._pending) > PENDING_KEPT:
                self._pending.popitem(last=False)
            return execution

    def take(self, execution_id: str, action: str) -> PushedRevision | None:
        with self._lock:
            return self._pending.pop((execution_id, action), None)


def _usable_connection(connections, arn: str) -> dict:
    connection = connections.find(arn)
    if connection is None:
        raise ActionFailed(
            f"Unable to use Connection: {arn}. The provided connection does not exist. Create one "
            "(aws codeconnections create-connection) and set its ARN as the action's ConnectionArn."
        )
    if connection["ConnectionStatus"] != "AVAILABLE":
        raise ActionFailed(
            f"Unable to use Connection: {arn}. The provided connection is in "
            f"{connection['ConnectionStatus']} state; it must be AVAILABLE."
        )
    return connection


def _commit(repo, revision: PushedRevision | None, branch: str, where: str):
    if revision is not None:
        return peel_sha(repo.object_store, revision.commit.encode())[1]
    try:
        return repo[repo.refs[(BRANCH_PREFIX + branch).encode()]]
    except KeyError:
        raise ActionFailed(
            f"The branch {branch} does not exist in {where}. Push a commit to it "
            f"(git push origin {branch}) and start the pipeline again."
        ) from None


def codestar_source_connection(ctx: ActionContext) -> Outcome:
    configuration = ctx.configuration
    arn, full_id, branch = (configuration[k] for k in ("ConnectionArn", "FullRepositoryId", "BranchName"))
    connection = _usable_connection(ctx.services["connections"], arn)
    require_code_zip(configuration)
    repos, name = ctx.services["repos"], local_repository(full_id)
    if not repos.exists(name):
        raise ActionFailed(
            f"The repository {full_id} is not on the local git server: FullRepositoryId 'owner/name' "
            f"stands for the local repository '{name}'. Create it (aws codecommit create-repository "
            f"--repository-name {name}) and push the branch {branch} to it."
        )
    revision = ctx.services["pushes"].take(ctx.execution_id, ctx.action["name"])
    if revision is not None and revision.ref.startswith(BRANCH_PREFIX):
        branch = revision.ref[len(BRANCH_PREFIX) :]
    with repos.open(name) as repo:
        commit = _commit(repo, revision, branch, f"{full_id} (local repository {name})")
        data = tree_zip(repo, commit.tree, commit.commit_time)
    message = commit.message.decode("utf-8", "replace").strip()
    summary = json.dumps({"ProviderType": connection["ProviderType"], "CommitMessage": message})
    variables = {"ConnectionArn": arn, "FullRepositoryName": full_id}
    return commit_outcome(ctx, commit, data, branch=branch, variables=variables, revision_summary=summary)
