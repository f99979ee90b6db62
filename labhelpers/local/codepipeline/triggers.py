"""Change detection: every ref update of a repository (a `git push`, or PutFile, CreateCommit and
CreateBranch through the API) starts the pipelines that watch it, as AWS starts them:

* a CodeCommit source on the updated branch with PollForSourceChanges absent or "true" ->
  `PollForSourceChanges`, at once (there is no polling interval here); triggerDetail is the action's name;
* an enabled rule on the default EventBridge bus whose event pattern matches the update's "CodeCommit
  Repository State Change" event, once for each target that is a pipeline and whose role may start it ->
  `CloudWatchEvent`, triggerDetail the rule ARN. We deliver it ourselves: moto's delivery crashes on
  CodePipeline targets;
* a CodeStarSourceConnection source whose FullRepositoryId stands for the repository (see
  engine/connection_source.py), over an AVAILABLE connection: with a V2 trigger on that action, when one
  of its push filters matches -> `WebhookV2`; without one, a push to its BranchName unless DetectChanges is
  "false" -> `Webhook`. triggerDetail is the connection ARN for both (AWS does not document it).

Deleted refs start nothing (unless an EventBridge pattern asks for `referenceDeleted`, as on AWS).
Pull request filters of V2 triggers are accepted and never fire: there are no pull requests locally.
The repository store calls us holding the repository's lock, so an update is only queued there; one
worker thread takes the updates in order and starts their executions, so runs start in push order."""

import functools
import logging
import operator
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dulwich.diff_tree import tree_changes
from dulwich.object_store import peel_sha

from .. import config, motoapi
from ..awsjson import AwsError
from ..codecommit.store import RepoStore
from ..codeconnections.store import ConnectionStore
from .engine.connection_source import PushedRevision, PushedRevisions, local_repository
from .engine.flow import Engine
from .store import PipelineStore

log = logging.getLogger("labhelpers.endpoint")
REF_KINDS = {"refs/heads/": "branch", "refs/tags/": "tag"}
_MISSING = object()
_COMPARISONS = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt}


@dataclass(frozen=True)
class Push:
    """One ref update; a sha is None where the ref did not, or no longer, exist."""

    repository: str
    ref: str
    old: str | None
    new: str | None
    at: float

    @property
    def kind(self) -> str | None:
        return next((kind for prefix, kind in REF_KINDS.items() if self.ref.startswith(prefix)), None)

    @property
    def name(self) -> str:
        return self.ref.split("/", 2)[2]


@dataclass
class Start:
    declaration: dict
    trigger_type: str
    detail: str
    revisions: dict[str, PushedRevision] = field(default_factory=dict)  # source action -> pushed revision


# -- EventBridge -------------------------------------------------------------------------------------


def codecommit_event(push: Push, repository: dict, *, region: str, account: str) -> dict:
    """The "CodeCommit Repository State Change" event AWS puts on the default bus for a ref update."""
    change = "referenceCreated" if push.old is None else "referenceDeleted" if push.new is None else None
    detail = {
        "callerUserArn": config.caller_arn(account),
        "event": change or "referenceUpdated",
        "referenceType": push.kind,
        "referenceName": push.name,
        "referenceFullName": push.ref,
        "repositoryId": repository["repositoryId"],
        "repositoryName": push.repository,
    }
    if push.new:
        detail["commitId"] = push.new
    if push.old:
        detail["oldCommitId"] = push.old
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "CodeCommit Repository State Change",
        "source": "aws.codecommit",
        "account": account,
        "time": datetime.fromtimestamp(push.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [repository["Arn"]],
        "detail": detail,
    }


def event_matches(pattern: dict, event) -> bool:
    """Whether an EventBridge event pattern matches `event`: every field of the pattern must match (a list
    of values or filters: any one; an object: the nested fields; "$or": any of the sub-patterns)."""
    for key, rule in pattern.items():
        if key == "$or":
            matched = any(event_matches(branch, event) for branch in rule)
        else:
            value = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
            if isinstance(rule, dict):
                matched = event_matches(rule, value if isinstance(value, dict) else {})
            else:
                matched = isinstance(rule, list) and any(_value_matches(test, value) for test in rule)
        if not matched:
            return False
    return True


def _value_matches(test, value) -> bool:
    """One entry of a pattern's list against an event value (an array matches if any element does)."""
    if isinstance(test, dict):
        if "exists" in test:
            return (value is not _MISSING) == test["exists"]
        return value is not _MISSING and any(_filter_matches(test, v) for v in _elements(value))
    return value is not _MISSING and any(_same(test, v) for v in _elements(value))


def _elements(value) -> list:
    return value if isinstance(value, list) else [value]


def _same(expected, value) -> bool:
    if isinstance(expected, bool) or isinstance(value, bool):
        return expected is value
    return expected == value


def _filter_matches(test: dict, value) -> bool:
    """A content filter: prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric."""
    ((name, argument),) = test.items()
    if name == "anything-but":
        if isinstance(argument, dict):
            return isinstance(value, str) and not _filter_matches(argument, value)
        return not any(_same(excluded, value) for excluded in _elements(argument))
    if name == "numeric":
        return _numeric_matches(argument, value)
    if not isinstance(value, str):
        return False
    if isinstance(argument, dict) and "equals-ignore-case" in argument:
        argument, value = argument["equals-ignore-case"].lower(), value.lower()
    candidates = _elements(argument)
    if name == "prefix":
        return any(value.startswith(c) for c in candidates)
    if name == "suffix":
        return any(value.endswith(c) for c in candidates)
    if name == "equals-ignore-case":
        return any(value.lower() == c.lower() for c in candidates)
    if name == "wildcard":
        return any(re.fullmatch(_wildcard_regex(c), value, re.DOTALL) for c in candidates)
    log.warning("EventBridge pattern filter %r is not supported locally; it matches nothing", name)
    return False


def _numeric_matches(bounds: list, value) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    pairs = zip(bounds[::2], bounds[1::2], strict=True)
    return all(_COMPARISONS[name](value, limit) for name, limit in pairs)


def _wildcard_regex(wildcard: str) -> str:
    parts = re.split(r"(\\\*|\*)", wildcard)
    return "".join(".*" if part == "*" else re.escape("*" if part == "\\*" else part) for part in parts)


@dataclass(frozen=True)
class Rule:
    arn: str
    pattern: dict
    targets: list[dict]


def default_bus_rules(account: str, region: str) -> list[Rule]:
    """The enabled event-pattern rules of the Region's default bus."""
    return [Rule(*rule) for rule in motoapi.default_bus_rules(account, region)]


# -- V2 trigger filters ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _glob_regex(glob: str) -> re.Pattern:
    """AWS's glob syntax (Java's): `*` within a path segment, `**` across segments, `?` one character,
    `[...]` a set (`[!...]` negated), `{a,b}` alternatives (not nested), `\\` escapes."""
    out, index, in_group = [], 0, False
    while index < len(glob):
        char = glob[index]
        index += 1
        if char == "\\" and index < len(glob):
            out.append(re.escape(glob[index]))
            index += 1
        elif char == "*":
            crosses = glob.startswith("*", index)
            index += crosses
            out.append(".*" if crosses else "[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and "]" in glob[index + 1 :]:
            end = glob.index("]", index + 1)
            out.append(_char_set(glob[index:end]))
            index = end + 1
        elif char == "{" and not in_group:
            out.append("(?:")
            in_group = True
        elif char == "}" and in_group:
            out.append(")")
            in_group = False
        elif char == "," and in_group:
            out.append("|")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out) + (")" if in_group else ""), re.DOTALL)


def _char_set(body: str) -> str:
    negated = body.startswith("!")
    body = body[negated:]
    last = len(body) - 1
    members = "".join("-" if c == "-" and 0 < i < last else re.escape(c) for i, c in enumerate(body))
    return f"(?!/)[{'^' if negated else ''}{members}]"


def glob_matches(glob: str, name: str) -> bool:
    return _glob_regex(glob).fullmatch(name) is not None


def criteria_match(criteria: dict, name: str) -> bool:
    """includes/excludes globs against one name: excludes win; no includes means anything not excluded."""
    if any(glob_matches(glob, name) for glob in criteria.get("excludes") or ()):
        return False
    includes = criteria.get("includes")
    return not includes or any(glob_matches(glob, name) for glob in includes)


def push_filter_matches(push_filter: dict, push: Push, changed_files: Callable[[], list[str]]) -> bool:
    """One push filter of a V2 trigger: tags for tag pushes; branches (and file paths) for branch pushes.
    File paths match when at least one file the push changed is included and not excluded."""
    if push.kind == "tag":
        tags = push_filter.get("tags")
        return tags is not None and "branches" not in push_filter and criteria_match(tags, push.name)
    if push.kind != "branch" or "tags" in push_filter:
        return False
    branches, paths = push_filter.get("branches"), push_filter.get("filePaths")
    if branches is not None and not criteria_match(branches, push.name):
        return False
    return paths is None or any(criteria_match(paths, path) for path in changed_files())


def changed_files(repos: RepoStore, push: Push) -> list[str]:
    """The paths a push changed, old -> new; for a new ref, what its commit changed from its parent."""
    with repos.open(push.repository) as repo:
        store = repo.object_store
        new = peel_sha(store, push.new.encode())[1]
        if push.old:
            old_tree = peel_sha(store, push.old.encode())[1].tree
        else:
            old_tree = store[new.parents[0]].tree if new.parents else None
        changes = tree_changes(store, old_tree, new.tree)
        paths = {change.new.path or change.old.path for change in changes}
    return sorted(path.decode("utf-8", "surrogateescape") for path in paths)


def _pins(declaration: dict) -> bool:
    """Whether a run takes the pushed commit: in PARALLEL mode the source reads the branch when it starts."""
    return declaration.get("executionMode", "SUPERSEDED") != "PARALLEL"


def _enabled(setting) -> bool:
    """PollForSourceChanges / DetectChanges: absent or anything but "false" means on."""
    return str(setting).lower() != "false" if setting is not None else True


def _source_actions(declaration: dict) -> Iterator[dict]:
    for stage in declaration.get("stages", []):
        for action in stage.get("actions", []):
            if action.get("actionTypeId", {}).get("category") == "Source":
                yield action


def _v2_trigger(declaration: dict, action_name: str) -> dict | None:
    return next(
        (
            trigger["gitConfiguration"]
            for trigger in declaration.get("triggers") or []
            if trigger.get("gitConfiguration", {}).get("sourceActionName") == action_name
        ),
        None,
    )


# -- the detector ------------------------------------------------------------------------------------


class ChangeDetection:
    def __init__(
        self,
        *,
        repos: RepoStore,
        pipelines: PipelineStore,
        engine: Engine,
        connections: ConnectionStore,
        pushes: PushedRevisions,
        account: str,
    ):
        self.repos = repos
        self.pipelines = pipelines
        self.engine = engine
        self.connections = connections
        self.pushes = pushes
        self.account = account
        self.permissions = engine.permissions  # the engine's: one evaluator of roles
        self._updates: queue.SimpleQueue[Push] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="change-detection", daemon=True)

    def start(self):
        self.repos.subscribe(self._ref_updated)
        self._worker.start()

    def _ref_updated(self, repository: str, ref: str, old: str | None, new: str | None):
        self._updates.put(Push(repository, ref, old, new, time.time()))

    def _work(self):
        while True:
            push = self._updates.get()
            try:
                self._deliver(push)
            except Exception:
                log.exception("change detection failed on %s %s", push.repository, push.ref)

    def _deliver(self, push: Push):
        if push.kind is None:
            return
        region = self.repos.region
        try:
            repository = self.repos.get(push.repository)
        except AwsError:
            return  # deleted since
        # a pipeline created after the update never saw it, however late this worker gets to it
        records = [r for r in self.pipelines.records(region=region) if r["metadata"]["created"] <= push.at]
        pipelines = {record["metadata"]["pipelineArn"]: record["pipeline"] for record in records}
        files = functools.cache(functools.partial(changed_files, self.repos, push))
        event = codecommit_event(push, repository, region=region, account=self.account)
        for start in [
            *self._source_starts(push, pipelines.values(), files),
            *self._event_starts(push, event, pipelines, region),
        ]:
            self._start(push, start, region)

    def _start(self, push: Push, start: Start, region: str):
        """Start one execution; a failure is logged and does not keep the push's other runs from starting."""
        name = start.declaration["name"]
        try:
            execution = self.pushes.start(
                lambda: self.engine.start(
                    start.declaration, start.trigger_type, region=region, trigger_detail=start.detail
                ),
                start.revisions,
            )
        except Exception:
            log.exception(
                "%s %s could not start %s of %s", push.repository, push.ref, start.trigger_type, name
            )
            return
        log.info(
            "%s %s started %s execution %s of %s",
            push.repository,
            push.ref,
            start.trigger_type,
            execution.id,
            name,
        )

    def _source_starts(self, push: Push, declarations, files) -> Iterator[Start]:
        """One start per pipeline and trigger type that the pipeline's own source actions call for."""
        if push.new is None:
            return
        for declaration in declarations:
            starts: dict[tuple[str, str], Start] = {}
            for action in _source_actions(declaration):
                found = self._source_trigger(push, declaration, action, files)
                if found is None:
                    continue
                trigger_type, detail, pinned = found
                start = starts.setdefault((trigger_type, detail), Start(declaration, trigger_type, detail))
                if pinned:
                    start.revisions[action["name"]] = PushedRevision(push.ref, push.new)
            yield from starts.values()

    def _source_trigger(self, push: Push, declaration: dict, action: dict, files):
        """(trigger type, detail, whether the action takes the pushed revision) if `action` fires."""
        provider = action["actionTypeId"].get("provider")
        configuration = action.get("configuration", {})
        if provider == "CodeCommit":
            fires = (
                push.kind == "branch"
                and configuration.get("RepositoryName") == push.repository
                and configuration.get("BranchName") == push.name
                and _enabled(configuration.get("PollForSourceChanges"))
            )
            return ("PollForSourceChanges", action["name"], _pins(declaration)) if fires else None
        if provider != "CodeStarSourceConnection":
            return None
        arn = configuration.get("ConnectionArn", "")
        connection = self.connections.find(arn)
        if (
            local_repository(configuration.get("FullRepositoryId", "")) != push.repository
            or connection is None
            or connection["ConnectionStatus"] != "AVAILABLE"
        ):
            return None
        trigger = _v2_trigger(declaration, action["name"])
        if trigger is not None:
            fires = any(push_filter_matches(f, push, files) for f in trigger.get("push") or [])
            return ("WebhookV2", arn, True) if fires else None
        fires = (
            push.kind == "branch"
            and configuration.get("BranchName") == push.name
            and _enabled(configuration.get("DetectChanges"))
        )
        return ("Webhook", arn, True) if fires else None

    def _event_starts(
        self, push: Push, event: dict, pipelines: dict[str, dict], region: str
    ) -> Iterator[Start]:
        for rule in default_bus_rules(self.account, region):
            if not event_matches(rule.pattern, event):
                continue
            for target in rule.targets:
                declaration = pipelines.get(target.get("Arn"))
                if declaration is not None and self._role_may_start(rule, target):
                    start = Start(declaration, "CloudWatchEvent", rule.arn)
                    if _pins(declaration) and push.kind == "branch":
                        for action in _source_actions(declaration):
                            configuration = action.get("configuration", {})
                            if (configuration.get("RepositoryName"), configuration.get("BranchName")) == (
                                push.repository,
                                push.name,
                            ):
                                start.revisions[action["name"]] = PushedRevision(push.ref, push.new)
                    yield start

    def _role_may_start(self, rule: Rule, target: dict) -> bool:
        """EventBridge starts a pipeline with the target's role; without the permission the call fails."""
        role = target.get("RoleArn")
        wanted = [("codepipeline:StartPipelineExecution", target["Arn"])]
        if role and self.permissions.missing(role, wanted) == []:
            return True
        log.warning(
            "EventBridge rule %s could not start %s: its target needs a RoleArn of a role allowed "
            "codepipeline:StartPipelineExecution on it (role given: %s)",
            rule.arn,
            target["Arn"],
            role,
        )
        return False
