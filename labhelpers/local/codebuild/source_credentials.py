"""CodeBuild source credentials: ImportSourceCredentials, ListSourceCredentials, DeleteSourceCredentials.

A Region holds one credential per server type, `arn:aws:codebuild:<region>:<account>:token/<server type>`,
kept in `<state>/source-credentials.json`, a file only its owner reads (0600). The token itself is never kept,
logged nor answered: local builds fetch no GitHub, Bitbucket or GitLab source, so nothing would use it. Of a
CODECONNECTIONS or SECRETS_MANAGER credential the token is the connection's or secret's ARN, kept as the
`resource` that ListSourceCredentials shows.
"""

import copy
import json
import re
import threading
from pathlib import Path

from ..awsjson import AwsError
from ..dispatch import JsonService, request_region
from .projects import check_enum
from .store import write_json

CREDENTIALS_FILE = "source-credentials.json"
# What the token of these auth types is the ARN of, and that ARN's form
_RESOURCES = {
    "CODECONNECTIONS": (
        "connection",
        re.compile(r"arn:aws:(codeconnections|codestar-connections):[^:]+:\d{12}:connection/.+"),
    ),
    "SECRETS_MANAGER": ("secret", re.compile(r"arn:aws:secretsmanager:[^:]+:\d{12}:secret:.+")),
}


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidInputException", message)


def credentials_file(layout) -> Path:
    return layout.state / CREDENTIALS_FILE


class SourceCredentials:
    """The credentials by ARN, each {arn, serverType, authType[, resource]}; thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._items: dict[str, dict] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self._items = {}

    def put(self, info: dict, overwrite: bool) -> None:
        with self._lock:
            if info["arn"] in self._items and not overwrite:
                raise AwsError(
                    "ResourceAlreadyExistsException",
                    f"Source credentials {info['arn']} already exist: pass shouldOverwrite to replace them.",
                )
            self._items[info["arn"]] = info
            self._save()

    def delete(self, arn: str) -> None:
        with self._lock:
            if self._items.pop(arn, None) is None:
                raise AwsError("ResourceNotFoundException", f"Source credentials {arn} do not exist")
            self._save()

    def of_region(self, region: str, account: str) -> list[dict]:
        prefix = token_arn(region, account, "")
        with self._lock:
            return [
                copy.deepcopy(info) for arn, info in sorted(self._items.items()) if arn.startswith(prefix)
            ]

    def _save(self) -> None:
        write_json(self.path, self._items, private=True)


def token_arn(region: str, account: str, server_type: str) -> str:
    return f"arn:aws:codebuild:{region}:{account}:token/{server_type.lower()}"


class SourceCredentialsService(JsonService):
    target_prefix = "CodeBuild_20161006"
    signing_name = "codebuild"
    moto_fallback = True

    def __init__(self, ctx, store: SourceCredentials):
        self.ctx = ctx
        self.store = store

    def import_source_credentials(self, params):
        server = check_enum(params.get("serverType"), "serverType", "ServerType")
        auth = check_enum(params.get("authType"), "authType", "AuthType")
        token = params.get("token")
        if not token:
            raise _invalid("token is required.")
        _check_auth(server, auth, params.get("username"))
        info = {
            "arn": token_arn(request_region(), self.ctx.account, server),
            "serverType": server,
            "authType": auth,
        }
        if auth in _RESOURCES:
            noun, form = _RESOURCES[auth]
            if not form.fullmatch(token):
                raise _invalid(f"For authType {auth} the token must be the ARN of the {noun}.")
            info["resource"] = token
        self.store.put(info, overwrite=params.get("shouldOverwrite", True))
        return {"arn": info["arn"]}

    def list_source_credentials(self, params):
        return {"sourceCredentialsInfos": self.store.of_region(request_region(), self.ctx.account)}

    def delete_source_credentials(self, params):
        arn = params.get("arn")
        if not arn:
            raise _invalid("arn is required.")
        self.store.delete(arn)
        return {"arn": arn}


def _check_auth(server: str, auth: str, username: str | None) -> None:
    """The authType rules of AWS's API: no OAUTH (the console makes those), BASIC_AUTH for Bitbucket with a
    username, and a username for nothing else."""
    if auth == "OAUTH":
        raise _invalid(
            "authType OAUTH is not supported by the API: connect with OAuth in the CodeBuild console, or "
            "import a PERSONAL_ACCESS_TOKEN."
        )
    if auth == "BASIC_AUTH":
        if server != "BITBUCKET":
            raise _invalid(f"authType BASIC_AUTH is only for BITBUCKET, not {server}.")
        if not username:
            raise _invalid(
                "username is required for BASIC_AUTH: the Bitbucket user the app password belongs to."
            )
    elif username:
        raise _invalid(f"username is only valid with authType BASIC_AUTH, not {auth}.")
