"""connect(): the Lab points this process, and the processes it starts, at the right backend."""

import os
import subprocess

import pytest
from conftest import BIN

import labhelpers as lh
from labhelpers.local import config


@pytest.fixture
def restore_environ(monkeypatch):
    """connect() edits os.environ; monkeypatch puts every variable back afterwards."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "a-real-profile")
    yield monkeypatch
    lh.lab._restore_environ()


def test_connect_local_points_clients_and_subprocesses_at_the_endpoint(endpoint, restore_environ, capsys):
    lab = lh.connect(home=str(endpoint.layout.root))
    assert (lab.backend, lab.account, lab.region) == ("local", "111122223333", "ap-southeast-1")
    assert lab.endpoint_url == endpoint.url
    assert endpoint.url in capsys.readouterr().out
    assert lab.client("sts").get_caller_identity()["Account"] == "111122223333"
    assert lab.client("sts") is lab.client("sts")
    cell = subprocess.run(
        ["aws", "sts", "get-caller-identity", "--query", "Account", "--output", "text"],
        capture_output=True,
        text=True,
        env={**endpoint.env, **os.environ},
    )
    assert cell.stdout.strip() == "111122223333", cell.stderr
    assert "AWS_PROFILE" not in os.environ


def test_names_follow_the_prefix(endpoint, restore_environ):
    lab = lh.connect(home=str(endpoint.layout.root), prefix="team7", quiet=True)
    assert lab.names.pipeline == "team7-pipeline"
    assert lab.names.bucket == "team7-artifacts-111122223333-ap-southeast-1"
    assert lh.Names("awscicd", "111122223333", "ap-southeast-1").pipeline_role == "awscicd-codepipeline-role"


def test_the_class_setting_is_stored_once_and_every_connect_reads_it(endpoint, restore_environ):
    home = str(endpoint.layout.root)
    restore_environ.delenv("LAB_PREFIX", raising=False)
    restore_environ.delenv("LAB_BACKEND", raising=False)
    endpoint.layout.settings.unlink(missing_ok=True)
    assert lh.connect(home=home, quiet=True).prefix == "awscicd"  # the article's names by default
    cli = subprocess.run(
        [str(BIN / "labhelpers"), "configure", "--prefix", "alice", "--home", home],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "alice" in cli.stdout and str(endpoint.layout.settings) in cli.stdout
    try:
        assert lh.connect(home=home, quiet=True).names.pipeline == "alice-pipeline"
        restore_environ.setenv("LAB_PREFIX", "bob")  # the environment overrides the stored setting
        assert lh.connect(home=home, quiet=True).prefix == "bob"
        assert lh.connect(home=home, prefix="carol", quiet=True).prefix == "carol"  # a parameters cell wins
        with pytest.raises(lh.LabError, match="lowercase"):
            lh.configure(prefix="Team_7", home=home)
        assert lh.lab.settings(home) == {"prefix": "alice"}  # a refused setting changes nothing
    finally:
        endpoint.layout.settings.unlink()


def test_unknown_backend_says_what_to_use():
    with pytest.raises(lh.LabError, match="'local'"):
        lh.connect("azure")


def test_aws_backend_without_credentials_explains(restore_environ, tmp_path):
    empty = tmp_path / "empty"
    empty.touch()
    for name, value in {
        "AWS_CONFIG_FILE": empty,
        "AWS_SHARED_CREDENTIALS_FILE": empty,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_REGION": config.REGION,
    }.items():
        restore_environ.setenv(name, str(value))
    restore_environ.delenv("AWS_PROFILE")
    with pytest.raises(lh.LabError, match="aws configure"):
        lh.connect("aws")


def test_connect_puts_this_environments_scripts_first_on_path(endpoint, restore_environ):
    import sysconfig

    restore_environ.setenv("PATH", "/usr/bin:/bin")
    lh.connect(home=str(endpoint.layout.root), quiet=True)
    assert os.environ["PATH"].split(":")[0] == sysconfig.get_path("scripts")
    found = subprocess.run(["bash", "-c", "command -v aws labhelpers"], capture_output=True, text=True).stdout
    assert found.split() == [
        f"{sysconfig.get_path('scripts')}/aws",
        f"{sysconfig.get_path('scripts')}/labhelpers",
    ]
