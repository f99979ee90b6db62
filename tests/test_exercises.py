"""The exercises: every one has a cell to fill (an nbgrader solution region) and a check; `make student`
releases copies without the solutions; in those copies, run in order on a fresh endpoint, every check stops
with a hint (no traceback) and nothing else fails. The checks' hints on wrong answers are tested below."""

import copy
import os
import re
import subprocess

import nbformat
import pandas as pd
import pytest
from lock_kit import lab_venv
from notebook_kit import ROOT, execute, notebook_paths

from labhelpers import exercises, pipelines
from labhelpers.exercises import Hint
from labhelpers.local import config, process

REGION = re.compile(r"^\s*### BEGIN SOLUTION\n(.*?)^\s*### END SOLUTION", re.S | re.M)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """The student copies, as `make student` releases them with the lab's own nbgrader."""
    folder = tmp_path_factory.mktemp("release") / "student"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    made = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "student",
            f"VENV={lab_venv()}",
            f"STUDENT={folder}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    return folder


def test_every_exercise_has_a_cell_to_fill_and_a_check():
    for path in notebook_paths():
        notebook = nbformat.read(path, as_version=4)
        headings = [c for c in notebook.cells if c.cell_type == "markdown" and "## Exercise" in c.source]
        answers = [c for c in notebook.cells if _nbgrader(c).get("solution")]
        checks = [c for c in notebook.cells if _nbgrader(c).get("grade")]
        assert headings, f"{path.name} has no exercise"
        assert len(answers) == len(checks) == len(headings), path.name
        for answer in answers:
            assert REGION.search(answer.source), f"{path.name}: an answer cell without a solution region"
            assert "= ..." in answer.source, (
                f"{path.name}: the answer cell must show the learner what to fill"
            )
        for check in checks:
            assert "exercises." in check.source, f"{path.name}: a check that gives no hint: {check.source}"
        assert "<summary>Solution" not in "".join(c.source for c in notebook.cells), path.name


def test_student_copies_hold_no_solution(student):
    for path in notebook_paths():
        copied = nbformat.read(student / path.name, as_version=4)
        assert "SOLUTION" not in "\n".join(c.source for c in copied.cells), path.name
        answers = {_nbgrader(c)["grade_id"]: c.source for c in copied.cells if _nbgrader(c).get("solution")}
        for cell in nbformat.read(path, as_version=4).cells:
            if not _nbgrader(cell).get("solution"):
                continue
            given = answers[_nbgrader(cell)["grade_id"]]
            assert "= ..." in given, given
            solution = {line.strip() for line in REGION.search(cell.source).group(1).splitlines()}
            kept = solution & {line.strip() for line in given.splitlines()}
            assert kept <= {"", ")"}, f"{path.name} gives away {kept}"


def test_student_copies_run_and_each_check_answers_with_a_hint(student, tmp_path):
    home = tmp_path / "student-lab"
    try:
        for path in sorted(student.glob("*.ipynb")):
            executed = execute(path, home, allow_errors=True)
            for cell in executed.cells:
                if cell.cell_type != "code":
                    continue
                errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
                if _nbgrader(cell).get("grade"):
                    assert len(errors) == 1, (
                        f"{path.name}: the check passed on an empty answer: {cell.source}"
                    )
                    shown = ANSI.sub("", "\n".join(errors[0].traceback))
                    assert errors[0].ename == "Hint", shown
                    assert shown.startswith("Not yet. Fill in `"), shown
                    assert "Traceback" not in shown and 'File "' not in shown, shown
                elif "raises-exception" not in cell.metadata.get("tags", []):
                    assert not errors, f"{path.name}: {cell.source}\n{errors}"
    finally:
        process.stop(config.Layout(home))


# -- the hints on wrong answers ----------------------------------------------------------------------------


@pytest.fixture
def lab():
    from labhelpers.lab import Lab

    return Lab("local", config.ACCOUNT, config.REGION, session=None, prefix="awscicd")


def _hint(call, *args) -> str:
    with pytest.raises(Hint) as raised:
        call(*args)
    return str(raised.value)


def test_the_names_check_points_at_what_is_wrong(lab, capsys):
    bucket = f"kd-artifacts-{lab.account}-{lab.region}"
    assert "Fill in `classmate_prefix`" in _hint(exercises.names_for_classmate, lab, ..., "x", "y")
    assert "lowercase letters" in _hint(exercises.names_for_classmate, lab, "Team_7", "x", bucket)
    assert "is your own" in _hint(exercises.names_for_classmate, lab, "awscicd", "awscicd-pipeline", bucket)
    assert "`predicted_pipeline`" in _hint(exercises.names_for_classmate, lab, "kd", "kd", bucket)
    assert "`lab.account`" in _hint(exercises.names_for_classmate, lab, "kd", "kd-pipeline", "kd-artifacts")
    assert exercises.names_for_classmate(lab, "kd", "kd-pipeline", bucket).bucket == bucket
    assert "✓ Both names match" in capsys.readouterr().out


def test_the_permission_check_names_the_failing_stages():
    explained = pd.DataFrame(
        {
            "stage": ["Source", "Build", "Deploy"],
            "action": ["Source", "Build", "Deploy"],
            "call": ["s3:PutObject", "s3:PutObject", "s3:GetObject"],
            "resource": ["b/*"] * 3,
            "decision": ["implicitly denied", "implicitly denied", "allowed"],
            "fix": ["add s3:PutObject"] * 3,
        }
    )
    hint = _hint(exercises.failing_stages, explained, "s3:PutObject", {"Build"})
    assert "['Build', 'Source']" in hint and "You predicted ['Build']" in hint
    allowed = explained.assign(decision="allowed")
    assert "not a call the pipeline makes" in _hint(exercises.failing_stages, allowed, "s3:Nope", {"Build"})
    assert exercises.failing_stages(explained, "s3:PutObject", {"Source", "Build"}) == {"Source", "Build"}


def test_the_wiring_checks_explain_the_readers_side():
    missing = [{"consumer_stage": "Deploy"}]
    assert "reader's side" in _hint(exercises.blamed_stage, missing, "Build")
    assert exercises.blamed_stage(missing, "Deploy") == "Deploy"
    key = "awscicd-pipeline/BuildOutpu/abc"
    assert "inputArtifacts" in _hint(exercises.deployed_artifact, key, "awscicd-pipeline", "SourceOutput")
    assert exercises.deployed_artifact(key, "awscicd-pipeline", "BuildOutput") == key


def test_the_left_out_check_counts_what_was_missed():
    class Change:
        frame = pd.DataFrame({"path": ["buildspec.yml", "index.html"], "change": ["removed", "same"]})

    assert "['index.html'] did reach BuildOutput" in _hint(exercises.left_out, Change, {"index.html"})
    assert "you missed 1 file(s)" in _hint(exercises.left_out, Change, set())
    assert exercises.left_out(Change, "buildspec.yml") == {"buildspec.yml"}


def test_the_slowest_stage_check_wants_succeeded_runs_only():
    stages = pd.DataFrame(
        {
            "stage": ["Build", "Build", "Deploy"],
            "status": ["Succeeded", "Failed", "Succeeded"],
            "duration": pd.to_timedelta([4, 100, 2], unit="s"),
        }
    )
    every_run = stages.groupby("stage")["duration"].median()
    assert "'Succeeded'" in _hint(exercises.slowest_stage, stages, every_run)
    assert "should be a Series" in _hint(exercises.slowest_stage, stages, 4)
    ok = stages[stages["status"] == "Succeeded"].groupby("stage")["duration"].median()
    assert exercises.slowest_stage(stages, ok) == "Build"


def test_the_production_checks_want_the_gate_before_deploy_and_a_prefix_filter(lab):
    production = pipelines.article_pipeline(lab)
    manual = {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"}
    gate = {"name": "Approve", "actions": [{"name": "Approve", "actionTypeId": manual}]}
    late = copy.deepcopy(production)
    late["pipeline"]["stages"].append(gate)
    assert "right before Deploy" in _hint(exercises.gate_back, late, production)
    assert "like `production`" in _hint(exercises.gate_back, ["Approve"], production)
    full = copy.deepcopy(production)
    full["pipeline"]["stages"].insert(2, gate)
    assert exercises.gate_back(full, production) == ["Source", "Build", "Approve", "Deploy"]

    main_only = {
        "source": ["aws.codecommit"],
        "detail": {"referenceType": ["branch"], "referenceName": ["main"]},
    }
    star = copy.deepcopy(main_only)
    star["detail"]["referenceName"] = ["feature/*"]
    assert "`prefix` filter" in _hint(exercises.feature_branches, star, main_only)
    star["detail"]["referenceName"] = [{"prefix": "feature/"}]
    assert exercises.feature_branches(star, main_only) == star


def test_the_cli_check_reads_json_and_refuses_leftovers(lab):
    assert "--output json" in _hint(exercises.nothing_left, lab, ["ROLE1\tROLE2"], ["[]"])
    assert "starts_with" in _hint(exercises.nothing_left, lab, ['["someone-else-role"]'], ["[]"])
    assert "still there" in _hint(exercises.nothing_left, lab, ['["awscicd-role"]'], ["[]"])
    exercises.nothing_left(lab, ["[]"], ["[", "]"])
