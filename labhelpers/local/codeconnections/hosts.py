"""Hosts of CodeConnections and CodeStar Connections: CreateHost, GetHost, ListHosts and DeleteHost. A host
stands for a GitHub Enterprise Server or GitLab self-managed installation (its ProviderEndpoint, and the VPC
it is reached in, if any); locally it stays PENDING, as on AWS until it is set up in the console."""

import re
from urllib.parse import urlsplit

from ..dispatch import request_region
from ..paging import page
from .store import HostStore
from .validation import invalid, listing_size, tags_of

HOST_PROVIDER_TYPES = ("GitHubEnterpriseServer", "GitLabSelfManaged")
_VPC_ID = re.compile(r"vpc-\w{8}(\w{9})?")
_SUBNET_ID = re.compile(r"subnet-\w{8}(\w{9})?")
_SECURITY_GROUP_ID = re.compile(r"sg-\w{8}(\w{9})?")
_SHOWN = ("Name", "Status", "ProviderType", "ProviderEndpoint", "VpcConfiguration")


class HostOperations:
    """The host operations of ConnectionsService, which mixes them in: they use its `hosts` (HostStore),
    `arn_service` and `_arn`."""

    hosts: HostStore

    def create_host(self, params):
        name = params.get("Name")
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise invalid("name", name, "Member must have length between 1 and 64")
        provider_type = params.get("ProviderType")
        if provider_type not in HOST_PROVIDER_TYPES:
            raise invalid(
                "providerType",
                provider_type,
                f"a host is for an installed provider: one of [{', '.join(HOST_PROVIDER_TYPES)}]",
            )
        endpoint = params.get("ProviderEndpoint")
        if not _is_url(endpoint):
            raise invalid(
                "providerEndpoint", endpoint, "Member must be the provider's URL, at most 512 characters"
            )
        settings = {"Name": name, "ProviderType": provider_type, "ProviderEndpoint": endpoint}
        if params.get("VpcConfiguration") is not None:
            settings["VpcConfiguration"] = _vpc_configuration(params["VpcConfiguration"])
        tags = tags_of(params)
        created = self.hosts.create(self.arn_service, request_region(), settings, tags)
        return {"HostArn": created["HostArn"], **({"Tags": tags} if tags else {})}

    def get_host(self, params):
        host = self.hosts.get(self._arn(params, "HostArn"))
        return {key: host[key] for key in _SHOWN if key in host}

    def list_hosts(self, params):
        size = listing_size(params)
        keyed = [
            (f"{int(h['created'] * 1000):015d}-{h['HostArn']}", _listed(h))
            for h in self.hosts.in_region(request_region())
        ]
        hosts, token = page(keyed, params.get("NextToken"), size, "hosts")
        return {"Hosts": hosts, **({"NextToken": token} if token else {})}

    def delete_host(self, params):
        self.hosts.delete(self._arn(params, "HostArn"))


def _listed(host: dict) -> dict:
    return {key: host[key] for key in ("Name", "HostArn", *_SHOWN[2:], "Status") if key in host}


def _is_url(value) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= 512:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("https", "http") and bool(parts.hostname)


def _vpc_configuration(vpc: dict) -> dict:
    """VpcId, SubnetIds and SecurityGroupIds (1 to 10 each) as EC2 spells them, and TlsCertificate if any."""
    if not _VPC_ID.fullmatch(str(vpc.get("VpcId"))):
        raise invalid(
            "vpcConfiguration.vpcId", vpc.get("VpcId"), r"Member must satisfy pattern vpc-\w{8}(\w{9})?"
        )
    checked = {"VpcId": vpc["VpcId"]}
    for key, pattern in (("SubnetIds", _SUBNET_ID), ("SecurityGroupIds", _SECURITY_GROUP_ID)):
        ids = vpc.get(key)
        field = f"vpcConfiguration.{key[0].lower()}{key[1:]}"
        if not ids or len(ids) > 10:
            raise invalid(field, ids, "Member must have length between 1 and 10")
        if not all(pattern.fullmatch(i) for i in ids):
            raise invalid(field, ids, f"Members must satisfy pattern {pattern.pattern}")
        checked[key] = list(ids)
    certificate = vpc.get("TlsCertificate")
    if certificate is not None:
        if not 1 <= len(certificate) <= 16384:
            raise invalid(
                "vpcConfiguration.tlsCertificate",
                certificate[:40],
                "Member must have length between 1 and 16384",
            )
        checked["TlsCertificate"] = certificate
    return checked
