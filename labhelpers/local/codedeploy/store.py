"""What the local CodeDeploy keeps on disk, so that an endpoint restart loses nothing:

<state>/codedeploy/deployments/<deployment id>.json   a deployment: info, targets, lifecycle events, logs
<state>/codedeploy/on-premises.json                   registered on-premises instances, by Region
<state>/codedeploy/revisions.json                     application revisions, by Region and application
<state>/codedeploy/deployment-configs.json            custom deployment configurations, by Region
<state>/instances/<instance id>/                      a local instance's `/` (see instance.py)
"""

import copy
import json
import logging
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from ..awsjson import AwsError, now
from .instance import LocalInstance

log = logging.getLogger("labhelpers.endpoint")

# EC2 ids and on-premises names alike; never "." or "..", never a path.
_INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+=,.@_-]{0,99}")


def codedeploy_folder(layout) -> Path:
    return layout.state / "codedeploy"


def instances_folder(layout) -> Path:
    return layout.state / "instances"


def valid_instance_name(name) -> bool:
    return isinstance(name, str) and _INSTANCE_NAME.fullmatch(name) is not None


def stored_deployment_count(layout) -> int:
    """How many deployments the state folder holds, in every Region, without loading them."""
    return sum(1 for _ in (codedeploy_folder(layout) / "deployments").glob("*.json"))


def instance_count(layout) -> int:
    """How many local instances have a folder."""
    folder = instances_folder(layout)
    return sum(1 for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else 0


class DeploymentFiles:
    """Deployment records, one JSON file each; writes are atomic."""

    def __init__(self, folder: Path):
        self.deployments = Path(folder) / "deployments"
        self.deployments.mkdir(parents=True, exist_ok=True)

    def load_deployments(self) -> list[dict]:
        records = []
        for path in sorted(self.deployments.glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError) as exc:
                log.warning("deployment record %s cannot be read (%s); it is left out", path.name, exc)
        return records

    def save_deployment(self, record: dict) -> None:
        _write_json(self.deployments / f"{record['info']['deploymentId']}.json", record)


class OnPremisesInstances:
    """Registered on-premises instances (GetOnPremisesInstance's InstanceInfo), by Region, in one JSON file.
    A deregistered instance stays listed, with its deregisterTime."""

    def __init__(self, path: Path, account: str):
        self.path = Path(path)
        self.account = account
        self._lock = threading.Lock()
        self._regions: dict[str, dict[str, dict]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )

    def register(self, region: str, name: str, arn_key: str, arn: str) -> None:
        with self._lock:
            registered = self._regions.setdefault(region, {})
            if name in registered and "deregisterTime" not in registered[name]:
                raise AwsError(
                    "InstanceNameAlreadyRegisteredException",
                    f"The on-premises instance name {name} is already registered.",
                )
            for other in registered.values():
                if other.get(arn_key) == arn and "deregisterTime" not in other:
                    raise AwsError(
                        f"{arn_key[0].upper()}{arn_key[1:]}AlreadyRegisteredException",
                        f"{arn} is already registered for instance {other['instanceName']}.",
                    )
            registered[name] = {
                "instanceName": name,
                arn_key: arn,
                "instanceArn": f"arn:aws:codedeploy:{region}:{self.account}:instance/{name}",
                "registerTime": now(),
                "tags": [],
            }
            _write_json(self.path, self._regions)

    def deregister(self, region: str, name: str) -> None:
        with self._lock:
            info = self._regions.get(region, {}).get(name)
            if info and "deregisterTime" not in info:
                info["deregisterTime"] = now()
                _write_json(self.path, self._regions)

    def retag(
        self, region: str, names: list[str], *, add: Sequence[dict] = (), remove: Sequence[dict] = ()
    ) -> None:
        """Add tags (replacing those with the same Key) and remove tags (by Key, and Value if given)."""
        with self._lock:
            for info in self._registered(region, names):
                kept = [
                    t
                    for t in info["tags"]
                    if t["Key"] not in {a["Key"] for a in add}
                    and not any(
                        r["Key"] == t["Key"] and r.get("Value") in ("", None, t["Value"]) for r in remove
                    )
                ]
                info["tags"] = kept + list(add)
            _write_json(self.path, self._regions)

    def get(self, region: str, names: list[str]) -> list[dict]:
        """The instances named, deregistered ones too; InstanceNotRegisteredException for others."""
        with self._lock:
            return copy.deepcopy(self._registered(region, names, deregistered_too=True))

    def all(self, region: str) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._regions.get(region, {}).values()))

    def _registered(self, region: str, names: list[str], *, deregistered_too: bool = False) -> list[dict]:
        registered = self._regions.get(region, {})
        found = []
        for name in names:
            info = registered.get(name)
            if info is None or ("deregisterTime" in info and not deregistered_too):
                raise AwsError(
                    "InstanceNotRegisteredException", f"The on-premises instance {name} is not registered."
                )
            found.append(info)
        return found


class DeploymentConfigs:
    """Custom deployment configurations (GetDeploymentConfig's DeploymentConfigInfo), by Region and name, in
    one JSON file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._regions: dict[str, dict[str, dict]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )

    def add(self, region: str, info: dict, limit: int, exists) -> None:
        """Keep a new configuration: `exists(name)` is the error if one has its name; at most `limit`."""
        name = info["deploymentConfigName"]
        with self._lock:
            configs = self._regions.setdefault(region, {})
            if name in configs:
                raise exists(name)
            if len(configs) >= limit:
                raise AwsError(
                    "DeploymentConfigLimitExceededException",
                    f"An account can have at most {limit} custom deployment configurations in a Region.",
                )
            configs[name] = copy.deepcopy(info)
            _write_json(self.path, self._regions)

    def get(self, region: str, name: str) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._regions.get(region, {}).get(name))

    def names(self, region: str) -> list[str]:
        with self._lock:
            return list(self._regions.get(region, {}))

    def remove(self, region: str, name: str) -> None:
        with self._lock:
            if self._regions.get(region, {}).pop(name, None) is not None:
                _write_json(self.path, self._regions)


class ApplicationRevisions:
    """Application revisions, registered or used by a deployment, by Region and application, in one JSON
    file: each its revisionLocation and times (GenericRevisionInfo without the deploymentGroups)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._regions: dict[str, dict[str, dict[str, dict]]] = (
            json.loads(self.path.read_text()) if self.path.is_file() else {}
        )

    def register(self, region: str, application: str, location: dict, description: str | None) -> None:
        with self._lock:
            revision = self._revision(region, application, location)
            if description is not None:
                revision["genericRevisionInfo"]["description"] = description
            _write_json(self.path, self._regions)

    def use(self, region: str, application: str, location: dict, deployment_id: str) -> None:
        """A deployment uses the revision (registering it, as AWS does, if need be)."""
        with self._lock:
            times = self._revision(region, application, location)["genericRevisionInfo"]
            if "firstUsedTime" not in times and "description" not in times:
                times["description"] = f"Application revision registered by Deployment ID: {deployment_id}"
            times.setdefault("firstUsedTime", now())
            times["lastUsedTime"] = now()
            _write_json(self.path, self._regions)

    def all(self, region: str, application: str) -> dict[str, dict]:
        """The application's revisions by revision_key."""
        with self._lock:
            return copy.deepcopy(self._regions.get(region, {}).get(application, {}))

    def rename(self, region: str, application: str, new_name: str) -> None:
        with self._lock:
            applications = self._regions.get(region, {})
            if application in applications:
                applications[new_name] = applications.pop(application)
                _write_json(self.path, self._regions)

    def forget(self, region: str, application: str) -> None:
        with self._lock:
            if self._regions.get(region, {}).pop(application, None) is not None:
                _write_json(self.path, self._regions)

    def _revision(self, region: str, application: str, location: dict) -> dict:
        revisions = self._regions.setdefault(region, {}).setdefault(application, {})
        return revisions.setdefault(
            revision_key(location),
            {"revisionLocation": copy.deepcopy(location), "genericRevisionInfo": {"registerTime": now()}},
        )


def revision_key(location: dict) -> str:
    """What tells revisions apart: the whole location (an S3 object's bucket, key, bundle type, version and
    eTag)."""
    return json.dumps(location, sort_keys=True)


class LocalInstances:
    """The local instances, each opened once per process so that nothing rewrites an instance's shims
    while one of its hooks runs."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._opened: dict[str, LocalInstance] = {}
        self._lock = threading.Lock()

    def open(self, instance_id: str) -> LocalInstance:
        """The instance, its folder created on first use."""
        if not valid_instance_name(instance_id):
            raise ValueError(f"{instance_id!r} cannot name a local instance")
        with self._lock:
            if instance_id not in self._opened:
                self._opened[instance_id] = LocalInstance(self.folder / instance_id, instance_id)
            return self._opened[instance_id]

    def find(self, instance_id: str) -> LocalInstance | None:
        """The instance if anything was ever deployed to it, else None."""
        if not valid_instance_name(instance_id) or not (self.folder / instance_id).is_dir():
            return None
        return self.open(instance_id)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir() and valid_instance_name(p.name))


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
