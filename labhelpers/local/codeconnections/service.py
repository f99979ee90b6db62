"""CodeConnections and the older CodeStar Connections API: connections to GitHub, Bitbucket or GitLab, and
hosts for providers installed on infrastructure of one's own (hosts).

Locally a connection links to nothing outside: it is AVAILABLE as soon as it is created (on AWS it stays
PENDING until someone completes the handshake in the console), and a CodeStarSourceConnection action that
names it reads the repository from the endpoint's own git server (codepipeline/engine/connection_source).
Both APIs share one set of connections and hosts; each names those it creates with its own ARN service
(`codeconnections` or `codestar-connections`). They are kept in JSON files (store), so they survive a
restart."""

from ..awsjson import AwsError
from ..dispatch import JsonService, request_region
from ..paging import page
from .hosts import HostOperations
from .store import AVAILABLE, ConnectionStore, HostStore
from .validation import invalid, listing_size, tags_of

_SHOWN = ("ConnectionName", "ConnectionArn", "ProviderType", "OwnerAccountId", "ConnectionStatus", "HostArn")


class ConnectionsService(HostOperations, JsonService):
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

    def __init__(self, store: ConnectionStore, hosts: HostStore):
        self.store = store
        self.hosts = hosts

    def create_connection(self, params):
        name = params.get("ConnectionName")
        if not isinstance(name, str) or not 1 <= len(name) <= 32:
            raise invalid("connectionName", name, "Member must have length between 1 and 32")
        host_arn = params.get("HostArn")
        if host_arn:
            provider_type = self._available_host(host_arn)["ProviderType"]
        else:
            provider_type = params.get("ProviderType")
            if provider_type not in self.provider_types:
                raise invalid(
                    "providerType",
                    provider_type,
                    f"Member must satisfy enum value set: [{', '.join(self.provider_types)}]",
                )
        tags = tags_of(params)
        created = self.store.create(self.arn_service, request_region(), name, provider_type, tags, host_arn)
        return {"ConnectionArn": created["ConnectionArn"], **({"Tags": tags} if tags else {})}

    def get_connection(self, params):
        return {"Connection": self._shown(self.store.get(self._arn(params, "ConnectionArn")))}

    def list_connections(self, params):
        size = listing_size(params)
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
        added = {tag["Key"]: tag["Value"] for tag in tags_of(params)}
        arn = self._arn(params, "ResourceArn")
        self._store_of(arn).set_tags(arn, lambda tags: {**tags, **added})

    def untag_resource(self, params):
        keys = params.get("TagKeys") or []
        arn = self._arn(params, "ResourceArn")
        self._store_of(arn).set_tags(arn, lambda tags: {k: v for k, v in tags.items() if k not in keys})

    def list_tags_for_resource(self, params):
        arn = self._arn(params, "ResourceArn")
        return {"Tags": self._store_of(arn).get(arn)["Tags"]}

    def _available_host(self, arn: str) -> dict:
        """The host a new connection is for: it must exist and be AVAILABLE (set up)."""
        host = self.hosts.get(arn)
        if host["Status"] != AVAILABLE:
            raise AwsError(
                "ResourceUnavailableException",
                f"Host {arn} is {host['Status']}: a connection needs an AVAILABLE host, which is set up in "
                "the AWS console. Locally, create the connection with a ProviderType instead.",
            )
        return host

    def _store_of(self, arn: str):
        """The store of the resource type the ARN names (connection/... or host/...)."""
        return self.hosts if arn.split(":", 5)[-1].startswith("host/") else self.store

    @staticmethod
    def _arn(params: dict, field: str) -> str:
        arn = params.get(field)
        if not isinstance(arn, str) or not arn.startswith("arn:") or arn.count(":") < 5:
            raise invalid(field[0].lower() + field[1:], arn, "Member must be an ARN")
        return arn

    @staticmethod
    def _shown(connection: dict) -> dict:
        return {key: connection[key] for key in _SHOWN if key in connection}


class CodeStarConnectionsService(ConnectionsService):
    """The same connections and hosts through the older CodeStar Connections API (2019-12-01)."""

    target_prefix = "CodeStar_connections_20191201"
    signing_name = "codestar-connections"
    arn_service = "codestar-connections"
    provider_types = ("Bitbucket", "GitHub", "GitHubEnterpriseServer", "GitLab", "GitLabSelfManaged")
