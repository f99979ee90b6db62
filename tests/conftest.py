"""Fixtures that start the real local endpoint and drive it with real boto3, the aws CLI and git."""

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from labhelpers.local import config, process

BIN = Path(sys.executable).parent


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

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=config.REGION,
            aws_access_key_id=config.ACCESS_KEY,
            aws_secret_access_key=config.SECRET_KEY,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the real aws CLI against this endpoint."""
        return self.run(["aws", *args], check=check)

    def run(self, argv, check: bool = True, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(argv, env=self.env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result


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
