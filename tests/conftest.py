"""Fixtures that start the real local endpoint and drive it with real boto3, the aws CLI and git."""

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from labhelpers.local import config, process

BIN = Path(sys.executable).parent
# The suite runs at fast pace: connect() here, and every endpoint, build and kernel started from here, reads
# it. test_pace asks for teach where it shows the holds.
os.environ["LAB_PACE"] = "fast"


@dataclass
class Endpoint:
    url: str
    layout: config.Layout
    pid: int

    @property
    def env(self) -> dict[str, str]:
        """A subprocess environment aimed at this endpoint (aws CLI, git), with the venv's tools first."""
        base = {k: v for k, v in os.environ.items() if k not in config.cleared_names(os.environ)}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        base["LABHELPERS_HOME"] = str(self.layout.root)
        base["GIT_TERMINAL_PROMPT"] = "0"
        return {**base, **config.client_env(self.url, self.layout)}

    @property
    def keys(self) -> config.Credentials:
        """The lab's credentials for this endpoint's state folder."""
        return config.credentials(self.layout)

    def context(self, folder: Path):
        """An EndpointContext of a state folder of its own (`folder`) that calls this endpoint with its keys:
        for in-process services of a test's own."""
        from labhelpers.local.context import EndpointContext

        layout = config.Layout(folder)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.layout.credentials, layout.credentials)
        made = EndpointContext(layout)
        made.url = self.url
        return made

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=config.REGION,
            aws_access_key_id=self.keys.access_key,
            aws_secret_access_key=self.keys.secret_key,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def call(
        self, target: str, body, *, service: str, region: str = config.REGION, headers: dict | None = None
    ) -> tuple[int, dict]:
        """POST `body` (bytes, or JSON-able) to awsJson operation `target` (Prefix.Operation), signed with the
        lab's keys as boto3 signs, past botocore's own validation: (status, the answer's JSON)."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        request = AWSRequest(
            method="POST",
            url=f"{self.url}/",
            data=data,
            headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"},
        )
        SigV4Auth(Credentials(self.keys.access_key, self.keys.secret_key), service, region).add_auth(request)
        sent = urllib.request.Request(
            request.url, data=data, headers={**dict(request.headers), **(headers or {})}, method="POST"
        )
        try:
            with urllib.request.urlopen(sent, timeout=60) as answer:
                return answer.status, _json_or_text(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the real aws CLI against this endpoint."""
        return self.run(["aws", *args], check=check)

    def run(self, argv, check: bool = True, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


def _json_or_text(body: bytes) -> dict:
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {"text": body.decode(errors="replace")}


def start_endpoint(home: Path) -> Endpoint:
    layout = config.Layout(home)
    running = process.start(layout)
    return Endpoint(running.url, layout, running.pid)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    """One endpoint shared by the session's tests: give resources unique names (see `unique`)."""
    started = start_endpoint(tmp_path_factory.mktemp("labhome"))
    yield started
    process.stop(started.layout)


@pytest.fixture
def fresh_endpoint(tmp_path):
    """An endpoint of the test's own, for tests that restart it or need it empty."""
    started = start_endpoint(tmp_path / "labhome")
    yield started
    process.stop(started.layout)


@pytest.fixture
def unique():
    """A short unique suffix for resource names on the shared endpoint."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def git_identity(monkeypatch, tmp_path):
    """git that commits as a test user and reads no global config of the machine's."""
    cfg = tmp_path / "gitconfig"
    cfg.write_text(
        "[user]\n\tname = Lab Tester\n\temail = tester@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return cfg
