"""CodeBuild test and coverage reports on the real local endpoint: a build's `reports` section makes report
groups and reports; the report API reads them, through boto3 and the aws CLI (shapes as documented)."""

import json
import shlex
from unittest.mock import ANY

import pytest
from botocore.exceptions import ClientError
from test_codebuild import buildspec, create_project, wait_for

from labhelpers.local.codebuild import buildspec as spec_module
from labhelpers.local.codebuild.report_files import ReportFileError, cobertura, junit
from tests import cli_examples_kit as kit

JUNIT = """<?xml version="1.0"?>
<testsuites><testsuite name="calc">
 <testcase classname="calc.Add" name="adds" time="0.5"/>
 <testcase classname="calc.Add" name="overflows" time="0.25">
  <failure message="boom">trace</failure></testcase>
 <testcase classname="calc.Div" name="by zero" time="0"><skipped/></testcase>
</testsuite></testsuites>"""
COBERTURA = """<?xml version="1.0"?>
<coverage><packages><package name="calc"><classes>
 <class name="calc" filename="calc.py"><lines>
  <line number="1" hits="1"/><line number="2" hits="0"/>
  <line number="3" hits="2" branch="true" condition-coverage="50% (1/2)"/>
 </lines></class>
</classes></package></packages></coverage>"""
CUCUMBER = json.dumps(
    [
        {
            "name": "Checkout",
            "elements": [
                {"name": "pays", "steps": [{"result": {"status": "passed", "duration": 2_000_000}}]},
                {
                    "name": "refunds",
                    "steps": [
                        {"result": {"status": "passed", "duration": 1_000_000}},
                        {"result": {"status": "failed", "duration": 3_000_000, "error_message": "no refund"}},
                        {"result": {"status": "skipped"}},
                    ],
                },
            ],
        }
    ]
)
JACOCO = """<?xml version="1.0"?>
<report name="calc"><package name="com/example">
 <sourcefile name="Calc.java">
  <counter type="INSTRUCTION" missed="3" covered="9"/>
  <counter type="BRANCH" missed="1" covered="3"/>
  <counter type="LINE" missed="1" covered="4"/>
 </sourcefile>
</package></report>"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<testsuite name="bomb"><testcase name="&lol2;"/></testsuite>"""
REPORTS = """reports:
  unit:
    files: ['**/*.xml']
    base-directory: results
  coverage:
    files: [coverage.xml]
    file-format: COBERTURAXML
  broken:
    files: [bomb.xml]
  features:
    files: [cucumber.json]
    file-format: CUCUMBERJSON
  java:
    files: [jacoco.xml]
    file-format: JACOCOXML
"""


def write(path: str, text: str) -> str:
    return f"mkdir -p $(dirname {path}) && printf '%s' {shlex.quote(text)} > {path}"


@pytest.fixture(scope="module")
def reported(endpoint):
    """One build that writes a failing JUnit suite, a Cobertura file and an XML bomb, then fails."""
    cb = endpoint.client("codebuild")
    name = "reports-demo"
    commands = [
        write("results/unit.xml", JUNIT),
        write("coverage.xml", COBERTURA),
        write("bomb.xml", BOMB),
        write("cucumber.json", CUCUMBER),
        write("jacoco.xml", JACOCO),
        "false",
    ]
    create_project(cb, name, {"type": "NO_SOURCE", "buildspec": buildspec(*commands, tail=REPORTS)})
    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    reports = cb.batch_get_reports(reportArns=build["reportArns"])["reports"]
    return cb, build, {report["name"]: report for report in reports}


def test_a_failed_build_still_reports_its_tests(reported):
    cb, build, reports = reported
    assert build["buildStatus"] == "FAILED"
    unit = reports["reports-demo-unit"]
    assert unit["status"] == "FAILED"  # one test failed
    assert (
        unit["arn"]
        == unit["reportGroupArn"].replace("report-group/", "report/") + ":" + build["id"].split(":")[1]
    )
    assert unit["executionId"] == build["arn"]
    assert unit["testSummary"] == {
        "total": 3,
        "statusCounts": {"SUCCEEDED": 1, "FAILED": 1, "ERROR": 0, "SKIPPED": 1, "UNKNOWN": 0},
        "durationInNanoSeconds": 750_000_000,
    }
    failed = cb.describe_test_cases(reportArn=unit["arn"], filter={"status": "FAILED"})["testCases"]
    assert [(case["prefix"], case["name"], case["message"]) for case in failed] == [
        ("calc.Add", "overflows", "boom")
    ]
    group = cb.batch_get_report_groups(reportGroupArns=[unit["reportGroupArn"]])["reportGroups"][0]
    assert (group["name"], group["type"], group["status"]) == ("reports-demo-unit", "TEST", "ACTIVE")


def test_coverage_report(reported):
    cb, _, reports = reported
    coverage = reports["reports-demo-coverage"]
    assert (coverage["type"], coverage["status"]) == ("CODE_COVERAGE", "SUCCEEDED")
    assert coverage["codeCoverageSummary"] == {
        "lineCoveragePercentage": 66.67,
        "linesCovered": 2,
        "linesMissed": 1,
        "branchCoveragePercentage": 50.0,
        "branchesCovered": 1,
        "branchesMissed": 1,
    }
    files = cb.describe_code_coverages(reportArn=coverage["arn"])["codeCoverages"]
    assert [(item["filePath"], item["linesMissed"]) for item in files] == [("calc.py", 1)]
    trend = cb.get_report_group_trend(reportGroupArn=coverage["reportGroupArn"], trendField="LINE_COVERAGE")
    assert trend["stats"] == {"average": "66.67", "max": "66.67", "min": "66.67"}


def test_cucumber_scenarios_are_test_cases_their_worst_step_decides(reported):
    cb, _, reports = reported
    features = reports["reports-demo-features"]
    assert (features["type"], features["status"]) == ("TEST", "FAILED")
    cases = cb.describe_test_cases(reportArn=features["arn"])["testCases"]
    assert sorted((c["prefix"], c["name"], c["status"], c["durationInNanoSeconds"]) for c in cases) == [
        ("Checkout", "pays", "SUCCEEDED", 2_000_000),
        ("Checkout", "refunds", "FAILED", 4_000_000),
    ]
    assert next(c["message"] for c in cases if c["name"] == "refunds") == "no refund"


def test_jacoco_source_files_are_coverage_entries(reported):
    cb, _, reports = reported
    java = reports["reports-demo-java"]
    assert (java["type"], java["status"]) == ("CODE_COVERAGE", "SUCCEEDED")
    [entry] = cb.describe_code_coverages(reportArn=java["arn"])["codeCoverages"]
    assert entry["filePath"] == "com/example/Calc.java"
    lines = (entry["linesCovered"], entry["linesMissed"], entry["lineCoveragePercentage"])
    branches = (entry["branchesCovered"], entry["branchesMissed"], entry["branchCoveragePercentage"])
    assert (lines, branches) == ((4, 1, 80.0), (3, 1, 75.0))


def test_an_xml_bomb_leaves_its_report_incomplete_and_the_log_says_why(reported, endpoint):
    cb, build, reports = reported
    assert reports["reports-demo-broken"]["status"] == "INCOMPLETE"
    logs = endpoint.client("logs")
    events = logs.get_log_events(
        logGroupName=build["logs"]["groupName"], logStreamName=build["logs"]["streamName"]
    )
    text = "\n".join(event["message"] for event in events["events"])
    assert "DOCTYPE or entity declaration is not allowed" in text


def test_report_group_api(endpoint, unique):
    cb = endpoint.client("codebuild")
    name = f"group-{unique}"
    group = cb.create_report_group(name=name, type="TEST", exportConfig={"exportConfigType": "NO_EXPORT"})
    arn = group["reportGroup"]["arn"]
    with pytest.raises(ClientError) as again:
        cb.create_report_group(name=name, type="TEST", exportConfig={"exportConfigType": "NO_EXPORT"})
    assert again.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    first = cb.list_report_groups(maxResults=1)
    assert len(first["reportGroups"]) == 1 and "nextToken" in first
    pages = cb.get_paginator("list_report_groups").paginate(PaginationConfig={"PageSize": 1})
    assert arn in [group for page in pages for group in page["reportGroups"]]
    assert cb.list_reports_for_report_group(reportGroupArn=arn)["reports"] == []
    cb.delete_report_group(arn=arn)
    assert cb.batch_get_report_groups(reportGroupArns=[arn])["reportGroupsNotFound"] == [arn]
    with pytest.raises(ClientError) as missing:
        cb.get_report_group_trend(reportGroupArn=arn, trendField="PASS_RATE")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_delete_report_group_with_reports_needs_delete_reports(reported):
    cb, _, reports = reported
    group = reports["reports-demo-broken"]["reportGroupArn"]
    with pytest.raises(ClientError) as refused:
        cb.delete_report_group(arn=group)
    assert "deleteReports" in refused.value.response["Error"]["Message"]
    cb.delete_report_group(arn=group, deleteReports=True)
    assert cb.batch_get_reports(reportArns=[reports["reports-demo-broken"]["arn"]])["reports"] == []


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("batch-get-reports", lambda unit, cov: ["--report-arns", unit["arn"]]),
        ("describe-test-cases", lambda unit, cov: ["--report-arn", unit["arn"]]),
        ("describe-code-coverages", lambda unit, cov: ["--report-arn", cov["arn"]]),
        ("list-reports", lambda unit, cov: []),
        ("list-report-groups", lambda unit, cov: []),
        ("batch-get-report-groups", lambda unit, cov: ["--report-group-arns", unit["reportGroupArn"]]),
        ("list-reports-for-report-group", lambda unit, cov: ["--report-group-arn", unit["reportGroupArn"]]),
    ],
)
def test_cli_examples_shapes(reported, endpoint, command, args):
    """The aws CLI's documented example output has the shape of the endpoint's answer."""
    _, _, reports = reported
    example = kit.parse("codebuild", kit.EXAMPLES / "codebuild" / f"{command}.rst")[0]
    answer = json.loads(
        endpoint.aws(
            "codebuild",
            command,
            *args(reports["reports-demo-unit"], reports["reports-demo-coverage"]),
            "--output",
            "json",
        ).stdout
    )
    assert kit.shape_differences(example.output, answer, kit.output_shape(example)) == []


def cli_example(command: str) -> kit.Example:
    return kit.parse("codebuild", kit.EXAMPLES / "codebuild" / f"{command}.rst")[0]


def test_update_report_group_replaces_export_and_tags(endpoint, unique):
    cb = endpoint.client("codebuild")
    export = {"exportConfigType": "S3", "s3Destination": {"bucket": f"reports-{unique}", "packaging": "ZIP"}}
    created = cb.create_report_group(name=f"upd-{unique}", type="TEST", exportConfig=export)["reportGroup"]
    answer = endpoint.aws(
        "codebuild",
        "update-report-group",
        "--arn",
        created["arn"],
        "--export-config=exportConfigType=NO_EXPORT",
        "--output",
        "json",
    )
    updated = json.loads(answer.stdout)
    example = cli_example("update-report-group")
    assert kit.shape_differences(example.output, updated, kit.output_shape(example)) == []
    group = updated["reportGroup"]
    assert group["exportConfig"] == {"exportConfigType": "NO_EXPORT"}
    assert group["tags"] == [] and group["lastModified"] >= group["created"]
    tags = [{"key": "team", "value": "lab"}]
    assert cb.update_report_group(arn=created["arn"], tags=tags)["reportGroup"]["tags"] == tags
    kept = cb.batch_get_report_groups(reportGroupArns=[created["arn"]])["reportGroups"][0]
    assert (kept["exportConfig"], kept["tags"]) == ({"exportConfigType": "NO_EXPORT"}, tags)

    with pytest.raises(ClientError) as bad:
        cb.update_report_group(arn=created["arn"], exportConfig={"exportConfigType": "EMAIL"})
    assert bad.value.response["Error"]["Code"] == "InvalidInputException"
    assert "exportConfigType" in bad.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as missing:
        cb.update_report_group(arn=created["arn"] + "-gone", tags=[])
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as sort:
        cb.list_report_groups(sortBy="SIZE")
    assert sort.value.response["Error"]["Code"] == "InvalidInputException"
    assert "sortBy" in sort.value.response["Error"]["Message"]


def test_delete_report_removes_it_from_its_group(endpoint, unique):
    cb = endpoint.client("codebuild")
    name = f"del-report-{unique}"
    tail = "reports:\n  unit:\n    files: [unit.xml]\n"
    create_project(
        cb, name, {"type": "NO_SOURCE", "buildspec": buildspec(write("unit.xml", JUNIT), tail=tail)}
    )
    build = wait_for(cb, cb.start_build(projectName=name)["build"]["id"])
    [arn] = build["reportArns"]
    group = cb.batch_get_reports(reportArns=[arn])["reports"][0]["reportGroupArn"]
    assert endpoint.aws("codebuild", "delete-report", "--arn", arn).stdout == ""
    assert cb.batch_get_reports(reportArns=[arn])["reportsNotFound"] == [arn]
    assert cb.list_reports_for_report_group(reportGroupArn=group)["reports"] == []
    with pytest.raises(ClientError) as again:
        cb.delete_report(arn=arn)
    assert again.value.response["Error"]["Code"] == "InvalidInputException"
    cb.delete_report_group(arn=group)  # no report is left in it


@pytest.mark.parametrize(
    ("command", "key"), [("list-shared-projects", "projects"), ("list-shared-report-groups", "reportGroups")]
)
def test_nothing_is_shared_with_the_local_account(endpoint, command, key):
    answer = json.loads(endpoint.aws("codebuild", command, "--output", "json").stdout)
    assert answer == {key: []}
    example = cli_example(command)
    assert kit.shape_differences(example.output, answer, kit.output_shape(example)) == []
    cb = endpoint.client("codebuild")
    call = getattr(cb, command.replace("-", "_"))
    assert call(sortBy="ARN", sortOrder="ASCENDING", maxResults=1) == {key: [], "ResponseMetadata": ANY}
    for bad in ({"sortBy": "NAME"}, {"sortOrder": "UP"}, {"nextToken": "not-ours"}):
        with pytest.raises(ClientError) as refused:
            call(**bad)
        assert refused.value.response["Error"]["Code"] == "InvalidInputException", bad
        assert next(iter(bad)) in refused.value.response["Error"]["Message"], bad


def test_report_files_refuse_bombs_and_junk(tmp_path):
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(BOMB)
    with pytest.raises(ReportFileError, match="DOCTYPE"):
        junit(bomb)
    junk = tmp_path / "junk.xml"
    junk.write_text("<testsuite><testcase")
    with pytest.raises(ReportFileError, match="not well-formed"):
        junit(junk)
    with pytest.raises(ReportFileError, match="Cobertura"):
        cobertura(_written(tmp_path / "j.xml", JUNIT))


def _written(path, text):
    path.write_text(text)
    return path


def test_buildspec_reports_section():
    spec = spec_module.load("version: 0.2\nphases:\n  build:\n    commands: [x]\n" + REPORTS)
    assert spec.reports["coverage"].file_format == "COBERTURAXML"
    assert spec.reports["unit"].base_directory == "results"
    with pytest.raises(spec_module.BuildspecError, match="file-format must be one of"):
        spec_module.load(
            "version: 0.2\nphases:\n  build:\n    commands: [x]\n"
            "reports:\n  r:\n    files: [a]\n    file-format: XUNIT\n"
        )
    with pytest.raises(spec_module.BuildspecError, match="files is required"):
        spec_module.load(
            "version: 0.2\nphases:\n  build:\n    commands: [x]\nreports:\n  r:\n    base-directory: a\n"
        )
