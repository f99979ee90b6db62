"""CodeBuild build batches on disk, kept the way builds are (store.BuildStore): a folder
`<state>/build-batches/<uuid>/` holding `batch.json` (the batch as BatchGetBuildBatches returns it, its
Region, its place in the start order, the StartBuildBatch request and the builds its batchspec planned) and,
while the batchspec is read, its `work` folder. A batch still running when the endpoint stopped is ended
as FAULT when the store loads."""

import copy
from pathlib import Path

from ..awsjson import now
from .store import INTERRUPTED_MESSAGE, BuildStore


def batches_folder(layout) -> Path:
    return layout.state / "build-batches"


class BatchStore(BuildStore):
    KIND = "batch"
    RECORD_FILE = "batch.json"
    NUMBERS_FILE = "batch-numbers.json"
    COMPLETE = "complete"
    NUMBER = "buildBatchNumber"

    def plan(self, batch_id: str) -> dict | None:
        """What DOWNLOAD_BATCHSPEC found (the batch's builds, fast-fail, the resolved version), or None."""
        with self._changed:
            return copy.deepcopy(self._entries[batch_id].get("plan"))

    def set_plan(self, batch_id: str, plan: dict | None) -> None:
        with self._changed:
            entry = self._entries[batch_id]
            entry["plan"] = copy.deepcopy(plan)
            self._save(entry)

    def end_interrupted(self, batch: dict) -> None:
        end_batch_with_fault(batch, now(), INTERRUPTED_MESSAGE)


def end_batch_with_fault(batch: dict, when: float, message: str) -> None:
    """End a batch the endpoint could not finish: its open phase FAULT saying why, builds not run STOPPED."""
    phases = batch.setdefault("phases", [])
    if phases and "endTime" not in phases[-1]:
        phases[-1].update(
            phaseStatus="FAULT",
            endTime=max(when, phases[-1]["startTime"]),
            durationInSeconds=int(max(0.0, when - phases[-1]["startTime"])),
            contexts=[{"statusCode": "INTERNAL_ERROR", "message": message}],
        )
    phases.append({"phaseType": "FAILED", "startTime": when})
    for group in batch.get("buildGroups") or []:
        summary = group.get("currentBuildSummary") or {}
        if summary.get("buildStatus") == "PENDING":
            summary["buildStatus"] = "STOPPED"
        elif summary.get("buildStatus") == "IN_PROGRESS":
            summary["buildStatus"] = "FAULT"
    batch.update(currentPhase="FAILED", buildBatchStatus="FAULT", endTime=when, complete=True)
