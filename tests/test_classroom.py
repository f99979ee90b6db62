"""A class on a real JupyterHub (classroom/, as `make hub-install` installs it): three learners, each with a
Unix user, a working copy and a local endpoint of their own, run the pipeline through the hub; none of them
reaches another's endpoint or files, and stopping a learner's server stops their endpoint."""

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hub_kit import Hub, code_cells, run_cells
from lock_kit import LATEST, installed, pins

ROOT = Path(__file__).resolve().parent.parent
LEARNERS = ("alice", "bob", "carol")
RUN = [
    ROOT / "notebooks" / name
    for name in (
        "00_start_here.ipynb",
        "01_service_role.ipynb",
        "02_pipeline_json.ipynb",
        "03_run_the_pipeline.ipynb",
    )
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def hub_prefix():
    if shutil.which("npm") is None:
        pytest.skip(
            "npm is missing: the hub's proxy (configurable-http-proxy) installs from npm; install nodejs"
        )
    if os.getuid() != 0:
        pytest.skip("a class on one host gives each learner a Unix user: the hub runs as root")
    # Learners' Unix users read the hub's environment: the folder is world-readable, unlike pytest's own.
    place = Path(tempfile.mkdtemp(prefix="lab-hub-"))
    place.chmod(0o755)
    prefix = place / "hub"
    subprocess.run(["make", "-s", "hub-install", f"HUB_PREFIX={prefix}"], cwd=ROOT, check=True)
    if not LATEST:
        python = prefix / "bin/python"
        version = subprocess.check_output([python, "-c", "import platform; print(platform.python_version())"])
        locked = pins(ROOT / "requirements/classroom.txt", {"python_full_version": version.decode().strip()})
        found = installed(python)
        assert {name: found.get(name) for name in locked} == locked, "the hub's environment is not the lock's"
    yield prefix
    shutil.rmtree(place, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(hub_prefix):
    place = hub_prefix.parent
    homes = place / "homes"
    homes.mkdir(mode=0o755)
    token, unix_prefix = secrets.token_hex(16), f"lt{secrets.token_hex(2)}-"
    test_config = place / "test_config.py"
    test_config.write_text(
        f"load_subconfig({str(hub_prefix / 'etc/jupyterhub_config.py')!r})\n"
        "c.JupyterHub.authenticator_class = 'dummy'\n"
        f"c.JupyterHub.hub_bind_url = 'http://127.0.0.1:{free_port()}'\n"
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'\n"
        f"c.JupyterHub.services.append({{'name': 'class-test', 'api_token': {token!r}}})\n"
        "c.JupyterHub.load_roles.append({'name': 'class-test', 'services': ['class-test'], 'scopes': "
        "['admin:users', 'admin:servers', 'access:servers', 'list:users', 'list:services', "
        "'read:services', 'read:users:activity', 'read:servers', 'delete:servers']})\n"
    )
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        "PATH": f"{hub_prefix / 'bin'}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LAB_HUB_URL": url,
        "LAB_HUB_STATE": str(place / "state"),
        "LAB_HUB_HOMES": str(homes),
        "LAB_HUB_UNIX_PREFIX": unix_prefix,
        "LAB_PACE": "fast",
    }
    log = open(place / "hub.log", "wb")
    process = subprocess.Popen(
        [str(hub_prefix / "bin/jupyterhub"), "-f", str(test_config)],
        cwd=place,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    client = Hub(url, token)
    try:
        deadline = time.monotonic() + 60
        while client_status(client) != 200:
            assert process.poll() is None, (place / "hub.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the hub did not answer within 60 s"
            time.sleep(0.3)
        client.prefix, client.unix_prefix = hub_prefix, unix_prefix
        yield client
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        for name in LEARNERS:
            unix = unix_prefix + name
            subprocess.run(["pkill", "-KILL", "-u", unix], capture_output=True)
            subprocess.run(["userdel", "--remove", unix], capture_output=True)


def client_status(client: Hub) -> int:
    try:
        return client.call("GET", "/hub/api/", timeout=2)[0]
    except OSError:
        return 0


def endpoint_of(home: Path) -> tuple[dict, dict]:
    state = home / ".labhelpers"
    return json.loads((state / "endpoint.json").read_text()), json.loads(
        (state / "credentials.json").read_text()
    )


def codepipeline(record: dict, keys: dict):
    return boto3.client(
        "codepipeline",
        endpoint_url=record["url"],
        region_name="ap-southeast-1",
        aws_access_key_id=keys["access_key"],
        aws_secret_access_key=keys["secret_key"],
        config=Config(retries={"max_attempts": 1}),
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.timeout(900)  # its fixtures build the hub's environment (make hub-install) and tear it down
def test_three_learners_run_the_pipeline_each_on_their_own_endpoint(hub):
    for name in LEARNERS:
        assert hub.call("POST", f"/hub/api/users/{name}")[0] == 201
        assert hub.call("POST", f"/hub/api/users/{name}/server")[0] in (201, 202)
    for name in LEARNERS:
        hub.wait_ready(name)
    homes = {name: Path(pwd.getpwnam(hub.unix_prefix + name).pw_dir) for name in LEARNERS}
    for name, home in homes.items():  # a Unix user of their own, a private home, their own working copy
        assert home.stat().st_uid == pwd.getpwnam(hub.unix_prefix + name).pw_uid
        assert home.stat().st_mode & 0o077 == 0
        copies = sorted(p.name for p in (home / "codepipeline-lab").glob("*.ipynb"))
        assert "00_start_here.ipynb" in copies and "03_run_the_pipeline.ipynb" in copies, copies
        assert "### BEGIN SOLUTION" not in (home / "codepipeline-lab/02_pipeline_json.ipynb").read_text()
    # nbgrader's instructor tools are not the learners'.
    status, page = hub.call("GET", "/user/alice/lab")
    assert status == 200 and re.search(r'"disabledExtensions": \[[^]]*"@jupyter/nbgrader"', page["page"])

    cells = code_cells(RUN)
    with ThreadPoolExecutor(len(LEARNERS)) as pool:
        runs = dict(zip(LEARNERS, pool.map(lambda name: run_cells(hub, name, cells), LEARNERS), strict=True))
    for name, replies in runs.items():
        last = replies[-1]
        assert len(replies) == len(cells) and last["status"] == "ok", (
            f"{name}: {last['notebook']}: {last['ename']}: {last['evalue']}\n"
            + "\n".join(last["traceback"] or [])
        )

    records = {name: endpoint_of(home) for name, home in homes.items()}
    assert len({record["pid"] for record, _ in records.values()}) == len(LEARNERS)
    assert len({record["url"] for record, _ in records.values()}) == len(LEARNERS)
    for name, (record, keys) in records.items():
        assert Path(f"/proc/{record['pid']}").stat().st_uid == pwd.getpwnam(hub.unix_prefix + name).pw_uid
        client = codepipeline(record, keys)
        (pipeline,) = client.list_pipelines()["pipelines"]
        latest = client.list_pipeline_executions(pipelineName=pipeline["name"])["pipelineExecutionSummaries"][
            0
        ]
        assert latest["status"] == "Succeeded", (name, latest)

    # No learner reaches another's endpoint with their own keys, nor reads another's files.
    alice, bob = records["alice"], records["bob"]
    with pytest.raises(ClientError) as refused:
        codepipeline(bob[0], alice[1]).list_pipelines()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    snoop = f"open({str(homes['bob'] / '.labhelpers/credentials.json')!r}).read()"
    (reply,) = run_cells(hub, "alice", [{"source": snoop, "tags": [], "notebook": "-"}])
    assert reply["ename"] == "PermissionError", reply

    # The idle culler stops each idle server, and with it that learner's endpoint. The hub's own culler
    # waits LAB_HUB_IDLE_MINUTES; this one, run as that service runs, waits a second.
    status, services = hub.call("GET", "/hub/api/services")
    assert status == 200 and alive(services["idle-culler"]["pid"]), services
    culler = subprocess.Popen(
        [hub.prefix / "bin/python", "-m", "jupyterhub_idle_culler", "--timeout=1", "--cull-every=1"]
        + [f"--url={hub.url}/hub/api"],
        env={"PATH": "/usr/bin:/bin", "JUPYTERHUB_API_TOKEN": hub.token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for name, (record, _) in records.items():
            hub.wait_stopped(name)
            deadline = time.monotonic() + 30
            while alive(record["pid"]) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not alive(record["pid"]), f"{name}'s endpoint still runs after their server stopped"
            assert not (homes[name] / ".labhelpers/endpoint.json").exists()
    finally:
        culler.terminate()
        culler.wait(10)
