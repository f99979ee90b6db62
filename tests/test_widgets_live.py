"""The live widgets against real executions, tested by their state: PipelineView updated by runs.watch,
and ApprovalPanel answering a Manual approval stage (headless and by its buttons)."""

import time
import uuid

import pytest
from pipeline_kit import Kit
from test_pipeline_builds import build_action, project

import labhelpers as lh
from labhelpers import history, pipelines, prerequisites, roles, runs, widgets
from labhelpers.lab import _restore_environ
from labhelpers.widgets import pipeline_view

CUSTOM_DATA = "Check the page of the build before it ships"
REVIEW_LINK = "https://example.com/review"


@pytest.fixture(scope="module")
def lab(endpoint):
    """The article's pipeline with a Manual approval stage between Build and Deploy."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"v{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    declaration = pipelines.article_pipeline(made)
    declaration["pipeline"]["stages"].insert(
        2,
        {
            "name": "Approve",
            "actions": [
                {
                    "name": "Review",
                    "actionTypeId": {
                        "category": "Approval",
                        "owner": "AWS",
                        "provider": "Manual",
                        "version": "1",
                    },
                    "configuration": {"CustomData": CUSTOM_DATA, "ExternalEntityLink": REVIEW_LINK},
                }
            ],
        },
    )
    roles.ensure_pipeline_role(made, declaration)
    made.client("codepipeline").create_pipeline(**declaration)
    widgets.ApprovalPanel(made, stage="Approve").approve(timeout=60)
    runs.watch(made, timeout=60)
    yield made
    _restore_environ()


def test_the_pipeline_view_follows_a_run_to_succeeded(lab):
    view = widgets.PipelineView()
    assert view.snapshot is None and repr(view) == "PipelineView: no execution yet"
    execution_id = runs.start(lab)
    widgets.ApprovalPanel(lab, stage="Approve").approve("ship it", timeout=60)
    final = runs.watch(lab, execution_id=execution_id, view=view, timeout=60)
    assert view.snapshot is final and final.status == "Succeeded"
    cards = [child.value for child in view.stages.children]
    assert len(cards) == 7  # four stages, three hand-overs between them
    stage_cards, handovers = cards[::2], cards[1::2]
    assert all("Succeeded" in card for card in stage_cards)
    assert ["SourceOutput" in h for h in handovers] == [True, False, False]
    assert ["BuildOutput" in h for h in handovers] == [False, True, False]
    assert "build log" in stage_cards[1] and "deployed page" in stage_cards[3]
    build_link = f'<a href="{lab.endpoint_url}/_lab/builds/'
    assert build_link in stage_cards[1] and "/log?token=" in stage_cards[1]  # local, with this start's token
    assert 'target="_blank" rel="noopener noreferrer"' in stage_cards[1]
    assert "text-decoration:underline" in stage_cards[1]  # it looks like a link
    assert "deployment events" in stage_cards[3] and "/_lab/deployments/" in stage_cards[3]
    assert f'href="{REVIEW_LINK}"' in stage_cards[2] and ">review<" in stage_cards[2]
    assert final.page_urls[0] in stage_cards[3]
    assert execution_id in view.headline.value and "Succeeded" in view.headline.value
    text = repr(view)
    assert "Source:Succeeded   Build:Succeeded   Approve:Succeeded   Deploy:Succeeded" in text
    assert "Deploy/Deploy  CodeDeploy  Succeeded" in text
    assert "lab-pipeline-view" in view.widget._dom_classes
    bundle = view._repr_mimebundle_()
    assert bundle["text/plain"] == text
    assert "deployed page" in bundle["text/html"] and 'class="lab-pipeline-view"' in bundle["text/html"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.widget.model_id


def test_the_approval_panel_shows_the_pending_approval_and_approves_headless(lab):
    panel = widgets.ApprovalPanel(lab, stage="Approve")
    assert panel.state.action == "Review" and not panel.state.waiting
    assert panel.approve_button.disabled and panel.reject_button.disabled
    execution_id = runs.start(lab)
    waiting = _wait_until_waiting(panel)
    assert waiting.execution_id == execution_id and waiting.token
    assert not panel.approve_button.disabled
    text = repr(panel)
    assert f"token: {waiting.token}" in text and f"custom data: {CUSTOM_DATA}" in text
    assert f"review: {REVIEW_LINK}" in text and "waiting for an answer" in text
    assert REVIEW_LINK in panel.info.value and waiting.token in panel._repr_html_()
    assert f'<a href="{REVIEW_LINK}" target="_blank"' in panel._repr_html_()
    answered = panel.approve("Reviewed in the test")
    assert answered.status == "Succeeded" and answered.summary == "Reviewed in the test"
    assert panel.approve_button.disabled and "Approved" in panel.message.value
    assert runs.wait(lab, execution_id, timeout=60)["status"] == "Succeeded"


def test_the_reject_button_rejects_with_the_summary_typed_in(lab):
    execution_id = runs.start(lab)
    panel = widgets.ApprovalPanel(lab, stage="Approve", action="Review")
    _wait_until_waiting(panel)
    panel.summary.value = "The page is not ready"
    panel.reject_button.click()
    assert panel.state.status == "Failed" and panel.state.summary == "The page is not ready"
    assert "Rejected" in panel.message.value
    execution = runs.wait(lab, execution_id, timeout=60)
    assert execution["status"] == "Failed"


def test_after_a_click_on_approve_the_notebooks_own_answer_returns_at_once(lab, capsys):
    execution_id = runs.start(lab)
    panel = widgets.ApprovalPanel(lab, stage="Approve")
    _wait_until_waiting(panel)
    panel.summary.value = "Clicked by the learner"
    panel.approve_button.click()
    started = time.monotonic()
    answered = panel.approve("the notebook's summary")  # the next cell, run after the click
    assert time.monotonic() - started < 5
    assert answered.status == "Succeeded" and answered.summary == "Clicked by the learner"
    assert f"run {execution_id} was already answered in the panel" in capsys.readouterr().out
    assert runs.wait(lab, execution_id, timeout=60)["status"] == "Succeeded"


def test_a_click_with_nothing_waiting_explains_instead_of_raising(lab):
    panel = widgets.ApprovalPanel(lab, stage="Approve")
    assert not panel.state.waiting
    panel.approve_button.click()
    assert "no approval waits in Approve/Review" in panel.message.value
    with pytest.raises(lh.LabError, match=r"runs\.start\(lab\)"):
        panel.approve(timeout=0.2)


def test_a_stage_without_an_approval_action_is_a_lab_error(lab):
    with pytest.raises(lh.LabError, match="no manual approval action"):
        widgets.ApprovalPanel(lab, stage="Build")
    with pytest.raises(lh.LabError, match="no stage 'Nope'"):
        widgets.ApprovalPanel(lab, stage="Nope")


def _wait_until_waiting(panel, timeout: float = 60) -> runs.Approval:
    """Refresh the panel until its approval waits for an answer (clients poll)."""
    deadline = time.monotonic() + timeout
    while not panel.refresh().waiting:
        assert time.monotonic() < deadline, f"no approval waited within {timeout} s"
        time.sleep(0.1)
    return panel.state


SLOW_BUILDSPEC = """version: 0.2
phases:
  install:
    commands:
      - echo "first line of the build"
      - echo "second line of the build"
  build:
    commands:
      - sleep 3
      - echo "last line of the build"
"""


class Recorder:
    """A view that keeps what each update showed."""

    def __init__(self):
        self.shown = []

    def update(self, snapshot):
        self.shown.append(
            (snapshot, pipeline_view.render_text(snapshot), pipeline_view.render_html(snapshot))
        )


def test_the_live_view_shows_the_newest_lines_of_the_running_builds_log(endpoint, lab, unique):
    kit = Kit(endpoint, unique)
    kit.setup()
    kit.create_build_role()
    build_stage = {"name": "Build", "actions": [build_action("Build", project(kit, "slow", SLOW_BUILDSPEC))]}
    execution_id = kit.create(build_stage)
    view = Recorder()
    with history.CallCounter(lab, ("codebuild", "logs")) as counter:
        final = runs.watch(lab, kit.pipeline, execution_id, view=view, timeout=60)
    assert final.status == "Succeeded"
    building = [
        (snap, text, page) for snap, text, page in view.shown if snap.stages[1].status == "InProgress"
    ]
    shown = [(snap, text, page) for snap, text, page in building if snap.actions[1].log_lines]
    assert shown, "no update showed the running build's log"
    snap, text, page = shown[-1]
    assert "first line of the build" in snap.actions[1].log_lines
    assert "    | second line of the build" in text.splitlines()
    assert "<pre" in page and "second line of the build" in page
    assert all(not snap.actions[1].log_lines for snap, _, _ in view.shown if snap.finished)
    # One BatchGetBuilds for the build; GetLogEvents once an update, and only while it builds.
    assert counter.by_operation["BatchGetBuilds"] == 1
    assert 1 <= counter.by_operation["GetLogEvents"] <= len(building)
    with history.CallCounter(lab, ("codebuild", "logs")) as after:
        runs.snapshot(lab, kit.pipeline, execution_id)
    assert after.calls == 0
