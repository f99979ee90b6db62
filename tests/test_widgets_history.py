"""HistoryExplorer and ArtifactDiffView over a real history on the local endpoint, tested by their state
(options, values, children, HTML) in plain pytest; and their text and HTML fallbacks."""

import base64
import uuid

import pytest
from pipeline_kit import Kit, approval_stage
from test_artifacts import zip_of
from test_history import assert_schema, make_lab

from labhelpers import artifacts, history
from labhelpers.widgets.artifact_diff_view import ArtifactDiffView
from labhelpers.widgets.history_explorer import HistoryExplorer, HistoryState

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def lab(endpoint):
    return make_lab(endpoint)


@pytest.fixture(scope="module")
def kit(endpoint):
    """Source → Approve, run twice: approved, then rejected."""
    kit = Kit(endpoint, uuid.uuid4().hex[:8])
    kit.setup()
    kit.ids = []
    for answer, summary in (("Approved", "ok"), ("Rejected", "not today")):
        kit.ids.append(kit.start() if kit.ids else kit.create(approval_stage()))
        kit.answer("Approve", kit.approval_token("Approve", kit.ids[-1]), answer, summary)
        kit.wait_status(kit.ids[-1], "Succeeded", "Failed")
    return kit


def test_the_explorer_opens_on_the_newest_execution(lab, kit):
    first, second = kit.ids
    explorer = HistoryExplorer(lab, kit.pipeline)

    assert [value for _, value in explorer.picker.options] == [second, first]
    assert explorer.picker.value == explorer.state.selected == second
    assert " · Failed · " in explorer.picker.label
    assert explorer.tabs.titles == ("Timeline", "Actions", "Artifacts")
    assert explorer.tabs.children == (explorer.timeline, explorer.actions, explorer.artifacts)
    assert f"{kit.pipeline}: 2 executions; showing {second[:8]}: Failed" in explorer.headline.value

    assert "Approve" in explorer.actions.value and "not today" in explorer.actions.value
    assert "SourceOutput" in explorer.artifacts.value
    (chart,) = explorer.timeline.outputs
    assert base64.b64decode(chart["data"]["image/png"]).startswith(b"\x89PNG")
    assert chart["data"]["text/plain"] == "<timeline of 2 action run(s)>"


def test_picking_an_execution_shows_its_runs(lab, kit):
    first, _ = kit.ids
    explorer = HistoryExplorer(lab, kit.pipeline)
    explorer.picker.value = first

    assert explorer.state.selected == first
    assert explorer.state.action_runs["execution_id"].unique().tolist() == [first]
    assert explorer.state.stage_runs["status"].tolist() == ["Succeeded", "Succeeded"]
    assert "not today" not in explorer.actions.value and "Failed" not in explorer.actions.value
    assert explorer.state.artifacts["execution_id"].tolist() == [first]


def test_refresh_adds_new_runs_and_keeps_the_selection(lab, kit):
    first, _ = kit.ids
    explorer = HistoryExplorer(lab, kit.pipeline)
    explorer.picker.value = first
    newest = kit.start()
    kit.approval_token("Approve", newest)

    explorer.refresh_button.click()
    assert len(explorer.picker.options) == 3 and explorer.picker.options[0][1] == newest
    assert explorer.picker.value == first

    explorer.picker.value = newest
    assert "InProgress" in explorer.actions.value and "still running" in explorer.headline.value
    kit.answer("Approve", kit.approval_token("Approve", newest), "Rejected", "cleanup")
    kit.wait_status(newest, "Failed")


def test_the_explorer_reads_as_text_and_html_without_a_widget_frontend(lab, kit):
    explorer = HistoryExplorer(lab, kit.pipeline)
    text = repr(explorer)
    assert text.startswith(f"HistoryExplorer — {kit.pipeline}:")
    assert "Approve" in text and "Source" in text
    assert "duration_s" in text and "days" not in text  # durations in seconds, not 0 days 00:00:01
    assert "<table" in explorer._repr_html_() and "SourceOutput" in explorer._repr_html_()
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == text and bundle["text/html"] == explorer._repr_html_()
    assert bundle[WIDGET_MIME]["model_id"] == explorer.widget.model_id


def test_nothing_selected_gives_empty_frames_of_the_fixed_schemas(lab, kit):
    state = HistoryState(lab, kit.pipeline)
    state.select(None)
    assert_schema(state.action_runs, history.ACTION_RUN_COLUMNS)
    assert_schema(state.stage_runs, history.STAGE_RUN_COLUMNS)
    assert_schema(state.artifacts, artifacts.ARTIFACT_COLUMNS)
    assert state.headline() == f"{kit.pipeline}: 0 executions; none selected"


@pytest.fixture(scope="module")
def two_artifacts(lab, kit):
    s3 = lab.client("s3")
    before = {"index.html": b"<h1>Hello</h1>\n", "same.txt": b"same\n", "old.txt": b"old\n"}
    after = {"index.html": b"<h1>Hello, build 2</h1>\n", "same.txt": b"same\n", "new.bin": b"\0\1"}
    for key, files in (("before.zip", before), ("after.zip", after)):
        s3.put_object(Bucket=kit.bucket, Key=key, Body=zip_of(files))
    return f"s3://{kit.bucket}/before.zip", f"s3://{kit.bucket}/after.zip"


def test_the_diff_view_shows_the_table_and_the_first_changed_file(lab, two_artifacts):
    view = ArtifactDiffView(lab, *two_artifacts)

    assert view.widget.children == (view.table, view.picker, view.text)
    assert "<table" in view.table.value and "old.txt" in view.table.value
    assert view.picker.options == (
        ("index.html (changed)", "index.html"),
        ("new.bin (added)", "new.bin"),
        ("old.txt (removed)", "old.txt"),
        ("same.txt (same)", "same.txt"),
    )
    assert view.picker.value == view.state.path == "index.html"
    assert "-&lt;h1&gt;Hello&lt;/h1&gt;\n+&lt;h1&gt;Hello, build 2&lt;/h1&gt;" in view.text.value


def test_picking_a_file_shows_its_diff(lab, two_artifacts):
    view = ArtifactDiffView(lab, *two_artifacts)
    view.picker.value = "same.txt"
    assert view.state.path == "same.txt"
    assert "same.txt is the same in both artifacts." in view.text.value
    view.picker.value = "new.bin"
    assert "Binary files /dev/null and" in view.text.value


def test_the_diff_view_reads_as_text_and_html_without_a_widget_frontend(lab, two_artifacts):
    view = ArtifactDiffView(lab, *two_artifacts)
    text = repr(view)
    assert text.startswith(
        f"ArtifactDiff {two_artifacts[0]} → {two_artifacts[1]}: 1 added, 1 removed, 1 changed"
    )
    assert "+<h1>Hello, build 2</h1>" in text
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == text and "<pre>" in bundle["text/html"] and WIDGET_MIME in bundle
