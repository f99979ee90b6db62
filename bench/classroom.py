"""A class on one machine: N learners, each with their own state folder and endpoint, set up as the article
does (prerequisites, the pipeline's service role), then all creating the article's pipeline at the same
moment at `fast` pace; as on AWS, creating it starts its first run, which is the run measured.

    .venv/bin/python bench/classroom.py [--learners 30] [--timeout 300] [--keep]

It prints, in four phases:

1. the endpoints started together (threads calling process.start at once): time until all answer, each
   one's own start time, failures;
2. the learners' setup (not the headline: learners do it one notebook at a time);
3. the runs, start -> Succeeded: p50/p95/max from the service's own timestamps and as each learner saw it
   (create call sent -> Succeeded seen, polled every half second), how many succeeded, each failure with
   its stage, action and reason;
4. memory: the endpoints' total RSS (sum of VmRSS) idle after start, after setup, at its peak during the
   runs (sampled each second, also with the build and deploy processes they run) and after the runs,
   with the per-endpoint mean and max; the sum of PSS (shared pages counted once); the machine's
   MemAvailable before and after.

Targets on a 2-core, 24 GB machine: 30 learners, all succeed, total RSS <= 6 GB, p95 run <= 30 s.

It starts its own endpoints in one temporary folder and stops every one of them on the way out, also on
Ctrl-C or an error; --keep leaves the folder (state, each endpoint.log) for inspection. Every request goes
to 127.0.0.1 with timeouts and no retries, and each learner's polling ends at --timeout."""

import argparse
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import boto3
from botocore.config import Config

from labhelpers import pipelines, prerequisites, roles
from labhelpers.lab import Lab
from labhelpers.local import config, process

# No retries: a failure under load is a figure, not something to hide. Timeouts bound every call.
CLIENT = Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=60)
POLL = 0.5
SETUP_WORKERS = 4
ENDED = {"Succeeded", "Failed", "Stopped", "Superseded", "Cancelled"}
MB = 1024 * 1024


class BenchLab(Lab):
    """A Lab on one learner's endpoint, from its layout alone (connect() points os.environ at it)."""

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=CLIENT
            )
        return self._clients[service]


@dataclass
class Learner:
    index: int
    layout: config.Layout
    running: process.Running | None = None
    lab: BenchLab | None = None
    declaration: dict | None = None
    start_seconds: float | None = None
    setup_seconds: float | None = None
    create_seconds: float | None = None
    seen_seconds: float | None = None  # create call sent -> Succeeded seen
    service_seconds: float | None = None  # the execution's startTime -> lastUpdateTime
    status: str | None = None
    failure: str | None = None
    details: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"learner{self.index:02d}"


# -- memory -------------------------------------------------------------------------------------------------


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            todo += children
    return found


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def endpoint_pids(learners: list[Learner]) -> list[int]:
    return [learner.running.pid for learner in learners if learner.running]


def rss_figures(learners: list[Learner]) -> str:
    each = [status_kb(pid, "VmRSS") / 1024 for pid in endpoint_pids(learners)]
    if not each:
        return "(no endpoint)"
    return f"{sum(each) / 1024:5.2f} GB   mean {statistics.mean(each):5.0f} MB   max {max(each):5.0f} MB"


def row(title: str, figures: str):
    print(f"  {title:<44} {figures}")


class PeakSampler(threading.Thread):
    """The endpoints' total RSS each second, alone and with the build and deploy processes they run."""

    def __init__(self, learners: list[Learner]):
        super().__init__(daemon=True)
        self.pids = endpoint_pids(learners)
        self.done = threading.Event()
        self.endpoints_kb = 0
        self.with_children_kb = 0

    def run(self):
        while not self.done.wait(1.0):
            endpoints = sum(status_kb(pid, "VmRSS") for pid in self.pids)
            children = sum(status_kb(child, "VmRSS") for pid in self.pids for child in descendants(pid))
            self.endpoints_kb = max(self.endpoints_kb, endpoints)
            self.with_children_kb = max(self.with_children_kb, endpoints + children)


# -- the phases ---------------------------------------------------------------------------------------------


def run_all(job, learners: list[Learner], workers: int, stopping: threading.Event, on_stop=None) -> float:
    """Run job(learner) for each learner on `workers` threads; a learner's exception is its failure.

    Returns the seconds until the last one ended."""

    def guarded(learner: Learner):
        if stopping.is_set():
            return
        try:
            job(learner)
        except Exception as exc:
            learner.failure = f"{job.__name__}: {type(exc).__name__}: {exc}"

    started = time.monotonic()
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix=job.__name__)
    try:
        wait([pool.submit(guarded, learner) for learner in learners])
    except BaseException:  # Ctrl-C, SIGTERM: let the jobs under way end (each is bounded) before cleanup
        stopping.set()
        if on_stop:
            on_stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return time.monotonic() - started


def start_endpoint(learner: Learner):
    config.record_pace(learner.layout, "fast")
    started = time.monotonic()
    learner.running = process.start(learner.layout)
    learner.start_seconds = time.monotonic() - started
    keys = config.credentials(learner.layout)
    session = boto3.Session(
        aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key, region_name=config.REGION
    )
    learner.lab = BenchLab(
        "local",
        config.ACCOUNT,
        config.REGION,
        session,
        endpoint_url=learner.running.url,
        home=str(learner.layout.root),
        pace="fast",
    )


def set_up(learner: Learner):
    started = time.monotonic()
    lab = learner.lab
    prerequisites.ensure(lab)
    learner.declaration = pipelines.article_pipeline(lab)
    roles.ensure_pipeline_role(lab, learner.declaration)
    lab.client("codepipeline")  # made here, so the measured moment creates no clients
    learner.setup_seconds = time.monotonic() - started


def make_run(barrier: threading.Barrier, stopping: threading.Event, timeout: float):
    def run_pipeline(learner: Learner):
        codepipeline = learner.lab.client("codepipeline")
        name = learner.declaration["pipeline"]["name"]
        barrier.wait(timeout=120)
        sent = time.monotonic()
        codepipeline.create_pipeline(**learner.declaration)
        learner.create_seconds = time.monotonic() - sent
        deadline = sent + timeout
        execution_id = None
        while execution_id is None:
            listed = codepipeline.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
            if listed:
                execution_id = listed[-1]["pipelineExecutionId"]  # the first run: the only one
            elif stopping.is_set() or time.monotonic() > deadline:
                raise TimeoutError(f"no execution of {name} {timeout:g} s after create_pipeline")
            else:
                time.sleep(POLL)
        while True:
            execution = codepipeline.get_pipeline_execution(
                pipelineName=name, pipelineExecutionId=execution_id
            )["pipelineExecution"]
            if execution["status"] in ENDED:
                learner.seen_seconds = time.monotonic() - sent
                break
            if stopping.is_set() or time.monotonic() > deadline:
                learner.status = execution["status"]
                learner.details = where_it_stands(codepipeline, name, execution_id)
                raise TimeoutError(f"{execution_id} still {execution['status']} after {timeout:g} s")
            time.sleep(POLL)
        learner.status = execution["status"]
        summary = next(
            s
            for s in codepipeline.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"]
            if s["pipelineExecutionId"] == execution_id
        )
        learner.service_seconds = (summary["lastUpdateTime"] - summary["startTime"]).total_seconds()
        if learner.status != "Succeeded":
            learner.details = where_it_stands(codepipeline, name, execution_id)
            reason = (execution.get("statusSummary") or "").strip()
            learner.failure = f"run_pipeline: run {execution_id} {learner.status}" + (
                f": {reason}" if reason else ""
            )

    return run_pipeline


def where_it_stands(codepipeline, name: str, execution_id: str) -> list[str]:
    """Each action of the execution not Succeeded: stage/action, status, and the reason it gives."""
    lines = []
    details = codepipeline.list_action_executions(
        pipelineName=name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    for detail in details:
        if detail.get("status") == "Succeeded":
            continue
        result = detail.get("output", {}).get("executionResult", {})
        reason = (result.get("errorDetails") or {}).get("message") or result.get("externalExecutionSummary")
        lines.append(f"{detail['stageName']}/{detail['actionName']} {detail.get('status')}: {reason or '-'}")
    return lines or ["(no action execution recorded)"]


# -- figures ------------------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def spread(values: list[float], unit: str = "s") -> str:
    if not values:
        return "(none)"
    return (
        f"p50 {statistics.median(values):6.2f} {unit}   p95 {percentile(values, 0.95):6.2f} {unit}   "
        f"max {max(values):6.2f} {unit}"
    )


def log_excerpt(learner: Learner, lines: int = 8) -> str:
    return "\n".join("      | " + line for line in process.tail(learner.layout, lines).splitlines())


def report_failures(learners: list[Learner], phase: str):
    for learner in learners:
        if learner.failure and learner.failure.startswith(phase):
            print(f"    {learner.name}: {learner.failure}")
            for detail in learner.details:
                print(f"      {detail}")
            print(f"      {learner.layout.log_file}, last lines:\n{log_excerpt(learner)}")


# -- cleanup ------------------------------------------------------------------------------------------------


def ours(base: Path) -> list[int]:
    """Processes still running for our folder: endpoints (by their --home) and the work they started (cwd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(base).encode() in cmdline or cwd == str(base) or cwd.startswith(f"{base}/"):
            found.append(int(entry.name))
    return found


def stop_all(learners: list[Learner], base: Path) -> tuple[int, list[int]]:
    """Stop every endpoint (they save their state), then kill anything of ours still running."""
    with ThreadPoolExecutor(max(1, len(learners))) as pool:
        stopped = sum(1 for found in pool.map(lambda lr: process.stop(lr.layout), learners) if found)
    left = ours(base)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return stopped, left


def terminate(signum, frame):
    raise SystemExit(128 + signum)


# -- main ---------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each run may take")
    parser.add_argument("--keep", action="store_true", help="leave the state folders for inspection")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, terminate)
    base = Path(tempfile.mkdtemp(prefix="classroom-"))
    learners = [Learner(i, config.Layout(base / f"learner{i:02d}")) for i in range(1, args.learners + 1)]
    stopping = threading.Event()
    available_before = mem_available_mb()
    print(
        f"{args.learners} learners, one endpoint each, pace fast, on {os.cpu_count()} cores; "
        f"MemAvailable {available_before / 1024:.1f} GB; state in {base}"
    )
    try:
        # 1. every endpoint at once
        took = run_all(start_endpoint, learners, len(learners), stopping)
        up = [lr for lr in learners if lr.lab]
        starts = [lr.start_seconds for lr in up]
        print("1. endpoints started together")
        row("all answering after", f"{took:6.2f} s")
        row("each one's spawn -> answering", spread(starts))
        row("failed", f"{len(learners) - len(up):3d}")
        report_failures(learners, "start_endpoint")
        time.sleep(2)  # idle: let the snapshot savers settle
        idle = rss_figures(learners)

        # 2. setup, a few learners at a time
        took = run_all(set_up, up, SETUP_WORKERS, stopping)
        ready = [lr for lr in up if lr.setup_seconds is not None]
        print(f"2. learners set up (prerequisites, the article's service role), {SETUP_WORKERS} at a time")
        row("all set up after", f"{took:6.2f} s")
        row("each learner's setup", spread([lr.setup_seconds for lr in ready]))
        row("failed", f"{len(up) - len(ready):3d}")
        report_failures(learners, "set_up")
        after_setup = rss_figures(learners)

        # 3. everyone creates the article's pipeline at the same moment; its first run is measured
        barrier = threading.Barrier(max(1, len(ready)))
        sampler = PeakSampler(learners)
        sampler.start()
        try:
            took = run_all(
                make_run(barrier, stopping, args.timeout), ready, len(ready), stopping, barrier.abort
            )
        finally:
            sampler.done.set()
        succeeded = [lr for lr in learners if lr.status == "Succeeded"]
        print("3. the article's pipeline created by all at once; its first run starts itself, as on AWS")
        row("all runs ended after", f"{took:6.2f} s")
        row("create_pipeline call", spread([lr.create_seconds for lr in ready if lr.create_seconds]))
        row("run, start -> end (service's timestamps)", spread([lr.service_seconds for lr in succeeded]))
        row("", "target p95 <= 30 s")
        row("run as the learner saw it (create -> seen)", spread([lr.seen_seconds for lr in succeeded]))
        row("succeeded", f"{len(succeeded):3d} of {len(learners)}   target all")
        report_failures(learners, "run_pipeline")

        # 4. memory
        time.sleep(2)  # idle again
        print("4. memory of the endpoint processes (sum of VmRSS; mean and max per endpoint)")
        row("total RSS, idle after start", idle)
        row("total RSS, after setup", after_setup)
        row("total RSS, peak during the runs", f"{sampler.endpoints_kb / MB:5.2f} GB   (sampled each second)")
        row("  with their build and deploy processes", f"{sampler.with_children_kb / MB:5.2f} GB")
        row("total RSS, after the runs", rss_figures(learners))
        row("", "target <= 6 GB")
        peak_each = [status_kb(pid, "VmHWM") / 1024 for pid in endpoint_pids(learners)]
        if peak_each:
            row(
                "each one's peak RSS (VmHWM)",
                f"mean {statistics.mean(peak_each):5.0f} MB   max {max(peak_each):5.0f} MB",
            )
        pss = sum(pss_kb(pid) for pid in endpoint_pids(learners))
        row("total PSS, after the runs", f"{pss / MB:5.2f} GB   (shared pages counted once)")
        row(
            "machine's MemAvailable, before / after",
            f"{available_before / 1024:5.2f} GB / {mem_available_mb() / 1024:.2f} GB",
        )
        failed = len(learners) - len(succeeded)
        print(f"failures: {failed}" + (" (see above)" if failed else ""))
    finally:
        stopping.set()
        started = time.monotonic()
        stopped, left = stop_all(learners, base)
        extra = f"; killed {len(left)} left running: {left}" if left else ""
        print(f"stopped {stopped} endpoints in {time.monotonic() - started:.1f} s{extra}")
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
