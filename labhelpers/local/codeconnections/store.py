"""What the local CodeConnections keeps on disk, so that an endpoint restart loses nothing:

<state>/connections.json   connections, by ARN
<state>/hosts.json         hosts, by ARN

Both APIs (CodeConnections and CodeStar Connections) share them; each resource has its ARN, its tags and the
time it was created (`created`, for listing oldest first)."""

import json
import os
import secrets
import threading
import uuid
from pathlib import Path

from ..awsjson import AwsError, now

AVAILABLE = "AVAILABLE"
PENDING = "PENDING"
MAX_TAGS = 200


class _ResourceStore:
    """One kind of resource, by ARN, in one JSON file written atomically; thread-safe, answers copies."""

    kind = ""  # how errors name the resource
    arn_key = ""  # the member that holds a resource's ARN

    def __init__(self, path: Path, account: str):
        self.path = Path(path)
        self.account = account
        self._lock = threading.Lock()
        self._by_arn: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def not_found(self, arn: str) -> AwsError:
        return AwsError("ResourceNotFoundException", f"{self.kind} {arn} not found")

    def find(self, arn: str) -> dict | None:
        with self._lock:
            found = self._by_arn.get(arn)
            return dict(found) if found else None

    def get(self, arn: str) -> dict:
        found = self.find(arn)
        if found is None:
            raise self.not_found(arn)
        return found

    def in_region(self, region: str) -> list[dict]:
        """The Region's resources, oldest first."""
        with self._lock:
            found = [dict(r) for arn, r in self._by_arn.items() if arn.split(":")[3] == region]
        return sorted(found, key=lambda r: r["created"])

    def delete(self, arn: str) -> None:
        with self._lock:
            if self._by_arn.pop(arn, None) is None:
                raise self.not_found(arn)
            self._save()

    def set_tags(self, arn: str, edit) -> None:
        """Replace the tags by `edit(current tags as {key: value})`."""
        with self._lock:
            resource = self._by_arn.get(arn)
            if resource is None:
                raise self.not_found(arn)
            tags = edit({tag["Key"]: tag["Value"] for tag in resource["Tags"]})
            if len(tags) > MAX_TAGS:
                raise AwsError(
                    "LimitExceededException", f"A {self.kind.lower()} can have at most {MAX_TAGS} tags."
                )
            resource["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
            self._save()

    def _add(self, resource: dict) -> dict:
        resource["created"] = now()
        with self._lock:
            self._by_arn[resource[self.arn_key]] = resource
            self._save()
        return dict(resource)

    def _save(self) -> None:
        partial = self.path.with_name(f".{self.path.name}.tmp")
        partial.write_text(json.dumps(self._by_arn, indent=1))
        os.replace(partial, self.path)


class ConnectionStore(_ResourceStore):
    """Connections: AVAILABLE as soon as they are created (nothing outside to hand-shake with)."""

    kind = "Connection"
    arn_key = "ConnectionArn"

    def create(
        self,
        arn_service: str,
        region: str,
        name: str,
        provider_type: str,
        tags: list[dict],
        host_arn: str | None = None,
    ) -> dict:
        connection = {
            "ConnectionName": name,
            "ConnectionArn": f"arn:aws:{arn_service}:{region}:{self.account}:connection/{uuid.uuid4()}",
            "ProviderType": provider_type,
            "OwnerAccountId": self.account,
            "ConnectionStatus": AVAILABLE,
            "Tags": tags,
        }
        if host_arn:
            connection["HostArn"] = host_arn
        return self._add(connection)


class HostStore(_ResourceStore):
    """Hosts, which stand for a provider installed on infrastructure of the account's own (GitHub Enterprise
    Server, GitLab self-managed). They stay PENDING: setting one up happens in the AWS console, against
    the provider, which the local endpoint cannot reach."""

    kind = "Host"
    arn_key = "HostArn"

    def create(self, arn_service: str, region: str, settings: dict, tags: list[dict]) -> dict:
        """A new host of `settings` (Name, ProviderType, ProviderEndpoint and VpcConfiguration if any)."""
        suffix = secrets.token_hex(4)
        host = {
            **settings,
            "HostArn": f"arn:aws:{arn_service}:{region}:{self.account}:host/{settings['Name']}-{suffix}",
            "Status": PENDING,
            "Tags": tags,
        }
        return self._add(host)
