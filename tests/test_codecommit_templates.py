"""CodeCommit approval rule templates on the real local endpoint, through boto3 and the aws CLI's examples:
creating, reading, listing, changing and deleting them, associating them with repositories, and the rules they
give new pull requests."""

import json

import boto3
import pytest
from botocore.config import Config
from cli_examples_kit import EXAMPLES, parse, service_model, shape_differences
from test_codecommit import error_code
from test_codecommit_pulls import caller, open_pr, rule, teammates_pr

from labhelpers.local import config


@pytest.fixture
def cc(endpoint):
    return endpoint.client("codecommit")


@pytest.fixture
def raw(endpoint):
    """A client that sends what it is given, as a hand-written request would (no botocore validation)."""
    return boto3.client(
        "codecommit",
        endpoint_url=endpoint.url,
        region_name=config.REGION,
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


@pytest.fixture
def repo(cc, unique):
    """A repository with main (README.md) and feature (one more file) branches."""
    name = f"tpl-{unique}"
    cc.create_repository(repositoryName=name)
    first = cc.put_file(repositoryName=name, branchName="main", filePath="README.md", fileContent=b"# hi\n")
    cc.create_branch(repositoryName=name, branchName="feature", commitId=first["commitId"])
    cc.put_file(
        repositoryName=name,
        branchName="feature",
        filePath="feature.txt",
        fileContent=b"new\n",
        parentCommitId=first["commitId"],
    )
    return name


def template_content(needed: int = 1, *branches: str) -> str:
    content = json.loads(rule(needed))
    if branches:
        content["DestinationReferences"] = [f"refs/heads/{branch}" for branch in branches]
    return json.dumps(content)


def create(cc, name: str, content: str | None = None, **extra) -> dict:
    return cc.create_approval_rule_template(
        approvalRuleTemplateName=name, approvalRuleTemplateContent=content or template_content(), **extra
    )["approvalRuleTemplate"]


def all_names(cc) -> list[str]:
    return cc.list_approval_rule_templates()["approvalRuleTemplateNames"]


def test_create_get_update_and_delete_a_template(cc, endpoint, unique):
    name = f"two-for-main-{unique}"
    created = create(cc, name, template_content(2, "main"), approvalRuleTemplateDescription="two on main")
    assert created["approvalRuleTemplateName"] == name
    assert created["approvalRuleTemplateDescription"] == "two on main"
    assert created["lastModifiedUser"] == caller(endpoint)
    assert created["creationDate"] == created["lastModifiedDate"]
    assert len(created["ruleContentSha256"]) == 64
    assert cc.get_approval_rule_template(approvalRuleTemplateName=name)["approvalRuleTemplate"] == created
    assert name in all_names(cc)

    with_sha = {"approvalRuleTemplateName": name, "newRuleContent": template_content(1)}
    assert error_code(
        cc.update_approval_rule_template_content, **with_sha, existingRuleContentSha256="0"
    ) == ("InvalidRuleContentSha256Exception")
    changed = cc.update_approval_rule_template_content(
        **with_sha, existingRuleContentSha256=created["ruleContentSha256"]
    )["approvalRuleTemplate"]
    assert changed["approvalRuleTemplateContent"] == template_content(1)
    assert changed["ruleContentSha256"] != created["ruleContentSha256"]
    assert changed["lastModifiedDate"] > created["lastModifiedDate"]
    assert changed["approvalRuleTemplateId"] == created["approvalRuleTemplateId"]
    described = cc.update_approval_rule_template_description(
        approvalRuleTemplateName=name, approvalRuleTemplateDescription=""
    )["approvalRuleTemplate"]
    assert described["approvalRuleTemplateDescription"] == ""

    renamed = f"one-for-all-{unique}"
    other = create(cc, f"other-{unique}")["approvalRuleTemplateName"]
    assert error_code(
        cc.update_approval_rule_template_name,
        oldApprovalRuleTemplateName=name,
        newApprovalRuleTemplateName=other,
    ) == ("ApprovalRuleTemplateNameAlreadyExistsException")
    answer = cc.update_approval_rule_template_name(
        oldApprovalRuleTemplateName=name, newApprovalRuleTemplateName=renamed
    )["approvalRuleTemplate"]
    assert answer["approvalRuleTemplateName"] == renamed
    assert renamed in all_names(cc) and name not in all_names(cc)
    assert error_code(cc.get_approval_rule_template, approvalRuleTemplateName=name) == (
        "ApprovalRuleTemplateDoesNotExistException"
    )

    deleted = cc.delete_approval_rule_template(approvalRuleTemplateName=renamed)
    assert deleted["approvalRuleTemplateId"] == created["approvalRuleTemplateId"]
    assert cc.delete_approval_rule_template(approvalRuleTemplateName=renamed)["approvalRuleTemplateId"] == ""
    assert renamed not in all_names(cc)


def test_template_requests_are_checked(cc, raw, unique):
    name = f"checked-{unique}"
    create(cc, name)

    def code(call, **params):
        return error_code(call, **params)

    creating = raw.create_approval_rule_template
    content = template_content()
    assert code(creating, approvalRuleTemplateName=name, approvalRuleTemplateContent=content) == (
        "ApprovalRuleTemplateNameAlreadyExistsException"
    )
    assert code(creating, approvalRuleTemplateName="", approvalRuleTemplateContent=content) == (
        "ApprovalRuleTemplateNameRequiredException"
    )
    assert code(creating, approvalRuleTemplateName="x" * 101, approvalRuleTemplateContent=content) == (
        "InvalidApprovalRuleTemplateNameException"
    )
    assert code(creating, approvalRuleTemplateName=f"n-{unique}", approvalRuleTemplateContent="") == (
        "ApprovalRuleTemplateContentRequiredException"
    )
    for bad in (
        "not json",
        "{}",
        json.dumps({"Version": "2018-11-08", "Statements": [{"Type": "Approvers"}]}),
    ):
        assert code(creating, approvalRuleTemplateName=f"n-{unique}", approvalRuleTemplateContent=bad) == (
            "InvalidApprovalRuleTemplateContentException"
        )
    assert code(
        creating,
        approvalRuleTemplateName=f"n-{unique}",
        approvalRuleTemplateContent=content,
        approvalRuleTemplateDescription="d" * 1001,
    ) == ("InvalidApprovalRuleTemplateDescriptionException")
    assert code(
        raw.update_approval_rule_template_content, approvalRuleTemplateName=name, newRuleContent="[]"
    ) == ("InvalidApprovalRuleTemplateContentException")
    assert code(
        cc.update_approval_rule_template_content,
        approvalRuleTemplateName=f"n-{unique}",
        newRuleContent=content,
    ) == ("ApprovalRuleTemplateDoesNotExistException")
    assert code(raw.get_approval_rule_template) == "ApprovalRuleTemplateNameRequiredException"
    assert code(raw.list_approval_rule_templates, maxResults=0) == "InvalidMaxResultsException"
    assert code(cc.list_approval_rule_templates, nextToken="bogus") == "InvalidContinuationTokenException"
    assert f"n-{unique}" not in all_names(cc)


def test_templates_list_in_pages(cc, unique):
    names = [create(cc, f"page-{unique}-{i}")["approvalRuleTemplateName"] for i in range(3)]
    seen, token = [], None
    while True:
        page = cc.list_approval_rule_templates(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["approvalRuleTemplateNames"]) <= 2
        seen += page["approvalRuleTemplateNames"]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == sorted(seen) and set(names) <= set(seen)


def test_associations_with_repositories(cc, repo, unique):
    name = create(cc, f"assoc-{unique}")["approvalRuleTemplateName"]
    other = f"{repo}-other"
    cc.create_repository(repositoryName=other)
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName=name, repositoryName=repo)
    cc.associate_approval_rule_template_with_repository(approvalRuleTemplateName=name, repositoryName=repo)
    batch = cc.batch_associate_approval_rule_template_with_repositories(
        approvalRuleTemplateName=name, repositoryNames=[other, f"missing-{unique}", "bad name"]
    )
    assert batch["associatedRepositoryNames"] == [other]
    assert [(e["repositoryName"], e["errorCode"]) for e in batch["errors"]] == [
        (f"missing-{unique}", "RepositoryDoesNotExistException"),
        ("bad name", "InvalidRepositoryNameException"),
    ]
    listed = cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName=name)
    assert listed["repositoryNames"] == sorted([repo, other])
    first = cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName=name, maxResults=1)
    rest = cc.list_repositories_for_approval_rule_template(
        approvalRuleTemplateName=name, maxResults=1, nextToken=first["nextToken"]
    )
    assert first["repositoryNames"] + rest["repositoryNames"] == listed["repositoryNames"]
    assert cc.list_associated_approval_rule_templates_for_repository(repositoryName=repo)[
        "approvalRuleTemplateNames"
    ] == [name]
    assert error_code(cc.delete_approval_rule_template, approvalRuleTemplateName=name) == (
        "ApprovalRuleTemplateInUseException"
    )

    # A renamed repository keeps its templates; a deleted one loses them.
    renamed = f"{other}-renamed"
    cc.update_repository_name(oldName=other, newName=renamed)
    listed = cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName=name)
    assert listed["repositoryNames"] == sorted([repo, renamed])
    cc.delete_repository(repositoryName=renamed)
    listed = cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName=name)
    assert listed["repositoryNames"] == [repo]

    cc.disassociate_approval_rule_template_from_repository(approvalRuleTemplateName=name, repositoryName=repo)
    assert (
        cc.list_associated_approval_rule_templates_for_repository(repositoryName=repo)[
            "approvalRuleTemplateNames"
        ]
        == []
    )
    cc.batch_associate_approval_rule_template_with_repositories(
        approvalRuleTemplateName=name, repositoryNames=[repo]
    )
    gone = cc.batch_disassociate_approval_rule_template_from_repositories(
        approvalRuleTemplateName=name, repositoryNames=[repo, f"missing-{unique}"]
    )
    assert gone["disassociatedRepositoryNames"] == [repo]
    assert [e["errorCode"] for e in gone["errors"]] == ["RepositoryDoesNotExistException"]
    assert cc.delete_approval_rule_template(approvalRuleTemplateName=name)["approvalRuleTemplateId"]


def test_association_requests_are_checked(cc, raw, repo, unique):
    name = create(cc, f"limits-{unique}")["approvalRuleTemplateName"]
    associate = cc.associate_approval_rule_template_with_repository
    assert error_code(associate, approvalRuleTemplateName=f"none-{unique}", repositoryName=repo) == (
        "ApprovalRuleTemplateDoesNotExistException"
    )
    assert error_code(associate, approvalRuleTemplateName=name, repositoryName=f"none-{unique}") == (
        "RepositoryDoesNotExistException"
    )
    assert error_code(associate, approvalRuleTemplateName=name, repositoryName="bad name") == (
        "InvalidRepositoryNameException"
    )
    batch = raw.batch_associate_approval_rule_template_with_repositories
    assert error_code(batch, approvalRuleTemplateName=name) == "RepositoryNamesRequiredException"
    assert error_code(batch, approvalRuleTemplateName=name, repositoryNames=[]) == (
        "RepositoryNamesRequiredException"
    )
    assert error_code(batch, approvalRuleTemplateName=name, repositoryNames=[repo] * 101) == (
        "MaximumRepositoryNamesExceededException"
    )
    assert error_code(
        cc.list_associated_approval_rule_templates_for_repository, repositoryName=f"none-{unique}"
    ) == ("RepositoryDoesNotExistException")
    assert error_code(
        cc.list_repositories_for_approval_rule_template, approvalRuleTemplateName=f"none-{unique}"
    ) == ("ApprovalRuleTemplateDoesNotExistException")

    # At most 25 templates per repository.
    for index in range(24):
        associate(
            approvalRuleTemplateName=create(cc, f"many-{unique}-{index}")["approvalRuleTemplateName"],
            repositoryName=repo,
        )
    associate(approvalRuleTemplateName=name, repositoryName=repo)
    one_more = create(cc, f"many-{unique}-last")["approvalRuleTemplateName"]
    assert error_code(associate, approvalRuleTemplateName=one_more, repositoryName=repo) == (
        "MaximumRuleTemplatesAssociatedWithRepositoryException"
    )
    answer = batch(approvalRuleTemplateName=one_more, repositoryNames=[repo])
    assert [e["errorCode"] for e in answer["errors"]] == [
        "MaximumRuleTemplatesAssociatedWithRepositoryException"
    ]


def test_new_pull_requests_get_the_rules_of_matching_templates(cc, endpoint, repo, unique):
    before = open_pr(cc, repo)
    main = create(cc, f"main-{unique}", template_content(1, "main"))
    create(cc, f"release-{unique}", template_content(1, "release"))
    everywhere = create(cc, f"all-{unique}", template_content(2))
    for template in (f"main-{unique}", f"release-{unique}", f"all-{unique}"):
        cc.associate_approval_rule_template_with_repository(
            approvalRuleTemplateName=template, repositoryName=repo
        )

    pull = teammates_pr(cc, endpoint, repo)
    rules = {rule["approvalRuleName"]: rule for rule in pull["approvalRules"]}
    assert sorted(rules) == [f"all-{unique}", f"main-{unique}"]
    for template in (main, everywhere):
        made = rules[template["approvalRuleTemplateName"]]
        assert made["originApprovalRuleTemplate"] == {
            "approvalRuleTemplateId": template["approvalRuleTemplateId"],
            "approvalRuleTemplateName": template["approvalRuleTemplateName"],
        }
        assert made["approvalRuleContent"] == template["approvalRuleTemplateContent"]
        assert made["ruleContentSha256"] == template["ruleContentSha256"]
    # Pull requests opened before the association, and later changes to a template, leave rules as they are.
    assert cc.get_pull_request(pullRequestId=before["pullRequestId"])["pullRequest"]["approvalRules"] == []
    cc.update_approval_rule_template_content(
        approvalRuleTemplateName=f"all-{unique}", newRuleContent=template_content(3)
    )
    again = cc.get_pull_request(pullRequestId=pull["pullRequestId"])["pullRequest"]["approvalRules"]
    assert {r["approvalRuleName"]: r["approvalRuleContent"] for r in again} == {
        name: made["approvalRuleContent"] for name, made in rules.items()
    }

    # The rules count: one approval satisfies main's, not the two that all's needs.
    ids = {"pullRequestId": pull["pullRequestId"], "revisionId": pull["revisionId"]}
    cc.update_pull_request_approval_state(**ids, approvalState="APPROVE")
    evaluation = cc.evaluate_pull_request_approval_rules(**ids)["evaluation"]
    assert (evaluation["approvalRulesSatisfied"], evaluation["approvalRulesNotSatisfied"]) == (
        [f"main-{unique}"],
        [f"all-{unique}"],
    )
    assert error_code(
        cc.merge_pull_request_by_fast_forward, pullRequestId=pull["pullRequestId"], repositoryName=repo
    ) == ("PullRequestApprovalRulesNotSatisfiedException")

    # Rules a template made stay on the pull request: override them instead.
    named = {"pullRequestId": pull["pullRequestId"], "approvalRuleName": f"all-{unique}"}
    assert error_code(cc.delete_pull_request_approval_rule, **named) == (
        "CannotDeleteApprovalRuleFromTemplateException"
    )
    assert error_code(cc.update_pull_request_approval_rule_content, **named, newRuleContent=rule(1)) == (
        "CannotModifyApprovalRuleFromTemplateException"
    )
    cc.override_pull_request_approval_rules(**ids, overrideStatus="OVERRIDE")
    merged = cc.merge_pull_request_by_fast_forward(pullRequestId=pull["pullRequestId"], repositoryName=repo)
    assert merged["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]["isMerged"]


def test_templates_survive_a_restart(fresh_endpoint, unique):
    from conftest import start_endpoint

    from labhelpers.local import process

    cc = fresh_endpoint.client("codecommit")
    cc.create_repository(repositoryName=f"keep-{unique}")
    template = create(cc, f"keep-{unique}")
    cc.associate_approval_rule_template_with_repository(
        approvalRuleTemplateName=f"keep-{unique}", repositoryName=f"keep-{unique}"
    )
    process.stop(fresh_endpoint.layout)
    cc = start_endpoint(fresh_endpoint.layout.root).client("codecommit")
    assert cc.get_approval_rule_template(approvalRuleTemplateName=f"keep-{unique}")[
        "approvalRuleTemplate"
    ] == (template)
    listed = cc.list_repositories_for_approval_rule_template(approvalRuleTemplateName=f"keep-{unique}")
    assert listed["repositoryNames"] == [f"keep-{unique}"]


def example_differences(endpoint, command: str, **options: str | list[str]) -> list[str]:
    """Run the CLI example of `command` with the values of `options` (repository_names=[...]) in place of
    its own; where its output's shape differs from the documented one."""
    example = parse("codecommit", EXAMPLES / "codecommit" / f"{command}.rst")[0]
    given = {
        "--" + key.replace("_", "-"): [value] if isinstance(value, str) else value
        for key, value in options.items()
    }
    argv, replacing = [], False
    for arg in example.argv:
        if arg.startswith("--"):
            replacing = arg in given
            argv += [arg, *given.get(arg, [])]
        elif not replacing:
            argv.append(arg)
    answer = json.loads(endpoint.aws("codecommit", command, *argv).stdout or "{}")
    shape = service_model("codecommit").operation_model(example.operation).output_shape
    return shape_differences(example.output, answer, shape)


@pytest.mark.parametrize(
    "command",
    [
        "create-approval-rule-template",
        "get-approval-rule-template",
        "list-approval-rule-templates",
        "update-approval-rule-template-content",
        "update-approval-rule-template-description",
        "update-approval-rule-template-name",
        "associate-approval-rule-template-with-repository",
        "batch-associate-approval-rule-template-with-repositories",
        "list-associated-approval-rule-templates-for-repository",
        "list-repositories-for-approval-rule-template",
        "disassociate-approval-rule-template-from-repository",
        "batch-disassociate-approval-rule-template-from-repositories",
        "delete-approval-rule-template",
    ],
)
def test_cli_examples_answer_the_documented_shape(cc, endpoint, repo, unique, command):
    """Each example with the test's template and repositories in place of its names (the batch examples
    write `MyDemoRepo,`, and one template name unquoted, which the CLI would take as other arguments)."""
    name, other = f"example-{unique}", f"{repo}-other"
    cc.create_repository(repositoryName=other)
    options = {
        "repository_name": repo,
        "repository_names": [repo, other],
        "approval_rule_template_name": name,
        "old_approval_rule_template_name": name,
        "new_approval_rule_template_name": f"{name}-renamed",
    }
    if command != "create-approval-rule-template":
        create(cc, name, approvalRuleTemplateDescription="example")
    if command.startswith(("list-", "disassociate-", "batch-disassociate-")):
        cc.batch_associate_approval_rule_template_with_repositories(
            approvalRuleTemplateName=name, repositoryNames=[repo, other]
        )
    assert example_differences(endpoint, command, **options) == []
    if command == "delete-approval-rule-template":
        assert name not in all_names(cc)
    if command.startswith(("associate-", "batch-associate-")):
        listed = cc.list_associated_approval_rule_templates_for_repository(repositoryName=repo)
        assert listed["approvalRuleTemplateNames"] == [name]
    if command.startswith(("disassociate-", "batch-disassociate-")):
        listed = cc.list_associated_approval_rule_templates_for_repository(repositoryName=repo)
        assert listed["approvalRuleTemplateNames"] == []
