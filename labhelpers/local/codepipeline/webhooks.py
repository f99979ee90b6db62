"""CodePipeline webhooks (for GitHub version 1 source actions): PutWebhook, ListWebhooks, DeleteWebhook and
their registration with the third party, kept per Region in one JSON file.

A webhook gets a URL in the form AWS gives (https://<region>.webhooks.aws/trigger?t=...&v=1). Nothing
local answers it, and the endpoint cannot reach GitHub: RegisterWebhookWithThirdParty says so with a 400
and what to do instead; DeregisterWebhookWithThirdParty has nothing to undo and succeeds."""

import copy
import ipaddress
import json
import secrets
import threading
from pathlib import Path

from labhelpers.validator import validate_shape

from ..awsjson import AwsError
from ..dispatch import JsonService
from ..paging import page
from .control import SECRET_MASK
from .requests import answer, check_new_tags, region
from .store import PipelineStore, write_json

MAX_WEBHOOKS = 300  # per Region and account (CodePipeline quotas)


class WebhookStore:
    """Thread-safe. Per Region, by name: {"definition", "url", "arn", "tags"}."""

    def __init__(self, path: Path, account: str):
        self.path = Path(path)
        self.account = account
        self._lock = threading.Lock()
        self._webhooks: dict[str, dict[str, dict]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {}
        )

    def put(self, region: str, definition: dict, tags: list[dict] | None) -> dict:
        """Create the webhook or replace its definition (and its tags, when given); its URL stays."""
        name = definition["name"]
        with self._lock:
            webhooks = self._webhooks.setdefault(region, {})
            earlier = webhooks.get(name)
            if earlier is None and len(webhooks) >= MAX_WEBHOOKS:
                raise AwsError(
                    "LimitExceededException",
                    f"An account can have at most {MAX_WEBHOOKS} webhooks per Region: delete one first.",
                )
            webhook = {
                "definition": copy.deepcopy(definition),
                "url": earlier["url"] if earlier else _url(region),
                "arn": f"arn:aws:codepipeline:{region}:{self.account}:webhook:{name}",
                "tags": copy.deepcopy(tags if tags is not None else (earlier or {}).get("tags", [])),
            }
            webhooks[name] = webhook
            write_json(self.path, self._webhooks)
            return copy.deepcopy(webhook)

    def get(self, region: str, name: str) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._webhooks.get(region, {}).get(name))

    def listed(self, region: str) -> list[tuple[str, dict]]:
        """(name, webhook) pairs of the Region, by name."""
        with self._lock:
            return sorted(copy.deepcopy(self._webhooks.get(region, {})).items())

    def delete(self, region: str, name: str) -> None:
        with self._lock:
            if self._webhooks.get(region, {}).pop(name, None) is not None:
                write_json(self.path, self._webhooks)


class CodePipelineWebhooks(JsonService):
    target_prefix = "CodePipeline_20150709"
    signing_name = "codepipeline"

    def __init__(self, webhooks: WebhookStore, pipelines: PipelineStore, *, page_size: int = 100):
        self.webhooks = webhooks
        self.pipelines = pipelines
        self.page_size = page_size

    def put_webhook(self, params):
        answer(validate_shape("PutWebhookInput", params))
        definition, here = params["webhook"], region()
        pipeline = self.pipelines.declaration(definition["targetPipeline"], region=here)
        if not any(a["name"] == definition["targetAction"] for a in pipeline["stages"][0]["actions"]):
            raise AwsError(
                "ValidationException",
                f"webhook.targetAction '{definition['targetAction']}' is not an action of the first (source) "
                f"stage of pipeline {pipeline['name']}.",
            )
        _check_filters(definition["filters"])
        _check_authentication(definition["authentication"], definition["authenticationConfiguration"])
        if "tags" in params:
            check_new_tags(params["tags"])
        return {"webhook": _item(self.webhooks.put(here, definition, params.get("tags")))}

    def list_webhooks(self, params):
        answer(validate_shape("ListWebhooksInput", params))
        size = params.get("MaxResults") or self.page_size
        chosen, token = page(self.webhooks.listed(region()), params.get("NextToken"), size, "webhooks")
        answered = {"webhooks": [_item(webhook) for webhook in chosen]}
        return {**answered, "NextToken": token} if token else answered

    def delete_webhook(self, params):
        answer(validate_shape("DeleteWebhookInput", params))
        self.webhooks.delete(region(), params["name"])  # a missing webhook is no error

    def register_webhook_with_third_party(self, params):
        webhook = self._webhook(params)
        name = webhook["definition"]["name"]
        raise AwsError(
            "ValidationException",
            f"The local lab endpoint cannot reach GitHub to register webhook {name}. "
            f"Add its URL ({webhook['url']}) to the repository's webhooks on GitHub yourself, or run with "
            "LAB_BACKEND=aws; locally, start the pipeline with StartPipelineExecution or a CodeCommit push.",
        )

    def deregister_webhook_with_third_party(self, params):
        self._webhook(params)  # never registered locally: nothing to remove at the third party

    def _webhook(self, params) -> dict:
        answer(validate_shape("RegisterWebhookWithThirdPartyInput", params))
        name = params.get("webhookName")
        if not name:
            raise AwsError("ValidationException", "webhookName is required: name the webhook.")
        webhook = self.webhooks.get(region(), name)
        if webhook is None:
            raise AwsError("WebhookNotFoundException", f"The webhook {name} was not found.")
        return webhook


def _url(region: str) -> str:
    return f"https://{region}.webhooks.aws/trigger?t={secrets.token_urlsafe(48)}&v=1"


def _item(webhook: dict) -> dict:
    """The ListWebhookItem shape, its secret token redacted as AWS redacts it."""
    item = copy.deepcopy(webhook)
    settings = item["definition"]["authenticationConfiguration"]
    if "SecretToken" in settings:
        settings["SecretToken"] = SECRET_MASK
    if not item["tags"]:
        del item["tags"]
    return item


def _check_filters(filters: list[dict]) -> None:
    """JsonPath expressions start at the payload's root, $."""
    for index, rule in enumerate(filters):
        if not rule["jsonPath"].startswith("$"):
            raise AwsError(
                "InvalidWebhookFilterPatternException",
                f"webhook.filters[{index}].jsonPath '{rule['jsonPath']}' is not a JsonPath expression: "
                "start it at the payload's root, e.g. $.ref.",
            )


def _check_authentication(kind: str, settings: dict) -> None:
    """GITHUB_HMAC needs a SecretToken, IP an AllowedIPRange in CIDR notation, UNAUTHENTICATED neither."""
    needed = {"GITHUB_HMAC": "SecretToken", "IP": "AllowedIPRange"}.get(kind)
    if needed and not settings.get(needed):
        raise AwsError(
            "InvalidWebhookAuthenticationParametersException",
            f"webhook.authenticationConfiguration.{needed} is required with authentication {kind}.",
        )
    if kind == "IP":
        try:
            ipaddress.ip_network(settings["AllowedIPRange"], strict=False)
        except ValueError:
            raise AwsError(
                "InvalidWebhookAuthenticationParametersException",
                f"webhook.authenticationConfiguration.AllowedIPRange '{settings['AllowedIPRange']}' is "
                "not an IP range in CIDR notation, such as 10.0.0.0/24.",
            ) from None
