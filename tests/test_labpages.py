"""The endpoint's pages of a real run's records: the build's log, the deployment's lifecycle events and the
commit, linked from the run's actions; served only with the page token of this start, to no foreign Origin."""

import html
import os
import stat
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from pipeline_kit import article_lab

from labhelpers import runs
from labhelpers.lab import _restore_environ
from labhelpers.local import config, process


@pytest.fixture(scope="module")
def lab(endpoint):
    yield article_lab(endpoint, "p")
    _restore_environ()


@pytest.fixture(scope="module")
def run(lab):
    """The finished run's snapshot, its actions by provider."""
    snap = runs.watch(lab, timeout=120)
    assert snap.status == "Succeeded", snap.line()
    return snap, {action.provider: action for action in snap.actions}


def get(url: str, **headers) -> requests.Response:
    return requests.get(url, headers=headers, timeout=30)


def without_token(url: str) -> str:
    return url.partition("?")[0]


def test_each_action_links_to_its_local_page_with_the_token_of_this_start(endpoint, lab, run):
    snap, actions = run
    token = endpoint.layout.page_token.read_text()
    build, deploy, source = actions["CodeBuild"], actions["CodeDeploy"], actions["CodeCommit"]
    assert without_token(build.log_url) == f"{lab.endpoint_url}/_lab/builds/{build.external_id}/log"
    assert without_token(deploy.log_url) == f"{lab.endpoint_url}/_lab/deployments/{deploy.external_id}/events"
    commit_page = f"{lab.endpoint_url}/_lab/commits/{lab.names.repository}/{source.external_id}"
    assert without_token(source.log_url) == commit_page
    for action in (build, deploy, source):
        assert parse_qs(urlsplit(action.log_url).query) == {"token": [token]}
    labels = (build.link_label, deploy.link_label, source.link_label)
    assert labels == ("build log", "deployment events", "commit")
    # The engine's own record carries no token: it never knows it.
    details = lab.client("codepipeline").list_action_executions(
        pipelineName=lab.names.pipeline, filter={"pipelineExecutionId": snap.execution_id}
    )["actionExecutionDetails"]
    urls = [d["output"]["executionResult"]["externalExecutionUrl"] for d in details]
    assert sorted(urls) == sorted(without_token(a.log_url) for a in (build, deploy, source))
    built = lab.client("codebuild").batch_get_builds(ids=[build.external_id])["builds"][0]
    assert built["logs"]["deepLink"] == without_token(build.log_url)


def test_the_build_log_page_shows_the_builds_log_lines(lab, run):
    _, actions = run
    build = actions["CodeBuild"]
    built = lab.client("codebuild").batch_get_builds(ids=[build.external_id])["builds"][0]
    events = lab.client("logs").get_log_events(
        logGroupName=built["logs"]["groupName"], logStreamName=built["logs"]["streamName"], startFromHead=True
    )["events"]
    assert any("Checking the revision before it ships" in event["message"] for event in events)
    page = get(build.log_url)
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert "Checking the revision before it ships" in page.text
    assert all(html.escape(event["message"].strip()) in page.text for event in events[:20])
    assert "SUCCEEDED" in page.text and "http-equiv" not in page.text  # over: no reload
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_deployment_page_shows_its_lifecycle_events(lab, run):
    _, actions = run
    deploy = actions["CodeDeploy"]
    codedeploy = lab.client("codedeploy")
    (instance,) = codedeploy.list_deployment_instances(deploymentId=deploy.external_id)["instancesList"]
    events = codedeploy.get_deployment_instance(deploymentId=deploy.external_id, instanceId=instance)[
        "instanceSummary"
    ]["lifecycleEvents"]
    page = get(deploy.log_url)
    assert page.status_code == 200
    assert f"Instance {instance}: Succeeded" in page.text
    assert lab.names.application in page.text and lab.names.deployment_group in page.text
    for event in events:
        assert f"<td>{event['lifecycleEventName']}</td><td>{event['status']}</td>" in page.text
    assert {"BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"} <= {
        e["lifecycleEventName"] for e in events if e["status"] == "Succeeded"
    }


def test_the_commit_page_shows_message_author_and_changed_files(lab, run):
    _, actions = run
    source = actions["CodeCommit"]
    codecommit = lab.client("codecommit")
    repository = lab.names.repository
    commit = codecommit.get_commit(repositoryName=repository, commitId=source.external_id)["commit"]
    before = {"beforeCommitSpecifier": commit["parents"][0]} if commit["parents"] else {}
    changes = codecommit.get_differences(
        repositoryName=repository, afterCommitSpecifier=source.external_id, **before
    )["differences"]
    page = get(source.log_url)
    assert page.status_code == 200
    assert commit["message"].strip() in page.text and commit["author"]["name"] in page.text
    assert f"{len(changes)} changed file(s)" in page.text and changes
    for change in changes:
        path = (change.get("afterBlob") or change["beforeBlob"])["path"]
        assert f"<td>{change['changeType']}</td><td>{path}</td>" in page.text


def test_each_action_state_links_to_the_local_page_of_what_it_works_on(endpoint, lab, run):
    snap, actions = run
    token = endpoint.layout.page_token.read_text()
    names = lab.names
    state = lab.client("codepipeline").get_pipeline_state(name=names.pipeline)
    urls = {a["actionName"]: a["entityUrl"] for s in state["stageStates"] for a in s["actionStates"]}
    source, build, deploy = (
        next(urls[a.name] for a in snap.actions if a.provider == provider)
        for provider in ("CodeCommit", "CodeBuild", "CodeDeploy")
    )
    assert source == f"{lab.endpoint_url}/_lab/branches/{names.repository}/main"
    assert build == f"{lab.endpoint_url}/_lab/projects/{names.build_project}"
    assert deploy == f"{lab.endpoint_url}/_lab/deployment-groups/{names.application}/{names.deployment_group}"
    branch_page = get(f"{source}?token={token}")
    assert branch_page.status_code == 200 and actions["CodeCommit"].external_id in branch_page.text
    project_page = get(f"{build}?token={token}")
    assert project_page.status_code == 200 and actions["CodeBuild"].external_id in project_page.text
    group_page = get(f"{deploy}?token={token}")
    assert group_page.status_code == 200 and actions["CodeDeploy"].external_id in group_page.text
    assert "Succeeded" in group_page.text and "SUCCEEDED" in project_page.text
    missing = get(f"{lab.endpoint_url}/_lab/projects/nope-{names.build_project}?token={token}")
    assert missing.status_code == 404
    missing_branch = get(f"{lab.endpoint_url}/_lab/branches/{names.repository}/no/such?token={token}")
    assert missing_branch.status_code == 404


def test_record_pages_refuse_a_missing_or_wrong_token_and_a_foreign_origin(endpoint, run):
    _, actions = run
    url = actions["CodeBuild"].log_url
    bare = without_token(url)
    for refused in (bare, f"{bare}?token=", f"{bare}?token=not-the-token", f"{bare}?token=é"):
        answer = get(refused)
        assert answer.status_code == 403, refused
        assert "needs the endpoint's page token" in answer.text and "Checking the revision" not in answer.text
    foreign = get(url, Origin="https://attacker.example")
    assert foreign.status_code == 403 and "Checking the revision" not in foreign.text
    assert "Access-Control-Allow-Origin" not in foreign.headers
    assert get(url, Origin=endpoint.url).status_code == 200  # the endpoint's own pages may link to each other
    unknown = get(f"{endpoint.url}/_lab/builds/nope:0000/log?{urlsplit(url).query}")
    assert unknown.status_code == 404 and "There is no build nope:0000" in unknown.text


def test_health_and_deployed_pages_stay_public(endpoint, run):
    snap, _ = run
    assert get(f"{endpoint.url}/_lab/health").status_code == 200
    (page,) = snap.page_urls
    assert "token" not in page and get(page).status_code == 200


def test_the_page_token_is_the_owners_only_and_new_at_each_start(fresh_endpoint):
    layout = fresh_endpoint.layout
    first = layout.page_token.read_text()
    assert stat.S_IMODE(os.stat(layout.page_token).st_mode) == 0o600 and len(first) >= 40
    page = f"{fresh_endpoint.url}/_lab/commits/x/y"
    assert get(f"{page}?token={first}").status_code == 404  # past the guard: no such repository
    process.stop(layout)
    restarted = process.start(config.Layout(layout.root))
    second = layout.page_token.read_text()
    assert second != first
    assert get(f"{restarted.url}/_lab/commits/x/y?token={first}").status_code == 403
    assert get(f"{restarted.url}/_lab/commits/x/y?token={second}").status_code == 404
