"""Push to run: how fast a `git push` starts its pipeline, and whether bursts of pushes lose any.

    .venv/bin/python bench/trigger.py [--latency-pushes 9] [--burst 50] [--seconds 10]

It starts its own endpoint in a temporary folder and pushes with the real git to CodeCommit sources with
PollForSourceChanges on, whose pipeline is Source -> Build (a one-command buildspec). It prints

* latency: the median, over several pushes, of the execution's startTime minus the moment `git push` was
  started (the target is 200 ms), beside what `git push` itself takes;
* for each execution mode, a burst of pushes paced evenly over a few seconds. "None lost" means: every
  push produced exactly one PollForSourceChanges execution (the k-th run starting after the k-th push
  began: the detector starts runs in push order); every execution ran a commit
  that was pushed; and the newest push's commit is what the last run built, which Succeeded. Superseded
  runs are allowed (SUPERSEDED mode), and so are runs whose source read a newer head than their own push,
  as CodeCommit sources read the branch head when the action starts.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3
from botocore.config import Config

from labhelpers.local import config, process

ADMIN = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
TRUST = (
    '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
    '"Principal": {"Service": "%s.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'
)
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - true\n"


class Bench:
    def __init__(self, home: Path):
        self.home = home
        self.layout = config.Layout(home / "lab")
        self.url = process.start(self.layout).url
        config.record_pace(self.layout, "fast")
        gitconfig = home / "gitconfig"
        gitconfig.write_text("[user]\n\tname = Bench\n\temail = bench@example.com\n")
        base = {k: v for k, v in os.environ.items() if k not in config.cleared_names(os.environ)}
        self.env = {
            **base,
            **config.client_env(self.url, self.layout),
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
        keys = config.credentials(self.layout)
        session = boto3.Session(aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key)
        settings = Config(retries={"max_attempts": 1})
        self.client = lambda service: session.client(
            service, endpoint_url=self.url, region_name=config.REGION, config=settings
        )
        self.codepipeline = self.client("codepipeline")
        self._shared()

    def _shared(self):
        iam = self.client("iam")
        for service in ("codepipeline", "codebuild"):
            iam.create_role(RoleName=f"bench-{service}", AssumeRolePolicyDocument=TRUST % service)
            iam.put_role_policy(RoleName=f"bench-{service}", PolicyName="all", PolicyDocument=ADMIN)
        self.client("s3").create_bucket(
            Bucket="bench-artifacts", CreateBucketConfiguration={"LocationConstraint": config.REGION}
        )
        self.client("codebuild").create_project(
            name="bench-build",
            source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
            artifacts={"type": "CODEPIPELINE"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            serviceRole=f"arn:aws:iam::{config.ACCOUNT}:role/bench-codebuild",
        )

    def git(self, work: Path, *args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=work, env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def pipeline(self, name: str, mode: str) -> Path:
        """A repository with one commit, a working copy of it, and the pipeline watching it (idle)."""
        codecommit = self.client("codecommit")
        url = codecommit.create_repository(repositoryName=name)["repositoryMetadata"]["cloneUrlHttp"]
        codecommit.put_file(repositoryName=name, branchName="main", fileContent=b"0\n", filePath="n.txt")
        work = self.home / name
        self.git(self.home, "clone", "-q", url, str(work))
        action = {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"}
        build = {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
        self.codepipeline.create_pipeline(
            pipeline={
                "name": name,
                "roleArn": f"arn:aws:iam::{config.ACCOUNT}:role/bench-codepipeline",
                "artifactStore": {"type": "S3", "location": "bench-artifacts"},
                "pipelineType": "V2",
                "executionMode": mode,
                "stages": [
                    {
                        "name": "Source",
                        "actions": [
                            {
                                "name": "Source",
                                "actionTypeId": action,
                                "configuration": {"RepositoryName": name, "BranchName": "main"},
                                "outputArtifacts": [{"name": "Src"}],
                            }
                        ],
                    },
                    {
                        "name": "Build",
                        "actions": [
                            {
                                "name": "Build",
                                "actionTypeId": build,
                                "configuration": {"ProjectName": "bench-build"},
                                "inputArtifacts": [{"name": "Src"}],
                            }
                        ],
                    },
                ],
            }
        )
        self.settled(name, 1)
        return work

    def push_paced(self, work: Path, count: int, interval: float) -> list[tuple[float, float, str]]:
        """(started, returned, commit) of `count` pushes to main, one every `interval` seconds."""
        pushes, begin = [], time.time()
        for index in range(count):
            time.sleep(max(0.0, begin + index * interval - time.time()))
            (work / "n.txt").write_text(f"{index + 1}\n")
            self.git(work, "commit", "-qam", f"push {index + 1}")
            commit = self.git(work, "rev-parse", "HEAD")
            started = time.time()
            self.git(work, "push", "-q", "origin", "main")
            pushes.append((started, time.time(), commit))
        return pushes

    def executions(self, name: str) -> list[dict]:
        """Oldest first, every page."""
        pages = self.codepipeline.get_paginator("list_pipeline_executions").paginate(pipelineName=name)
        found = [e for page in pages for e in page["pipelineExecutionSummaries"]]
        return sorted(found, key=lambda e: e["startTime"])

    def settled(self, name: str, count: int, timeout: float = 600) -> list[dict]:
        """The executions once there are `count` and none is still running."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.executions(name)
            if len(found) >= count and not any(e["status"] in ("InProgress", "Stopping") for e in found):
                return found
            time.sleep(0.2)
        raise TimeoutError(f"{name}: {count} executions did not finish within {timeout} s")

    def stop(self):
        process.stop(self.layout)


def started_by_pushes(executions: list[dict]) -> list[dict]:
    return [e for e in executions if e["trigger"]["triggerType"] == "PollForSourceChanges"]


def latencies(pushes, runs) -> list[float]:
    """Milliseconds from each push's start to the start of the run it produced (runs start in push order)."""
    return [
        (run["startTime"].timestamp() - started) * 1000
        for (started, _, _), run in zip(pushes, runs, strict=False)
    ]


def measure_latency(bench: Bench, count: int):
    work = bench.pipeline("bench-latency", "PARALLEL")
    pushes = bench.push_paced(work, count, interval=0.5)
    runs = started_by_pushes(bench.settled("bench-latency", count + 1))
    git_ms = [(returned - started) * 1000 for started, returned, _ in pushes]
    found = latencies(pushes, runs)
    print(f"push -> execution start over {count} git pushes (target <= 200 ms):")
    print(f"  median {statistics.median(found):.0f} ms, max {max(found):.0f} ms")
    print(f"  (git push itself: median {statistics.median(git_ms):.0f} ms)")


def measure_burst(bench: Bench, mode: str, count: int, seconds: float):
    name = f"bench-{mode.lower()}"
    work = bench.pipeline(name, mode)
    pushes = bench.push_paced(work, count, interval=seconds / count)
    runs = started_by_pushes(bench.settled(name, count + 1))
    pushed = [commit for _, _, commit in pushes]
    revisions = [r["sourceRevisions"][0]["revisionId"] for r in runs if r.get("sourceRevisions")]
    found = latencies(pushes, runs)
    problems = []
    if len(runs) != count:
        problems.append(f"{count} pushes produced {len(runs)} executions")
    if any(latency <= 0 for latency in found):
        problems.append("a run started before its push")
    if not set(revisions) <= set(pushed):
        problems.append("an execution ran a commit nobody pushed")
    newest = runs[-1] if runs else {}
    if newest.get("status") != "Succeeded" or newest["sourceRevisions"][0]["revisionId"] != pushed[-1]:
        problems.append("the newest push is not what the last run built")
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(Counter(r["status"] for r in runs).items()))
    drained = max(r["lastUpdateTime"].timestamp() for r in runs) - pushes[0][0]
    git_ms = statistics.median((returned - started) * 1000 for started, returned, _ in pushes)
    verdict = "none lost" if not problems else "LOST: " + "; ".join(problems)
    print(
        f"{mode:<10} {count} pushes in {pushes[-1][1] - pushes[0][0]:.1f} s -> {len(runs)} executions "
        f"({statuses}); {len(set(revisions))} distinct commits run; start latency median "
        f"{statistics.median(found):.0f} ms, max {max(found):.0f} ms (git push {git_ms:.0f} ms); all done "
        f"{drained:.1f} s after the first push; {verdict}"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-pushes", type=int, default=9)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-trigger-") as folder:
        bench = Bench(Path(folder))
        try:
            measure_latency(bench, args.latency_pushes)
            for mode in ("SUPERSEDED", "QUEUED", "PARALLEL"):
                measure_burst(bench, mode, args.burst, args.seconds)
        finally:
            bench.stop()


if __name__ == "__main__":
    main()
