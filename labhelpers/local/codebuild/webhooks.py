"""CodeBuild webhooks: CreateWebhook, UpdateWebhook, DeleteWebhook.

A webhook is kept on its project (moto keeps projects), so BatchGetProjects shows it as AWS does. Only the
sources of providers that call webhooks have one (GitHub, GitHub Enterprise, Bitbucket, GitLab); CodeCommit,
S3 and CodePipeline sources start builds otherwise (EventBridge rules, pipelines), and a webhook on them is
refused. CodeBuild reaches the provider with the source's own auth (a connection or a secret) or the Region's
source credentials of its server type; with neither, the answer is OAuthProviderException, as on AWS.

Locally a webhook never fires: nothing registers it at the provider, and no provider could reach the endpoint.
Its payloadUrl and url have the form of AWS's; the secret of a manual webhook is answered once and not kept.
"""

import re
import secrets
import threading
from urllib.parse import quote, urlparse

from .. import motoapi
from ..awsjson import AwsError, now
from ..dispatch import JsonService, request_region
from .projects import check_enum, enum_values
from .source_credentials import SourceCredentials, token_arn

MANUAL_ONLY = {"GITHUB_ENTERPRISE", "GITLAB_SELF_MANAGED"}  # the user adds the hook at the provider
# The EVENT patterns' events, with the server types that send each (None: all of them)
EVENTS = {
    "PUSH": None,
    "PULL_REQUEST_CREATED": None,
    "PULL_REQUEST_UPDATED": None,
    "PULL_REQUEST_CLOSED": None,
    "PULL_REQUEST_MERGED": None,
    "PULL_REQUEST_REOPENED": {"GITHUB", "GITHUB_ENTERPRISE"},
    "WORKFLOW_JOB_QUEUED": {"GITHUB", "GITHUB_ENTERPRISE"},
    "RELEASED": {"GITHUB"},
    "PRERELEASED": {"GITHUB"},
}
# What UpdateWebhook replaces when given
_UPDATABLE = ("branchFilter", "buildType", "pullRequestBuildPolicy")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


class WebhooksService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(self, ctx, credentials: SourceCredentials, *, on_write=None):
        self.ctx = ctx
        self.credentials = credentials
        self._on_write = on_write or (lambda service: None)
        self._lock = threading.Lock()

    def create_webhook(self, params):
        region = request_region()
        with self._lock:
            project = self._project(params, region)
            if project.get("webhook"):
                raise AwsError(
                    "ResourceAlreadyExistsException", f"Webhook already exists for project {project['name']}"
                )
            server = self._server(project, region)
            manual = bool(params.get("manualCreation")) or server in MANUAL_ONLY
            if params.get("manualCreation") and server not in ("GITHUB", "GITHUB_ENTERPRISE"):
                raise _invalid(f"manualCreation is only available for GitHub webhooks, not {server}.")
            webhook = {
                "payloadUrl": f"https://codebuild.{region}.amazonaws.com/webhooks?t={_opaque()}&v=1",
                **({} if manual else {"url": _hook_url(server, project["source"].get("location") or "")}),
                **_settings(params, server),
                **({"manualCreation": True} if manual else {}),
                **_scope(params),
                "lastModifiedSecret": now(),
            }
            self._keep(project, webhook, region)
        return {"webhook": {**webhook, **({"secret": _opaque()} if manual else {})}}

    def update_webhook(self, params):
        region = request_region()
        with self._lock:
            project = self._project(params, region)
            webhook = self._webhook(project)
            server = self._server(project, region)
            webhook.update(_settings(params, server, webhook.get("filterGroups")))
            rotated = bool(params.get("rotateSecret")) and server != "BITBUCKET"  # Bitbucket has no secret
            if rotated:
                webhook["lastModifiedSecret"] = now()
            self._keep(project, webhook, region)
        return {
            "webhook": {
                **webhook,
                **({"secret": _opaque()} if rotated and webhook.get("manualCreation") else {}),
            }
        }

    def delete_webhook(self, params):
        region = request_region()
        with self._lock:
            project = self._project(params, region)
            self._webhook(project)
            self._keep(project, None, region)
        return {}

    # -- helpers ---------------------------------------------------------------------------------------

    def _project(self, params: dict, region: str) -> dict:
        name = params.get("projectName")
        if not name:
            raise _invalid("projectName is required.")
        project = motoapi.codebuild_project(self.ctx.account, region, name)
        if project is None:
            raise AwsError(
                "ResourceNotFoundException",
                f"Project cannot be found: arn:aws:codebuild:{region}:{self.ctx.account}:project/{name}",
            )
        return project

    @staticmethod
    def _webhook(project: dict) -> dict:
        if not project.get("webhook"):
            raise AwsError("ResourceNotFoundException", f"Project {project['name']} has no webhook")
        return project["webhook"]

    def _server(self, project: dict, region: str) -> str:
        """The provider's server type; OAuthProviderException when CodeBuild has no way to reach it."""
        source = project["source"]
        server = source["type"]  # the source types with webhooks are the server types of source credentials
        if server not in enum_values("ServerType"):
            raise _invalid(
                f"Project {project['name']} has a {source['type']} source, which has no webhooks: only "
                "GitHub, GitHub Enterprise, Bitbucket and GitLab sources do. A CodeCommit repository starts "
                "builds through a pipeline or an EventBridge rule."
            )
        auth = source.get("auth") or {}
        known = {info["arn"] for info in self.credentials.of_region(region, self.ctx.account)}
        if not (auth.get("resource") or token_arn(region, self.ctx.account, server) in known):
            raise AwsError(
                "OAuthProviderException",
                f"CodeBuild has no credentials for {server}: import them with ImportSourceCredentials, or "
                "give the project's source an auth with a connection.",
            )
        return server

    def _keep(self, project: dict, webhook: dict | None, region: str) -> None:
        motoapi.update_codebuild_project(self.ctx.account, region, project["name"], {"webhook": webhook})
        self._on_write("codebuild")


def _settings(params: dict, server: str, filter_groups=None) -> dict:
    """The webhook members CreateWebhook and UpdateWebhook take, checked; filterGroups as AWS keeps them."""
    settings = {key: params[key] for key in _UPDATABLE if params.get(key) is not None}
    if "branchFilter" in settings:
        _check_pattern(settings["branchFilter"], "branchFilter")
    if "buildType" in settings:
        check_enum(settings["buildType"], "buildType", "WebhookBuildType")
    if "pullRequestBuildPolicy" in settings:
        policy = settings["pullRequestBuildPolicy"]
        check_enum(
            policy.get("requiresCommentApproval"),
            "pullRequestBuildPolicy.requiresCommentApproval",
            "PullRequestBuildCommentApproval",
        )
    groups = params.get("filterGroups", filter_groups)
    if groups is not None:
        settings["filterGroups"] = [
            _checked_group(group, index, server) for index, group in enumerate(groups)
        ]
    return settings


def _checked_group(group: list, index: int, server: str) -> list:
    where = f"filterGroups[{index}]"
    if not any(item.get("type") == "EVENT" for item in group):
        raise _invalid(
            f"{where} needs a filter of type EVENT: every filter group says which events it takes."
        )
    checked = []
    for position, item in enumerate(group):
        field = f"{where}[{position}]"
        kind = check_enum(item.get("type"), f"{field}.type", "WebhookFilterType")
        pattern = item.get("pattern")
        if not pattern:
            raise _invalid(f"{field}.pattern is required.")
        if kind == "EVENT":
            _check_events(pattern, field, server)
        else:
            _check_pattern(pattern, f"{field}.pattern")
        checked.append({**item, "excludeMatchedPattern": bool(item.get("excludeMatchedPattern", False))})
    return checked


def _check_events(pattern: str, field: str, server: str) -> None:
    for event in (part.strip() for part in pattern.split(",")):
        if event not in EVENTS:
            raise _invalid(f"Invalid event {event!r} in {field}.pattern: use some of {', '.join(EVENTS)}.")
        if EVENTS[event] is not None and server not in EVENTS[event]:
            raise _invalid(f"Event {event} in {field}.pattern is not sent by {server}.")


def _check_pattern(pattern: str, field: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise _invalid(f"{field} {pattern!r} is not a valid regular expression: {exc}.") from None


def _scope(params: dict) -> dict:
    scope = params.get("scopeConfiguration")
    if scope is None:
        return {}
    check_enum(scope.get("scope"), "scopeConfiguration.scope", "WebhookScopeType")
    if not scope.get("name"):
        raise _invalid("scopeConfiguration.name is required: the organization or group the webhook serves.")
    return {"scopeConfiguration": scope}


def _hook_url(server: str, location: str) -> str:
    """Where the provider's API keeps the hook, in the form AWS answers."""
    repository = urlparse(location).path.strip("/").removesuffix(".git")
    hook = secrets.randbelow(10**9)
    if server == "BITBUCKET":
        return f"https://api.bitbucket.org/2.0/repositories/{repository}/hooks/%7B{secrets.token_hex(16)}%7D"
    if server == "GITLAB":
        return f"https://gitlab.com/api/v4/projects/{quote(repository, safe='')}/hooks/{hook}"
    return f"https://api.github.com/repos/{repository}/hooks/{hook}"


def _opaque() -> str:
    return secrets.token_urlsafe(48)
