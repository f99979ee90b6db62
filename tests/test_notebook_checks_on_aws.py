"""The AWS branches of notebook checks, which the notebook runs (local only) never take: each check cell is
run on its own with LAB_BACKEND=aws under moto in-process, the AWS answer it checks given by Stubber. On AWS a
check asserts only what AWS documents."""

import copy
import dataclasses
import json

import nbformat
import pandas as pd
import pytest
import test_aws_mode
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from notebook_kit import NOTEBOOKS

from labhelpers import change_detection, pipelines, roles, source


@pytest.fixture
def lab(monkeypatch, tmp_path):
    """test_aws_mode's: connect("aws") inside mock_aws, with every route to AWS or a local endpoint closed."""
    yield from test_aws_mode.lab.__wrapped__(monkeypatch, tmp_path)


def cell_source(notebook: str, cell_id: str) -> str:
    cells = nbformat.read(NOTEBOOKS / notebook, as_version=4).cells
    return next(cell.source for cell in cells if cell.get("id") == cell_id)


def misspelt(lab) -> dict:
    """02's broken declaration: Build's input misspelt as SourceOutpt."""
    broken = pipelines.article_pipeline(lab)
    broken["pipeline"]["stages"][1]["actions"][0]["inputArtifacts"][0]["name"] = "SourceOutpt"
    return broken


def run_refusal_check(lab, code: str, message: str) -> None:
    """02's check of CodePipeline's refusal of the misspelt input, with AWS answering `code` and `message`."""
    broken = misspelt(lab)
    codepipeline = lab.client("codepipeline")
    namespace = {
        "lab": lab,
        "codepipeline": codepipeline,
        "broken": broken,
        "problems": pipelines.validate(broken),
        "pipelines": pipelines,
        "ClientError": ClientError,
    }
    with Stubber(codepipeline) as stubber:
        stubber.add_client_error("create_pipeline", code, message)
        exec(cell_source("02_pipeline_json.ipynb", "02-35"), namespace)  # noqa: S102  (the notebook's cell)
        stubber.assert_no_pending_responses()


def test_on_aws_02_checks_that_the_refusal_names_the_artifact_whatever_its_code(lab):
    predicted, _ = pipelines.service_error(pipelines.validate(misspelt(lab)))
    assert predicted != "ValidationException"
    run_refusal_check(lab, "ValidationException", "Input artifact SourceOutpt is not an output of any action")
    with pytest.raises(AssertionError, match="structure is not valid"):  # it shows the answer it got
        run_refusal_check(lab, predicted, "The pipeline structure is not valid")


def run_cell(notebook: str, cell_id: str, namespace: dict) -> dict:
    exec(cell_source(notebook, cell_id), namespace)  # noqa: S102  (the notebook's cell)
    return namespace


def created_pipeline(lab) -> dict:
    """What 02 has made on AWS by the time it looks at change detection: the repository and the pipeline."""
    lab.client("codecommit").create_repository(repositoryName=lab.names.repository)
    test_aws_mode.create_article_pipeline(lab)
    return lab.client("codepipeline").get_pipeline(name=lab.names.pipeline)["pipeline"]


def test_on_aws_02_puts_the_consoles_rule_for_the_pipeline_it_created(lab, capsys):
    namespace = {"lab": lab, "names": lab.names, "change_detection": change_detection}
    run_cell("02_pipeline_json.ipynb", "9c3d51b6", {**namespace, "created": created_pipeline(lab)})
    rule_arn = lab.client("events").describe_rule(Name=lab.names.branch_rule)["Arn"]
    assert f"through the EventBridge rule {rule_arn}" in capsys.readouterr().out
    assert len(lab.client("events").list_targets_by_rule(Rule=lab.names.branch_rule)["Targets"]) == 1


def pushed_by(trigger_type: str, trigger_detail: str) -> pd.DataFrame:
    return pd.DataFrame({"trigger_type": [trigger_type], "trigger_detail": [trigger_detail]}, dtype="string")


def test_on_aws_05_takes_a_push_run_from_the_rule_whatever_its_detail(lab):
    """AWS documents the trigger type of a rule's run (CloudWatchEvent), not what its detail says."""
    created_pipeline(lab)
    change_detection.ensure_rule(lab)
    namespace = {"lab": lab, "names": lab.names, "change_detection": change_detection}
    for detail in ("arn:aws:events:ap-southeast-1:111122223333:rule/awscicd-main-branch-push", ""):
        run_cell(
            "05_trigger_on_push.ipynb", "c029", {**namespace, "pushed": pushed_by("CloudWatchEvent", detail)}
        )
    for trigger in (("PollForSourceChanges", "Source"), ("StartPipelineExecution", "arn:aws:iam::1:user/x")):
        with pytest.raises(AssertionError, match=trigger[0]):  # it shows the trigger it got
            run_cell("05_trigger_on_push.ipynb", "c029", {**namespace, "pushed": pushed_by(*trigger)})


def run_07s_branch_filter(lab, created: dict) -> dict:
    """07's section 3 on the pipeline `created` (cells c042, c044, c048); the notebook's names after it."""
    namespace = {
        "lab": lab,
        "names": lab.names,
        "json": json,
        "copy": copy,
        "roles": roles,
        "iam": lab.client("iam"),
        "codepipeline": lab.client("codepipeline"),
        "extra": {"EventBridge rule": lab.names.branch_rule, "EventBridge role": lab.names.events_role},
        "tested": {"pipeline": created},
        "by_connection": lab.source == "connection",  # 07's flag (its cell c008)
    }
    for cell_id in ("c042", "c044", "c048"):
        run_cell("07_production_ready.ipynb", cell_id, namespace)
    return namespace


def test_on_aws_07s_branch_rule_is_the_one_02_put_so_a_push_to_main_still_starts_one_run(lab):
    created = created_pipeline(lab)
    rule_arn = change_detection.ensure_rule(lab)
    namespace = run_07s_branch_filter(lab, created)  # 07's role, rule and target, then polling off
    events, iam = lab.client("events"), lab.client("iam")
    assert namespace["rule_arn"] == rule_arn
    assert [rule["Name"] for rule in events.list_rules()["Rules"]] == [lab.names.branch_rule]
    targets = events.list_targets_by_rule(Rule=lab.names.branch_rule)["Targets"]
    assert [(target["Id"], target["RoleArn"]) for target in targets] == [
        ("codepipeline", namespace["events_role_arn"])
    ]
    assert iam.list_role_policies(RoleName=lab.names.events_role)["PolicyNames"] == [
        change_detection.POLICY_NAME
    ]
    assert (
        json.loads(events.describe_rule(Name=lab.names.branch_rule)["EventPattern"]) == namespace["main_only"]
    )
    source = lab.client("codepipeline").get_pipeline(name=lab.names.pipeline)["pipeline"]["stages"][0]
    assert source["actions"][0]["configuration"]["PollForSourceChanges"] == "false"


def test_on_aws_with_a_connection_source_07s_branch_filter_is_a_v2_trigger_and_no_rule(lab):
    """No CodeCommit repository, no CodeCommit event: 07 makes no role and no rule, and puts a `triggers`
    entry (push, branches main) on the pipeline; main_only is still the exercise's data."""
    github = dataclasses.replace(lab, source="connection", repository_id="octo/awscicd-app")
    declaration = pipelines.article_pipeline(lab)
    source_action = declaration["pipeline"]["stages"][0]["actions"][0]  # made a connection's below
    source_action["actionTypeId"]["provider"] = "CodeStarSourceConnection"
    source_action["configuration"] = {
        "ConnectionArn": f"arn:aws:codeconnections:{lab.region}:{lab.account}:connection/0000-github",
        "FullRepositoryId": github.repository_id,
        "BranchName": "main",
        "OutputArtifactFormat": "CODE_ZIP",
    }
    roles.ensure_pipeline_role(github, declaration)
    created = lab.client("codepipeline").create_pipeline(**declaration)["pipeline"]
    namespace = run_07s_branch_filter(github, created)
    assert lab.client("events").list_rules()["Rules"] == []
    roles_left = [role["RoleName"] for role in lab.client("iam").list_roles()["Roles"]]
    assert lab.names.events_role not in roles_left
    assert namespace["main_only"]["resources"] == [
        f"arn:aws:codecommit:{lab.region}:{lab.account}:{lab.names.repository}"
    ]
    pipeline = lab.client("codepipeline").get_pipeline(name=lab.names.pipeline)["pipeline"]
    assert "PollForSourceChanges" not in pipeline["stages"][0]["actions"][0]["configuration"]
    assert pipeline["triggers"] == [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [{"branches": {"includes": ["main"]}}],
            },
        }
    ]


def test_on_aws_07_prints_the_consoles_steps_for_the_connection_it_cannot_demonstrate(lab, capsys):
    """A CodeCommit lab on AWS: 07's connection is the learner's to hand-shake and point at a repository."""
    connection = {"ConnectionName": lab.names.connection, "ConnectionStatus": "PENDING"}
    namespace = {"lab": lab, "by_connection": False, "connection": connection, "source": source}
    run_cell("07_production_ready.ipynb", "c061", namespace)
    printed = capsys.readouterr().out
    assert namespace["connection_demo"] is False
    assert f"choose {lab.names.connection}, then 'Update pending connection'" in printed
    assert "sign in to GitHub, install the 'AWS Connector for GitHub' app with access to your repo" in printed
    assert printed.rstrip().endswith("push to it: to main, and to feature/x.")
