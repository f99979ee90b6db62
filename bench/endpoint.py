"""The local endpoint's own costs: cold start, small-call latency, idle memory and threads, what checking a
request's signature adds to each call, then memory and threads after the article's pipeline (EC2 deploy
target, build, deploy) has run to Succeeded a few times, as a lab leaves the endpoint.

Run: .venv/bin/python bench/endpoint.py. Targets (one endpoint per learner, 30 on a 2-core 24 GB machine):
start <= 1 s, p50 <= 5 ms, idle RSS <= 120 MB, RSS after the lab <= 220 MB, signature check <= 1 ms, threads
back to the idle count within 1 s of each execution's end."""

import json
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

import labhelpers as lh
from labhelpers import pipelines, prerequisites
from labhelpers.lab import _restore_environ
from labhelpers.local import config, process
from labhelpers.roles import trust_policy

CALLS = 300
RUNS = 3
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def settled_threads(pid: int, clients, since: float) -> int:
    """The endpoint's threads 1 s after `since`, once our own clients have dropped their idle connections
    (each holds a server thread, as a notebook kernel's would)."""
    for client in clients:
        client.close()
    time.sleep(max(0.0, since + 1 - time.monotonic()))
    return threads(pid)


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
            idle_threads = settled_threads(running.pid, [sts, codecommit], time.monotonic())
            print(f"cold start (spawn -> answering)          {cold:7.2f} s    target <= 1 s")
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
            print(f"idle RSS of the endpoint process        {idle:7.1f} MB   target <= 120 MB")
            print(f"idle threads of the endpoint process    {idle_threads:7d}")
            check = signature_check_ms(config.credentials(layout), running.url)
            print(f"signature check of a signed JSON call  p50 {check:6.3f} ms   target <= 1 ms")
            after = run_the_lab(home, running.pid, idle_threads)
            print(f"RSS after the lab ({RUNS + 1} runs)             {after:7.1f} MB   target <= 220 MB")
        finally:
            _restore_environ()
            process.stop(layout)


def run_the_lab(home: str, pid: int, idle_threads: int) -> float:
    """Set up the article's pipeline as the notebooks do and run it; print the threads 1 s after each run's
    end. Returns the RSS after the last run."""
    lab = lh.connect(home=home, quiet=True, pace="fast")
    prerequisites.ensure(lab)
    iam = lab.client("iam")
    iam.create_role(RoleName=lab.names.pipeline_role, AssumeRolePolicyDocument=json.dumps(trust_policy()))
    iam.put_role_policy(RoleName=lab.names.pipeline_role, PolicyName="all", PolicyDocument=json.dumps(ADMIN))
    declaration = pipelines.article_pipeline(lab)
    name = declaration["pipeline"]["name"]
    codepipeline = lab.client("codepipeline")
    codepipeline.create_pipeline(**declaration)
    first = codepipeline.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
    execution_ids = [first["pipelineExecutionId"]]
    for run in range(RUNS + 1):
        if run:
            execution_ids.append(codepipeline.start_pipeline_execution(name=name)["pipelineExecutionId"])
        wait_succeeded(codepipeline, name, execution_ids[-1])
        found = settled_threads(pid, list(lab._clients.values()), time.monotonic())
        print(f"threads 1 s after run {run + 1} ended            {found:7d}    target {idle_threads} (idle)")
    time.sleep(1)  # let the snapshot saver settle
    return rss_mb(pid)


def wait_succeeded(codepipeline, name: str, execution_id: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = codepipeline.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
        status = found["pipelineExecution"]["status"]
        if status != "InProgress":
            assert status == "Succeeded", found["pipelineExecution"]
            return
        time.sleep(0.05)
    raise TimeoutError(f"{name} {execution_id} still running after {timeout} s")


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
