"""CodeCommit pull requests on the real local endpoint, through boto3 and the aws CLI's examples: creating,
reading, listing, updating, closing, their events, merges, approvals and overrides."""

import json

import pytest
from cli_examples_kit import EXAMPLES, parse, service_model, shape_differences
from test_codecommit import error_code


@pytest.fixture
def cc(endpoint):
    return endpoint.client("codecommit")


@pytest.fixture
def repo(cc, unique):
    """A repository with main (README.md) and feature (README.md and feature.txt) branches."""
    name = f"pr-{unique}"
    cc.create_repository(repositoryName=name)
    first = cc.create_commit(
        repositoryName=name,
        branchName="main",
        putFiles=[{"filePath": "README.md", "fileContent": b"# hello\n"}],
    )["commitId"]
    cc.create_branch(repositoryName=name, branchName="feature", commitId=first)
    cc.put_file(
        repositoryName=name,
        branchName="feature",
        filePath="feature.txt",
        fileContent=b"new\n",
        parentCommitId=first,
    )
    return name


def open_pr(cc, name: str, source: str = "feature", **extra) -> dict:
    targets = [{"repositoryName": name, "sourceReference": source, "destinationReference": "main"}]
    extra.setdefault("description", "Adds the feature")
    return cc.create_pull_request(title="Add feature", targets=targets, **extra)["pullRequest"]


def caller(endpoint) -> str:
    return endpoint.client("sts").get_caller_identity()["Arn"]


# Options the examples misspell, which the CLI refuses: the merge examples' --name (for --author-name) and
# get-comments-for-compared-commit's --before-commit-ID.
def example_differences(endpoint, command: str, repo: str, **values: str) -> list[str]:
    """Run the CLI example of `command` on `repo`, its options given `values` (pull_request_id=...);
    where its output's shape differs from the documented one."""
    example = parse("codecommit", EXAMPLES / "codecommit" / f"{command}.rst")[0]
    argv = [arg.replace("MyDemoRepo", repo) for arg in example.argv]  # its printed typos put right by parse
    for key, value in values.items():
        argv[argv.index("--" + key.replace("_", "-")) + 1] = value
    answer = json.loads(endpoint.aws("codecommit", command, *argv).stdout or "{}")
    shape = service_model("codecommit").operation_model(example.operation).output_shape
    return shape_differences(example.output, answer, shape)


def test_create_get_and_list_pull_requests(cc, endpoint, repo):
    tips = {
        b: cc.get_branch(repositoryName=repo, branchName=b)["branch"]["commitId"] for b in ("main", "feature")
    }
    pull = open_pr(cc, repo, description="please review", clientRequestToken="tok-1")
    assert pull["pullRequestStatus"] == "OPEN"
    assert pull["authorArn"] == caller(endpoint)
    assert pull["description"] == "please review"
    [target] = pull["pullRequestTargets"]
    assert target == {
        "repositoryName": repo,
        "sourceReference": "refs/heads/feature",
        "destinationReference": "refs/heads/main",
        "sourceCommit": tips["feature"],
        "destinationCommit": tips["main"],
        "mergeBase": tips["main"],
        "mergeMetadata": {"isMerged": False},
    }
    assert cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"] == pull
    # The same token and parameters: the same pull request; other parameters: refused.
    assert open_pr(cc, repo, description="please review", clientRequestToken="tok-1") == pull
    assert error_code(
        cc.create_pull_request,
        title="Other",
        clientRequestToken="tok-1",
        targets=[{"repositoryName": repo, "sourceReference": "feature"}],
    ) == ("IdempotencyParameterMismatchException")

    second = open_pr(cc, repo)
    assert int(second["pullRequestId"]) > int(pull["pullRequestId"])
    listed = cc.list_pull_requests(repositoryName=repo)["pullRequestIds"]
    assert listed == [second["pullRequestId"], pull["pullRequestId"]]
    page = cc.list_pull_requests(repositoryName=repo, maxResults=1)
    assert page["pullRequestIds"] == [second["pullRequestId"]]
    following = cc.list_pull_requests(repositoryName=repo, maxResults=1, nextToken=page["nextToken"])
    assert following["pullRequestIds"] == [pull["pullRequestId"]]
    assert cc.list_pull_requests(repositoryName=repo, pullRequestStatus="CLOSED")["pullRequestIds"] == []
    mine = cc.list_pull_requests(repositoryName=repo, authorArn=caller(endpoint))["pullRequestIds"]
    assert mine == listed
    other = f"arn:aws:iam::{pull['authorArn'].split(':')[4]}:user/someone-else"
    assert cc.list_pull_requests(repositoryName=repo, authorArn=other)["pullRequestIds"] == []


def test_create_pull_request_refuses_bad_targets(cc, repo):
    def code(targets, title="t"):
        return error_code(cc.create_pull_request, title=title, targets=targets)

    assert code([]) == "TargetsRequiredException"
    assert code([{"repositoryName": repo, "sourceReference": "feature"}] * 2) == (
        "MultipleRepositoriesInPullRequestException"
    )
    assert code([{"repositoryName": repo, "sourceReference": ""}]) == "ReferenceNameRequiredException"
    assert code([{"repositoryName": repo, "sourceReference": "nope"}]) == "ReferenceDoesNotExistException"
    assert code([{"repositoryName": repo, "sourceReference": "refs/tags/v1"}]) == (
        "ReferenceTypeNotSupportedException"
    )
    assert code([{"repositoryName": repo, "sourceReference": "bad..name"}]) == "InvalidReferenceNameException"
    assert (
        code([{"repositoryName": repo, "sourceReference": "main"}]) == "SourceAndDestinationAreSameException"
    )
    assert code([{"repositoryName": "missing-repo", "sourceReference": "x"}]) == (
        "RepositoryDoesNotExistException"
    )
    assert (
        code([{"repositoryName": repo, "sourceReference": "feature"}], title="") == "TitleRequiredException"
    )
    assert code([{"repositoryName": repo, "sourceReference": "feature"}], title="x" * 151) == (
        "InvalidTitleException"
    )
    assert error_code(cc.get_pull_request, pullRequestId="abc") == "InvalidPullRequestIdException"
    assert error_code(cc.get_pull_request, pullRequestId="999999") == "PullRequestDoesNotExistException"
    assert error_code(cc.list_pull_requests, repositoryName=repo, pullRequestStatus="MERGED") == (
        "InvalidPullRequestStatusException"
    )
    assert (
        error_code(cc.list_pull_requests, repositoryName=repo, authorArn="me") == "InvalidAuthorArnException"
    )


def test_update_title_description_and_close(cc, endpoint, repo):
    pull_id = open_pr(cc, repo)["pullRequestId"]
    assert (
        cc.update_pull_request_title(pullRequestId=pull_id, title="Better")["pullRequest"]["title"]
        == "Better"
    )
    described = cc.update_pull_request_description(pullRequestId=pull_id, description="why")["pullRequest"]
    assert described["description"] == "why"
    closed = cc.update_pull_request_status(pullRequestId=pull_id, pullRequestStatus="CLOSED")["pullRequest"]
    assert closed["pullRequestStatus"] == "CLOSED"
    assert error_code(cc.update_pull_request_title, pullRequestId=pull_id, title="x") == (
        "PullRequestAlreadyClosedException"
    )
    assert error_code(cc.update_pull_request_status, pullRequestId=pull_id, pullRequestStatus="OPEN") == (
        "InvalidPullRequestStatusUpdateException"
    )
    assert error_code(cc.update_pull_request_status, pullRequestId=pull_id, pullRequestStatus="DONE") == (
        "InvalidPullRequestStatusException"
    )
    listed = cc.list_pull_requests(repositoryName=repo, pullRequestStatus="CLOSED")["pullRequestIds"]
    assert listed == [pull_id]

    events = cc.describe_pull_request_events(pullRequestId=pull_id)["pullRequestEvents"]
    assert [e["pullRequestEventType"] for e in events] == [
        "PULL_REQUEST_CREATED",
        "PULL_REQUEST_STATUS_CHANGED",
    ]
    assert events[1]["pullRequestStatusChangedEventMetadata"] == {"pullRequestStatus": "CLOSED"}
    assert {e["actorArn"] for e in events} == {caller(endpoint)}
    only = cc.describe_pull_request_events(pullRequestId=pull_id, pullRequestEventType="PULL_REQUEST_CREATED")
    assert len(only["pullRequestEvents"]) == 1
    paged = cc.describe_pull_request_events(pullRequestId=pull_id, maxResults=1)
    assert len(paged["pullRequestEvents"]) == 1 and paged["nextToken"]
    assert error_code(cc.describe_pull_request_events, pullRequestId=pull_id, pullRequestEventType="X") == (
        "InvalidPullRequestEventTypeException"
    )


def test_an_open_pull_request_follows_its_source_branch(cc, repo):
    pull = open_pr(cc, repo)
    tip = pull["pullRequestTargets"][0]["sourceCommit"]
    pushed = cc.put_file(
        repositoryName=repo,
        branchName="feature",
        filePath="more.txt",
        fileContent=b"more\n",
        parentCommitId=tip,
    )["commitId"]
    now = cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"]
    assert now["pullRequestTargets"][0]["sourceCommit"] == pushed
    assert now["revisionId"] != pull["revisionId"]
    events = cc.describe_pull_request_events(pullRequestId=pull["pullRequestId"])["pullRequestEvents"]
    updated = events[-1]["pullRequestSourceReferenceUpdatedEventMetadata"]
    assert (updated["beforeCommitId"], updated["afterCommitId"]) == (tip, pushed)


def test_pull_requests_survive_a_restart(fresh_endpoint, unique):
    from conftest import start_endpoint

    from labhelpers.local import process

    cc = fresh_endpoint.client("codecommit")
    name = f"keep-{unique}"
    cc.create_repository(repositoryName=name)
    first = cc.put_file(repositoryName=name, branchName="main", filePath="a", fileContent=b"a")["commitId"]
    cc.create_branch(repositoryName=name, branchName="dev", commitId=first)
    pull = open_pr(cc, name, source="dev")
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root)
    cc = again.client("codecommit")
    assert cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"] == pull
    assert open_pr(cc, name, source="dev")["pullRequestId"] == str(int(pull["pullRequestId"]) + 1)


@pytest.mark.parametrize(
    "command",
    [
        "create-pull-request",
        "get-pull-request",
        "list-pull-requests",
        "update-pull-request-title",
        "update-pull-request-description",
        "describe-pull-request-events",
        "update-pull-request-status",
    ],
)
def test_cli_examples_answer_the_documented_shape(cc, endpoint, repo, command):
    tip = cc.get_branch(repositoryName=repo, branchName="feature")["branch"]["commitId"]
    cc.create_branch(repositoryName=repo, branchName="MyNewBranch", commitId=tip)
    values = (
        {}
        if command.startswith(("create", "list"))
        else {"pull_request_id": open_pr(cc, repo)["pullRequestId"]}
    )
    assert example_differences(endpoint, command, repo, **values) == []


# -- merges ------------------------------------------------------------------------------------------


def tip(cc, name: str, branch: str) -> str:
    return cc.get_branch(repositoryName=name, branchName=branch)["branch"]["commitId"]


def put(cc, name: str, branch: str, path: str, content: bytes) -> str:
    parent = tip(cc, name, branch)
    return cc.put_file(
        repositoryName=name, branchName=branch, filePath=path, fileContent=content, parentCommitId=parent
    )["commitId"]


def test_fast_forward_merge_moves_main_and_closes_the_pull_request(cc, endpoint, repo):
    pull_id = open_pr(cc, repo)["pullRequestId"]
    source = tip(cc, repo, "feature")
    wrong = {"pullRequestId": pull_id, "repositoryName": repo}
    assert error_code(cc.merge_pull_request_by_fast_forward, **wrong, sourceCommitId="0" * 40) == (
        "TipOfSourceReferenceIsDifferentException"
    )
    assert error_code(cc.merge_pull_request_by_fast_forward, **wrong, sourceCommitId="abc") == (
        "InvalidCommitIdException"
    )
    other = f"{repo}-other"
    cc.create_repository(repositoryName=other)
    assert error_code(cc.merge_pull_request_by_fast_forward, pullRequestId=pull_id, repositoryName=other) == (
        "RepositoryNotAssociatedWithPullRequestException"
    )
    merged = cc.merge_pull_request_by_fast_forward(**wrong, sourceCommitId=source)["pullRequest"]
    assert tip(cc, repo, "main") == source
    assert merged["pullRequestStatus"] == "CLOSED"
    assert merged["pullRequestTargets"][0]["mergeMetadata"] == {
        "isMerged": True,
        "mergedBy": caller(endpoint),
        "mergeCommitId": source,
        "mergeOption": "FAST_FORWARD_MERGE",
    }
    events = cc.describe_pull_request_events(pullRequestId=pull_id)["pullRequestEvents"]
    assert [e["pullRequestEventType"] for e in events][-2:] == [
        "PULL_REQUEST_MERGE_STATE_CHANGED",
        "PULL_REQUEST_STATUS_CHANGED",
    ]
    assert (
        events[-2]["pullRequestMergedStateChangedEventMetadata"]["destinationReference"] == "refs/heads/main"
    )
    assert error_code(cc.merge_pull_request_by_fast_forward, **wrong) == "PullRequestAlreadyClosedException"


def test_three_way_and_squash_merges_make_a_commit_when_main_moved(cc, repo):
    put(cc, repo, "main", "main.txt", b"on main\n")
    first = open_pr(cc, repo)["pullRequestId"]
    assert error_code(cc.merge_pull_request_by_fast_forward, pullRequestId=first, repositoryName=repo) == (
        "ManualMergeRequiredException"
    )
    before, source = tip(cc, repo, "main"), tip(cc, repo, "feature")
    merged = cc.merge_pull_request_by_three_way(
        pullRequestId=first, repositoryName=repo, commitMessage="merge it", authorName="Ada", email="a@b.c"
    )["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]
    assert merged["mergeOption"] == "THREE_WAY_MERGE"
    commit = cc.get_commit(repositoryName=repo, commitId=tip(cc, repo, "main"))["commit"]
    assert commit["commitId"] == merged["mergeCommitId"]
    assert (commit["parents"], commit["message"], commit["author"]["name"]) == (
        [before, source],
        "merge it",
        "Ada",
    )
    files = {f["absolutePath"] for f in cc.get_folder(repositoryName=repo, folderPath="/")["files"]}
    assert files == {"README.md", "main.txt", "feature.txt"}

    put(cc, repo, "feature", "second.txt", b"second\n")
    put(cc, repo, "main", "main2.txt", b"main again\n")
    second = open_pr(cc, repo)["pullRequestId"]
    before = tip(cc, repo, "main")
    squashed = cc.merge_pull_request_by_squash(pullRequestId=second, repositoryName=repo)["pullRequest"]
    commit = cc.get_commit(repositoryName=repo, commitId=tip(cc, repo, "main"))["commit"]
    assert commit["parents"] == [before]
    assert squashed["pullRequestTargets"][0]["mergeMetadata"]["mergeOption"] == "SQUASH_MERGE"
    got = cc.get_file(repositoryName=repo, filePath="second.txt", commitSpecifier="main")
    assert got["fileContent"] == b"second\n"


def test_conflicts_need_a_manual_merge_or_a_strategy(cc, repo):
    put(cc, repo, "main", "README.md", b"# main's\n")
    put(cc, repo, "feature", "README.md", b"# feature's\n")
    pull_id = open_pr(cc, repo)["pullRequestId"]
    for merge in (cc.merge_pull_request_by_squash, cc.merge_pull_request_by_three_way):
        assert error_code(merge, pullRequestId=pull_id, repositoryName=repo) == "ManualMergeRequiredException"
    assert error_code(
        cc.merge_pull_request_by_three_way,
        pullRequestId=pull_id,
        repositoryName=repo,
        conflictResolutionStrategy="SOMETHING",
    ) == ("InvalidConflictResolutionStrategyException")
    cc.merge_pull_request_by_three_way(
        pullRequestId=pull_id, repositoryName=repo, conflictResolutionStrategy="ACCEPT_SOURCE"
    )
    got = cc.get_file(repositoryName=repo, filePath="README.md", commitSpecifier="main")
    assert got["fileContent"] == b"# feature's\n"


def test_line_level_merges_and_resolutions_settle_a_pull_request(cc, repo):
    put(cc, repo, "main", "README.md", b"# hello\nfrom main\n")
    put(cc, repo, "feature", "README.md", b"# hello, feature\n")
    pull_id = open_pr(cc, repo)["pullRequestId"]
    merge = {"pullRequestId": pull_id, "repositoryName": repo, "conflictDetailLevel": "LINE_LEVEL"}
    assert error_code(cc.merge_pull_request_by_squash, **merge) == "ManualMergeRequiredException"
    resolution = {"replaceContents": [{"filePath": "README.md", "replacementType": "KEEP_DESTINATION"}]}
    assert error_code(
        cc.merge_pull_request_by_squash,
        **merge,
        conflictResolution={"deleteFiles": [{"filePath": "feature.txt"}]},
    ) == ("InvalidConflictResolutionException")
    cc.merge_pull_request_by_squash(
        **merge, conflictResolutionStrategy="AUTOMERGE", conflictResolution=resolution
    )
    got = cc.get_file(repositoryName=repo, filePath="README.md", commitSpecifier="main")
    assert got["fileContent"] == b"# hello\nfrom main\n"
    assert (
        cc.get_file(repositoryName=repo, filePath="feature.txt", commitSpecifier="main")["fileContent"]
        == b"new\n"
    )


@pytest.mark.parametrize(
    "command",
    ["merge-pull-request-by-fast-forward", "merge-pull-request-by-squash", "merge-pull-request-by-three-way"],
)
def test_merge_cli_examples_answer_the_documented_shape(cc, endpoint, repo, command):
    pull_id = open_pr(cc, repo)["pullRequestId"]
    source = tip(cc, repo, "feature")
    differences = example_differences(
        endpoint, command, repo, pull_request_id=pull_id, source_commit_id=source
    )
    assert differences == []


# -- approvals ---------------------------------------------------------------------------------------

TEAMMATE = "arn:aws:iam::111122223333:user/teammate"


def teammates_pr(cc, endpoint, name: str) -> dict:
    """A pull request another user opened: locally, one the API opened whose record names that author
    (every call is the lab's user, who may not approve their own, as on AWS)."""
    pull = open_pr(cc, name)
    path = (
        endpoint.layout.repos / f"{name}.git" / "codecommit-pull-requests" / f"{pull['pullRequestId']}.json"
    )
    record = json.loads(path.read_text())
    record["pullRequest"]["authorArn"] = TEAMMATE
    path.write_text(json.dumps(record))
    return {**pull, "authorArn": TEAMMATE}


def rule(needed: int, pool: str = "arn:aws:*:*:111122223333:user/*") -> str:
    statement = {"Type": "Approvers", "NumberOfApprovalsNeeded": needed, "ApprovalPoolMembers": [pool]}
    return json.dumps({"Version": "2018-11-08", "Statements": [statement]})


def test_the_author_cannot_approve_their_own_pull_request(cc, repo):
    pull = open_pr(cc, repo)
    ids = {"pullRequestId": pull["pullRequestId"], "revisionId": pull["revisionId"]}
    assert error_code(cc.update_pull_request_approval_state, **ids, approvalState="APPROVE") == (
        "PullRequestCannotBeApprovedByAuthorException"
    )
    assert cc.get_pull_request_approval_states(**ids)["approvals"] == []


def test_approvals_and_rules_decide_whether_a_pull_request_may_merge(cc, endpoint, repo):
    pull = teammates_pr(cc, endpoint, repo)
    pull_id, revision = pull["pullRequestId"], pull["revisionId"]
    ids = {"pullRequestId": pull_id, "revisionId": revision}
    created = cc.create_pull_request_approval_rule(
        pullRequestId=pull_id, approvalRuleName="two", approvalRuleContent=rule(2)
    )["approvalRule"]
    assert created["lastModifiedUser"] == caller(endpoint)
    assert error_code(
        cc.create_pull_request_approval_rule,
        pullRequestId=pull_id,
        approvalRuleName="two",
        approvalRuleContent=rule(1),
    ) == ("ApprovalRuleNameAlreadyExistsException")
    assert error_code(
        cc.create_pull_request_approval_rule,
        pullRequestId=pull_id,
        approvalRuleName="bad",
        approvalRuleContent="{}",
    ) == ("InvalidApprovalRuleContentException")
    assert cc.get_pull_request(pullRequestId=pull_id)["pullRequest"]["approvalRules"] == [created]

    cc.update_pull_request_approval_state(**ids, approvalState="APPROVE")
    assert cc.get_pull_request_approval_states(**ids)["approvals"] == [
        {"userArn": caller(endpoint), "approvalState": "APPROVE"}
    ]
    evaluation = cc.evaluate_pull_request_approval_rules(**ids)["evaluation"]
    assert (evaluation["approved"], evaluation["approvalRulesNotSatisfied"]) == (False, ["two"])
    assert error_code(cc.merge_pull_request_by_fast_forward, pullRequestId=pull_id, repositoryName=repo) == (
        "PullRequestApprovalRulesNotSatisfiedException"
    )

    assert error_code(
        cc.update_pull_request_approval_rule_content,
        pullRequestId=pull_id,
        approvalRuleName="two",
        existingRuleContentSha256="0" * 64,
        newRuleContent=rule(1),
    ) == ("InvalidRuleContentSha256Exception")
    updated = cc.update_pull_request_approval_rule_content(
        pullRequestId=pull_id,
        approvalRuleName="two",
        existingRuleContentSha256=created["ruleContentSha256"],
        newRuleContent=rule(1),
    )["approvalRule"]
    assert updated["ruleContentSha256"] != created["ruleContentSha256"]
    evaluation = cc.evaluate_pull_request_approval_rules(**ids)["evaluation"]
    assert (evaluation["approved"], evaluation["approvalRulesSatisfied"]) == (True, ["two"])

    # Approvers outside the pool do not count; revoking takes the approval back.
    cc.create_pull_request_approval_rule(
        pullRequestId=pull_id,
        approvalRuleName="leads",
        approvalRuleContent=rule(1, "CodeCommitApprovers:1:user/*"),
    )
    evaluation = cc.evaluate_pull_request_approval_rules(**ids)["evaluation"]
    assert evaluation["approvalRulesNotSatisfied"] == ["leads"]
    deleted = cc.delete_pull_request_approval_rule(pullRequestId=pull_id, approvalRuleName="leads")
    assert deleted["approvalRuleId"]
    assert (
        cc.delete_pull_request_approval_rule(pullRequestId=pull_id, approvalRuleName="leads")[
            "approvalRuleId"
        ]
        == ""
    )
    cc.update_pull_request_approval_state(**ids, approvalState="REVOKE")
    assert cc.get_pull_request_approval_states(**ids)["approvals"] == []
    cc.update_pull_request_approval_state(**ids, approvalState="APPROVE")
    assert error_code(
        cc.evaluate_pull_request_approval_rules, pullRequestId=pull_id, revisionId="0" * 64
    ) == ("RevisionNotCurrentException")
    assert error_code(cc.evaluate_pull_request_approval_rules, pullRequestId=pull_id, revisionId="x") == (
        "InvalidRevisionIdException"
    )
    cc.merge_pull_request_by_fast_forward(pullRequestId=pull_id, repositoryName=repo)

    kinds = [
        e["pullRequestEventType"]
        for e in cc.describe_pull_request_events(pullRequestId=pull_id)["pullRequestEvents"]
    ]
    assert kinds.count("PULL_REQUEST_APPROVAL_STATE_CHANGED") == 3
    assert {
        "PULL_REQUEST_APPROVAL_RULE_CREATED",
        "PULL_REQUEST_APPROVAL_RULE_UPDATED",
        "PULL_REQUEST_APPROVAL_RULE_DELETED",
    } <= set(kinds)
    assert error_code(cc.update_pull_request_approval_state, **ids, approvalState="REVOKE") == (
        "PullRequestAlreadyClosedException"
    )


def test_a_new_source_commit_starts_a_revision_without_approvals(cc, endpoint, repo):
    pull = teammates_pr(cc, endpoint, repo)
    ids = {"pullRequestId": pull["pullRequestId"], "revisionId": pull["revisionId"]}
    cc.update_pull_request_approval_state(**ids, approvalState="APPROVE")
    put(cc, repo, "feature", "late.txt", b"late\n")
    revision = cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"]["revisionId"]
    assert error_code(cc.update_pull_request_approval_state, **ids, approvalState="APPROVE") == (
        "RevisionNotCurrentException"
    )
    now = {"pullRequestId": pull["pullRequestId"], "revisionId": revision}
    assert cc.get_pull_request_approval_states(**now)["approvals"] == []


@pytest.mark.parametrize(
    "command",
    [
        "update-pull-request-approval-state",
        "get-pull-request-approval-states",
        "evaluate-pull-request-approval-rules",
        "delete-pull-request-approval-rule",
    ],
)
def test_approval_cli_examples_answer_the_documented_shape(cc, endpoint, repo, command):
    pull = teammates_pr(cc, endpoint, repo)
    cc.create_pull_request_approval_rule(
        pullRequestId=pull["pullRequestId"], approvalRuleName="My Approval Rule", approvalRuleContent=rule(1)
    )
    cc.update_pull_request_approval_state(
        pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"], approvalState="APPROVE"
    )
    values = {"pull_request_id": pull["pullRequestId"]}
    if command != "delete-pull-request-approval-rule":
        values["revision_id"] = pull["revisionId"]
    assert example_differences(endpoint, command, repo, **values) == []


def test_approval_rule_cli_commands_answer_the_documented_shape(cc, endpoint, repo):
    """The examples of create- and update-pull-request-approval-rule(-content) show rule content that is not
    JSON (or not one argument): their commands with valid content, their documented shapes."""
    pull_id = open_pr(cc, repo)["pullRequestId"]
    for command, content_option in (
        ("create-pull-request-approval-rule", "--approval-rule-content"),
        ("update-pull-request-approval-rule-content", "--new-rule-content"),
    ):
        example = parse("codecommit", EXAMPLES / "codecommit" / f"{command}.rst")[0]
        answer = json.loads(
            endpoint.aws(
                "codecommit",
                command,
                "--pull-request-id",
                pull_id,
                "--approval-rule-name",
                "rule",
                content_option,
                rule(1),
            ).stdout
        )
        shape = service_model("codecommit").operation_model(example.operation).output_shape
        assert shape_differences(example.output, answer, shape) == []


# -- overrides ---------------------------------------------------------------------------------------


def override_state(endpoint, pull_id: str, revision: str) -> dict:
    return json.loads(
        endpoint.aws(
            "codecommit",
            "get-pull-request-override-state",
            "--pull-request-id",
            pull_id,
            "--revision-id",
            revision,
        ).stdout
    )


def test_an_override_lets_an_unapproved_pull_request_merge(cc, endpoint, repo):
    pull = open_pr(cc, repo)
    pull_id, revision = pull["pullRequestId"], pull["revisionId"]
    ids = {"pullRequestId": pull_id, "revisionId": revision}
    cc.create_pull_request_approval_rule(
        pullRequestId=pull_id, approvalRuleName="one", approvalRuleContent=rule(1)
    )
    assert override_state(endpoint, pull_id, revision) == {"overridden": False}

    endpoint.aws(
        "codecommit",
        "override-pull-request-approval-rules",
        "--pull-request-id",
        pull_id,
        "--revision-id",
        revision,
        "--override-status",
        "OVERRIDE",
    )
    assert override_state(endpoint, pull_id, revision) == {"overridden": True, "overrider": caller(endpoint)}
    evaluation = cc.evaluate_pull_request_approval_rules(**ids)["evaluation"]
    assert evaluation == {
        "approved": False,
        "overridden": True,
        "approvalRulesSatisfied": [],
        "approvalRulesNotSatisfied": ["one"],
    }
    assert error_code(cc.override_pull_request_approval_rules, **ids, overrideStatus="OVERRIDE") == (
        "OverrideAlreadySetException"
    )

    # Revoked, the rules hold again; overridden again, the pull request merges unapproved.
    cc.override_pull_request_approval_rules(**ids, overrideStatus="REVOKE")
    assert cc.get_pull_request_override_state(**ids)["overridden"] is False
    assert error_code(cc.merge_pull_request_by_fast_forward, pullRequestId=pull_id, repositoryName=repo) == (
        "PullRequestApprovalRulesNotSatisfiedException"
    )
    cc.override_pull_request_approval_rules(**ids, overrideStatus="OVERRIDE")
    merged = cc.merge_pull_request_by_fast_forward(pullRequestId=pull_id, repositoryName=repo)["pullRequest"]
    assert merged["pullRequestTargets"][0]["mergeMetadata"]["isMerged"] is True

    events = cc.describe_pull_request_events(
        pullRequestId=pull_id, pullRequestEventType="PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN"
    )["pullRequestEvents"]
    assert [e["approvalRuleOverriddenEventMetadata"] for e in events] == [
        {"revisionId": revision, "overrideStatus": status} for status in ("OVERRIDE", "REVOKE", "OVERRIDE")
    ]
    assert {e["actorArn"] for e in events} == {caller(endpoint)}
    assert error_code(cc.override_pull_request_approval_rules, **ids, overrideStatus="REVOKE") == (
        "PullRequestAlreadyClosedException"
    )


def test_an_override_holds_for_its_revision_and_refuses_bad_requests(cc, endpoint, repo):
    pull = open_pr(cc, repo)
    ids = {"pullRequestId": pull["pullRequestId"], "revisionId": pull["revisionId"]}
    override = cc.override_pull_request_approval_rules
    assert error_code(override, **ids, overrideStatus="") == "OverrideStatusRequiredException"
    assert error_code(override, **ids, overrideStatus="MAYBE") == "InvalidOverrideStatusException"
    stale = {"pullRequestId": pull["pullRequestId"], "revisionId": "0" * 64}
    assert error_code(override, **stale, overrideStatus="OVERRIDE") == "RevisionNotCurrentException"
    bad = {"pullRequestId": pull["pullRequestId"], "revisionId": "x"}
    assert error_code(override, **bad, overrideStatus="OVERRIDE") == "InvalidRevisionIdException"
    assert error_code(cc.get_pull_request_override_state, **bad) == "InvalidRevisionIdException"
    assert error_code(
        cc.get_pull_request_override_state, pullRequestId="abc", revisionId=pull["revisionId"]
    ) == ("InvalidPullRequestIdException")
    # Nothing to revoke: no change, no event.
    override(**ids, overrideStatus="REVOKE")
    kinds = [
        e["pullRequestEventType"]
        for e in cc.describe_pull_request_events(pullRequestId=ids["pullRequestId"])["pullRequestEvents"]
    ]
    assert "PULL_REQUEST_APPROVAL_RULE_OVERRIDDEN" not in kinds

    override(**ids, overrideStatus="OVERRIDE")
    put(cc, repo, "feature", "late.txt", b"late\n")
    revision = cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"]["revisionId"]
    now = {"pullRequestId": pull["pullRequestId"], "revisionId": revision}
    assert cc.get_pull_request_override_state(**now)["overridden"] is False
    assert cc.evaluate_pull_request_approval_rules(**now)["evaluation"]["overridden"] is False
    assert cc.get_pull_request_override_state(**ids)["overrider"] == caller(endpoint)


@pytest.mark.parametrize(
    "command", ["override-pull-request-approval-rules", "get-pull-request-override-state"]
)
def test_override_cli_examples_answer_the_documented_shape(cc, endpoint, repo, command):
    pull = open_pr(cc, repo)
    values = {"pull_request_id": pull["pullRequestId"], "revision_id": pull["revisionId"]}
    if command == "get-pull-request-override-state":
        cc.override_pull_request_approval_rules(
            pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"], overrideStatus="OVERRIDE"
        )
    assert example_differences(endpoint, command, repo, **values) == []
    assert cc.get_pull_request_override_state(
        pullRequestId=pull["pullRequestId"], revisionId=pull["revisionId"]
    )["overridden"]


# -- comments ----------------------------------------------------------------------------------------


def test_comments_on_a_pull_request_are_grouped_by_commits_and_location(cc, endpoint, repo):
    pull = open_pr(cc, repo)
    target = pull["pullRequestTargets"][0]
    commits = {"beforeCommitId": target["destinationCommit"], "afterCommitId": target["sourceCommit"]}
    ids = {"pullRequestId": pull["pullRequestId"], "repositoryName": repo, **commits}
    general = cc.post_comment_for_pull_request(**ids, content="Looks good", clientRequestToken="c-1")
    assert general["comment"]["authorArn"] == caller(endpoint)
    again = cc.post_comment_for_pull_request(**ids, content="Looks good", clientRequestToken="c-1")
    assert again["comment"]["commentId"] == general["comment"]["commentId"]
    on_file = cc.post_comment_for_pull_request(
        **ids,
        content="Why?",
        location={"filePath": "feature.txt", "filePosition": 1, "relativeFileVersion": "AFTER"},
    )
    assert "beforeBlobId" not in on_file and on_file["afterBlobId"]
    data = cc.get_comments_for_pull_request(pullRequestId=pull["pullRequestId"])["commentsForPullRequestData"]
    assert [[c["content"] for c in group["comments"]] for group in data] == [["Looks good"], ["Why?"]]
    assert data[1]["location"]["filePath"] == "feature.txt"
    paged = cc.get_comments_for_pull_request(pullRequestId=pull["pullRequestId"], maxResults=1)
    assert len(paged["commentsForPullRequestData"]) == 1 and paged["nextToken"]

    def code(**changes):
        return error_code(cc.post_comment_for_pull_request, **{**ids, "content": "x", **changes})

    assert code(content="") == "CommentContentRequiredException"
    assert code(content="x" * 10241) == "CommentContentSizeLimitExceededException"
    assert code(afterCommitId=commits["beforeCommitId"]) == "BeforeCommitIdAndAfterCommitIdAreSameException"
    assert code(afterCommitId="1" * 40) == "CommitDoesNotExistException"
    assert code(afterCommitId="abc") == "InvalidCommitIdException"
    assert code(location={"filePath": "nope.txt"}) == "PathDoesNotExistException"
    assert code(location={"filePath": "feature.txt", "relativeFileVersion": "BEFORE"}) == (
        "PathDoesNotExistException"
    )
    assert code(location={"filePath": "a", "relativeFileVersion": "LATER"}) == (
        "InvalidRelativeFileVersionEnumException"
    )
    cc.create_repository(repositoryName=f"{repo}-x")
    assert code(repositoryName=f"{repo}-x") == "RepositoryNotAssociatedWithPullRequestException"


def test_comment_cli_examples_answer_the_documented_shape(cc, endpoint, repo):
    pull_id = open_pr(cc, repo)["pullRequestId"]
    # The example comments on ahs_count.py, in both commits.
    before = put(cc, repo, "main", "ahs_count.py", b"x = 1\n")
    after = put(cc, repo, "feature", "ahs_count.py", b"x = 2\n")
    posted = example_differences(
        endpoint,
        "post-comment-for-pull-request",
        repo,
        pull_request_id=pull_id,
        before_commit_id=before,
        after_commit_id=after,
    )
    assert posted == []
    listed = example_differences(
        endpoint,
        "get-comments-for-pull-request",
        repo,
        pull_request_id=pull_id,
        before_commit_id=before,
        after_commit_id=after,
    )
    assert listed == []
