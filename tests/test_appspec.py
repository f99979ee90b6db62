"""AppSpec parsing: the real samples, line-numbered errors, and paths that try to get out."""

import posixpath
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import labhelpers
from labhelpers.local.codedeploy import appspec
from labhelpers.local.codedeploy.appspec import AppSpecError, load

SAMPLES = Path("/work/shared/reference/samples/appspecs")
SAMPLE_FILES = sorted(SAMPLES.glob("*.yml")) if SAMPLES.is_dir() else []
DEMO_APP = Path(labhelpers.__file__).parent / "demo_app"


def _is_windows(sample: Path) -> bool:
    return "os: windows" in sample.read_text()


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"reference samples not found under {SAMPLES}")
def test_the_samples_are_there():
    assert sum(not _is_windows(s) for s in SAMPLE_FILES) >= 10
    assert sum(_is_windows(s) for s in SAMPLE_FILES) >= 2


@pytest.mark.parametrize("sample", [s for s in SAMPLE_FILES if not _is_windows(s)], ids=lambda s: s.name)
def test_every_linux_sample_parses(sample):
    spec = load(sample.read_text(), sample.name)

    assert spec.filename == sample.name
    assert spec.files
    for mapping in spec.files:
        assert mapping.destination.startswith("/") and not mapping.destination.endswith("/")
        assert ".." not in mapping.source.split("/") and not mapping.source.startswith("/")
    for event, hooks in spec.hooks.items():
        assert event in appspec.SCRIPTABLE_EVENTS
        for hook in hooks:
            assert 1 <= hook.timeout <= 3600
            assert hook.location and not hook.location.startswith(("/", "./"))
    assert spec.warnings == ()


@pytest.mark.parametrize("sample", [s for s in SAMPLE_FILES if _is_windows(s)], ids=lambda s: s.name)
def test_windows_samples_are_refused_clearly(sample):
    with pytest.raises(AppSpecError) as refused:
        load(sample.read_text(), sample.name)

    error = refused.value
    assert error.filename == sample.name
    assert error.line == sample.read_text().splitlines().index("os: windows") + 1
    assert "local instances are Linux" in error.reason
    assert str(error).startswith(f"{sample.name} line {error.line}: os: windows")


@pytest.mark.skipif(not SAMPLE_FILES, reason=f"reference samples not found under {SAMPLES}")
def test_sample_details_come_through():
    sampleapp = load((SAMPLES / "001-sampleapp-linux-hooks-timeout-runas.yml").read_text())
    assert [(m.source, m.destination) for m in sampleapp.files] == [("index.html", "/var/www/html")]
    assert [(h.location, h.timeout, h.runas) for h in sampleapp.hooks["BeforeInstall"]] == [
        ("scripts/install_dependencies", 300, "root"),
        ("scripts/start_server", 300, "root"),
    ]

    location_only = load((SAMPLES / "007-elb-v2-hooks-location-only.yml").read_text())
    assert [(h.location, h.timeout, h.runas) for h in location_only.hooks["ApplicationStop"]] == [
        ("deregister_from_elb.sh", 3600, None),
        ("stop_httpd.sh", 3600, None),
    ]
    assert location_only.files[0].source == "."

    permissions = load((SAMPLES / "009-docs-permissions-pattern-except-type.yml").read_text()).permissions
    first, second, *_, last = permissions
    assert (first.object, first.pattern, first.mode) == ("/tmp/my-app", "*-3.txt", 0o464)
    assert first.types == ("file",)
    assert (first.owner, first.group) == ("adm", "wheel")
    assert second.except_ == ("my-file-3.txt",) and second.group is None
    assert (last.object, last.pattern, last.mode, last.types) == (
        "/tmp/my-app/my-folder-2/my-folder-3",
        "**",
        0o564,
        ("directory",),
    )


def test_the_demo_app_appspec():
    spec = load((DEMO_APP / "appspec.yml").read_text())

    assert [(m.source, m.destination) for m in spec.files] == [("index.html", "/var/www/html")]
    assert {event: [h.location for h in hooks] for event, hooks in spec.hooks.items()} == {
        "ApplicationStop": ["scripts/stop_server.sh"],
        "BeforeInstall": ["scripts/install_dependencies.sh"],
        "ApplicationStart": ["scripts/start_server.sh"],
        "ValidateService": ["scripts/validate.sh"],
    }
    assert all(h.runas == "root" and h.timeout < 3600 for hooks in spec.hooks.values() for h in hooks)
    for hooks in spec.hooks.values():
        assert (DEMO_APP / hooks[0].location).is_file()


def test_a_missing_location_names_file_line_and_key():
    text = "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - timeout: 30\n      runas: root\n"

    with pytest.raises(AppSpecError) as refused:
        load(text, "appspec.yml")

    assert str(refused.value) == "appspec.yml line 5: hooks.AfterInstall[0].location is required"
    assert (refused.value.filename, refused.value.line) == ("appspec.yml", 5)
    assert refused.value.reason == "hooks.AfterInstall[0].location is required"
    assert isinstance(refused.value, ValueError)


HEAD = "version: 0.0\nos: linux\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "the file is empty"),
        ("- just\n- a list\n", 1, "the file must be a mapping"),
        ("os: linux\n", 1, "version is required"),
        ("version: 1.0\nos: linux\n", 1, "version must be 0.0"),
        ("version: 0.0\n", 1, "os is required"),
        ("version: 0.0\nos: macos\n", 2, "os must be linux"),
        (HEAD + "os: linux\n", 3, "the key 'os' twice (first on line 2)"),
        (HEAD + "files: index.html\n", 3, "files must be a list"),
        (HEAD + "files:\n  - source: index.html\n", 4, "files[0].destination is required"),
        (HEAD + "files:\n  - source: a\n    destinaton: /srv\n", 4, "(is 'destinaton' a misspelling?)"),
        (HEAD + "files:\n  - source: a\n    destination: var/www\n", 5, "must be an absolute path"),
        (HEAD + "file_exists_behavior: REPLACE\n", 3, "file_exists_behavior must be one of"),
        (HEAD + "hooks:\n  BeforeInstall: []\n", 4, "hooks.BeforeInstall must list scripts"),
        (HEAD + "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 3601\n", 6, "from 1 to 3600"),
        (HEAD + "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: soon\n", 6, "whole number"),
        (HEAD + "hooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 0\n", 6, "from 1 to 3600"),
        (HEAD + "hooks:\n  BeforeInstall:\n    - scripts/a.sh\n", 5, "BeforeInstall[0] must be a mapping"),
        (HEAD + "permissions:\n  - object: /srv\n    mode: 0644\n", 5, "needs quotes ('0644')"),
        (HEAD + "permissions:\n  - object: /srv\n    mode: u+x\n", 5, "chmod digits"),
        (HEAD + "permissions:\n  - object: srv\n", 4, "must be an absolute path"),
        (HEAD + "permissions:\n  - object: /srv\n    type: [socket]\n", 5, "not 'socket'"),
        (HEAD + "permissions:\n  - object: /srv\n    context: {user: u}\n", 5, "context.type is required"),
    ],
)
def test_malformed_appspecs_say_where_and_why(text, line, reason):
    with pytest.raises(AppSpecError) as refused:
        load(text, "appspec.yaml")

    assert refused.value.filename == "appspec.yaml"
    assert refused.value.line == line
    assert reason in refused.value.reason
    assert str(refused.value).startswith(f"appspec.yaml line {line}: ")


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        (
            HEAD + "hooks:\n  BeforeInstall:\n    - location: a.sh\n   timeout: 5\n",
            "line 6, column 4",
            "indented like the lines of the same block above it",
        ),
        (
            HEAD + "files:\n  - source: site\n    destination: {{ root }}/html\n",
            "line 5, column 28",
            "{{placeholder}} templates: render them (fill in the values) before using the AppSpec",
        ),
        (HEAD + "files:\n\t- source: a\n", "line 4, column 1", "replace the tab characters with spaces"),
    ],
    ids=["indentation", "placeholder", "tab"],
)
def test_yaml_errors_give_line_column_and_a_hint_then_pyyamls_words(text, where, hint):
    with pytest.raises(AppSpecError) as refused:
        load(text)

    message = str(refused.value)
    assert message.startswith(f"appspec.yml {where}: this is not valid YAML. ")
    assert hint in message and "(PyYAML: " in message


def test_quoted_and_plain_modes_mean_the_same_digits():
    text = HEAD + "permissions:\n  - object: /srv\n    mode: '0640'\n  - object: /opt\n    mode: 755\n"

    assert [p.mode for p in load(text).permissions] == [0o640, 0o755]


@pytest.mark.parametrize(
    ("entry", "line"),
    [
        ("files:\n  - source: ../secrets\n    destination: /srv\n", 4),
        ("files:\n  - source: web/../../etc/passwd\n    destination: /srv\n", 4),
        ("files:\n  - source: index.html\n    destination: /var/../../etc\n", 5),
        ("hooks:\n  BeforeInstall:\n    - location: ../../etc/evil.sh\n", 5),
        ("hooks:\n  BeforeInstall:\n    - location: /\n", 5),
    ],
)
def test_paths_that_climb_out_are_refused(entry, line):
    with pytest.raises(AppSpecError) as refused:
        load(HEAD + entry)

    assert refused.value.line == line
    assert "'..'" in refused.value.reason or "must name a script" in refused.value.reason


def test_paths_are_normalised_inside_the_revision_and_on_the_instance():
    spec = load(
        HEAD
        + "files:\n  - source: ./web/../site//index.html\n    destination: /var/www/./html/../html/\n"
        + "hooks:\n  AfterInstall:\n    - location: /scripts/./after.sh\n"
    )

    assert (spec.files[0].source, spec.files[0].destination) == ("site/index.html", "/var/www/html")
    assert spec.hooks["AfterInstall"][0].location == "scripts/after.sh"


@given(st.lists(st.sampled_from(["a", "b", "..", ".", ""]), min_size=1, max_size=8))
def test_a_source_never_leaves_the_revision(parts):
    raw = "/".join(parts)
    assume(raw)
    expected = posixpath.normpath(raw.lstrip("/") or ".")  # the agent joins it to the archive folder
    text = HEAD + f"files:\n  - source: '{raw}'\n    destination: /srv\n"

    if expected == ".." or expected.startswith("../"):
        with pytest.raises(AppSpecError, match="climbs out of the revision"):
            load(text)
    else:
        assert load(text).files[0].source == expected


def test_symbolic_links_out_of_the_revision_are_refused(tmp_path):
    revision = tmp_path / "revision"
    (revision / "real-scripts").mkdir(parents=True)
    (revision / "real-scripts" / "start.sh").write_text("echo start\n")
    (revision / "scripts").symlink_to("real-scripts")
    (revision / "escape").symlink_to("/etc")
    (revision / "escape.sh").symlink_to("/etc/passwd")
    spec = load(
        HEAD
        + "files:\n  - source: escape/hostname\n    destination: /srv\n"
        + "  - source: escape\n    destination: /srv\n"
        + "hooks:\n  BeforeInstall:\n    - location: scripts/start.sh\n    - location: escape.sh\n"
    )
    inside, escaping = spec.hooks["BeforeInstall"]

    assert spec.script_path(revision, inside) == revision / "scripts/start.sh"
    with pytest.raises(AppSpecError, match="escape.sh leads outside the revision") as refused:
        spec.script_path(revision, escaping)
    assert refused.value.line == 11
    with pytest.raises(AppSpecError, match="escape/hostname leads outside the revision"):
        spec.source_path(revision, spec.files[0])
    # A source that is itself a link is copied as a link, never followed.
    assert spec.source_path(revision, spec.files[1]) == revision / "escape"


def test_what_codedeploy_ignores_is_said_out_loud():
    spec = load(
        HEAD
        + "files:\n  - source: /\n    destination: /srv\n    overwrite: yes\n"
        + "hooks:\n  AfterInstal:\n    - location: a.sh\n  Install:\n    - location: b.sh\n"
    )

    assert spec.warnings == (
        "line 6: files[0] has the key 'overwrite', which CodeDeploy ignores",
        "line 8: AfterInstal is not an EC2/on-premises lifecycle event (did you mean AfterInstall?); "
        "CodeDeploy never runs its scripts",
        "line 10: Install belongs to the CodeDeploy agent; its scripts never run",
    )


def test_load_revision_finds_the_appspec_at_the_root(tmp_path):
    (tmp_path / "appspec.yaml").write_text(HEAD)

    assert appspec.load_revision(tmp_path).filename == "appspec.yaml"
    with pytest.raises(AppSpecError, match="no appspec.yml at its root"):
        appspec.load_revision(tmp_path / "elsewhere")
