"""Custom action types, the account's own (owner Custom), per Region, kept in one JSON file.

A deleted type stays on file as deleted: AWS lets a type come back only as it was (the same declaration
under the same version); a changed declaration needs a version never used before."""

import copy
import json
import threading
from pathlib import Path

from labhelpers import actiontypes

from ..awsjson import AwsError
from .store import write_json

MAX_CUSTOM_TYPES = 50  # custom actions per Region and account (CodePipeline quotas)


def type_label(category: str, provider: str, version: str) -> str:
    return (
        f"ActionType (Category: '{category}', Owner: 'Custom', Provider: '{provider}', Version: '{version}')"
    )


class CustomActionTypes:
    """Thread-safe. Entries: {"actionType": ActionType shape, "tags": [...], "deleted": bool}."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, list[dict]] = (
            json.loads(self.path.read_text()) if self.path.exists() else {}
        )  # Region -> entries

    def create(self, region: str, declared: dict, tags: list[dict]) -> dict:
        """Store `declared` (an ActionType shape); ValidationException if its id is taken."""
        type_id = declared["id"]
        with self._lock:
            entries = self._entries.setdefault(region, [])
            earlier = self._entry(region, type_id["category"], type_id["provider"], type_id["version"])
            label = type_label(type_id["category"], type_id["provider"], type_id["version"])
            if earlier is not None and not earlier["deleted"]:
                raise AwsError("ValidationException", f"{label} already exists.")
            if earlier is not None and earlier["actionType"] != declared:
                raise AwsError(
                    "ValidationException",
                    f"{label} was deleted; it can be restored only as it was. Use a version string never "
                    "used before for a changed action type.",
                )
            if earlier is None and sum(not e["deleted"] for e in entries) >= MAX_CUSTOM_TYPES:
                raise AwsError(
                    "LimitExceededException",
                    f"An account can have at most {MAX_CUSTOM_TYPES} custom action types per Region.",
                )
            if earlier is None:
                earlier = {"actionType": copy.deepcopy(declared)}
                entries.append(earlier)
            earlier.update(tags=copy.deepcopy(tags), deleted=False)
            write_json(self.path, self._entries)
            return copy.deepcopy(earlier)

    def delete(self, region: str, category: str, provider: str, version: str) -> None:
        with self._lock:
            entry = self._entry(region, category, provider, version)
            if entry is None or entry["deleted"]:
                raise AwsError(
                    "ValidationException", f"{type_label(category, provider, version)} does not exist."
                )
            entry["deleted"] = True
            write_json(self.path, self._entries)

    def find(self, region: str, category: str, provider: str, version: str) -> actiontypes.ActionType | None:
        """The live type of this id in `region`, or None."""
        with self._lock:
            entry = self._entry(region, category, provider, version)
            return None if entry is None or entry["deleted"] else actiontypes.custom_type(entry["actionType"])

    def listed(self, region: str) -> list[dict]:
        """The live types of `region` in the ActionType shape, in the order they were made."""
        with self._lock:
            return [copy.deepcopy(e["actionType"]) for e in self._entries.get(region, []) if not e["deleted"]]

    def _entry(self, region: str, category: str, provider: str, version: str) -> dict | None:
        wanted = {"category": category, "owner": "Custom", "provider": provider, "version": version}
        return next((e for e in self._entries.get(region, []) if e["actionType"]["id"] == wanted), None)
