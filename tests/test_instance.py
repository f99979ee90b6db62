"""The local instance: its folder, its shims, and hooks that cannot touch the host."""

import os
import uuid
from pathlib import Path

import pytest

from labhelpers.local.codedeploy import instance as instance_module
from labhelpers.local.codedeploy.instance import AGENT_DIR, LocalInstance

needs_namespaces = pytest.mark.skipif(
    instance_module.namespace_problem() is not None,
    reason=f"Linux user namespaces unavailable here: {instance_module.namespace_problem()}",
)


@pytest.fixture
def instance(tmp_path) -> LocalInstance:
    return LocalInstance(tmp_path / "instance", "i-0123456789abcdef0")


def run(instance: LocalInstance, script: str, env: dict | None = None, timeout: float = 30):
    """Run `script` from the agent's folder; (outcome, [(stream, line), ...])."""
    name = f"script-{uuid.uuid4().hex}.sh"
    (instance.root / AGENT_DIR.lstrip("/") / name).write_text(script)
    lines: list[tuple[str, str]] = []
    outcome = instance.run_script(
        f"{AGENT_DIR}/{name}",
        env=env if env is not None else instance.environment(),
        timeout=timeout,
        on_output=lambda stream, line: lines.append((stream, line)),
    )
    return outcome, lines


def test_a_new_instance_looks_like_a_small_linux_host(instance):
    root = instance.root

    assert instance.web_root == root / "var/www/html"
    for folder in ("etc", "tmp", "root", "opt/codedeploy-agent", ".lab/bin"):
        assert (root / folder).is_dir()
    assert "Amazon Linux" in (root / "etc/os-release").read_text()
    assert (root / "etc/passwd").read_text().startswith("root:")
    for command in instance_module.SHIMMED_COMMANDS:
        assert os.access(root / ".lab/bin" / command, os.X_OK)
    assert instance.commands() == []
    assert not instance.web_running
    assert instance.isolation in ("namespace", "none")


def test_a_second_instance_object_reuses_the_folder(instance):
    (instance.root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")

    again = LocalInstance(instance.root, instance.instance_id)

    assert (again.root / "etc/passwd").read_text() == "root:x:0:0:root:/root:/bin/bash\n"


def test_output_comes_line_by_line_per_stream_with_the_exit_code(instance):
    outcome, lines = run(instance, "echo one\necho two >&2\nprintf 'no newline'\nexit 7\n")

    assert (outcome.exit_code, outcome.ended_by) == (7, None)
    assert lines == [("stdout", "one"), ("stderr", "two"), ("stdout", "no newline")]
    assert outcome.seconds >= 0


def test_the_script_gets_exactly_the_environment_it_is_given(instance, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "parent-secret")
    monkeypatch.setenv("AWS_PROFILE", "parent-profile")

    outcome, lines = run(instance, "env\n", env={**instance.environment(), "ONLY_THIS": "yes"})

    names = {line.split("=", 1)[0] for stream, line in lines if stream == "stdout"}
    assert outcome.exit_code == 0
    assert "ONLY_THIS" in names and "PATH" in names
    assert not names & {"AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"}
    # What bash adds on its own, nothing more.
    assert names - set(instance.environment()) - {"ONLY_THIS"} <= {"PWD", "SHLVL", "_", "OLDPWD"}


def test_package_and_service_shims_play_amazon_linux(instance):
    env = {**instance.environment(), "LIFECYCLE_EVENT": "ApplicationStart"}
    script = """
systemctl start httpd; echo "start before install: $?"
yum install -y httpd
systemctl is-active httpd; echo "is-active: $?"
sudo systemctl enable --now httpd
systemctl is-enabled httpd
service httpd status > /dev/null; echo "status: $?"
"""
    outcome, lines = run(instance, script, env)

    assert outcome.exit_code == 0
    assert ("stderr", "Failed to start httpd.service: Unit httpd.service not found.") in lines
    stdout = [line for stream, line in lines if stream == "stdout"]
    assert stdout == [
        "start before install: 5",
        "Installed: httpd",
        "inactive",
        "is-active: 3",
        "enabled",
        "status: 0",
    ]
    assert instance.web_running
    assert (instance.root / "etc/httpd/conf.d").is_dir() and instance.web_root.is_dir()
    assert [(c["event"], c["command"], c["args"]) for c in instance.commands()][:3] == [
        ("ApplicationStart", "systemctl", ["start", "httpd"]),
        ("ApplicationStart", "yum", ["install", "-y", "httpd"]),
        ("ApplicationStart", "systemctl", ["is-active", "httpd"]),
    ]
    assert ("ApplicationStart", "sudo", ["systemctl", "enable", "--now", "httpd"]) in [
        (c["event"], c["command"], c["args"]) for c in instance.commands()
    ]

    outcome, lines = run(instance, "service httpd stop\nchkconfig httpd off\nsystemctl is-enabled httpd\n")

    assert outcome.exit_code == 1 and ("stdout", "disabled") in lines
    assert not instance.web_running


def test_unknown_subcommands_are_recorded_and_harmless(instance):
    outcome, lines = run(instance, "yum update -y\napt-get update\nsystemctl daemon-reload\n")

    assert outcome.exit_code == 0
    assert [c["command"] for c in instance.commands()] == ["yum", "apt-get", "systemctl"]


def test_paths_on_the_instance_follow_links_without_leaving_it(instance):
    root = instance.root
    (root / "srv/site").mkdir(parents=True)
    (root / "var/www").mkdir(parents=True)
    (root / "var/www/html").symlink_to("/srv/site")  # absolute: means the instance's /srv
    (root / "loop").symlink_to("loop")

    assert instance.path("/var/www/html/index.html") == root / "srv/site/index.html"
    assert instance.path("/../../../etc/passwd") == root / "etc/passwd"
    assert instance.path("var/./www/../www/html") == root / "srv/site"
    with pytest.raises(OSError, match="symbolic links"):
        instance.path("/loop/x")


def test_system_folders_are_off_limits_but_usr_local_is_not(instance):
    assert "read-only" in instance.off_limits("/usr/bin/tool")
    assert instance.off_limits("/lib64") is not None
    assert "bookkeeping" in instance.off_limits("/.lab/commands.log")
    assert instance.off_limits("/usr/local/bin/tool") is None
    assert instance.off_limits("/var/www/html") is None
    assert instance.off_limits("/usrx") is None


def test_without_namespaces_hooks_run_with_a_loud_warning(tmp_path, monkeypatch):
    problem = "unshare: write failed /proc/self/uid_map"
    monkeypatch.setattr(instance_module, "namespace_problem", lambda: problem)
    unisolated = LocalInstance(tmp_path / "instance", "i-1")

    assert unisolated.isolation == "none"
    assert "WITHOUT isolation" in unisolated.isolation_warning
    assert "uid_map" in unisolated.isolation_warning
    outcome, lines = run(unisolated, "pwd\n")
    assert lines == [("stdout", str(unisolated.root / "opt/codedeploy-agent"))]

    assert LocalInstance(tmp_path / "other", "i-2", isolate=False).isolation == "none"


@needs_namespaces
def test_hooks_writing_absolute_paths_land_inside_the_instance(instance):
    token = uuid.uuid4().hex
    targets = [f"/var/www/html/x-{token}", f"/etc/httpd/conf.d/y-{token}", f"/tmp/z-{token}"]
    script = "set -e\nmkdir -p /var/www/html /etc/httpd/conf.d\n"
    script += "".join(f"echo hi > {target}\n" for target in targets)

    outcome, lines = run(instance, script)

    assert instance.isolation == "namespace" and instance.isolation_warning is None
    assert (outcome.exit_code, lines) == (0, [])
    for target in targets:
        assert (instance.root / target.lstrip("/")).read_text() == "hi\n"
        assert not Path(target).exists(), f"{target} leaked onto the host"


@needs_namespaces
def test_inside_the_namespace_the_host_is_out_of_reach(instance):
    this_file = Path(__file__).resolve()
    script = f"""
echo "cwd $(pwd) uid $(id -u)"
test -e {this_file} && echo "host file visible"
touch /usr/bin/lab-should-not-exist 2> /dev/null || echo "usr is read-only"
echo ok > /usr/local/lab-own-file && echo "usr/local is the instance's"
ls /proc/self > /dev/null && echo "proc works"
echo > /dev/null && echo "dev works"
"""
    outcome, lines = run(instance, script)

    assert outcome.exit_code == 0
    assert [line for _, line in lines] == [
        f"cwd {AGENT_DIR} uid 0",
        "usr is read-only",
        "usr/local is the instance's",
        "proc works",
        "dev works",
    ]
    assert not Path("/usr/bin/lab-should-not-exist").exists()
    assert (instance.root / "usr/local/lab-own-file").read_text() == "ok\n"


@needs_namespaces
@pytest.mark.skipif(not Path("/usr/bin/systemctl").exists(), reason="this host has no /usr/bin/systemctl")
def test_system_commands_called_by_full_path_are_shims_too(instance):
    outcome, lines = run(instance, "/usr/bin/systemctl start sshd && /usr/bin/systemctl is-active sshd\n")

    assert (outcome.exit_code, lines) == (0, [("stdout", "active")])
    assert instance.commands()[0]["args"] == ["start", "sshd"]
