"""Deployments on a local instance: the demo app, lifecycle order, failures, timeouts, cancel."""

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

import labhelpers
from labhelpers.local.codedeploy import instance as instance_module
from labhelpers.local.codedeploy.appspec import load_revision
from labhelpers.local.codedeploy.instance import LocalInstance
from labhelpers.local.codedeploy.runner import IN_PLACE_EVENTS, deploy, lifecycle_event_names
from labhelpers.local.context import StopSignal

DEMO_APP = Path(labhelpers.__file__).parent / "demo_app"
GROUP_ID = "9a1f3c2e-5b7d-4e6f-8a9b-0c1d2e3f4a5b"
needs_namespaces = pytest.mark.skipif(
    instance_module.namespace_problem() is not None,
    reason=f"hooks with absolute paths need Linux namespaces: {instance_module.namespace_problem()}",
)
SIMPLE_APPSPEC = """version: 0.0
os: linux
files:
  - source: /site
    destination: /opt/site
hooks:
  {event}:
    - location: hook.sh
      timeout: {timeout}
      runas: root
"""


@pytest.fixture
def instance(tmp_path) -> LocalInstance:
    return LocalInstance(tmp_path / "instance", "i-0123456789abcdef0")


@pytest.fixture
def unisolated(tmp_path) -> LocalInstance:
    return LocalInstance(tmp_path / "unisolated", "i-0fedcba9876543210", isolate=False)


def demo_revision(folder: Path) -> Path:
    """What the build hands to CodeDeploy: index.html, appspec.yml and scripts/."""
    folder.mkdir(parents=True)
    shutil.copy(DEMO_APP / "index.html", folder)
    shutil.copy(DEMO_APP / "appspec.yml", folder)
    shutil.copytree(DEMO_APP / "scripts", folder / "scripts")
    return folder


def simple_revision(folder: Path, hook: str, *, event: str = "BeforeInstall", timeout: int = 60) -> Path:
    """A revision whose only hook is `hook` and whose only file is site/page.txt -> /opt/site."""
    (folder / "site").mkdir(parents=True)
    (folder / "site" / "page.txt").write_text("page\n")
    (folder / "hook.sh").write_text(hook)
    (folder / "appspec.yml").write_text(SIMPLE_APPSPEC.format(event=event, timeout=timeout))
    return folder


def run_deploy(instance: LocalInstance, revision: Path, deployment_id: str = "d-ABCDEF001", **options):
    options.setdefault("env", {"AWS_REGION": "us-east-1"})
    return deploy(
        load_revision(revision),
        revision_dir=revision,
        instance=instance,
        deployment_id=deployment_id,
        application_name="awscicd-demo",
        deployment_group_name="awscicd-demo-dg",
        deployment_group_id=GROUP_ID,
        **options,
    )


def statuses(result) -> dict[str, str]:
    return {event["lifecycleEventName"]: event["status"] for event in result.lifecycle_events}


def running(pid: int) -> bool:
    """Whether `pid` is alive (a zombie waiting for its reaper is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def host_processes(argument: str) -> list[int]:
    """Live processes on this machine with `argument` on their command line."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if running(pid)]


def all_ended(*arguments: str, timeout: float = 10) -> bool:
    """True once no process with any of `arguments` lives (a killed one may take a moment to go)."""
    deadline = time.monotonic() + timeout
    while any(host_processes(argument) for argument in arguments):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@needs_namespaces
def test_the_demo_app_deploys_and_serves_its_page(tmp_path, instance):
    events = []

    result = run_deploy(instance, demo_revision(tmp_path / "revision"), on_event=events.append)

    assert result.status == "Succeeded" and result.error_information is None
    assert [e["lifecycleEventName"] for e in result.lifecycle_events] == list(IN_PLACE_EVENTS)
    assert set(statuses(result).values()) == {"Succeeded"}
    starts = [e["startTime"] for e in result.lifecycle_events]
    assert starts == sorted(starts)
    assert all(e["startTime"] <= e["endTime"] for e in result.lifecycle_events)
    assert all(e["diagnostics"]["errorCode"] == "Success" for e in result.lifecycle_events)
    assert [(e["lifecycleEventName"], e["status"]) for e in events] == [
        (name, status) for name in IN_PLACE_EVENTS for status in ("InProgress", "Succeeded")
    ]

    page = instance.web_root / "index.html"
    assert "awscicd demo app — v2" in page.read_text()
    assert instance.web_running
    asked = [(c["event"], c["command"], c["args"]) for c in instance.commands()]
    assert ("BeforeInstall", "yum", ["install", "-y", "httpd"]) in asked
    assert ("ApplicationStart", "systemctl", ["start", "httpd"]) in asked
    validate = result.lifecycle_events[-1]["diagnostics"]["logTail"]
    assert validate.startswith("LifecycleEvent - ValidateService\nScript - scripts/validate.sh\n[stdout]")
    assert 0 < result.command_seconds < 60
    assert "LifecycleEvent - Install" in result.log
    log_file = instance.lab_dir / f"deployments/{GROUP_ID}/d-ABCDEF001/logs/scripts.log"
    assert log_file.read_text() == result.log


@needs_namespaces
def test_the_next_deployment_runs_the_previous_revisions_application_stop(tmp_path, instance):
    def revision(name: str, validate_exit: int = 0) -> Path:
        folder = demo_revision(tmp_path / name)
        with open(folder / "scripts/stop_server.sh", "a") as stop:
            stop.write(f"echo 'stopped by {name}' >> /tmp/stops\n")
        with open(folder / "scripts/validate.sh", "a") as validate:
            validate.write(f"exit {validate_exit}\n")
        return folder

    stops = instance.root / "tmp/stops"

    first = run_deploy(instance, revision("first"), "d-FIRST0001")
    assert first.status == "Succeeded" and not stops.exists()  # nothing to stop on a first deployment

    second = run_deploy(instance, revision("second"), "d-SECOND001")
    assert second.status == "Succeeded"  # index.html came from the last deployment: no DISALLOW conflict
    assert stops.read_text() == "stopped by first\n"
    assert ("ApplicationStop", "systemctl", ["stop", "httpd"]) in [
        (c["event"], c["command"], c["args"]) for c in instance.commands()
    ]

    third = run_deploy(instance, revision("third", validate_exit=1), "d-THIRD0001")
    assert third.status == "Failed"
    fourth = run_deploy(instance, revision("fourth"), "d-FOURTH001")
    assert fourth.status == "Succeeded"
    assert stops.read_text().splitlines() == ["stopped by first", "stopped by second", "stopped by second"]


def test_a_failing_hook_fails_its_event_and_skips_the_rest(tmp_path, unisolated):
    hook = "echo 'about to fail'\necho 'something broke' >&2\nexit 3\n"
    revision = simple_revision(tmp_path / "revision", hook, event="AfterInstall")

    result = run_deploy(unisolated, revision)

    assert result.status == "Failed"
    assert result.error_information["code"] == "HEALTH_CONSTRAINTS"
    assert result.error_information["message"].startswith("The overall deployment failed because too many")
    assert statuses(result) == {
        "ApplicationStop": "Succeeded",
        "DownloadBundle": "Succeeded",
        "BeforeInstall": "Succeeded",
        "Install": "Succeeded",
        "AfterInstall": "Failed",
        "ApplicationStart": "Skipped",
        "ValidateService": "Skipped",
    }
    failed = result.lifecycle_events[4]
    assert failed["diagnostics"]["errorCode"] == "ScriptFailed"
    assert failed["diagnostics"]["scriptName"] == "hook.sh"
    assert failed["diagnostics"]["message"] == (
        "Script at specified location: hook.sh run as user root failed with exit code 3"
    )
    tail = failed["diagnostics"]["logTail"]
    assert tail.startswith("LifecycleEvent - AfterInstall\nScript - hook.sh\n")
    assert "[stdout]about to fail\n[stderr]something broke\n" in tail
    assert "WITHOUT isolation" in tail  # the unisolated instance says so in every hook log
    skipped = result.lifecycle_events[5]
    assert "endTime" in skipped and "startTime" not in skipped and "diagnostics" not in skipped


def test_the_log_tail_keeps_the_last_2048_characters_of_the_output(tmp_path, unisolated):
    hook = "for i in $(seq 1 400); do echo line-$i; done\nexit 1\n"
    result = run_deploy(unisolated, simple_revision(tmp_path / "revision", hook))

    tail = result.lifecycle_events[2]["diagnostics"]["logTail"]
    assert len(tail) == 2048
    assert tail.endswith("[stdout]line-399\n[stdout]line-400\n") and "line-1\n" not in tail
    assert "[stdout]line-400" in result.log  # the deployment's log keeps everything


def test_a_missing_script_is_script_missing(tmp_path, unisolated):
    revision = simple_revision(tmp_path / "revision", "true\n")
    (revision / "hook.sh").unlink()

    result = run_deploy(unisolated, revision)

    diagnostics = result.lifecycle_events[2]["diagnostics"]
    assert (diagnostics["errorCode"], diagnostics["message"]) == (
        "ScriptMissing",
        "Script does not exist at specified location: hook.sh",
    )


def test_a_timeout_kills_the_script_and_its_children(tmp_path, unisolated):
    hook = "sleep 3600.123 &\necho $! > sleep.pid\nwait\n"  # relative: no isolation here
    revision = simple_revision(tmp_path / "revision", hook, timeout=1)
    started = time.monotonic()

    result = run_deploy(unisolated, revision)

    assert 1 <= time.monotonic() - started < 30
    sleep_pid = int((unisolated.root / "opt/codedeploy-agent/sleep.pid").read_text())
    assert not running(sleep_pid)
    event = result.lifecycle_events[2]
    assert (event["lifecycleEventName"], event["status"]) == ("BeforeInstall", "Failed")
    assert event["diagnostics"]["errorCode"] == "ScriptTimedOut"
    assert (
        event["diagnostics"]["message"]
        == "Script at specified location: hook.sh failed to complete in 1 seconds"
    )
    assert result.status == "Failed" and statuses(result)["ValidateService"] == "Skipped"
    assert 1 <= result.command_seconds < 30


@needs_namespaces
def test_a_timeout_inside_the_namespace_kills_everything_it_started(tmp_path, instance):
    hook = "sleep 3600.456 &\nsetsid sleep 3600.789 &\necho started\nwait\n"
    revision = simple_revision(tmp_path / "revision", hook, timeout=1)

    result = run_deploy(instance, revision)

    assert result.lifecycle_events[2]["diagnostics"]["errorCode"] == "ScriptTimedOut"
    assert "[stdout]started" in result.lifecycle_events[2]["diagnostics"]["logTail"]
    assert all_ended("3600.456", "3600.789"), host_processes("3600.456") + host_processes("3600.789")


def test_disallow_refuses_a_file_no_deployment_put_there(tmp_path, unisolated):
    revision = simple_revision(tmp_path / "revision", "true\n")
    existing = unisolated.root / "opt/site/page.txt"
    existing.parent.mkdir(parents=True)
    existing.write_text("hand-made\n")

    refused = run_deploy(unisolated, revision, "d-DISALLOW1")

    install = refused.lifecycle_events[3]
    assert (install["lifecycleEventName"], install["status"]) == ("Install", "Failed")
    assert install["diagnostics"]["errorCode"] == "UnknownError"
    assert install["diagnostics"]["message"] == (
        "The deployment failed because a specified file already exists at this location: /opt/site/page.txt"
    )
    assert existing.read_text() == "hand-made\n"

    kept = run_deploy(unisolated, revision, "d-RETAIN001", file_exists_behavior="RETAIN")
    assert kept.status == "Succeeded" and existing.read_text() == "hand-made\n"

    replaced = run_deploy(unisolated, revision, "d-OVERWRIT1", file_exists_behavior="OVERWRITE")
    assert replaced.status == "Succeeded" and existing.read_text() == "page\n"


def test_the_appspec_file_exists_behavior_wins_over_the_deployments(tmp_path, unisolated):
    revision = simple_revision(tmp_path / "revision", "true\n")
    with open(revision / "appspec.yml", "a") as spec:
        spec.write("file_exists_behavior: OVERWRITE\n")
    existing = unisolated.root / "opt/site/page.txt"
    existing.parent.mkdir(parents=True)
    existing.write_text("hand-made\n")

    result = run_deploy(unisolated, revision, file_exists_behavior="DISALLOW")

    assert result.status == "Succeeded" and existing.read_text() == "page\n"


def test_files_of_the_previous_install_are_replaced_not_kept(tmp_path, unisolated):
    first = simple_revision(tmp_path / "first", "true\n")
    (first / "site" / "old.txt").write_text("old\n")
    second = simple_revision(tmp_path / "second", "true\n")

    assert run_deploy(unisolated, first, "d-FIRST0001").status == "Succeeded"
    assert (unisolated.root / "opt/site/old.txt").exists()
    assert run_deploy(unisolated, second, "d-SECOND001").status == "Succeeded"

    assert sorted(p.name for p in (unisolated.root / "opt/site").iterdir()) == ["page.txt"]


def test_permissions_set_modes_and_record_owners(tmp_path, unisolated):
    revision = simple_revision(tmp_path / "revision", "true\n")
    (revision / "site" / "run.sh").write_text("echo run\n")
    with open(revision / "appspec.yml", "a") as spec:
        spec.write(
            "permissions:\n"
            "  - object: /opt/site\n    pattern: '*.sh'\n    mode: 750\n"
            "    owner: ec2-user\n    type: [file]\n"
            "  - object: /opt/site\n    except: [run.sh]\n    mode: '0604'\n"
        )

    result = run_deploy(unisolated, revision)

    assert result.status == "Succeeded"
    assert (unisolated.root / "opt/site/run.sh").stat().st_mode & 0o777 == 0o750
    assert (unisolated.root / "opt/site/page.txt").stat().st_mode & 0o777 == 0o604
    assert '"path": "/opt/site/run.sh"' in (unisolated.lab_dir / "permissions.log").read_text()
    assert '"owner": "ec2-user"' in (unisolated.lab_dir / "permissions.log").read_text()


def test_system_folders_of_the_instance_cannot_be_deployed_to(tmp_path, unisolated):
    revision = simple_revision(tmp_path / "revision", "true\n")
    (revision / "appspec.yml").write_text(
        (revision / "appspec.yml").read_text().replace("destination: /opt/site", "destination: /usr/bin")
    )

    result = run_deploy(unisolated, revision)

    message = result.lifecycle_events[3]["diagnostics"]["message"]
    assert message.startswith("The deployment failed because /usr") and "shared read-only" in message
    assert not (unisolated.root / "usr/bin/page.txt").exists()


def test_hooks_get_codedeploy_variables_and_never_the_parents_credentials(tmp_path, unisolated, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parent-secret")
    monkeypatch.setenv("AWS_PROFILE", "parent-profile")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "parent-key")
    revision = simple_revision(tmp_path / "revision", "env > hook.env\npwd > hook.pwd\n")

    result = run_deploy(
        unisolated, revision, env={"AWS_ACCESS_KEY_ID": "local-dummy", "BUNDLE_BUCKET": "store"}
    )

    assert result.status == "Succeeded"
    seen = dict(
        line.split("=", 1)
        for line in (unisolated.root / "opt/codedeploy-agent/hook.env").read_text().splitlines()
        if "=" in line
    )
    assert "AWS_SECRET_ACCESS_KEY" not in seen and "AWS_PROFILE" not in seen
    assert seen["AWS_ACCESS_KEY_ID"] == "local-dummy" and seen["BUNDLE_BUCKET"] == "store"
    assert seen["LIFECYCLE_EVENT"] == "BeforeInstall"
    assert seen["DEPLOYMENT_ID"] == "d-ABCDEF001"
    assert seen["APPLICATION_NAME"] == "awscicd-demo"
    assert seen["DEPLOYMENT_GROUP_NAME"] == "awscicd-demo-dg"
    assert seen["DEPLOYMENT_GROUP_ID"] == GROUP_ID
    assert seen["PATH"].startswith(str(unisolated.lab_dir / "bin") + ":")
    assert (unisolated.root / "opt/codedeploy-agent/hook.pwd").read_text().strip() == str(
        unisolated.root / "opt/codedeploy-agent"
    )


@pytest.mark.timeout(60)
def test_cancel_kills_the_running_hook_and_stops_the_deployment(tmp_path, unisolated):
    fifo = unisolated.root / "opt/codedeploy-agent/started.fifo"
    os.mkfifo(fifo)
    revision = simple_revision(tmp_path / "revision", "echo started > started.fifo\nexec sleep 3600.321\n")
    cancel = StopSignal()
    outcome = {}
    deployment = threading.Thread(
        target=lambda: outcome.update(result=run_deploy(unisolated, revision, cancel=cancel))
    )
    deployment.start()

    assert fifo.read_text() == "started\n"  # the hook is running now
    cancel.set()
    deployment.join(timeout=30)

    result = outcome["result"]
    assert result.status == "Stopped"
    assert result.error_information == {
        "code": "MANUAL_STOP",
        "message": "The deployment was stopped manually.",
    }
    assert statuses(result)["BeforeInstall"] == "Failed"
    assert [statuses(result)[name] for name in IN_PLACE_EVENTS[3:]] == ["Skipped"] * 4
    assert host_processes("3600.321") == []


def test_no_thread_outlives_a_deployment_that_could_have_been_stopped(tmp_path, unisolated):
    idle = threading.active_count()
    revision = simple_revision(tmp_path / "revision", "true\n")
    assert run_deploy(unisolated, revision, cancel=StopSignal()).status == "Succeeded"
    deadline = time.monotonic() + 1
    while threading.active_count() > idle and time.monotonic() < deadline:
        time.sleep(0.02)
    assert threading.active_count() <= idle, [thread.name for thread in threading.enumerate()]


def test_a_deployment_cancelled_before_it_starts_runs_nothing(tmp_path, unisolated):
    cancel = StopSignal()
    cancel.set()

    result = run_deploy(unisolated, simple_revision(tmp_path / "revision", "true\n"), cancel=cancel)

    assert result.status == "Stopped"
    assert set(statuses(result).values()) == {"Skipped"}
    assert not (unisolated.root / "opt/site").exists()


def test_with_a_load_balancer_the_traffic_events_are_reported_too(tmp_path, unisolated):
    result = run_deploy(unisolated, simple_revision(tmp_path / "revision", "true\n"), with_load_balancer=True)

    assert [e["lifecycleEventName"] for e in result.lifecycle_events] == list(lifecycle_event_names(True))
    assert lifecycle_event_names(True)[:4] == (
        "BeforeBlockTraffic",
        "BlockTraffic",
        "AfterBlockTraffic",
        "ApplicationStop",
    )
    assert lifecycle_event_names(True)[-3:] == ("BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic")
    assert set(statuses(result).values()) == {"Succeeded"}


def test_application_stop_failures_can_be_ignored(tmp_path, unisolated):
    first = simple_revision(tmp_path / "first", "exit 9\n", event="ApplicationStop")
    assert run_deploy(unisolated, first, "d-FIRST0001").status == "Succeeded"  # its ApplicationStop never ran
    second = simple_revision(tmp_path / "second", "true\n")

    failed = run_deploy(unisolated, second, "d-SECOND001")
    ignored = run_deploy(unisolated, second, "d-THIRD0001", ignore_application_stop_failures=True)

    assert statuses(failed)["ApplicationStop"] == "Failed" and failed.status == "Failed"
    assert "failed with exit code 9" in failed.lifecycle_events[0]["diagnostics"]["message"]
    assert ignored.status == "Succeeded" and "ignoreApplicationStopFailures" in ignored.log


def test_ids_that_are_not_simple_names_are_refused(tmp_path, unisolated):
    with pytest.raises(ValueError, match="simple names"):
        run_deploy(unisolated, simple_revision(tmp_path / "revision", "true\n"), "../d-ESCAPE01")
