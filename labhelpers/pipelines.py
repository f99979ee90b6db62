"""The pipeline declaration: the article's pipeline, JSON files, and checks with paths and hints.

decl = lh.pipelines.article_pipeline(lab)      # {"pipeline": {...}} as create-pipeline takes it
lh.pipelines.check(decl)                        # raises DeclarationError listing every problem
print(lh.pipelines.wiring(decl))                # SourceOutput: Source/Source → Build/Build ...
"""

import json
from pathlib import Path

from labhelpers import source
from labhelpers.change_detection import by_rule
from labhelpers.errors import DeclarationError
from labhelpers.lab import Names
from labhelpers.validator import Problem, service_error, validate
from labhelpers.wiring import Wiring, wiring

__all__ = [
    "DEFAULT_PREFIX",
    "Problem",
    "Wiring",
    "article_pipeline",
    "check",
    "describe",
    "load",
    "save",
    "service_error",
    "validate",
    "wiring",
]

DEFAULT_PREFIX = "awscicd"


def article_pipeline(lab) -> dict:
    """The article's three-stage V2 pipeline for `lab` (any object with account, region and prefix).

    Where the pipeline starts through the EventBridge rule (`change_detection.by_rule`: CodeCommit on AWS),
    its source action says `PollForSourceChanges: "false"`, as the console's pipelines do; else it polls.
    With `lab.source == "connection"` the source is the lab's GitHub connection (`source.configuration`;
    the connection is made first if missing).
    """
    names = Names(getattr(lab, "prefix", None) or DEFAULT_PREFIX, str(lab.account), lab.region)
    provider, configuration = (
        ("CodeStarSourceConnection", source.configuration(lab))
        if getattr(lab, "source", "codecommit") == "connection"
        else ("CodeCommit", {"RepositoryName": names.repository, "BranchName": "main"})
    )
    if by_rule(lab):
        configuration["PollForSourceChanges"] = "false"
    return {
        "pipeline": {
            "name": names.pipeline,
            "roleArn": f"arn:aws:iam::{names.account}:role/{names.pipeline_role}",
            "artifactStore": {"type": "S3", "location": names.bucket},
            "pipelineType": "V2",
            "stages": [
                _stage(
                    "Source",
                    _action(
                        "Source",
                        ("Source", provider),
                        configuration,
                        outputs=["SourceOutput"],
                    ),
                ),
                _stage(
                    "Build",
                    _action(
                        "Build",
                        ("Build", "CodeBuild"),
                        {"ProjectName": names.build_project},
                        inputs=["SourceOutput"],
                        outputs=["BuildOutput"],
                    ),
                ),
                _stage(
                    "Deploy",
                    _action(
                        "Deploy",
                        ("Deploy", "CodeDeploy"),
                        {"ApplicationName": names.application, "DeploymentGroupName": names.deployment_group},
                        inputs=["BuildOutput"],
                    ),
                ),
            ],
        }
    }


def _stage(name: str, *actions: dict) -> dict:
    return {"name": name, "actions": list(actions)}


def _action(name: str, kind: tuple[str, str], configuration: dict, inputs=(), outputs=()) -> dict:
    """An AWS-owned version-1 action, keys in the article's order."""
    category, provider = kind
    action = {
        "name": name,
        "actionTypeId": {"category": category, "owner": "AWS", "provider": provider, "version": "1"},
        "configuration": configuration,
    }
    if inputs:
        action["inputArtifacts"] = [{"name": artifact} for artifact in inputs]
    if outputs:
        action["outputArtifacts"] = [{"name": artifact} for artifact in outputs]
    return action


def load(path) -> dict:
    """Read a declaration from a JSON file; invalid JSON raises DeclarationError naming line and column."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DeclarationError(_json_error_message(path, text, error)) from None


def _json_error_message(path: Path, text: str, error: json.JSONDecodeError) -> str:
    lines = text.splitlines() or [""]
    line = lines[min(error.lineno, len(lines)) - 1]
    pointer = " " * (error.colno - 1) + "^"
    return (
        f"{path}: line {error.lineno}, column {error.colno}: {error.msg}\n"
        f"    {line}\n    {pointer}\n"
        f"Hint: {_json_hint(error.msg)}"
    )


def _json_hint(reason: str) -> str:
    if reason.startswith("Expecting property name enclosed in double quotes"):
        return "JSON has no trailing commas and no single quotes: remove the comma before } or quote the key"
    if reason.startswith("Expecting ',' delimiter"):
        return "a comma is missing between two items, or a quote or bracket is not closed"
    if reason.startswith("Expecting value"):
        return "a value is missing (a trailing comma before ] or an empty file?)"
    return "fix the JSON syntax at that spot (an online JSON checker or `python -m json.tool` helps)"


def save(declaration: dict, path) -> Path:
    """Write a declaration as indented JSON with a trailing newline; returns the path."""
    path = Path(path)
    path.write_text(json.dumps(declaration, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def check(declaration) -> dict:
    """Return `declaration` unchanged if valid; else raise DeclarationError listing every problem."""
    problems = validate(declaration)
    if problems:
        raise DeclarationError(describe(problems), problems)
    return declaration


def describe(problems: list[Problem]) -> str:
    """A readable multi-line report: each problem's path, message, exception type and hint."""
    count = len(problems)
    lines = [f"The pipeline declaration has {count} problem{'s' if count != 1 else ''}:"]
    for number, problem in enumerate(problems, start=1):
        lines.append(f"{number}. {problem.path or '(top level)'}")
        lines.append(f"   {problem.message} ({problem.code})")
        if problem.hint:
            lines.append(f"   hint: {problem.hint}")
    return "\n".join(lines)
