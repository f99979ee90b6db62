"""CodeBuild builds on disk, so that they survive an endpoint restart.

Each build has a folder `<state>/builds/<uuid>/` holding `build.json` (the build as BatchGetBuilds returns
it, its Region, its place in the start order and the StartBuild request that made it) and, while it runs,
its `work` folder. Build numbers count per project in `build-numbers.json`. A build that was still
running when the endpoint stopped is ended as FAULT when the store loads, never left IN_PROGRESS.
"""

import copy
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from ..awsjson import now

log = logging.getLogger("labhelpers.endpoint")

WORK_FOLDER = "work"
INTERRUPTED_MESSAGE = (
    "The local endpoint stopped during this phase (it was stopped, restarted or crashed), "
    "so the build could not finish. Start the build again."
)


def builds_folder(layout) -> Path:
    """Where the endpoint whose state folder is described by `layout` keeps its builds."""
    return layout.state / "builds"


class BuildStore:
    """Thread-safe; reads answer deep copies. Every change is written at once and wakes `wait`.

    BatchStore keeps build batches the same way: the class attributes name the record's members and files."""

    KIND = "build"  # the entry's key of the record
    RECORD_FILE = "build.json"
    NUMBERS_FILE = "build-numbers.json"
    COMPLETE = "buildComplete"
    NUMBER = "buildNumber"

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._changed = threading.Condition()
        self._entries: dict[str, dict] = {}  # build id -> {"region", "seq", "request", "build"}
        self._numbers: dict[str, int] = {}  # "<region>/<project>" -> the last build number given
        self._next_seq = 1
        self.interrupted: list[str] = []  # builds that were running when the endpoint last stopped
        self._load()

    # -- reading -------------------------------------------------------------------------------------

    def get(self, build_id: str, region: str | None = None) -> dict | None:
        """The build (of `region`, if given), or None."""
        with self._changed:
            entry = self._entries.get(build_id)
            if entry is None or (region is not None and entry["region"] != region):
                return None
            return copy.deepcopy(entry[self.KIND])

    def request(self, build_id: str) -> dict | None:
        """The StartBuild parameters that started the build; None for builds a pipeline started."""
        with self._changed:
            return copy.deepcopy(self._entries[build_id]["request"])

    def ordered(self, region: str, project: str | None = None, *, newest_first: bool = True) -> list[tuple]:
        """(place in the start order, build id) of a Region's builds (of one project), newest first."""
        with self._changed:
            found = [
                (entry["seq"], build_id)
                for build_id, entry in self._entries.items()
                if entry["region"] == region and project in (None, entry[self.KIND]["projectName"])
            ]
        return sorted(found, reverse=newest_first)

    def work_folder(self, build_id: str) -> Path:
        return self.folder / _uuid(build_id) / WORK_FOLDER

    def wait(self, build_id: str, timeout: float | None = None) -> dict:
        """Block until the build is complete, or `timeout` seconds pass; answer the build as it then is.

        KeyError if there is no such build (or it is deleted meanwhile)."""

        def over() -> bool:
            entry = self._entries.get(build_id)
            return entry is None or entry[self.KIND][self.COMPLETE]

        with self._changed:
            self._changed.wait_for(over, timeout)
            return copy.deepcopy(self._entries[build_id][self.KIND])

    # -- writing -------------------------------------------------------------------------------------

    def create(self, region: str, build: dict, request: dict | None) -> dict:
        """Store a new build, giving it the project's next build number."""
        key = f"{region}/{build['projectName']}"
        with self._changed:
            self._numbers[key] = self._numbers.get(key, 0) + 1
            write_json(self.folder / self.NUMBERS_FILE, self._numbers)
            build = {**copy.deepcopy(build), self.NUMBER: self._numbers[key]}
            entry = {"region": region, "seq": self._next_seq, "request": request, self.KIND: build}
            self._next_seq += 1
            self._entries[build["id"]] = entry
            self._save(entry)
            return copy.deepcopy(build)

    def update(self, build_id: str, change: Callable[[dict], None]) -> dict:
        """Apply `change` to the stored build, write it and wake the waiters; answer the new build."""
        with self._changed:
            entry = self._entries[build_id]
            change(entry[self.KIND])
            self._save(entry)
            self._changed.notify_all()
            return copy.deepcopy(entry[self.KIND])

    def delete(self, build_id: str) -> None:
        with self._changed:
            self._entries.pop(build_id, None)
        shutil.rmtree(self.folder / _uuid(build_id), ignore_errors=True)

    def end_interrupted(self, build: dict) -> None:
        """End a build that was running when the endpoint stopped."""
        end_with_fault(build, now(), INTERRUPTED_MESSAGE)

    # -- disk ----------------------------------------------------------------------------------------

    def _save(self, entry: dict) -> None:
        folder = self.folder / _uuid(entry[self.KIND]["id"])
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / self.RECORD_FILE, entry)

    def _load(self) -> None:
        try:
            self._numbers = json.loads((self.folder / self.NUMBERS_FILE).read_text())
        except (OSError, ValueError):
            self._numbers = {}
        for path in sorted(self.folder.glob(f"*/{self.RECORD_FILE}")):
            try:
                entry = json.loads(path.read_text())
                build = entry[self.KIND]
            except (OSError, ValueError, KeyError):
                log.exception("could not load the build in %s; it is left out", path)
                continue
            self._entries[build["id"]] = entry
            key = f"{entry['region']}/{build['projectName']}"
            self._numbers[key] = max(self._numbers.get(key, 0), build.get(self.NUMBER, 0))
            self._next_seq = max(self._next_seq, entry["seq"] + 1)
            if not build[self.COMPLETE]:
                self.end_interrupted(build)
                self._save(entry)
                self.interrupted.append(build["id"])


def end_with_fault(build: dict, when: float, message: str) -> None:
    """End a build that the endpoint could not finish: its open (else last) phase FAULT, saying why."""
    phases = build.setdefault("phases", [])
    open_phases = [phase for phase in phases if "phaseStatus" not in phase]
    if open_phases:
        phase = open_phases[-1]
    elif phases:
        phase = phases[-1]
    else:
        phase = {"phaseType": "SUBMITTED", "startTime": build["startTime"]}
        phases.append(phase)
    phase.update(
        phaseStatus="FAULT",
        endTime=max(when, phase["startTime"]),
        durationInSeconds=int(max(0.0, when - phase["startTime"])),
        contexts=[{"statusCode": "INTERNAL_ERROR", "message": message}],
    )
    phases.append({"phaseType": "COMPLETED", "startTime": when})
    build.update(currentPhase="COMPLETED", buildStatus="FAULT", endTime=when, buildComplete=True)


def _uuid(build_id: str) -> str:
    return build_id.rpartition(":")[2]


def write_json(path: Path, payload, *, private: bool = False) -> None:
    """Replace `path` with `payload` as JSON in one step; a `private` file is its owner's only (0600)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", opener=_owner_only if private else None) as out:
        out.write(json.dumps(payload, indent=1))
    os.replace(tmp, path)


def _owner_only(path: str, flags: int) -> int:
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)  # a leftover temporary file keeps its mode otherwise
    return descriptor
