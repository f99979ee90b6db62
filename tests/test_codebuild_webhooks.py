"""CodeBuild source credentials and webhooks on the real local endpoint, through boto3 and the aws CLI (the
CLI's own examples, their answers' shapes as documented): credentials kept without their token in an
owner-only file, webhooks kept on their project, both across a restart."""

import json
import stat

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint
from test_codebuild import create_project

from labhelpers.local import process
from tests import cli_examples_kit as kit

# The filter groups of the CLI's create-webhook and update-webhook examples
EXAMPLE_GROUPS = (
    '[[{"type":"EVENT","pattern":"PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED"},'
    '{"type":"HEAD_REF","pattern":"^refs/heads/myBranch$","excludeMatchedPattern":true},'
    '{"type":"BASE_REF","pattern":"^refs/heads/master$","excludeMatchedPattern":true}],'
    '[{"type":"EVENT","pattern":"PUSH"},'
    '{"type":"HEAD_REF","pattern":"^refs/heads/myBranch$","excludeMatchedPattern":true}]]'
)
PUSH = [[{"type": "EVENT", "pattern": "PUSH"}]]


def example(command: str) -> kit.Example:
    return kit.parse("codebuild", kit.EXAMPLES / "codebuild" / f"{command}.rst")[0]


def cli_json(endpoint, *args: str) -> dict:
    answer = endpoint.aws("codebuild", *args, "--output", "json").stdout
    return json.loads(answer) if answer.strip() else {}


def assert_documented_shape(command: str, answer: dict) -> None:
    documented = example(command)
    assert kit.shape_differences(documented.output, answer, kit.output_shape(documented)) == []


def error_of(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]


def github_project(cb, name: str, kind: str = "GITHUB") -> None:
    create_project(cb, name, {"type": kind, "location": f"https://example.com/octo/{name}.git"})


@pytest.fixture
def cb(endpoint):
    return endpoint.client("codebuild")


@pytest.fixture
def github_token(cb):
    """CodeBuild's GitHub credentials (a personal access token) in the endpoint's Region."""
    return cb.import_source_credentials(
        serverType="GITHUB", authType="PERSONAL_ACCESS_TOKEN", token="ghp_personal-token"
    )["arn"]


# -- source credentials ----------------------------------------------------------------------------------


def test_source_credentials_are_imported_listed_and_deleted_as_the_cli_examples_show(endpoint, cb):
    token = "my-Bitbucket-password"
    imported = cli_json(
        endpoint,
        "import-source-credentials",
        *("--server-type", "BITBUCKET", "--auth-type", "BASIC_AUTH"),
        *("--token", token, "--username", "my-Bitbucket-username"),
    )
    assert_documented_shape("import-source-credentials", imported)
    arn = imported["arn"]
    assert arn.endswith(":token/bitbucket") and arn.startswith("arn:aws:codebuild:")

    listed = cli_json(endpoint, "list-source-credentials")
    assert_documented_shape("list-source-credentials", listed)
    assert {"arn": arn, "serverType": "BITBUCKET", "authType": "BASIC_AUTH"} in listed[
        "sourceCredentialsInfos"
    ]
    assert token not in json.dumps(listed)

    refused = error_of(
        lambda: cb.import_source_credentials(
            serverType="BITBUCKET", authType="PERSONAL_ACCESS_TOKEN", token="other", shouldOverwrite=False
        )
    )
    assert refused["Code"] == "ResourceAlreadyExistsException" and "shouldOverwrite" in refused["Message"]
    cb.import_source_credentials(serverType="BITBUCKET", authType="PERSONAL_ACCESS_TOKEN", token="other")
    infos = cb.list_source_credentials()["sourceCredentialsInfos"]
    assert [info["authType"] for info in infos if info["arn"] == arn] == ["PERSONAL_ACCESS_TOKEN"]

    deleted = cli_json(endpoint, "delete-source-credentials", "--arn", arn)
    assert_documented_shape("delete-source-credentials", deleted)
    assert deleted == {"arn": arn}
    assert arn not in [info["arn"] for info in cb.list_source_credentials()["sourceCredentialsInfos"]]
    assert error_of(lambda: cb.delete_source_credentials(arn=arn))["Code"] == "ResourceNotFoundException"


def test_a_connection_credential_shows_its_connection_as_resource(cb, endpoint):
    connection = endpoint.client("codestar-connections").create_connection(
        ProviderType="GitHub", ConnectionName="credential"
    )["ConnectionArn"]
    arn = cb.import_source_credentials(
        serverType="GITHUB_ENTERPRISE", authType="CODECONNECTIONS", token=connection
    )["arn"]
    infos = cb.list_source_credentials()["sourceCredentialsInfos"]
    assert {
        "arn": arn,
        "serverType": "GITHUB_ENTERPRISE",
        "authType": "CODECONNECTIONS",
        "resource": connection,
    } in infos
    cb.delete_source_credentials(arn=arn)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"serverType": "GITHUB", "authType": "OAUTH", "token": "t"}, "OAUTH"),
        ({"serverType": "GITHUB", "authType": "BASIC_AUTH", "token": "t", "username": "u"}, "BITBUCKET"),
        ({"serverType": "BITBUCKET", "authType": "BASIC_AUTH", "token": "t"}, "username"),
        (
            {"serverType": "GITLAB", "authType": "PERSONAL_ACCESS_TOKEN", "token": "t", "username": "u"},
            "username",
        ),
        ({"serverType": "GITHUB", "authType": "CODECONNECTIONS", "token": "not-an-arn"}, "connection"),
        ({"serverType": "GITHUB", "authType": "SECRETS_MANAGER", "token": "arn:aws:s3:::bucket"}, "secret"),
        ({"serverType": "GITEA", "authType": "PERSONAL_ACCESS_TOKEN", "token": "t"}, "serverType"),
        ({"serverType": "GITHUB", "authType": "PASSWORD", "token": "t"}, "authType"),
    ],
)
def test_bad_source_credentials_answer_400_naming_the_field(endpoint, settings, named):
    status, answer = endpoint.call(
        "CodeBuild_20161006.ImportSourceCredentials", settings, service="codebuild"
    )
    assert (status, answer["__type"]) == (400, "InvalidInputException")
    assert named in answer["message"] and settings["token"] not in answer["message"].split()


def test_the_token_is_in_no_file_and_no_log_and_credentials_outlive_a_restart(fresh_endpoint):
    token = "ghp_never-written-anywhere-0123456789"
    cb = fresh_endpoint.client("codebuild")
    arn = cb.import_source_credentials(serverType="GITHUB", authType="PERSONAL_ACCESS_TOKEN", token=token)[
        "arn"
    ]
    github_project(cb, "kept-hook")
    hook = cb.create_webhook(projectName="kept-hook", filterGroups=PUSH)["webhook"]

    kept = fresh_endpoint.layout.state / "source-credentials.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    process.stop(fresh_endpoint.layout)
    for path in fresh_endpoint.layout.root.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path

    again = start_endpoint(fresh_endpoint.layout.root)
    cb = again.client("codebuild")
    assert [info["arn"] for info in cb.list_source_credentials()["sourceCredentialsInfos"]] == [arn]
    assert cb.batch_get_projects(names=["kept-hook"])["projects"][0]["webhook"] == hook


# -- webhooks ----------------------------------------------------------------------------------------------


def test_a_webhook_is_created_updated_and_deleted_as_the_cli_examples_show(
    endpoint, cb, github_token, unique
):
    name = f"hooked-{unique}"
    github_project(cb, name)
    created = cli_json(endpoint, "create-webhook", "--project-name", name, "--filter-groups", EXAMPLE_GROUPS)
    assert_documented_shape("create-webhook", created)
    webhook = created["webhook"]
    assert webhook["payloadUrl"].startswith("https://codebuild.") and "/webhooks?t=" in webhook["payloadUrl"]
    assert webhook["url"].startswith(f"https://api.github.com/repos/octo/{name}/hooks/")
    assert "secret" not in webhook
    first, second = webhook["filterGroups"]
    assert first[0] == {
        "type": "EVENT",
        "pattern": "PULL_REQUEST_CREATED, PULL_REQUEST_UPDATED, PULL_REQUEST_REOPENED",
        "excludeMatchedPattern": False,
    }
    assert second[1] == {
        "type": "HEAD_REF",
        "pattern": "^refs/heads/myBranch$",
        "excludeMatchedPattern": True,
    }
    assert cli_json(endpoint, "batch-get-projects", "--names", name)["projects"][0]["webhook"] == webhook
    again = error_of(lambda: cb.create_webhook(projectName=name, filterGroups=PUSH))
    assert again["Code"] == "ResourceAlreadyExistsException"

    updated = cli_json(
        endpoint,
        "update-webhook",
        "--project-name",
        name,
        "--rotate-secret",
        "--filter-groups",
        json.dumps(PUSH),
    )
    assert_documented_shape("update-webhook", updated)
    assert updated["webhook"]["filterGroups"] == [
        [{"type": "EVENT", "pattern": "PUSH", "excludeMatchedPattern": False}]
    ]
    assert updated["webhook"]["lastModifiedSecret"] > webhook["lastModifiedSecret"]
    assert updated["webhook"]["url"] == webhook["url"]
    built = cb.update_webhook(projectName=name, buildType="BUILD_BATCH")["webhook"]
    assert built["buildType"] == "BUILD_BATCH" and built["filterGroups"] == updated["webhook"]["filterGroups"]

    assert endpoint.aws("codebuild", "delete-webhook", "--project-name", name).stdout == ""
    assert "webhook" not in cb.batch_get_projects(names=[name])["projects"][0]
    for call in (
        lambda: cb.delete_webhook(projectName=name),
        lambda: cb.update_webhook(projectName=name, filterGroups=PUSH),
        lambda: cb.create_webhook(projectName=f"missing-{unique}"),
    ):
        assert error_of(call)["Code"] == "ResourceNotFoundException"


def test_a_manual_webhook_answers_its_secret_once(cb, github_token, unique):
    name = f"manual-{unique}"
    github_project(cb, name)
    webhook = cb.create_webhook(projectName=name, filterGroups=PUSH, manualCreation=True)["webhook"]
    assert webhook["secret"] and webhook["manualCreation"] is True and "url" not in webhook
    kept = cb.batch_get_projects(names=[name])["projects"][0]["webhook"]
    assert "secret" not in kept and kept["payloadUrl"] == webhook["payloadUrl"]
    rotated = cb.update_webhook(projectName=name, rotateSecret=True)["webhook"]
    assert rotated["secret"] != webhook["secret"]


def test_a_codecommit_project_has_no_webhook(cb, unique):
    name = f"cc-hook-{unique}"
    create_project(cb, name, {"type": "CODECOMMIT", "location": "https://example.com/v1/repos/demo"})
    refused = error_of(lambda: cb.create_webhook(projectName=name, filterGroups=PUSH))
    assert refused["Code"] == "InvalidInputException" and "CODECOMMIT" in refused["Message"]


def test_a_provider_without_credentials_answers_oauth_provider_exception(cb, unique):
    name = f"gitlab-{unique}"
    github_project(cb, name, "GITLAB")
    refused = error_of(lambda: cb.create_webhook(projectName=name, filterGroups=PUSH))
    assert refused["Code"] == "OAuthProviderException" and "ImportSourceCredentials" in refused["Message"]
    connected = f"gitlab-connected-{unique}"
    create_project(
        cb,
        connected,
        {
            "type": "GITLAB",
            "location": "https://gitlab.com/octo/connected.git",
            "auth": {
                "type": "CODECONNECTIONS",
                "resource": "arn:aws:codeconnections:eu-west-1:111122223333:connection/x",
            },
        },
    )
    url = cb.create_webhook(projectName=connected, filterGroups=PUSH)["webhook"]["url"]
    assert url.startswith("https://gitlab.com/api/v4/projects/octo%2Fconnected/hooks/")


@pytest.mark.parametrize(
    ("groups", "named"),
    [
        ([[{"type": "HEAD_REF", "pattern": "main"}]], "filterGroups[0] needs a filter of type EVENT"),
        ([[{"type": "EVENT", "pattern": "PUSHED"}]], "PUSHED"),
        (
            [[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": "(unclosed"}]],
            "filterGroups[0][1]",
        ),
        (
            [PUSH[0], [{"type": "EVENT", "pattern": "PUSH"}, {"type": "BRANCH", "pattern": "x"}]],
            "filterGroups[1][1].type",
        ),
        (
            [[{"type": "EVENT", "pattern": "PUSH"}, {"type": "HEAD_REF", "pattern": ""}]],
            "pattern is required",
        ),
    ],
)
def test_bad_filter_groups_answer_400_naming_the_filter(cb, github_token, unique, groups, named):
    name = f"filters-{unique}"
    github_project(cb, name)
    refused = error_of(lambda: cb.create_webhook(projectName=name, filterGroups=groups))
    assert refused["Code"] == "InvalidInputException" and named in refused["Message"]
    assert "webhook" not in cb.batch_get_projects(names=[name])["projects"][0]


def test_events_that_the_provider_never_sends_are_refused(cb, unique, endpoint):
    name = f"bitbucket-{unique}"
    github_project(cb, name, "BITBUCKET")
    cb.import_source_credentials(serverType="BITBUCKET", authType="PERSONAL_ACCESS_TOKEN", token="bb")
    released = [[{"type": "EVENT", "pattern": "PUSH, RELEASED"}]]
    refused = error_of(lambda: cb.create_webhook(projectName=name, filterGroups=released))
    assert refused["Code"] == "InvalidInputException" and "RELEASED" in refused["Message"]
    url = cb.create_webhook(projectName=name, filterGroups=PUSH)["webhook"]["url"]
    assert url.startswith(f"https://api.bitbucket.org/2.0/repositories/octo/{name}/hooks/%7B")
