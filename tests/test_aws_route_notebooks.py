"""The AWS route, first run, without AWS: 00_start_here (with its billable instance), 01_service_role,
02_pipeline_json and 99_cleanup run whole, in that order, with LAB_BACKEND=aws, each in a kernel of the lab's
own environment as a learner runs them, against one moto server on 127.0.0.1 that is the learner's account
for every kernel, every `!aws` line and this test. Nothing reaches AWS or the network.

Every create that names a fresh role first meets AWS's "not usable yet" answer (CodeBuild CreateProject and
EC2 RunInstances twice, CodeDeploy CreateDeploymentGroup once), and the notebooks' outputs must show the
lab's wait message exactly once for each, then the resource. What moto lacks is answered as AWS documents
it (tests/aws_dry_run_kit.py says which and why).

CodePipeline's refusal of a pipeline role it cannot assume yet is given to 02's `!aws codepipeline
create-pipeline` and to the lab's first retry after it: 02 shows AWS's answer, waits, and creates the
pipeline. A role that never becomes usable stops 00 with the lab's error naming it.

Not run here: 03-07, which need pipelines that really run (builds, deployments, pushes that start runs);
moto stores pipelines but runs nothing.
"""

import json
import re
import time
from collections import Counter
from pathlib import Path

import aws_dry_run_kit as kit
import boto3
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from notebook_kit import CELL_TIMEOUT, KERNEL, NOTEBOOKS, environ, lab_kernel_path

import labhelpers as lh

TESTS = Path(__file__).resolve().parent
ORDER = ["00_start_here", "01_service_role", "02_pipeline_json", "99_cleanup"]
# Refusals per notebook: every create in 00 that names a new role or instance profile.
REFUSE = {
    "00_start_here": {
        "codebuild.CreateProject": 2,
        "codedeploy.CreateDeploymentGroup": 1,
        "ec2.RunInstances": 2,
    },
}
PREFIX = "awscicd"
NAMES = lh.lab.Names(PREFIX, kit.ACCOUNT, kit.REGION)
WAITS = {  # what until_usable prints, per refused operation
    "codebuild.CreateProject": kit.WAITING.format(by="CodeBuild", role=NAMES.build_role),
    "codedeploy.CreateDeploymentGroup": kit.WAITING.format(by="CodeDeploy", role=NAMES.deploy_role),
    "ec2.RunInstances": kit.WAITING.format(by="EC2", role=NAMES.instance_role),
    "codepipeline.CreatePipeline": kit.WAITING.format(by="CodePipeline", role=NAMES.pipeline_role),
}


@pytest.fixture(scope="module")
def account(tmp_path_factory):
    """The moto server, and the environment kernels get: its URL for every service, no profile, the lab's
    kernel, a state folder of its own (no local endpoint is started)."""
    folder = tmp_path_factory.mktemp("aws-route")
    empty = folder / "empty-aws-config"
    empty.touch()
    with pytest.MonkeyPatch.context() as monkeypatch:
        server, url = kit.serve(monkeypatch)
        values = {
            **kit.environment(url, str(empty)),
            "LABHELPERS_HOME": str(folder / "labhome"),
            "JUPYTER_PATH": str(lab_kernel_path()),
        }
        try:
            yield url, values
        finally:
            server.stop()


def client(url: str, service: str):
    """The test's own look at the account, through the moto server."""
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=kit.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def prepared(name: str, refuse: dict[str, int] | None = None, prefix: str = PREFIX) -> nbformat.NotebookNode:
    """The notebook with the kit's cell first (the refusals to give: `refuse`, else REFUSE's), and the AWS
    backend and `prefix` set after its parameters cell."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    cells = notebook.cells
    at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    parameters = f'backend = "aws"\nprefix = {prefix!r}'
    cells.insert(at + 1, nbformat.v4.new_code_cell(parameters, metadata={"tags": ["injected-parameters"]}))
    refusals = REFUSE.get(name, {}) if refuse is None else refuse
    cells.insert(0, nbformat.v4.new_code_cell(kit.setup_source(str(TESTS), refusals, prefix)))
    cells.append(nbformat.v4.new_code_cell(kit.REFUSED_SOURCE, id=kit.REFUSED_CELL_ID))
    for index, cell in enumerate(cells):
        cell.setdefault("id", f"injected-{index}")
    return notebook


def run(name: str, values: dict[str, str], workdir: Path, **preparing) -> nbformat.NotebookNode:
    """Execute one prepared notebook in a fresh lab kernel; cells tagged raises-exception may fail. On a
    failure the CellExecutionError is raised with the notebook's outputs up to it in `.notebook`."""
    notebook = prepared(name, **preparing)
    with environ(values):
        try:
            NotebookClient(
                notebook,
                timeout=CELL_TIMEOUT,
                kernel_name=KERNEL,
                resources={"metadata": {"path": str(workdir)}},
            ).execute()
        except CellExecutionError as failed:
            failed.notebook = notebook
            raise
    return notebook


def printed(cell) -> str:
    """Everything a cell showed as text: its streams, results and errors."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def outputs(notebook) -> dict[str, str]:
    return {cell.get("id"): printed(cell) for cell in notebook.cells if cell.cell_type == "code"}


def errors(notebook) -> list[str]:
    return [
        f"{cell.get('id')}: {output.ename}: {output.evalue}"
        for cell in notebook.cells
        if cell.cell_type == "code" and "raises-exception" not in cell.metadata.get("tags", [])
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]


@pytest.fixture(scope="module")
def route(account, tmp_path_factory):
    """00, 01, 02 and 99 run in order on one account; what each printed, how long it took, and what the
    account held after each (read by the test through the moto server)."""
    url, values = account
    workdir = tmp_path_factory.mktemp("aws-route-work")
    ran, seconds, held = {}, {}, {}
    for name in ORDER:
        started = time.monotonic()
        ran[name] = run(name, values, workdir)
        seconds[name] = time.monotonic() - started
        held[name] = holdings(url)
    return ran, seconds, held


def holdings(url: str) -> dict:
    """What the account holds (roles, buckets and security groups: those of the prefix), as the test sees it
    through the moto server."""
    s3, iam, ec2, events = client(url, "s3"), client(url, "iam"), client(url, "ec2"), client(url, "events")
    codedeploy, codepipeline = client(url, "codedeploy"), client(url, "codepipeline")
    running = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )["Reservations"]
    roles = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)]
    pipelines = {}
    for listed in codepipeline.list_pipelines()["pipelines"]:
        found = codepipeline.get_pipeline(name=listed["name"])
        source = found["pipeline"]["stages"][0]["actions"][0]["configuration"]
        pipelines[listed["name"]] = {
            "arn": found["metadata"]["pipelineArn"],
            "PollForSourceChanges": source.get("PollForSourceChanges"),
        }
    return {
        "buckets": {
            b["Name"]: s3.get_bucket_versioning(Bucket=b["Name"]).get("Status")
            for b in s3.list_buckets()["Buckets"]
            if b["Name"].startswith(PREFIX)
        },
        "roles": {
            r["RoleName"]: r["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
            for r in roles
        },
        "policies": [
            name
            for r in roles
            if r["RoleName"] == NAMES.pipeline_role
            for name in iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
        ],
        "profiles": {
            p["InstanceProfileName"]: [r["RoleName"] for r in p["Roles"]]
            for p in iam.list_instance_profiles()["InstanceProfiles"]
        },
        "projects": client(url, "codebuild").list_projects()["projects"],
        "groups": {
            (app, group): codedeploy.get_deployment_group(applicationName=app, deploymentGroupName=group)[
                "deploymentGroupInfo"
            ]["ec2TagFilters"]
            for app in codedeploy.list_applications()["applications"]
            for group in codedeploy.list_deployment_groups(applicationName=app)["deploymentGroups"]
        },
        "applications": codedeploy.list_applications()["applications"],
        "instances": [i for r in running for i in r["Instances"]],
        "security groups": [
            g["GroupName"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"].startswith(PREFIX)
        ],
        "pipelines": pipelines,
        "rules": {
            r["Name"]: [
                (t["Id"], t["Arn"], t.get("RoleArn"))
                for t in events.list_targets_by_rule(Rule=r["Name"])["Targets"]
            ]
            for r in events.list_rules()["Rules"]
        },
        "repositories": [
            r["repositoryName"] for r in client(url, "codecommit").list_repositories()["repositories"]
        ],
    }


def test_the_notebooks_run_whole_on_the_aws_route(route):
    ran, seconds, _ = route
    for name in ORDER:
        assert not errors(ran[name]), (name, errors(ran[name]))
    assert sum(seconds.values()) < 240, seconds


def test_each_refused_create_waits_once_then_succeeds(route):
    ran, _, held = route
    everything = {name: "".join(outputs(ran[name]).values()) for name in ORDER}
    for operation, wait in WAITS.items():
        expected = 1 if operation in REFUSE["00_start_here"] else 0
        assert everything["00_start_here"].count(wait) == expected, (operation, everything["00_start_here"])
        for name in ORDER[1:]:
            assert wait not in everything[name], (name, operation)
    assert everything["00_start_here"].count("cannot use the new IAM role") == len(REFUSE["00_start_here"])
    for name in ORDER:  # every refusal asked for was given, and nothing else was refused
        given = json.loads(outputs(ran[name])[kit.REFUSED_CELL_ID])
        assert Counter(given) == Counter(REFUSE.get(name, {})), (name, given)
    made = outputs(ran["00_start_here"])["00-28"]
    assert made.startswith("COST NOTICE"), made
    (instance,) = held["00_start_here"]["instances"]
    # in the order ensure() makes them; each wait was followed by its resource, the instance last
    steps = [WAITS[op] for op in REFUSE["00_start_here"]] + [f"{instance['InstanceId']} is running; waiting"]
    assert [made.index(step) for step in steps] == sorted(made.index(step) for step in steps), made
    assert re.search(rf"{instance['InstanceId']}\s+created", made), made


def test_00_leaves_the_prerequisites_and_one_tagged_running_instance(route, account):
    ran, _, held = route
    url, _ = account
    after = held["00_start_here"]
    assert after["buckets"] == {NAMES.bucket: "Enabled"}
    assert after["roles"] == {
        NAMES.build_role: "codebuild.amazonaws.com",
        NAMES.deploy_role: "codedeploy.amazonaws.com",
        NAMES.instance_role: "ec2.amazonaws.com",
    }
    assert after["profiles"] == {NAMES.instance_profile: [NAMES.instance_role]}
    assert after["projects"] == [NAMES.build_project]
    assert after["groups"] == {
        (NAMES.application, NAMES.deployment_group): [
            {"Key": "Name", "Value": NAMES.deploy_target, "Type": "KEY_AND_VALUE"}
        ]
    }
    assert after["repositories"] == [NAMES.repository]
    (instance,) = after["instances"]
    assert instance["State"]["Name"] == "running" and instance["InstanceType"] == "t3.micro"
    assert {"Key": "Name", "Value": NAMES.deploy_target} in instance["Tags"]
    assert instance["IamInstanceProfile"]["Arn"].endswith(f"/{NAMES.instance_profile}")
    assert after["security groups"] == [NAMES.security_group]
    assert (after["pipelines"], after["rules"]) == ({}, {})
    printed_by = outputs(ran["00_start_here"])
    assert f"'AWS_ENDPOINT_URL': '{url}'" in printed_by["00-12"]  # connect("aws") kept the moto server
    assert printed_by["00-15"].startswith("stopped")  # and started no local endpoint
    assert printed_by["00-19"].strip() == kit.ACCOUNT  # the aws CLI sees the same account
    assert printed_by["00-33"].strip().endswith(f"/v1/repos/{NAMES.repository}")
    assert printed_by["00-35"].split() == ["Name", "KEY_AND_VALUE", NAMES.deploy_target]  # text: keys sorted
    assert instance["InstanceId"] in printed_by["00-36"]


def test_01_makes_the_complete_pipeline_role(route):
    ran, _, held = route
    after = held["01_service_role"]
    assert after["roles"][NAMES.pipeline_role] == "codepipeline.amazonaws.com"
    assert after["policies"] == [f"{NAMES.pipeline_role}-policy"]
    printed_by = outputs(ran["01_service_role"])
    assert printed_by["01-22"].strip() == "codepipeline.amazonaws.com"  # the aws CLI
    settled = f"waiting 10 s for the change to the IAM role {NAMES.pipeline_role} to reach CodePipeline"
    assert settled in printed_by["01-19"] and settled in printed_by["01-36"]  # made, then put back


def test_02_creates_the_pipeline_without_polling_and_its_eventbridge_rule(route):
    ran, _, held = route
    after = held["02_pipeline_json"]
    arn = f"arn:aws:codepipeline:{kit.REGION}:{kit.ACCOUNT}:{NAMES.pipeline}"
    assert after["pipelines"] == {NAMES.pipeline: {"arn": arn, "PollForSourceChanges": "false"}}
    assert after["rules"] == {
        NAMES.branch_rule: [("codepipeline", arn, f"arn:aws:iam::{kit.ACCOUNT}:role/{NAMES.events_role}")]
    }
    assert after["roles"][NAMES.events_role] == "events.amazonaws.com"
    printed_by = outputs(ran["02_pipeline_json"])
    refused = "InvalidStructureException: An error occurred (InvalidStructureException) when calling the "
    assert printed_by["02-31"].startswith(refused) and "SourceOutpt" in printed_by["02-31"]  # as it teaches
    assert "SourceOutpt" in printed_by["02-33"]  # the aws CLI got the refusal too, and created nothing
    assert printed_by["02-41"].strip() == f"no pipeline {NAMES.pipeline} yet"
    assert printed_by["02-43"].split() == [NAMES.pipeline, "V2"]
    assert "CreatePipeline" in printed_by["02-46"]
    rule_arn = f"arn:aws:events:{kit.REGION}:{kit.ACCOUNT}:rule/{NAMES.branch_rule}"
    assert f"through the EventBridge rule {rule_arn}" in printed_by["9c3d51b6"]
    assert printed_by["cc1a21bf"].split() == ["Source:InProgress", "Build:None", "Deploy:None"]


def test_99_leaves_nothing_with_the_prefix(route):
    ran, _, held = route
    after = held["99_cleanup"]
    assert {kind: found for kind, found in after.items() if found} == {}, after
    printed_by = outputs(ran["99_cleanup"])
    left = f"nothing the lab makes with prefix '{PREFIX}' is left in {kit.ACCOUNT} / {kit.REGION}"
    assert left in printed_by["c021"]
    assert printed_by["c028"].strip() == ""  # the aws CLI lists no pipeline


# -- what the route cannot get past ------------------------------------------------------------------------
# These come after the route's tests (pytest keeps the file's order), on prefixes of their own.


def failed_cell(notebook) -> tuple[str, str, str]:
    """The cell that stopped the notebook: its id, the error's name and message."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error" and "raises-exception" not in cell.metadata.get("tags", []):
                return cell.get("id"), output.ename, output.evalue
    raise AssertionError("no cell failed")


def test_a_role_that_never_becomes_usable_stops_00_with_the_labs_error_naming_it(account, tmp_path):
    url, values = account
    stuck = lh.lab.Names("stuck", kit.ACCOUNT, kit.REGION)
    with pytest.raises(CellExecutionError) as failed:
        run("00_start_here", values, tmp_path, refuse={"codebuild.CreateProject": 1000}, prefix="stuck")
    notebook = failed.value.notebook
    cell, name, message = failed_cell(notebook)
    assert (cell, name) == ("00-28", "LabError"), (cell, name, message)
    assert f"CodeBuild still cannot use the IAM role {stuck.build_role} after 120 s" in message
    assert f"aws iam get-role --role-name {stuck.build_role}" in message
    shown = outputs(notebook)["00-28"]
    assert shown.count(kit.WAITING.format(by="CodeBuild", role=stuck.build_role)) == 1, shown
    assert stuck.build_project not in client(url, "codebuild").list_projects()["projects"]


def test_02_waits_when_codepipeline_cannot_assume_the_new_pipeline_role_yet(account, tmp_path):
    """The CLI's create-pipeline is refused (02 shows AWS's answer), and 02 waits for the role, saying so
    once, then creates the pipeline from the same file."""
    url, values = account
    slow = lh.lab.Names("slow", kit.ACCOUNT, kit.REGION)
    for name in ("00_start_here", "01_service_role"):
        run(name, values, tmp_path, refuse={}, prefix="slow")
    kit.SERVER_REFUSALS["codepipeline.CreatePipeline"] = 2  # the CLI's create, then the lab's first retry
    try:
        ran = run("02_pipeline_json", values, tmp_path, refuse={}, prefix="slow")
    finally:
        kit.SERVER_REFUSALS["codepipeline.CreatePipeline"] = 0
    shown = outputs(ran)
    refusal = f"CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::{kit.ACCOUNT}:role/"
    assert refusal + slow.pipeline_role in shown["02-43"]
    assert shown["02-44"].count(kit.WAITING.format(by="CodePipeline", role=slow.pipeline_role)) == 1
    assert client(url, "codepipeline").get_pipeline(name=slow.pipeline)
