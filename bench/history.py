"""Time `history.executions()` and `history.action_runs()` over 1,000 executions and count their API calls.

    .venv/bin/python bench/history.py [--executions 1000] [--repeat 3]

Starts a local endpoint of its own in a temporary LABHELPERS_HOME and builds the history fast: a
PARALLEL pipeline, CodeCommit source → manual approval, with every approval answered through the API
(one in five rejected). Then reads the history back and prints, for each read, the rows, the median
wall time and the API calls. Targets: under 2 s each, about N/100 calls plus a few.
"""

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import boto3

from labhelpers import history
from labhelpers.lab import Lab
from labhelpers.local import config, process
from labhelpers.roles import trust_policy

PIPELINE, BUCKET, REPOSITORY, ROLE = (
    "bench-history",
    "bench-history-artifacts",
    "bench-history-repo",
    "bench-role",
)
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST = trust_policy()


def declaration() -> dict:
    action = {"owner": "AWS", "version": "1"}
    return {
        "name": PIPELINE,
        "roleArn": f"arn:aws:iam::{config.ACCOUNT}:role/{ROLE}",
        "artifactStore": {"type": "S3", "location": BUCKET},
        "pipelineType": "V2",
        "executionMode": "PARALLEL",
        "stages": [
            {
                "name": "Source",
                "actions": [
                    {
                        "name": "Source",
                        "actionTypeId": {"category": "Source", "provider": "CodeCommit", **action},
                        "configuration": {
                            "RepositoryName": REPOSITORY,
                            "BranchName": "main",
                            "PollForSourceChanges": "false",
                        },
                        "outputArtifacts": [{"name": "SourceOutput"}],
                    }
                ],
            },
            {
                "name": "Approve",
                "actions": [
                    {
                        "name": "Approve",
                        "actionTypeId": {"category": "Approval", "provider": "Manual", **action},
                    }
                ],
            },
        ],
    }


def set_up(lab: Lab) -> None:
    iam, s3, codecommit = (lab.client(service) for service in ("iam", "s3", "codecommit"))
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(RoleName=ROLE, PolicyName="everything", PolicyDocument=json.dumps(ALLOW_ALL))
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": lab.region})
    codecommit.create_repository(repositoryName=REPOSITORY)
    codecommit.create_commit(
        repositoryName=REPOSITORY,
        branchName="main",
        putFiles=[{"filePath": "README.md", "fileContent": b"bench\n"}],
        commitMessage="bench",
    )


def answer_waiting_approvals(lab: Lab, answered: int) -> int:
    """Answer every approval that waits (one in five rejected); the running count of answers."""
    codepipeline = lab.client("codepipeline")
    for detail in history.iter_action_executions(lab, PIPELINE):
        # In PARALLEL mode the approval's token is its externalExecutionId.
        token = detail.get("output", {}).get("executionResult", {}).get("externalExecutionId")
        if detail["stageName"] == "Approve" and detail["status"] == "InProgress" and token:
            answered += 1
            codepipeline.put_approval_result(
                pipelineName=PIPELINE,
                stageName="Approve",
                actionName="Approve",
                result={"status": "Rejected" if answered % 5 == 0 else "Approved", "summary": "bench"},
                token=token,
            )
    return answered


def build_history(lab: Lab, count: int, batch: int = 100) -> None:
    """`count` executions (creation starts the first), started and answered `batch` at a time so the
    endpoint never holds many waiting executions."""
    codepipeline = lab.client("codepipeline")
    codepipeline.create_pipeline(pipeline=declaration())
    started, answered = 1, 0
    while answered < count:
        while started < min(count, answered + batch):
            codepipeline.start_pipeline_execution(name=PIPELINE)
            started += 1
        while answered < started:
            before = answered
            answered = answer_waiting_approvals(lab, answered)
            if answered == before:
                time.sleep(0.05)
    while history.executions(lab, PIPELINE)["status"].isin(history.RUNNING).any():
        time.sleep(0.2)


def measure(lab: Lab, read, repeat: int) -> tuple[int, float, history.CallCounter]:
    """Rows, median seconds and the calls of one read."""
    times = []
    for _ in range(repeat):
        with history.CallCounter(lab) as counted:
            started = time.perf_counter()
            frame = read(lab, PIPELINE)
            times.append(time.perf_counter() - started)
    return len(frame), statistics.median(times), counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="labhelpers-bench-"))
    layout = config.Layout(home)
    running = process.start(layout)
    config.record_pace(layout, "fast")
    try:
        session = boto3.Session(
            aws_access_key_id=config.credentials(layout).access_key,
            aws_secret_access_key=config.credentials(layout).secret_key,
            region_name=config.REGION,
        )
        lab = Lab("local", config.ACCOUNT, config.REGION, session, endpoint_url=running.url)
        set_up(lab)
        started = time.perf_counter()
        build_history(lab, args.executions)
        print(f"built {args.executions} executions in {time.perf_counter() - started:.1f} s")

        print(f"{'read':<14}{'rows':>7}{'median s':>10}{'calls':>7}  by operation")
        for name, read in (("executions", history.executions), ("action_runs", history.action_runs)):
            rows, seconds, counted = measure(lab, read, args.repeat)
            operations = ", ".join(f"{op} {n}" for op, n in sorted(counted.by_operation.items()))
            print(f"{name:<14}{rows:>7}{seconds:>10.3f}{counted.calls:>7}  {operations}")
        executions, runs = history.executions(lab, PIPELINE), history.action_runs(lab, PIPELINE)
        started = time.perf_counter()
        history.stage_runs_frame(runs)
        history.metrics(executions, runs)
        print(f"stage_runs_frame + metrics from frames: {time.perf_counter() - started:.3f} s")
    finally:
        process.stop(layout)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
