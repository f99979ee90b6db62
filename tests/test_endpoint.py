"""The local endpoint as a process: boto3 and the aws CLI reach it, it keeps state, it stays on loopback."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint

import labhelpers as lh
from labhelpers import pipelines, prerequisites, roles, runs
from labhelpers.errors import EndpointError
from labhelpers.lab import _restore_environ
from labhelpers.local import config, process
from labhelpers.roles import trust_policy

TRUST = json.dumps(trust_policy())


def cli(*args, home: Path, env=None, check=True):
    result = subprocess.run(
        [sys.executable, "-m", "labhelpers", *args, "--home", str(home)],
        capture_output=True,
        text=True,
        env=env or os.environ,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_boto3_iam_and_s3_round_trip(endpoint, unique):
    iam, s3 = endpoint.client("iam"), endpoint.client("s3")
    arn = iam.create_role(RoleName=f"role-{unique}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    assert arn == f"arn:aws:iam::111122223333:role/role-{unique}"
    iam.attach_role_policy(
        RoleName=f"role-{unique}", PolicyArn="arn:aws:iam::aws:policy/AWSCodePipeline_FullAccess"
    )
    attached = iam.list_attached_role_policies(RoleName=f"role-{unique}")["AttachedPolicies"]
    assert [p["PolicyName"] for p in attached] == ["AWSCodePipeline_FullAccess"]
    bucket = f"awscicd-artifacts-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=b"payload")
    assert s3.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"payload"


def test_aws_cli_reaches_the_endpoint_through_local_env(endpoint, unique, tmp_path):
    bucket = f"cli-{unique}"
    (tmp_path / "f.txt").write_text("from the cli\n")
    script = (
        f'eval "$(labhelpers local env --home {endpoint.layout.root})"\n'
        "aws sts get-caller-identity --query Account --output text\n"
        f"aws s3 mb s3://{bucket} >/dev/null\naws s3 cp f.txt s3://{bucket}/f.txt >/dev/null\n"
        f"aws s3 cp s3://{bucket}/f.txt -\n"
    )
    env = {**endpoint.env, "AWS_PROFILE": "someone-real", "AWS_ENDPOINT_URL_S3": "https://s3.amazonaws.com"}
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name)
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["111122223333", "from", "the", "cli"]


def test_unimplemented_operation_is_a_clear_error_not_a_retried_500(endpoint):
    before = endpoint.layout.log_file.read_text().count('" 501 -')
    result = endpoint.aws(
        "codepipeline", "acknowledge-third-party-job", "--job-id", "job", "--nonce", "1",
        "--client-token", "token", check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "(NotImplemented)" in result.stderr and "AcknowledgeThirdPartyJob" in result.stderr
    assert endpoint.layout.log_file.read_text().count('" 501 -') == before + 1, "the CLI retried"
    with pytest.raises(ClientError) as caught:
        endpoint.client("codepipeline").acknowledge_third_party_job(
            jobId="job", nonce="1", clientToken="token"
        )
    assert caught.value.response["Error"]["Code"] == "NotImplemented"


def _listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, _, state = line.split()[1:4]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.add(address)
    return found


def test_listens_on_loopback_only(endpoint):
    port = int(endpoint.url.rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and nothing else


def test_stop_and_start_keep_state_and_port(fresh_endpoint, unique):
    iam, s3 = fresh_endpoint.client("iam"), fresh_endpoint.client("s3")
    iam.create_role(RoleName="kept", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(
        RoleName="kept",
        PolicyName="inline",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    s3.create_bucket(Bucket="kept-bucket", CreateBucketConfiguration={"LocationConstraint": config.REGION})
    s3.put_bucket_versioning(Bucket="kept-bucket", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="kept-bucket", Key="k", Body=b"v1")["VersionId"]
    process.stop(fresh_endpoint.layout)
    assert process.find(fresh_endpoint.layout) is None
    again = start_endpoint(fresh_endpoint.layout.root)
    assert again.url == fresh_endpoint.url and again.pid != fresh_endpoint.pid
    assert again.client("iam").get_role(RoleName="kept")["Role"]["RoleName"] == "kept"
    assert again.client("iam").list_role_policies(RoleName="kept")["PolicyNames"] == ["inline"]
    body = again.client("s3").get_object(Bucket="kept-bucket", Key="k", VersionId=version)["Body"].read()
    assert body == b"v1"


def test_health_counts_what_the_endpoint_holds(fresh_endpoint):
    holds = process.health(fresh_endpoint.url)["holds"]
    assert holds["ec2_instances"] == holds["iam_roles"] == holds["s3_buckets"] == 0
    fresh_endpoint.client("ec2").run_instances(
        ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=2, MaxCount=2
    )
    fresh_endpoint.client("iam").create_role(RoleName="counted", AssumeRolePolicyDocument=TRUST)
    holds = process.health(fresh_endpoint.url)["holds"]
    assert holds["ec2_instances"] == 2 and holds["iam_roles"] == 1 and holds["s3_buckets"] == 0
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root)  # the restore loads what it restores
    assert process.health(again.url)["holds"] == holds
    offered = again.client("ec2").describe_instance_type_offerings(
        Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}]
    )["InstanceTypeOfferings"]
    assert offered == [{"InstanceType": "t3.micro", "LocationType": "region", "Location": config.REGION}]
    reservations = again.client("ec2").describe_instances()["Reservations"]
    assert sum(len(r["Instances"]) for r in reservations) == 2


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_threads_end_with_each_execution(fresh_endpoint):
    """Builds, deploy hooks and their watchers leave no thread behind: 30 learners' endpoints share a host."""
    lab = lh.connect(home=str(fresh_endpoint.layout.root), quiet=True)
    try:
        prerequisites.ensure(lab)
        time.sleep(1)
        idle = _threads(fresh_endpoint.pid)
        declaration = pipelines.article_pipeline(lab)
        roles.ensure_pipeline_role(lab, declaration)
        lab.client("codepipeline").create_pipeline(**declaration)
        runs.wait(lab, runs.snapshot(lab).execution_id, timeout=60)
        for _ in range(2):
            assert runs.wait(lab, runs.start(lab), timeout=60)["status"] == "Succeeded"
            deadline, found = time.monotonic() + 2, _threads(fresh_endpoint.pid)
            while found > idle and time.monotonic() < deadline:
                time.sleep(0.05)
                found = _threads(fresh_endpoint.pid)
            assert found <= idle, f"{found} threads 2 s after the run ended, {idle} before the first"
    finally:
        _restore_environ()


def test_two_homes_run_two_independent_endpoints(fresh_endpoint, tmp_path):
    other = start_endpoint(tmp_path / "second-home")
    try:
        assert other.url != fresh_endpoint.url and other.pid != fresh_endpoint.pid
        fresh_endpoint.client("s3").create_bucket(
            Bucket="only-in-first", CreateBucketConfiguration={"LocationConstraint": config.REGION}
        )
        names = [b["Name"] for b in other.client("s3").list_buckets()["Buckets"]]
        assert "only-in-first" not in names
    finally:
        process.stop(other.layout)


def test_cli_start_is_idempotent_and_status_url_logs_report(fresh_endpoint):
    home = fresh_endpoint.layout.root
    assert "already running" in cli("local", "start", home=home).stdout
    assert cli("local", "url", home=home).stdout.strip() == fresh_endpoint.url
    status = cli("local", "status", home=home).stdout
    assert fresh_endpoint.url in status and str(fresh_endpoint.pid) in status and "iam_roles" in status
    assert "serving" in cli("local", "logs", home=home).stdout
    assert "stopped" in cli("local", "stop", home=home).stdout
    stopped = cli("local", "status", home=home, check=False)
    assert stopped.returncode == 3 and "stopped" in stopped.stdout


def test_stale_pid_file_is_replaced(tmp_path):
    layout = config.Layout(tmp_path / "home")
    layout.root.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    layout.endpoint_file.write_text(
        json.dumps(
            {"pid": dead.pid, "port": 1, "url": "http://127.0.0.1:1", "home": str(layout.root), "started": 0}
        )
    )
    running = process.start(layout)
    try:
        assert running.pid != dead.pid and not running.already_running
    finally:
        process.stop(layout)


def test_taken_port_is_named_or_avoided(tmp_path, monkeypatch):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        layout = config.Layout(tmp_path / "home")
        monkeypatch.setenv("LAB_LOCAL_PORT", str(taken))
        with pytest.raises(EndpointError, match=f"port {taken}"):
            process.start(layout)
        monkeypatch.delenv("LAB_LOCAL_PORT")
        layout.port_file.write_text(str(taken))  # the last port is taken now: another is chosen
        running = process.start(layout)
        try:
            assert running.port != taken
        finally:
            process.stop(layout)


def test_reset_wipes_state_only_when_confirmed(fresh_endpoint):
    home = fresh_endpoint.layout.root
    fresh_endpoint.client("s3").create_bucket(
        Bucket="to-be-wiped", CreateBucketConfiguration={"LocationConstraint": config.REGION}
    )
    refused = cli("local", "reset", home=home, check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert process.find(fresh_endpoint.layout) is not None
    cli("local", "reset", "--yes", home=home)
    again = start_endpoint(home)
    assert again.client("s3").list_buckets()["Buckets"] == []
