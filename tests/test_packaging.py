"""The project's own files describe one environment: pyproject.toml holds the ranges, requirements/ the lock
(`make lock`) that `make lab`, `make test`, .ci/run and environment.yml install from, and what is installed
is exactly what the lock says."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from lock_kit import LATEST, LOCKS, ROOT, installed, pins
from notebook_kit import lab_bin
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LAB, TEST, CLASSROOM = LOCKS / "lab.txt", LOCKS / "test.txt", LOCKS / "classroom.txt"
NOT_LOCKED = "make test-latest installs the newest releases the ranges allow, not the lock"


def test_the_lock_pins_what_pyproject_asks_for_within_its_ranges():
    for lock, wanted in (
        (LAB, PROJECT["dependencies"]),
        (TEST, PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
        (CLASSROOM, PROJECT["dependencies"] + PROJECT["optional-dependencies"]["classroom"]),
    ):
        pinned = pins(lock)
        for line in wanted:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in pinned, f"{lock.name} does not pin {name}: run make lock"
            assert requirement.specifier.contains(pinned[name]), (
                f"{lock.name} pins {name}=={pinned[name]}, outside {requirement}: run make lock"
            )


def test_the_lab_lock_takes_the_versions_the_suite_runs():
    lab, test = pins(LAB), pins(TEST)
    assert {name: test.get(name) for name in lab} == lab
    assert "awscli" in lab, "the notebooks call aws: the lab install needs the CLI"


def test_the_hub_lock_takes_the_lab_versions():
    lab, classroom = pins(LAB), pins(CLASSROOM)
    assert {name: classroom.get(name) for name in lab} == lab, "a class's learners run the lab's versions"


@pytest.mark.skipif(LATEST, reason=NOT_LOCKED)
def test_the_suite_runs_exactly_the_locked_versions():
    assert not _differences(installed(Path(sys.executable)), pins(TEST))


@pytest.mark.skipif(LATEST, reason=NOT_LOCKED)
def test_the_lab_install_holds_exactly_the_locked_versions_and_no_test_tools():
    found = installed(lab_bin() / "python")
    assert not _differences(found, pins(LAB))
    assert not {"pytest", "playwright", "hypothesis"} & found.keys(), "make lab installed test extras"


def _differences(found: dict, locked: dict) -> dict:
    return {name: (pinned, found.get(name)) for name, pinned in locked.items() if found.get(name) != pinned}


def test_environment_yml_installs_from_the_lock():
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_lists == [["-r requirements/lab.txt"]]
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.removeprefix("python") == PROJECT["requires-python"]


def test_readme_opens_with_the_two_commands():
    commands = [
        line.strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("make ")
    ]
    assert commands[:2] == ["make lab", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_make_lab_opens_student_copies_and_keeps_the_learners_edits(tmp_path):
    work, student = tmp_path / "lab-work", tmp_path / "student"
    make = ["make", "--no-print-directory", "-C", str(ROOT), "lab-notebooks", f"LAB_WORK={work}"]
    make.append(f"STUDENT={student}")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    subprocess.run(make, check=True, env=env, capture_output=True)
    tracked = sorted(path.name for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(path.name for path in work.glob("*.ipynb")) == tracked
    assert all("BEGIN SOLUTION" not in (work / name).read_text() for name in tracked)
    assert "BEGIN SOLUTION" in (ROOT / "notebooks" / tracked[0]).read_text()
    (work / tracked[0]).write_text("a learner's own work")
    (work / tracked[1]).unlink()
    subprocess.run(make, check=True, env=env, capture_output=True)
    assert (work / tracked[0]).read_text() == "a learner's own work"
    assert (work / tracked[1]).read_text() == (student / tracked[1]).read_text()
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "lab-work/x.ipynb"], capture_output=True
    )
    assert ignored.returncode == 0, "the working copy must be ignored by git"
