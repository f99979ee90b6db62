"""The local endpoint's own costs: cold start, small-call latency, idle memory.

Run: .venv/bin/python bench/endpoint.py. Targets: start <= 3 s, p50 <= 5 ms, idle RSS <= 250 MB."""

import statistics
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

from labhelpers.local import config, process

CALLS = 300


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def latencies(call) -> list[float]:
    call()  # the first call creates the service's app inside moto
    found = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        found.append((time.perf_counter() - started) * 1000)
    return found


def main():
    with tempfile.TemporaryDirectory() as home:
        layout = config.Layout(Path(home))
        started = time.perf_counter()
        running = process.start(layout)
        cold = time.perf_counter() - started
        try:
            session = boto3.Session(
                aws_access_key_id=config.ACCESS_KEY,
                aws_secret_access_key=config.SECRET_KEY,
                region_name=config.REGION,
            )
            options = {"endpoint_url": running.url, "config": Config(retries={"max_attempts": 1})}
            sts, codecommit = session.client("sts", **options), session.client("codecommit", **options)
            codecommit.create_repository(repositoryName="bench")
            codecommit.put_file(repositoryName="bench", branchName="main", fileContent=b"x", filePath="x")
            time.sleep(1)  # let the snapshot saver settle before reading idle memory
            idle = rss_mb(running.pid)
            print(f"cold start (spawn -> answering)          {cold:7.2f} s    target <= 3 s")
            for name, call in [
                ("sts get_caller_identity", sts.get_caller_identity),
                (
                    "codecommit get_branch",
                    lambda: codecommit.get_branch(repositoryName="bench", branchName="main"),
                ),
            ]:
                found = sorted(latencies(call))
                p95 = found[int(len(found) * 0.95) - 1]
                print(
                    f"{name:<28} p50 {statistics.median(found):6.2f} ms   p95 {p95:6.2f} ms   "
                    f"({CALLS} calls; target p50 <= 5 ms)"
                )
            print(f"idle RSS of the endpoint process        {idle:7.1f} MB   target <= 250 MB")
        finally:
            process.stop(layout)


if __name__ == "__main__":
    main()
