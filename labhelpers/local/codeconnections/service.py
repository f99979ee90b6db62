"""CodeConnections and the older CodeStar Connections API: connections to GitHub, Bitbucket or GitLab.

Locally a connection links to nothing outside: it is AVAILABLE as soon as it is created (on AWS it stays
PENDING until someone completes the handshake in the console), and a CodeStarSourceConnection action that
names it reads the repository from the endpoint's own git server (codepipeline/engine/connection_source).
Both APIs share one set of connections; each names the connections it creates with its own ARN service
(`codeconnections` or `codestar-connections`). They are kept in one JSON file, so they survive a restart."""

import json
import os
import threading
import uuid
from pathlib import Path

from ..awsjson import AwsError, now
from ..dispatch import JsonService, request_region
from ..paging import page

AVAILABLE = "AVAILABLE"
MAX_TAGS = 200
DEFAULT_PAGE = 100
_SHOWN = ("ConnectionName", "ConnectionArn", "ProviderType", "OwnerAccountId", "ConnectionStatus")


def not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Connection {arn} not found")


class ConnectionStore:
    """Thread-safe; answers copies."""

    def __init__(self, path: Path, account: str):
        self.path = Path(path)
        self.account = account
        self._lock = threading.Lock()
        self._by_arn: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def create(self, arn_service: str, region: str, name: str, provider_type: str, tags: list[dict]) -> dict:
        connection = {
            "ConnectionName": name,
            "ConnectionArn": f"arn:aws:{arn_service}:{region}:{self.account}:connection/{uuid.uuid4()}",
            "ProviderType": provider_type,
            "OwnerAccountId": self.account,
            "ConnectionStatus": AVAILABLE,
            "Tags": tags,
            "created": now(),
        }
        with self._lock:
            self._by_arn[connection["ConnectionArn"]] = connection
            self._save()
        return dict(connection)

    def find(self, arn: str) -> dict | None:
        with self._lock:
            found = self._by_arn.get(arn)
            return dict(found) if found else None

    def get(self, arn: str) -> dict:
        found = self.find(arn)
        if found is None:
            raise not_found(arn)
        return found

    def in_region(self, region: str) -> list[dict]:
        """The Region's connections, oldest first."""
        with self._lock:
            found = [dict(c) for c in self._by_arn.values() if c["ConnectionArn"].split(":")[3] == region]
        return sorted(found, key=lambda c: c["created"])

    def delete(self, arn: str) -> None:
        with self._lock:
            if self._by_arn.pop(arn, None) is None:
                raise not_found(arn)
            self._save()

    def set_tags(self, arn: str, edit) -> None:
        """Replace the tags by `edit(current tags as {key: value})`."""
        with self._lock:
            connection = self._by_arn.get(arn)
            if connection is None:
                raise not_found(arn)
            tags = edit({tag["Key"]: tag["Value"] for tag in connection["Tags"]})
            if len(tags) > MAX_TAGS:
                raise AwsError("LimitExceededException", f"A connection can have at most {MAX_TAGS} tags.")
            connection["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
            self._save()

    def _save(self) -> None:
        partial = self.path.with_name(f".{self.path.name}.tmp")
        partial.write_text(json.dumps(self._by_arn, indent=1))
        os.replace(partial, self.path)


def _invalid(field: str, value, constraint: str) -> AwsError:
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value {value!r} at '{field}' failed to satisfy constraint: "
        f"{constraint}",
    )


def _tags(params: dict) -> list[dict]:
    tags = params.get("Tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise _invalid("tags", tags, f"Member must have length less than or equal to {MAX_TAGS}")
    for tag in tags:
        key, value = (tag.get("Key"), tag.get("Value")) if isinstance(tag, dict) else (None, None)
        if not (isinstance(key, str) and 1 <= len(key) <= 128) or not (
            isinstance(value, str) and len(value) <= 256
        ):
            raise _invalid("tags", tag, "Key must be 1-128 characters and Value at most 256")
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


class ConnectionsService(JsonService):
    """The CodeConnections API (2023-12-01)."""

    target_prefix = "CodeConnections_20231201"
    signing_name = "codeconnections"
    arn_service = "codeconnections"
    provider_types = (
        "Bitbucket",
        "GitHub",
        "GitHubEnterpriseServer",
        "GitLab",
        "GitLabSelfManaged",
        "AzureDevOps",
        "GitHubEnterpriseCloudDataResidency",
    )

    def __init__(self, store: ConnectionStore):
        self.store = store

    def create_connection(self, params):
        if params.get("HostArn"):
            raise AwsError(
                "ResourceNotFoundException",
                f"Host {params['HostArn']} not found: the local lab endpoint has no hosts; "
                "create the connection with a ProviderType instead.",
            )
        provider_type = params.get("ProviderType")
        if provider_type not in self.provider_types:
            raise _invalid(
                "providerType",
                provider_type,
                f"Member must satisfy enum value set: [{', '.join(self.provider_types)}]",
            )
        name = params.get("ConnectionName")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            raise _invalid("connectionName", name, "Member must have length between 1 and 32")
        tags = _tags(params)
        created = self.store.create(self.arn_service, request_region(), name, provider_type, tags)
        return {"ConnectionArn": created["ConnectionArn"], **({"Tags": tags} if tags else {})}

    def get_connection(self, params):
        return {"Connection": self._shown(self.store.get(self._arn(params, "ConnectionArn")))}

    def list_connections(self, params):
        size = params.get("MaxResults") or DEFAULT_PAGE
        if not isinstance(size, int) or not 0 < size <= 100:
            raise _invalid("maxResults", size, "Member must have value less than or equal to 100")
        wanted_type, wanted_host = params.get("ProviderTypeFilter"), params.get("HostArnFilter")
        chosen = [
            (f"{int(c['created'] * 1000):015d}-{c['ConnectionArn']}", self._shown(c))
            for c in self.store.in_region(request_region())
            if (wanted_type is None or c["ProviderType"] == wanted_type)
            and (wanted_host is None or c.get("HostArn") == wanted_host)
        ]
        connections, token = page(chosen, params.get("NextToken"), size, "connections")
        return {"Connections": connections, **({"NextToken": token} if token else {})}

    def delete_connection(self, params):
        self.store.delete(self._arn(params, "ConnectionArn"))

    def tag_resource(self, params):
        added = {tag["Key"]: tag["Value"] for tag in _tags(params)}
        self.store.set_tags(self._arn(params, "ResourceArn"), lambda tags: {**tags, **added})

    def untag_resource(self, params):
        keys = params.get("TagKeys") or []
        self.store.set_tags(
            self._arn(params, "ResourceArn"), lambda tags: {k: v for k, v in tags.items() if k not in keys}
        )

    def list_tags_for_resource(self, params):
        return {"Tags": self.store.get(self._arn(params, "ResourceArn"))["Tags"]}

    @staticmethod
    def _arn(params: dict, field: str) -> str:
        arn = params.get(field)
        if not isinstance(arn, str) or not arn.startswith("arn:"):
            raise _invalid(field[0].lower() + field[1:], arn, "Member must be a connection ARN")
        return arn

    @staticmethod
    def _shown(connection: dict) -> dict:
        return {key: connection[key] for key in _SHOWN}


class CodeStarConnectionsService(ConnectionsService):
    """The same connections through the older CodeStar Connections API (2019-12-01)."""

    target_prefix = "CodeStar_connections_20191201"
    signing_name = "codestar-connections"
    arn_service = "codestar-connections"
    provider_types = ("Bitbucket", "GitHub", "GitHubEnterpriseServer", "GitLab", "GitLabSelfManaged")
