"""Pull requests: CreatePullRequest, GetPullRequest, ListPullRequests, UpdatePullRequestTitle,
UpdatePullRequestDescription, UpdatePullRequestStatus and DescribePullRequestEvents.

The author of a pull request, and the actor of its events, is the caller as the endpoint's STS names it:
locally one identity, the lab's user. An open pull request follows its source branch: when the branch has
moved, the next read records the new source commit, a new revision and a PULL_REQUEST_SOURCE_REFERENCE_UPDATED
event, as AWS does on a push."""

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager

from dulwich.graph import find_merge_base
from dulwich.refs import check_ref_format

from ..awsjson import AwsError, now
from ..paging import with_token
from .gitobjects import read_ref
from .params import offset_page, optional_string, required
from .store import BRANCH_PREFIX, check_name

MAX_TITLE = 150
MAX_DESCRIPTION = 10240
EVENTS_PAGE = 100
LIST_PAGE = 1000
EVENT_TYPES = (
    "PULL_REQUEST_CREATED",
    "PULL_REQUEST_STATUS_CHANGED",
    "PULL_REQUEST_SOURCE_REFERENCE_UPDATED",
    "PULL_REQUEST_MERGE_STATE_CHANGED",
    "PULL_REQUEST_APPROVAL_RULE_CREATED",
    "PULL_REQUEST_APPROVAL_RULE_UPDATED",
    "PULL_REQUEST_APPROVAL_RULE_DELETED",
    "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN",
    "PULL_REQUEST_APPROVAL_STATE_CHANGED",
)
IDENTITY_ARN = re.compile(r"arn:aws:(iam|sts)::\d{12}:\S+")


class PullRequests:
    """Operations of CodeCommitService (a mixin: it needs `store`, `pulls`, `caller` and `template_rules`)."""

    def create_pull_request(self, params):
        title = _title(params)
        description = _description(params)
        token = optional_string(params, "clientRequestToken")
        target = _one_target(params.get("targets"))
        name = check_name(target.get("repositoryName"))
        source = _reference(required(target, "sourceReference", "ReferenceNameRequiredException"))
        with self.store.lock(name), self.store.open(name) as repo:
            default = self.store.get(name).get("defaultBranch")
            destination = _reference(target.get("destinationReference") or default or "main")
            if source == destination:
                raise AwsError(
                    "SourceAndDestinationAreSameException",
                    f"targets: sourceReference and destinationReference are both {source}.",
                )
            tips = [_tip(repo, ref) for ref in (source, destination)]
            base = find_merge_base(repo, [tips[1], tips[0]])
            if token and (same := self._by_token(name, token)):
                if (same["title"], same.get("description")) != (title, description):
                    raise AwsError(
                        "IdempotencyParameterMismatchException",
                        f"clientRequestToken {token} was used for pull request {same['pullRequestId']} "
                        "with other parameters.",
                    )
                return {"pullRequest": same}
            stamp, pull_id = now(), self.pulls.new_id()
            pull = {
                "pullRequestId": pull_id,
                "title": title,
                "lastActivityDate": stamp,
                "creationDate": stamp,
                "pullRequestStatus": "OPEN",
                "authorArn": self.caller(),
                "pullRequestTargets": [
                    {
                        "repositoryName": name,
                        "sourceReference": source,
                        "destinationReference": destination,
                        "sourceCommit": tips[0].decode(),
                        "destinationCommit": tips[1].decode(),
                        "mergeBase": base[0].decode() if base else "",
                        "mergeMetadata": {"isMerged": False},
                    }
                ],
                "revisionId": _revision(pull_id, tips[0]),
                "approvalRules": self.template_rules(name, destination),
                **({"description": description} if description is not None else {}),
                **({"clientRequestToken": token} if token else {}),
            }
            record = {"pullRequest": pull, "events": [], "approvals": {}}
            created = {
                "repositoryName": name,
                "sourceCommitId": pull["pullRequestTargets"][0]["sourceCommit"],
                "destinationCommitId": pull["pullRequestTargets"][0]["destinationCommit"],
                "mergeBase": pull["pullRequestTargets"][0]["mergeBase"],
            }
            self._event(record, "PULL_REQUEST_CREATED", pullRequestCreatedEventMetadata=created)
            self.pulls.save(name, record)
        return {"pullRequest": pull}

    def get_pull_request(self, params):
        return {"pullRequest": self._current(params)[1]["pullRequest"]}

    def list_pull_requests(self, params):
        name = check_name(params.get("repositoryName"))
        self.store.get(name)
        status = params.get("pullRequestStatus")
        if status is not None and status not in ("OPEN", "CLOSED"):
            raise AwsError("InvalidPullRequestStatusException", "pullRequestStatus must be OPEN or CLOSED.")
        author = optional_string(params, "authorArn")
        if author is not None and not IDENTITY_ARN.fullmatch(author):
            raise AwsError("InvalidAuthorArnException", f"authorArn {author!r} is not an IAM or STS ARN.")
        pulls = [record["pullRequest"] for record in self.pulls.all(name)]
        ids = [
            pull["pullRequestId"]
            for pull in sorted(pulls, key=lambda pull: -int(pull["pullRequestId"]))
            if status in (None, pull["pullRequestStatus"]) and author in (None, pull["authorArn"])
        ]
        page, token = offset_page(ids, params.get("nextToken"), max_results(params, LIST_PAGE))
        return with_token({"pullRequestIds": page}, token)

    def update_pull_request_title(self, params):
        title = _title(params)
        return self._update_open(params, lambda pull: pull.update(title=title))

    def update_pull_request_description(self, params):
        if params.get("description") is None:
            raise AwsError("InvalidDescriptionException", "description is required but was not specified.")
        description = _description(params)
        return self._update_open(params, lambda pull: pull.update(description=description))

    def update_pull_request_status(self, params):
        status = params.get("pullRequestStatus")
        if not status:
            raise AwsError("PullRequestStatusRequiredException", "pullRequestStatus is required.")
        if status not in ("OPEN", "CLOSED"):
            raise AwsError("InvalidPullRequestStatusException", "pullRequestStatus must be OPEN or CLOSED.")
        with self._locked(params) as (name, record):
            pull = record["pullRequest"]
            if (pull["pullRequestStatus"], status) != ("OPEN", "CLOSED"):
                raise AwsError(
                    "InvalidPullRequestStatusUpdateException",
                    f"pullRequestStatus: pull request {pull['pullRequestId']} is "
                    f"{pull['pullRequestStatus']}; the only valid update is from OPEN to CLOSED.",
                )
            self.close_pull_request(record)
            self.pulls.save(name, record)
        return {"pullRequest": pull}

    def describe_pull_request_events(self, params):
        kind = params.get("pullRequestEventType")
        if kind is not None and kind not in EVENT_TYPES:
            raise AwsError(
                "InvalidPullRequestEventTypeException",
                f"pullRequestEventType must be one of {', '.join(EVENT_TYPES)}.",
            )
        actor = optional_string(params, "actorArn")
        if actor is not None and not IDENTITY_ARN.fullmatch(actor):
            raise AwsError("InvalidActorArnException", f"actorArn {actor!r} is not an IAM or STS ARN.")
        events = [
            event
            for event in self._current(params)[1]["events"]
            if kind in (None, event["pullRequestEventType"]) and actor in (None, event["actorArn"])
        ]
        page, token = offset_page(events, params.get("nextToken"), max_results(params, EVENTS_PAGE))
        return with_token({"pullRequestEvents": page}, token)

    # -- shared with merges and approvals ------------------------------------------------------------

    def _current(self, params) -> tuple[str, dict]:
        """The repository and record of the pull request `pullRequestId` names, after its source moved."""
        pull_id = required(params, "pullRequestId", "PullRequestIdRequiredException")
        if not pull_id.isdigit():
            raise AwsError("InvalidPullRequestIdException", f"pullRequestId {pull_id!r} is not a number.")
        name, record = self.pulls.find(pull_id)
        pull, target = record["pullRequest"], record["pullRequest"]["pullRequestTargets"][0]
        if pull["pullRequestStatus"] != "OPEN":
            return name, record
        with self.store.lock(name), self.store.open(name) as repo:
            source = read_ref(repo, target["sourceReference"])
            destination = read_ref(repo, target["destinationReference"])
            if source is None or destination is None:
                return name, record
            if (source.decode(), destination.decode()) != (
                target["sourceCommit"],
                target["destinationCommit"],
            ):
                base = find_merge_base(repo, [destination, source])
                moved = source.decode() != target["sourceCommit"]
                updated = {
                    "repositoryName": name,
                    "beforeCommitId": target["sourceCommit"],
                    "afterCommitId": source.decode(),
                    "mergeBase": base[0].decode() if base else "",
                }
                target.update(
                    sourceCommit=source.decode(),
                    destinationCommit=destination.decode(),
                    mergeBase=updated["mergeBase"],
                )
                if moved:
                    pull["revisionId"] = _revision(pull["pullRequestId"], source)
                    self._event(
                        record,
                        "PULL_REQUEST_SOURCE_REFERENCE_UPDATED",
                        pullRequestSourceReferenceUpdatedEventMetadata=updated,
                    )
                self.pulls.save(name, record)
        return name, record

    @contextmanager
    def _locked(self, params) -> Iterator[tuple[str, dict]]:
        """As `_current`, read and used under the repository's lock: for changes."""
        name, _ = self._current(params)
        with self.store.lock(name):
            yield self._current(params)

    def _update_open(self, params, change) -> dict:
        with self._locked(params) as (name, record):
            pull = record["pullRequest"]
            _open(pull)
            change(pull)
            pull["lastActivityDate"] = now()
            self.pulls.save(name, record)
        return {"pullRequest": pull}

    def close_pull_request(self, record: dict) -> None:
        record["pullRequest"]["pullRequestStatus"] = "CLOSED"
        self._event(
            record,
            "PULL_REQUEST_STATUS_CHANGED",
            pullRequestStatusChangedEventMetadata={"pullRequestStatus": "CLOSED"},
        )

    def _event(self, record: dict, kind: str, **metadata) -> None:
        stamp = now()
        record["pullRequest"]["lastActivityDate"] = stamp
        record["events"].append(
            {
                "pullRequestId": record["pullRequest"]["pullRequestId"],
                "eventDate": stamp,
                "pullRequestEventType": kind,
                "actorArn": self.caller(),
                **metadata,
            }
        )

    def _by_token(self, name: str, token: str) -> dict | None:
        for record in self.pulls.all(name):
            if record["pullRequest"].get("clientRequestToken") == token:
                return record["pullRequest"]
        return None


def _open(pull: dict) -> None:
    if pull["pullRequestStatus"] != "OPEN":
        raise AwsError(
            "PullRequestAlreadyClosedException", f"Pull request {pull['pullRequestId']} is already closed."
        )


def _title(params) -> str:
    title = required(params, "title", "TitleRequiredException")
    if len(title) > MAX_TITLE:
        raise AwsError("InvalidTitleException", f"title has at most {MAX_TITLE} characters.")
    return title


def _description(params) -> str | None:
    description = optional_string(params, "description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise AwsError(
            "InvalidDescriptionException", f"description has at most {MAX_DESCRIPTION} characters."
        )
    return description


def _one_target(targets) -> dict:
    if not targets:
        raise AwsError("TargetsRequiredException", "targets: give one target (repository and references).")
    if len(targets) > 1:
        raise AwsError(
            "MultipleRepositoriesInPullRequestException", "targets: a pull request has exactly one target."
        )
    if not targets[0]:
        raise AwsError("TargetRequiredException", "targets: the target is empty.")
    return targets[0]


def _reference(name: str) -> str:
    """A branch reference's full name (refs/heads/...); CodeCommit's pull requests take branches only."""
    if name.startswith("refs/") and not name.startswith(BRANCH_PREFIX):
        raise AwsError("ReferenceTypeNotSupportedException", f"{name} is not a branch; give a branch.")
    full = name if name.startswith(BRANCH_PREFIX) else BRANCH_PREFIX + name
    if not check_ref_format(full.encode()):
        raise AwsError("InvalidReferenceNameException", f"{name!r} is not a valid reference name.")
    return full


def _tip(repo, reference: str) -> bytes:
    tip = read_ref(repo, reference)
    if tip is None:
        raise AwsError("ReferenceDoesNotExistException", f"targets: reference {reference} does not exist.")
    return tip


def _revision(pull_id: str, source: bytes) -> str:
    return hashlib.sha256(f"{pull_id}:{source.decode()}".encode()).hexdigest()


def max_results(params, default: int, most: int | None = None) -> int:
    limit = params.get("maxResults", default)
    if not isinstance(limit, int) or limit < 1 or (most is not None and limit > most):
        bound = f" of at most {most}" if most is not None else ""
        raise AwsError("InvalidMaxResultsException", f"maxResults must be a positive integer{bound}.")
    return limit
