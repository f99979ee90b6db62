"""The local endpoint's own costs: cold start, small-call latency, idle memory, and what checking a request's
signature adds to each call.

Run: .venv/bin/python bench/endpoint.py. Targets: start <= 3 s, p50 <= 5 ms, idle RSS <= 250 MB, signature
check <= 1 ms."""

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
                aws_access_key_id=config.credentials(layout).access_key,
                aws_secret_access_key=config.credentials(layout).secret_key,
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
            check = signature_check_ms(config.credentials(layout), running.url)
            print(f"signature check of a signed JSON call  p50 {check:6.3f} ms   target <= 1 ms")
        finally:
            process.stop(layout)


def signature_check_ms(keys: config.Credentials, url: str) -> float:
    """The endpoint's front door alone, in this process, on a GetBranch request signed as boto3 signs it."""
    import io

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from labhelpers.local.trust.guard import Guard

    body = b'{"repositoryName": "bench", "branchName": "main"}'
    request = AWSRequest(
        method="POST",
        url=f"{url}/",
        data=body,
        headers={
            "X-Amz-Target": "CodeCommit_20150413.GetBranch",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    SigV4Auth(Credentials(keys.access_key, keys.secret_key), "codecommit", config.REGION).add_auth(request)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "RAW_URI": "/", "QUERY_STRING": ""}
    environ |= {"CONTENT_TYPE": request.headers["Content-Type"], "CONTENT_LENGTH": str(len(body))}
    environ |= {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in request.headers.items()}
    environ["HTTP_HOST"] = url.removeprefix("http://")
    guard = Guard(lambda environ, start_response: [b""], keys)
    guard.listen_on(int(url.rpartition(":")[2]))
    found = []
    for _ in range(CALLS):
        environ["wsgi.input"] = io.BytesIO(body)
        started = time.perf_counter()
        answer = guard(dict(environ), lambda status, headers, exc_info=None: None)
        found.append((time.perf_counter() - started) * 1000)
        assert answer == [b""], answer  # let in: the signature checked out
    return statistics.median(found)


if __name__ == "__main__":
    main()
