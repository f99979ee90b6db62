"""The project's own files describe one environment: pyproject.toml and environment.yml agree."""

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_normalise(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in conda["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml needs exactly one pip: section"
    mirrored = {_normalise(r) for r in pip_lists[0]}
    assert mirrored == wanted, (
        f"only in pyproject.toml: {sorted(wanted - mirrored)}; "
        f"only in environment.yml: {sorted(mirrored - wanted)}"
    )
    python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.removeprefix("python") == project["requires-python"]


def test_readme_opens_with_the_two_commands():
    commands = [
        line.strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("make ")
    ]
    assert commands[:2] == ["make lab", "make test"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
