"""Approving pull requests: UpdatePullRequestApprovalState, GetPullRequestApprovalStates,
CreatePullRequestApprovalRule, UpdatePullRequestApprovalRuleContent, DeletePullRequestApprovalRule,
EvaluatePullRequestApprovalRules, OverridePullRequestApprovalRules and GetPullRequestOverrideState.

The local rule on authors: as on AWS, the caller may not approve a pull request whose authorArn is the
caller. Locally every call is the lab's user, so pull requests the API opens can never be approved by it;
one another user opened (its record on disk naming that user as author, as a lab exercise or a test writes
it) can. Approvals count for the revision they were given on; a new source commit starts a new revision.
A rule is satisfied when, for each of its statements, at least NumberOfApprovalsNeeded approvers of the
revision match its ApprovalPoolMembers (ARN patterns with `*`, or CodeCommitApprovers:<account>:<name>);
a rule whose DestinationReferences do not name the pull request's destination is satisfied. Rules a
template made (originApprovalRuleTemplate) cannot be changed or deleted on the pull request. An override
sets the rules aside for the revision it was given on, so the pull request may merge unapproved; REVOKE
removes it (as on AWS, a revoke is not stored)."""

import fnmatch
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from ..awsjson import AwsError, now
from .params import required

MAX_RULES = 25
MAX_RULE_NAME = 100
MAX_RULE_CONTENT = 3000


class PullRequestApprovals:
    """Operations of CodeCommitService (a mixin over PullRequests)."""

    def update_pull_request_approval_state(self, params):
        state = params.get("approvalState")
        if not state:
            raise AwsError("ApprovalStateRequiredException", "approvalState is required: APPROVE or REVOKE.")
        if state not in ("APPROVE", "REVOKE"):
            raise AwsError("InvalidApprovalStateException", "approvalState must be APPROVE or REVOKE.")
        with self._locked(params) as (name, record):
            pull = record["pullRequest"]
            revision = _current_revision(params, pull)
            if pull["pullRequestStatus"] != "OPEN":
                raise AwsError(
                    "PullRequestAlreadyClosedException", f"Pull request {pull['pullRequestId']} is closed."
                )
            user = self.caller()
            if state == "APPROVE" and user == pull["authorArn"]:
                raise AwsError(
                    "PullRequestCannotBeApprovedByAuthorException",
                    f"approvalState: {user} is the author of pull request {pull['pullRequestId']}.",
                )
            approvers = [arn for arn in record["approvals"].get(revision, []) if arn != user]
            record["approvals"][revision] = approvers + ([user] if state == "APPROVE" else [])
            self._event(
                record,
                "PULL_REQUEST_APPROVAL_STATE_CHANGED",
                approvalStateChangedEventMetadata={"revisionId": revision, "approvalStatus": state},
            )
            self.pulls.save(name, record)

    def get_pull_request_approval_states(self, params):
        _, record = self._current(params)
        revision = _revision_id(params)
        approvers = record["approvals"].get(revision, [])
        return {"approvals": [{"userArn": arn, "approvalState": "APPROVE"} for arn in approvers]}

    def evaluate_pull_request_approval_rules(self, params):
        _, record = self._current(params)
        revision = _current_revision(params, record["pullRequest"])
        satisfied, unsatisfied = _evaluate(record, revision)
        return {
            "evaluation": {
                "approved": not unsatisfied,
                "overridden": _overrider(record, revision) is not None,
                "approvalRulesSatisfied": satisfied,
                "approvalRulesNotSatisfied": unsatisfied,
            }
        }

    def create_pull_request_approval_rule(self, params):
        rule_name = _rule_name(params)
        content = rule_content(params, "approvalRuleContent")
        with self._open_record(params) as (name, record):
            rules = record["pullRequest"]["approvalRules"]
            if any(rule["approvalRuleName"] == rule_name for rule in rules):
                raise AwsError(
                    "ApprovalRuleNameAlreadyExistsException", f"approvalRuleName {rule_name} already exists."
                )
            if len(rules) >= MAX_RULES:
                raise AwsError(
                    "NumberOfRulesExceededException", f"A pull request has at most {MAX_RULES} rules."
                )
            rule = new_rule(rule_name, content, self.caller())
            rules.append(rule)
            self._rule_event(record, "PULL_REQUEST_APPROVAL_RULE_CREATED", rule)
            self.pulls.save(name, record)
        return {"approvalRule": rule}

    def update_pull_request_approval_rule_content(self, params):
        rule_name = _rule_name(params)
        content = rule_content(params, "newRuleContent")
        with self._open_record(params) as (name, record):
            rule = _find_rule(record, rule_name)
            if rule is None:
                raise AwsError(
                    "ApprovalRuleDoesNotExistException", f"approvalRuleName {rule_name} does not exist."
                )
            _not_from_template(rule, "CannotModifyApprovalRuleFromTemplateException", "changed")
            expected = params.get("existingRuleContentSha256")
            if expected is not None and expected != rule["ruleContentSha256"]:
                raise AwsError(
                    "InvalidRuleContentSha256Exception",
                    f"existingRuleContentSha256 is not the SHA-256 of {rule_name}'s current content.",
                )
            rule.update(
                approvalRuleContent=content,
                ruleContentSha256=content_sha256(content),
                lastModifiedDate=now(),
                lastModifiedUser=self.caller(),
            )
            self._rule_event(record, "PULL_REQUEST_APPROVAL_RULE_UPDATED", rule)
            self.pulls.save(name, record)
        return {"approvalRule": rule}

    def delete_pull_request_approval_rule(self, params):
        rule_name = _rule_name(params)
        with self._open_record(params) as (name, record):
            rule = _find_rule(record, rule_name)
            if rule is None:
                return {"approvalRuleId": ""}
            _not_from_template(rule, "CannotDeleteApprovalRuleFromTemplateException", "deleted")
            record["pullRequest"]["approvalRules"].remove(rule)
            self._rule_event(record, "PULL_REQUEST_APPROVAL_RULE_DELETED", rule)
            self.pulls.save(name, record)
        return {"approvalRuleId": rule["approvalRuleId"]}

    def override_pull_request_approval_rules(self, params):
        status = params.get("overrideStatus")
        if not status:
            raise AwsError("OverrideStatusRequiredException", "Give overrideStatus: OVERRIDE or REVOKE.")
        if status not in ("OVERRIDE", "REVOKE"):
            raise AwsError("InvalidOverrideStatusException", "overrideStatus must be OVERRIDE or REVOKE.")
        with self._open_record(params) as (name, record):
            revision = _current_revision(params, record["pullRequest"])
            overrides = record.setdefault("overrides", {})
            if status == "OVERRIDE":
                if revision in overrides:
                    raise AwsError(
                        "OverrideAlreadySetException",
                        f"overrideStatus: {overrides[revision]} already overrode the rules of this revision.",
                    )
                overrides[revision] = self.caller()
            elif overrides.pop(revision, None) is None:
                return  # no override to revoke
            self._event(
                record,
                "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN",
                approvalRuleOverriddenEventMetadata={"revisionId": revision, "overrideStatus": status},
            )
            self.pulls.save(name, record)

    def get_pull_request_override_state(self, params):
        _, record = self._current(params)
        overrider = _overrider(record, _revision_id(params))
        return {"overridden": True, "overrider": overrider} if overrider else {"overridden": False}

    def check_rules_satisfied(self, record: dict) -> None:
        """Before a merge: every approval rule satisfied on the current revision (or the rules overridden),
        else AWS's exception."""
        revision = record["pullRequest"]["revisionId"]
        _, unsatisfied = _evaluate(record, revision)
        if unsatisfied and _overrider(record, revision) is None:
            raise AwsError(
                "PullRequestApprovalRulesNotSatisfiedException",
                f"Approval rules not satisfied: {', '.join(unsatisfied)}.",
            )

    @contextmanager
    def _open_record(self, params) -> Iterator[tuple[str, dict]]:
        with self._locked(params) as (name, record):
            if record["pullRequest"]["pullRequestStatus"] != "OPEN":
                raise AwsError(
                    "PullRequestAlreadyClosedException",
                    f"Pull request {record['pullRequest']['pullRequestId']} is closed.",
                )
            yield name, record

    def _rule_event(self, record: dict, kind: str, rule: dict) -> None:
        metadata = {key: rule[key] for key in ("approvalRuleName", "approvalRuleId", "approvalRuleContent")}
        self._event(record, kind, approvalRuleEventMetadata=metadata)


def new_rule(rule_name: str, content: str, user: str, origin: dict | None = None) -> dict:
    """An approval rule of a pull request; `origin` names the template that made it, if one did."""
    stamp = now()
    return {
        "approvalRuleId": str(uuid.uuid4()),
        "approvalRuleName": rule_name,
        "approvalRuleContent": content,
        "ruleContentSha256": content_sha256(content),
        "creationDate": stamp,
        "lastModifiedDate": stamp,
        "lastModifiedUser": user,
        **({"originApprovalRuleTemplate": origin} if origin else {}),
    }


def applies_to(content: dict, destination: str) -> bool:
    """Whether (parsed) rule content concerns pull requests into `destination` (a full reference): those
    its DestinationReferences name, or all when it names none."""
    return destination in content.get("DestinationReferences", [destination])


def _evaluate(record: dict, revision: str) -> tuple[list[str], list[str]]:
    """The names of the rules the approvals of `revision` satisfy, and of those they do not."""
    approvers = record["approvals"].get(revision, [])
    destination = record["pullRequest"]["pullRequestTargets"][0]["destinationReference"]
    satisfied, unsatisfied = [], []
    for rule in record["pullRequest"]["approvalRules"]:
        content = json.loads(rule["approvalRuleContent"])
        met = not applies_to(content, destination) or all(
            sum(_in_pool(arn, statement.get("ApprovalPoolMembers")) for arn in approvers)
            >= statement["NumberOfApprovalsNeeded"]
            for statement in content["Statements"]
        )
        (satisfied if met else unsatisfied).append(rule["approvalRuleName"])
    return satisfied, unsatisfied


def _in_pool(arn: str, members: list[str] | None) -> bool:
    if not members:
        return True
    patterns = []
    for member in members:
        if member.startswith("CodeCommitApprovers:"):
            _, account, rest = member.split(":", 2)
            patterns += [f"arn:aws:iam::{account}:{rest}", f"arn:aws:sts::{account}:{rest}"]
        else:
            patterns.append(member)
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns)


def _rule_name(params) -> str:
    rule_name = required(params, "approvalRuleName", "ApprovalRuleNameRequiredException")
    if len(rule_name) > MAX_RULE_NAME:
        raise AwsError(
            "InvalidApprovalRuleNameException", f"approvalRuleName: at most {MAX_RULE_NAME} characters."
        )
    return rule_name


def _overrider(record: dict, revision: str) -> str | None:
    """Who overrode the approval rules of `revision`, if anyone did."""
    return record.get("overrides", {}).get(revision)


def rule_content(
    params,
    key: str,
    required_code: str = "ApprovalRuleContentRequiredException",
    invalid_code: str = "InvalidApprovalRuleContentException",
) -> str:
    """Approval rule content (of a pull request's rule, or of a template with its codes), checked."""
    content = required(params, key, required_code)
    try:
        parsed = json.loads(content)
        statements = parsed["Statements"]
        valid = (
            len(content) <= MAX_RULE_CONTENT
            and isinstance(parsed.get("Version"), str)
            and isinstance(statements, list)
            and statements
            and all(_valid_statement(statement) for statement in statements)
            and isinstance(parsed.get("DestinationReferences", []), list)
        )
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise AwsError(
            invalid_code,
            f'{key} is not a valid rule: JSON of at most {MAX_RULE_CONTENT} characters like {{"Version": '
            '"2018-11-08", "Statements": [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1, '
            '"ApprovalPoolMembers": ["arn:aws:iam::<account>:user/*"]}]}.',
        )
    return content


def _valid_statement(statement) -> bool:
    needed = statement.get("NumberOfApprovalsNeeded")
    members = statement.get("ApprovalPoolMembers", [])
    return (
        statement.get("Type") == "Approvers"
        and isinstance(needed, int)
        and needed >= 1
        and isinstance(members, list)
        and all(isinstance(member, str) for member in members)
    )


def _not_from_template(rule: dict, code: str, verb: str) -> None:
    origin = rule.get("originApprovalRuleTemplate")
    if origin:
        raise AwsError(
            code,
            f"approvalRuleName: {rule['approvalRuleName']} comes from approval rule template "
            f"{origin['approvalRuleTemplateName']} and cannot be {verb} on the pull request; "
            "override the approval rules instead.",
        )


def _find_rule(record: dict, rule_name: str) -> dict | None:
    return next(
        (r for r in record["pullRequest"]["approvalRules"] if r["approvalRuleName"] == rule_name), None
    )


def _revision_id(params) -> str:
    revision = required(params, "revisionId", "RevisionIdRequiredException")
    if len(revision) != 64 or any(c not in "0123456789abcdef" for c in revision):
        raise AwsError("InvalidRevisionIdException", f"revisionId {revision!r} is not a revision ID.")
    return revision


def _current_revision(params, pull: dict) -> str:
    revision = _revision_id(params)
    if revision != pull["revisionId"]:
        raise AwsError(
            "RevisionNotCurrentException",
            f"revisionId {revision} is not the current revision of pull request {pull['pullRequestId']}.",
        )
    return revision


def content_sha256(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()
