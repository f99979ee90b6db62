"""Executions kept in memory for the APIs and on disk (one JSON file each) so nothing is lost."""

import json
import logging
import os
import shutil
import uuid
from pathlib import Path

from ...awsjson import now
from .records import Execution

log = logging.getLogger("labhelpers.endpoint")
INTERRUPTED = "The local endpoint stopped while this {} was in progress; retry the stage or start a new run."


class ExecutionStore:
    """All executions of all pipelines. Callers hold the engine's lock around reads and writes."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.by_pipeline: dict[tuple[str, str], list[Execution]] = {}  # (region, name) -> oldest first
        self.by_id: dict[str, Execution] = {}

    def load(self) -> list[Execution]:
        """Read every execution; those that were running when the endpoint died are ended as Failed."""
        interrupted = []
        for path in self.folder.glob("*/*/*.json"):
            try:
                execution = Execution.from_json(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError):
                log.exception("unreadable execution record %s; skipped", path)
                continue
            if execution.running:
                self._end_interrupted(execution)
                interrupted.append(execution)
            self._index(execution)
        for executions in self.by_pipeline.values():
            executions.sort(key=lambda e: e.start_time)
        for execution in interrupted:
            self.save(execution)
        return interrupted

    @staticmethod
    def _end_interrupted(execution: Execution):
        stamp = now()
        execution.status, execution.status_summary = "Failed", INTERRUPTED.format("execution")
        execution.last_update_time = stamp
        for stage in execution.stages.values():
            if stage.status in ("InProgress", "Stopping"):
                stage.status, stage.last_update_time = "Failed", stamp
        for run in execution.actions:
            if run.status == "InProgress":
                run.status, run.last_update_time = "Failed", stamp
                run.output.setdefault("executionResult", {})["errorDetails"] = {
                    "code": "JobFailed",
                    "message": INTERRUPTED.format("action"),
                }

    def _index(self, execution: Execution):
        self.by_id[execution.id] = execution
        self.by_pipeline.setdefault(execution.pipeline_key, []).append(execution)

    def add(self, execution: Execution):
        self._index(execution)
        self.save(execution)

    def save(self, execution: Execution):
        if self.by_id.get(execution.id) is not execution:
            return  # its pipeline was deleted meanwhile
        folder = self.folder.joinpath(*execution.pipeline_key)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{execution.id}.json"
        tmp = folder / f".{execution.id}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(execution.to_json()))
        os.replace(tmp, path)

    def of(self, region: str, pipeline: str) -> list[Execution]:
        return self.by_pipeline.get((region, pipeline), [])

    def forget(self, region: str, pipeline: str):
        for execution in self.by_pipeline.pop((region, pipeline), []):
            self.by_id.pop(execution.id, None)
        shutil.rmtree(self.folder / region / pipeline, ignore_errors=True)
