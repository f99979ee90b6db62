"""labhelpers.pipelines: the article's declaration, JSON files, and check() with readable problems."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from labhelpers import validator
from labhelpers import wiring as wiring_module
from labhelpers.errors import DeclarationError, LabError
from labhelpers.pipelines import article_pipeline, check, describe, load, save, validate, wiring

# The article's JSON, copied verbatim from article.md ("Pipeline definition").
ARTICLE = Path(__file__).parent / "declarations" / "good" / "article-awscicd-pipeline.json"


def lab(account="111122223333", region="ap-southeast-1", **extra):
    return SimpleNamespace(account=account, region=region, **extra)


def test_the_article_pipeline_is_the_articles_json_exactly():
    expected = json.loads(ARTICLE.read_text())
    built = article_pipeline(lab(prefix="awscicd"))
    assert built == expected
    assert json.dumps(built) == json.dumps(expected)  # same key order too


def test_the_default_prefix_is_the_articles():
    expected = json.loads(ARTICLE.read_text())
    assert article_pipeline(lab()) == expected
    assert article_pipeline(lab(prefix=None)) == expected


def test_every_name_derives_from_the_prefix_account_and_region():
    pipeline = article_pipeline(lab("444455556666", "eu-west-1", prefix="team7"))["pipeline"]
    source, build, deploy = (stage["actions"][0] for stage in pipeline["stages"])
    assert pipeline["name"] == "team7-pipeline"
    assert pipeline["roleArn"] == "arn:aws:iam::444455556666:role/team7-codepipeline-role"
    assert pipeline["artifactStore"] == {"type": "S3", "location": "team7-artifacts-444455556666-eu-west-1"}
    assert source["configuration"] == {"RepositoryName": "team7-demo-app", "BranchName": "main"}
    assert build["configuration"] == {"ProjectName": "team7-demo-build"}
    assert deploy["configuration"] == {
        "ApplicationName": "team7-demo",
        "DeploymentGroupName": "team7-demo-dg",
    }
    assert "awscicd" not in json.dumps(pipeline)


def test_the_article_pipeline_is_valid_and_wired_as_the_article_says():
    declaration = article_pipeline(lab(prefix="awscicd"))
    assert check(declaration) is declaration
    assert str(wiring(declaration)) == (
        "SourceOutput: Source/Source → Build/Build\nBuildOutput: Build/Build → Deploy/Deploy"
    )


def test_save_writes_indented_json_with_a_trailing_newline_and_load_reads_it_back(tmp_path):
    declaration = article_pipeline(lab())
    path = save(declaration, tmp_path / "pipeline.json")
    text = path.read_text()
    assert text.startswith('{\n  "pipeline": {\n    "name": "awscicd-pipeline",')
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert load(path) == declaration
    assert load(str(path)) == declaration


def test_load_names_the_file_line_and_column_of_invalid_json(tmp_path):
    path = tmp_path / "pipeline.json"
    path.write_text('{\n  "pipeline": {\n    "name": "p",\n  }\n}\n')
    with pytest.raises(DeclarationError) as caught:
        load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: line 4, column 3: Expecting property name enclosed in double quotes")
    assert "\n      }\n      ^\n" in message
    assert "trailing commas" in message
    assert caught.value.problems == []


def test_load_of_an_empty_file_is_a_declaration_error(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("")
    with pytest.raises(DeclarationError, match=r"empty\.json: line 1, column 1: Expecting value"):
        load(path)


def test_check_lists_every_problem_with_path_message_and_hint():
    declaration = article_pipeline(lab())
    pipeline = declaration["pipeline"]
    pipeline["stages"][1]["actions"][0]["inputArtifacts"] = [{"name": "SourceOutpt"}]
    pipeline["stages"][2]["actions"][0]["configuration"].pop("DeploymentGroupName")
    with pytest.raises(DeclarationError) as caught:
        check(declaration)
    error = caught.value
    assert isinstance(error, LabError)
    assert error.problems == validate(declaration)
    assert str(error) == (
        "The pipeline declaration has 2 problems:\n"
        "1. pipeline.stages[2].actions[0].configuration.DeploymentGroupName\n"
        "   Action 'Deploy' is missing required configuration key: DeploymentGroupName "
        "(InvalidActionDeclarationException)\n"
        '   hint: add "DeploymentGroupName": "..." to configuration\n'
        "2. pipeline.stages[1].actions[0].inputArtifacts[0].name\n"
        "   Input Artifact Bundle SourceOutpt in action 'Build' is not declared as an output artifact in any "
        "of the preceding actions (InvalidStructureException)\n"
        "   hint: did you mean 'SourceOutput'?"
    )


def test_describe_counts_one_problem_in_the_singular():
    assert describe(validate([])).startswith("The pipeline declaration has 1 problem:\n1. (top level)")


def test_check_rejects_what_is_not_a_declaration():
    with pytest.raises(DeclarationError, match="SerializationException"):
        check("pipeline.json")


def test_validate_and_wiring_are_the_shared_ones():
    assert validate is validator.validate
    assert wiring is wiring_module.wiring


def test_on_aws_the_source_does_not_poll_the_rule_starts_the_pipeline_locally_it_polls():
    local, aws = (article_pipeline(lab(backend=backend))["pipeline"] for backend in ("local", "aws"))
    assert "PollForSourceChanges" not in local["stages"][0]["actions"][0]["configuration"]
    assert aws["stages"][0]["actions"][0]["configuration"] == {
        "RepositoryName": "awscicd-demo-app",
        "BranchName": "main",
        "PollForSourceChanges": "false",
    }
    assert validate({"pipeline": aws}) == []
