"""CodePipeline pipelines on disk: one JSON file per pipeline at `<folder>/<region>/<name>.json`, holding
the current declaration, its earlier versions, the metadata and the tags, so that pipelines survive an
endpoint restart. Every create, update and delete is announced to the subscribers once it is stored.

A pipeline record, as `get()` returns it and subscribers receive it:

    {"pipeline": {...declaration with "version"...},
     "metadata": {"pipelineArn": ..., "created": epoch, "updated": epoch},
     "tags": [{"key": ..., "value": ...}]}
"""

import copy
import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from ..awsjson import AwsError, now
from ..config import ACCOUNT, REGION

log = logging.getLogger("labhelpers.endpoint")

SUFFIX = ".json"
# callback(event, pipeline_name, record); event is "created", "updated" or "deleted".
Listener = Callable[[str, str, dict], None]


def pipelines_folder(layout) -> Path:
    """Where the endpoint whose state folder is described by `layout` keeps its pipelines."""
    return layout.state / "pipelines"


def stored_count(folder: Path) -> int:
    """How many pipelines a store folder holds, in every Region, without loading them."""
    return sum(1 for _ in Path(folder).glob(f"*/*{SUFFIX}"))


def not_found(name: str, account: str = ACCOUNT) -> AwsError:
    return AwsError(
        "PipelineNotFoundException", f"Account '{account}' does not have a pipeline with name '{name}'"
    )


def name_in_use(name: str, account: str = ACCOUNT) -> AwsError:
    return AwsError(
        "PipelineNameInUseException",
        f"A pipeline with the name '{name}' already exists in account '{account}'",
    )


class PipelineStore:
    """Thread-safe; reads answer deep copies. `region` defaults to the store's default Region."""

    def __init__(self, folder: Path, account: str = ACCOUNT, default_region: str = REGION):
        self.folder = Path(folder)
        self.account = account
        self.default_region = default_region
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._records: dict[tuple[str, str], dict] = self._load()

    # -- reading -------------------------------------------------------------------------------------

    def get(self, name: str, *, region: str | None = None, version: int | None = None) -> dict:
        """The pipeline record (a given `version` of it); PipelineNotFoundException if there is none."""
        with self._lock:
            record = self._record(name, region)
            if version is None or version == record["pipeline"]["version"]:
                return _public(record)
            earlier = next((v for v in record["history"] if v["pipeline"]["version"] == version), None)
            if earlier is None:
                raise AwsError(
                    "PipelineVersionNotFoundException",
                    f"Pipeline '{name}' has no version {version}; "
                    f"its versions are 1 to {record['pipeline']['version']}.",
                )
            metadata = {**record["metadata"], "updated": earlier["updated"]}
            return copy.deepcopy(
                {"pipeline": earlier["pipeline"], "metadata": metadata, "tags": record["tags"]}
            )

    def declaration(self, name: str, *, region: str | None = None) -> dict:
        """The current pipeline declaration (with its version)."""
        return self.get(name, region=region)["pipeline"]

    def exists(self, name: str, *, region: str | None = None) -> bool:
        with self._lock:
            return (self._region(region), name) in self._records

    def names(self, *, region: str | None = None) -> list[str]:
        """The pipeline names of a Region, sorted."""
        wanted = self._region(region)
        with self._lock:
            return sorted(name for record_region, name in self._records if record_region == wanted)

    def records(self, *, region: str | None = None) -> list[dict]:
        """Every pipeline record of a Region, by name."""
        wanted = self._region(region)
        with self._lock:
            found = [
                record for (record_region, _), record in self._records.items() if record_region == wanted
            ]
            return [
                _public(record) for record in sorted(found, key=lambda record: record["pipeline"]["name"])
            ]

    def arn(self, name: str, *, region: str | None = None) -> str:
        return f"arn:aws:codepipeline:{self._region(region)}:{self.account}:{name}"

    # -- writing -------------------------------------------------------------------------------------

    def create(self, pipeline: dict, tags: list[dict] | None = None, *, region: str | None = None) -> dict:
        """Store a new pipeline as version 1; PipelineNameInUseException if the name is taken."""
        region = self._region(region)
        name = pipeline["name"]
        with self._lock:
            if (region, name) in self._records:
                raise name_in_use(name, self.account)
            stamp = now()
            record = {
                "region": region,
                "pipeline": {**copy.deepcopy(pipeline), "version": 1},
                "metadata": {
                    "pipelineArn": self.arn(name, region=region),
                    "created": stamp,
                    "updated": stamp,
                },
                "tags": copy.deepcopy(tags or []),
                "history": [],
            }
            self._save(record)
            created = _public(record)
        self._announce("created", name, created)
        return created

    def update(self, pipeline: dict, *, region: str | None = None) -> dict:
        """Store `pipeline` as the next version of the pipeline of that name; earlier versions are kept."""
        name = pipeline["name"]
        with self._lock:
            record = self._record(name, region)
            current = record["pipeline"]
            record = {
                **record,
                "pipeline": {**copy.deepcopy(pipeline), "version": current["version"] + 1},
                "metadata": {**record["metadata"], "updated": now()},
                "history": [
                    *record["history"],
                    {"pipeline": current, "updated": record["metadata"]["updated"]},
                ],
            }
            self._save(record)
            updated = _public(record)
        self._announce("updated", name, updated)
        return updated

    def delete(self, name: str, *, region: str | None = None) -> bool:
        """Remove the pipeline and its versions; False if there was none."""
        key = (self._region(region), name)
        with self._lock:
            record = self._records.pop(key, None)
            if record is None:
                return False
            self._path(*key).unlink(missing_ok=True)
            deleted = _public(record)
        self._announce("deleted", name, deleted)
        return True

    def edit_tags(
        self, name: str, edit: Callable[[dict[str, str]], dict[str, str]], *, region: str | None = None
    ) -> list[dict]:
        """Replace the tags by `edit(current tags as {key: value})`, run under the store's lock."""
        with self._lock:
            record = self._record(name, region)
            tags = edit({tag["key"]: tag["value"] for tag in record["tags"]})
            record = {**record, "tags": [{"key": key, "value": value} for key, value in tags.items()]}
            self._save(record)
            return copy.deepcopy(record["tags"])

    # -- subscribers ---------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event, name, record)` after each create, update and delete; returns an unsubscribe.

        It runs in the caller's thread after the change is stored and the store's lock released; an
        exception it raises is logged, never passed to the API caller."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe():
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _announce(self, event: str, name: str, record: dict) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event, name, copy.deepcopy(record))
            except Exception:
                log.exception("pipeline listener failed on %s %s", event, name)

    # -- files ---------------------------------------------------------------------------------------

    def _region(self, region: str | None) -> str:
        return region or self.default_region

    def _record(self, name: str, region: str | None) -> dict:
        record = self._records.get((self._region(region), name))
        if record is None:
            raise not_found(name, self.account)
        return record

    def _path(self, region: str, name: str) -> Path:
        return self.folder / region / f"{name}{SUFFIX}"

    def _save(self, record: dict) -> None:
        """Write the record's file, then keep it."""
        write_json(self._path(record["region"], record["pipeline"]["name"]), record)
        self._records[(record["region"], record["pipeline"]["name"])] = record

    def _load(self) -> dict[tuple[str, str], dict]:
        records = {}
        for path in sorted(self.folder.glob(f"*/*{SUFFIX}")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                records[(record["region"], record["pipeline"]["name"])] = record
            except (OSError, ValueError, KeyError, TypeError):
                log.exception("could not load the pipeline in %s; it is skipped", path)
        return records


def write_json(path: Path, payload) -> None:
    """Write `payload` as `path` atomically (a reader sees the old file or the new one): CodePipeline's stores
    all save this way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.tmp")
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(payload, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def _public(record: dict) -> dict:
    return copy.deepcopy({key: record[key] for key in ("pipeline", "metadata", "tags")})
