"""CodePipeline webhooks on the local endpoint: stored with the URL and ARN AWS gives, listed with the
secret redacted, deleted; registration with GitHub refused clearly, since the endpoint cannot reach it."""

import json
import re

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint
from pipeline_kit import Kit

from labhelpers.local import config, process
from labhelpers.local.awsjson import AwsError
from labhelpers.local.codepipeline import webhooks


@pytest.fixture
def kit(endpoint, unique):
    made = Kit(endpoint, unique)
    made.setup()
    made.codepipeline.create_pipeline(pipeline=made.declaration(approval()))
    return made


def approval() -> dict:
    return {
        "name": "Approve",
        "actions": [
            {
                "name": "Approve",
                "actionTypeId": {
                    "category": "Approval",
                    "owner": "AWS",
                    "provider": "Manual",
                    "version": "1",
                },
            }
        ],
    }


def definition(kit, name: str, **changes) -> dict:
    return {
        "name": name,
        "targetPipeline": kit.pipeline,
        "targetAction": "Source",
        "filters": [{"jsonPath": "$.ref", "matchEquals": "refs/heads/{BranchName}"}],
        "authentication": "GITHUB_HMAC",
        "authenticationConfiguration": {"SecretToken": "s3cr3t"},
        **changes,
    }


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]


def listed(cp) -> dict[str, dict]:
    pages = cp.get_paginator("list_webhooks").paginate(PaginationConfig={"PageSize": 1})
    return {item["definition"]["name"]: item for page in pages for item in page["webhooks"]}


def test_put_list_and_delete_a_webhook(kit):
    cp, name = kit.codepipeline, f"hook-{kit.unique}"
    put = cp.put_webhook(webhook=definition(kit, name), tags=[{"key": "team", "value": "lab"}])["webhook"]
    assert re.fullmatch(rf"https://{config.REGION}\.webhooks\.aws/trigger\?t=[\w-]+&v=1", put["url"])
    assert put["arn"] == f"arn:aws:codepipeline:{config.REGION}:{config.ACCOUNT}:webhook:{name}"
    assert put["definition"]["authenticationConfiguration"] == {"SecretToken": "****"}  # redacted
    assert put["definition"]["filters"] == definition(kit, name)["filters"]
    assert put["tags"] == [{"key": "team", "value": "lab"}]

    cp.put_webhook(
        webhook=definition(kit, f"{name}-2", authentication="UNAUTHENTICATED", authenticationConfiguration={})
    )
    found = listed(cp)
    assert found[name] == put
    assert found[f"{name}-2"]["definition"]["authentication"] == "UNAUTHENTICATED"

    # Put again: the definition changes, the URL stays.
    again = cp.put_webhook(webhook=definition(kit, name, filters=[{"jsonPath": "$.repository.name"}]))[
        "webhook"
    ]
    assert again["url"] == put["url"] and again["definition"]["filters"] == [
        {"jsonPath": "$.repository.name"}
    ]

    cp.delete_webhook(name=name)
    cp.delete_webhook(name=name)  # a missing webhook is no error
    assert name not in listed(cp) and f"{name}-2" in listed(cp)


def test_put_webhook_refuses_what_aws_refuses(kit):
    cp, name = kit.codepipeline, f"bad-{kit.unique}"
    cases = {
        "PipelineNotFoundException": definition(kit, name, targetPipeline=f"nope-{kit.unique}"),
        "ValidationException": definition(kit, name, targetAction="Approve"),
        "InvalidWebhookFilterPatternException": definition(kit, name, filters=[{"jsonPath": "ref"}]),
        "InvalidWebhookAuthenticationParametersException": definition(
            kit, name, authenticationConfiguration={}
        ),
    }
    for code, bad in cases.items():
        assert error_of(cp.put_webhook, webhook=bad)["Code"] == code
    bad_range = definition(
        kit, name, authentication="IP", authenticationConfiguration={"AllowedIPRange": "x"}
    )
    assert (
        error_of(cp.put_webhook, webhook=bad_range)["Code"]
        == "InvalidWebhookAuthenticationParametersException"
    )
    by_ip = definition(
        kit, name, authentication="IP", authenticationConfiguration={"AllowedIPRange": "10.0.0.0/24"}
    )
    assert cp.put_webhook(webhook=by_ip)["webhook"]["definition"]["authentication"] == "IP"
    system_tag = error_of(cp.put_webhook, webhook=by_ip, tags=[{"key": "aws:x", "value": "y"}])
    assert system_tag["Code"] == "InvalidTagsException"
    assert error_of(cp.list_webhooks, NextToken="not-ours")["Code"] == "InvalidNextTokenException"


def test_registration_with_github_is_refused_clearly_and_deregistration_succeeds(kit):
    cp, name = kit.codepipeline, f"reg-{kit.unique}"
    cp.put_webhook(webhook=definition(kit, name))
    refused = error_of(cp.register_webhook_with_third_party, webhookName=name)
    assert refused["Code"] == "ValidationException"
    assert "cannot reach GitHub" in refused["Message"] and "LAB_BACKEND=aws" in refused["Message"]
    cp.deregister_webhook_with_third_party(webhookName=name)
    for call in (cp.register_webhook_with_third_party, cp.deregister_webhook_with_third_party):
        assert error_of(call, webhookName=f"none-{kit.unique}")["Code"] == "WebhookNotFoundException"
        assert error_of(call)["Code"] == "ValidationException"  # the model lets the name out; AWS does not


def test_the_cli_puts_lists_deregisters_and_deletes(kit, tmp_path):
    name = f"cli-{kit.unique}"
    (tmp_path / "webhook_json.json").write_text(json.dumps({"webhook": definition(kit, name)}))
    put = kit.endpoint.run(
        ["aws", "codepipeline", "put-webhook", "--cli-input-json", "file://webhook_json.json"], cwd=tmp_path
    )
    assert json.loads(put.stdout)["webhook"]["definition"]["name"] == name
    hooks = json.loads(kit.endpoint.aws("codepipeline", "list-webhooks").stdout)["webhooks"]
    assert name in {hook["definition"]["name"] for hook in hooks}
    assert (
        kit.endpoint.aws("codepipeline", "deregister-webhook-with-third-party", "--webhook-name", name).stdout
        == ""
    )
    assert kit.endpoint.aws("codepipeline", "delete-webhook", "--name", name).stdout == ""


def test_webhooks_survive_a_restart(fresh_endpoint, unique):
    made = Kit(fresh_endpoint, unique)
    made.setup()
    made.codepipeline.create_pipeline(pipeline=made.declaration(approval()))
    put = made.codepipeline.put_webhook(webhook=definition(made, "kept"))["webhook"]
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root)
    (kept,) = again.client("codepipeline").list_webhooks()["webhooks"]
    assert kept == put


def test_a_region_holds_at_most_the_quota_of_webhooks(tmp_path, monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_WEBHOOKS", 2)
    store = webhooks.WebhookStore(tmp_path / "webhooks.json", config.ACCOUNT)
    hook = {"name": "a", "authenticationConfiguration": {}}
    for name in ("a", "b", "a"):  # putting an existing webhook again is no new one
        store.put(config.REGION, {**hook, "name": name}, None)
    with pytest.raises(AwsError) as refused:
        store.put(config.REGION, {**hook, "name": "c"}, None)
    assert refused.value.code == "LimitExceededException"
    store.put("us-east-1", {**hook, "name": "c"}, None)  # another Region's quota
