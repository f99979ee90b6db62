"""Push to run: real `git push` (and the CodeCommit API) starting pipelines on the real endpoint, by
CodeCommit change detection, EventBridge rules and V2 trigger filters on CodeStarSourceConnection sources.
Runs are counted exactly: wait for the expected number, then check that no extra one appears in a short
settle window. Approval stages hold runs where a test needs them."""

import io
import json
import time
import zipfile

import pytest
from pipeline_kit import Kit, approval_stage

from labhelpers.local import config
from labhelpers.local.codepipeline.triggers import Push, event_matches, glob_matches, push_filter_matches

SETTLE = 0.7  # seconds in which an unexpected extra run would have started


class TriggerKit(Kit):
    """A Kit whose source action a test chooses (default: CodeCommit main, polling left on)."""

    def __init__(self, endpoint, unique: str):
        super().__init__(endpoint, unique)
        self.source = codecommit_source(self.repository)

    def source_stage(self, namespace: str | None = None) -> dict:
        return {"name": "Source", "actions": [self.source]}

    @property
    def pipeline_arn(self) -> str:
        return f"arn:aws:codepipeline:{config.REGION}:{config.ACCOUNT}:{self.pipeline}"

    def expect_runs(self, count: int) -> list[dict]:
        """The executions, oldest first, once there are `count` and no more appear."""
        self.wait_for(lambda: len(self.executions()) >= count, 30, f"{count} executions")
        time.sleep(SETTLE)
        runs = self.executions()
        assert len(runs) == count, [run["trigger"] for run in runs]
        return runs

    def revision(self, execution_id: str) -> str:
        """The source revision of a run, once its source action has run."""
        self.source_output(execution_id)
        run = next(r for r in self.executions() if r["pipelineExecutionId"] == execution_id)
        return run["sourceRevisions"][0]["revisionId"]

    def source_output(self, execution_id: str) -> tuple[dict, zipfile.ZipFile]:
        """The source action's details and its output artifact."""
        self.wait_for(
            lambda: any(
                a["stageName"] == "Source" and a["status"] == "Succeeded" for a in self.actions(execution_id)
            ),
            30,
            "the source action",
        )
        action = next(a for a in self.actions(execution_id) if a["stageName"] == "Source")
        location = action["output"]["outputArtifacts"][0]["s3location"]
        body = self.endpoint.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"]
        return action, zipfile.ZipFile(io.BytesIO(body.read()))


def codecommit_source(repository: str, **configuration) -> dict:
    return {
        "name": "Source",
        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
        "configuration": {"RepositoryName": repository, "BranchName": "main", **configuration},
        "outputArtifacts": [{"name": "SourceOutput"}],
    }


def connection_source(connection_arn: str, repository: str, **configuration) -> dict:
    return {
        "name": "Source",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeStarSourceConnection",
            "version": "1",
        },
        "configuration": {
            "ConnectionArn": connection_arn,
            "FullRepositoryId": f"octocat/{repository}",
            "BranchName": "main",
            "OutputArtifactFormat": "CODE_ZIP",
            **configuration,
        },
        "outputArtifacts": [{"name": "SourceOutput"}],
    }


def push_trigger(*push_filters: dict) -> list[dict]:
    return [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {"sourceActionName": "Source", "push": list(push_filters)},
        }
    ]


class WorkingCopy:
    """A clone of a repository on the endpoint, driven with the real git."""

    def __init__(self, endpoint, repository: str, folder):
        self.endpoint, self.folder = endpoint, folder
        metadata = endpoint.client("codecommit").get_repository(repositoryName=repository)[
            "repositoryMetadata"
        ]
        endpoint.run(["git", "clone", "-q", metadata["cloneUrlHttp"], str(folder)])

    def git(self, *args: str) -> str:
        return self.endpoint.run(["git", *args], cwd=self.folder).stdout.strip()

    def commit(self, files: dict[str, str], message: str = "change", branch: str | None = None) -> str:
        """Commit `files` on `branch` (made from the current one if new), or on the current branch."""
        if branch:
            switched = self.endpoint.run(["git", "switch", "-q", branch], cwd=self.folder, check=False)
            if switched.returncode:
                self.git("switch", "-q", "-c", branch)
        for path, content in files.items():
            (self.folder / path).parent.mkdir(parents=True, exist_ok=True)
            (self.folder / path).write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def push(self, *refs: str) -> None:
        self.git("push", "-q", "origin", *(refs or ["HEAD"]))


@pytest.fixture
def kit(endpoint, unique):
    made = TriggerKit(endpoint, unique)
    made.setup()
    yield made
    made.codepipeline.delete_pipeline(name=made.pipeline)  # ends runs still waiting for approval


@pytest.fixture
def work(kit, git_identity, tmp_path):
    return WorkingCopy(kit.endpoint, kit.repository, tmp_path / "work")


@pytest.fixture
def connection_arn(endpoint, unique):
    client = endpoint.client("codeconnections")
    return client.create_connection(ProviderType="GitHub", ConnectionName=f"gh-{unique}")["ConnectionArn"]


def events_role(kit, may_start: bool = True) -> str:
    """A role EventBridge assumes to start the pipeline (or one allowed nothing)."""
    iam = kit.endpoint.client("iam")
    name = f"events-role-{kit.unique}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    allowed = {
        "Effect": "Allow",
        "Action": "codepipeline:StartPipelineExecution",
        "Resource": kit.pipeline_arn,
    }
    if may_start:
        policy = {"Version": "2012-10-17", "Statement": [allowed]}
        iam.put_role_policy(RoleName=name, PolicyName="start-pipeline", PolicyDocument=json.dumps(policy))
    return role


def branch_rule(kit, branch: str = "main", role: str | None = None) -> str:
    """The EventBridge rule of spec §2.1 for `branch` of the kit's repository, targeting the pipeline."""
    pattern = {
        "source": ["aws.codecommit"],
        "detail-type": ["CodeCommit Repository State Change"],
        "resources": [f"arn:aws:codecommit:{config.REGION}:{config.ACCOUNT}:{kit.repository}"],
        "detail": {
            "event": ["referenceCreated", "referenceUpdated"],
            "referenceType": ["branch"],
            "referenceName": [branch],
        },
    }
    events = kit.endpoint.client("events")
    name = f"codepipeline-{kit.unique}-{branch}"
    arn = events.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    target = {"Id": "codepipeline", "Arn": kit.pipeline_arn, "RoleArn": role or events_role(kit)}
    events.put_targets(Rule=name, Targets=[target])
    return arn


def trigger_of(run: dict) -> tuple[str, str]:
    return run["trigger"]["triggerType"], run["trigger"].get("triggerDetail")


# -- matching, without an endpoint -------------------------------------------------------------------

EVENT = {
    "source": "aws.codecommit",
    "resources": ["arn:aws:codecommit:ap-southeast-1:111122223333:repo"],
    "detail": {"event": "referenceUpdated", "referenceType": "branch", "referenceName": "main", "size": 5},
}


@pytest.mark.parametrize(
    "pattern, matches",
    [
        ({"source": ["aws.codecommit"], "detail": {"referenceName": ["dev", "main"]}}, True),
        ({"detail": {"referenceName": ["dev"]}}, False),
        ({"resources": ["arn:aws:codecommit:ap-southeast-1:111122223333:repo"]}, True),
        ({"detail": {"referenceName": [{"prefix": "ma"}]}}, True),
        ({"detail": {"referenceName": [{"anything-but": ["main", "dev"]}]}}, False),
        ({"detail": {"referenceName": [{"anything-but": {"prefix": "feature/"}}]}}, True),
        ({"detail": {"oldCommitId": [{"exists": False}]}}, True),
        ({"detail": {"referenceName": [{"exists": False}]}}, False),
        ({"detail": {"size": [{"numeric": [">", 1, "<=", 5]}]}}, True),
        ({"detail": {"size": ["5"]}}, False),
        ({"detail": {"referenceName": [{"equals-ignore-case": "MAIN"}]}}, True),
        ({"$or": [{"source": ["aws.s3"]}, {"detail": {"referenceType": ["branch"]}}]}, True),
        ({"detail": {"nested": {"deeper": ["x"]}}}, False),
    ],
)
def test_event_patterns_match_as_eventbridge_does(pattern, matches):
    assert event_matches(pattern, EVENT) is matches


@pytest.mark.parametrize(
    "glob, name, matches",
    [
        ("main", "main", True),
        ("feature/*", "feature/x", True),
        ("feature/*", "feature/x/y", False),
        ("feature/**", "feature/x/y", True),
        ("release-v?", "release-v1", True),
        ("release-v[0-2]", "release-v3", False),
        ("release-v[!0-2]", "release-v3", True),
        ("*.{js,ts}", "app.ts", True),
        ("*.{js,ts}", "src/app.ts", False),
        ("**/*.md", "docs/guide/intro.md", True),
        ("docs/**", "docs/a.md", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
    ],
)
def test_globs_follow_the_aws_syntax(glob, name, matches):
    assert glob_matches(glob, name) is matches


def test_push_filters_pick_tags_branches_and_changed_paths():
    def push(ref):
        return Push("repo", ref, "a" * 40, "b" * 40, 0.0)

    def changed(*paths):
        return lambda: list(paths)

    both = changed("docs/intro.md", "src/app.py")
    assert push_filter_matches({"branches": {"includes": ["main"]}}, push("refs/heads/main"), both)
    assert not push_filter_matches({"branches": {"includes": ["main"]}}, push("refs/tags/main"), both)
    assert push_filter_matches({"tags": {"includes": ["v*"]}}, push("refs/tags/v1"), both)
    assert not push_filter_matches({"tags": {"includes": ["v*"]}}, push("refs/heads/v1"), both)
    excluded = {"branches": {"includes": ["release/**"], "excludes": ["release/old*"]}}
    assert not push_filter_matches(excluded, push("refs/heads/release/old-1"), both)
    code = {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["**"], "excludes": ["docs/**"]}}
    assert push_filter_matches(code, push("refs/heads/main"), both)
    assert not push_filter_matches(code, push("refs/heads/main"), changed("docs/intro.md"))


# -- CodeCommit change detection ---------------------------------------------------------------------


def test_a_push_to_the_watched_branch_starts_a_run_with_the_pushed_commit(kit, work):
    kit.create(approval_stage())
    pushed = work.commit({"app.txt": "version 2\n"}, "second version")
    work.push("main")
    created, run = kit.expect_runs(2)
    assert trigger_of(created)[0] == "CreatePipeline"
    assert trigger_of(run) == ("PollForSourceChanges", "Source")
    action, artifact = kit.source_output(run["pipelineExecutionId"])
    assert artifact.read("app.txt") == b"version 2\n"
    assert action["output"]["outputVariables"]["CommitId"] == pushed
    assert kit.revision(run["pipelineExecutionId"]) == pushed


def test_queued_runs_each_build_the_commit_their_push_made(kit, work):
    first = kit.create(approval_stage(), mode="QUEUED")
    kit.answer("Approve", kit.approval_token("Approve", first))
    kit.wait_status(first, "Succeeded")
    kit.codepipeline.disable_stage_transition(
        pipelineName=kit.pipeline, stageName="Source", transitionType="Inbound", reason="hold the pushes"
    )
    pushed = []
    for version in ("a", "b"):
        pushed.append(work.commit({"app.txt": f"version {version}\n"}, f"version {version}"))
        work.push("main")
    _, run_a, run_b = kit.expect_runs(3)
    kit.codepipeline.enable_stage_transition(
        pipelineName=kit.pipeline, stageName="Source", transitionType="Inbound"
    )
    for run, commit in zip((run_a, run_b), pushed, strict=True):
        execution = run["pipelineExecutionId"]
        kit.answer("Approve", kit.approval_token("Approve", execution))
        assert kit.wait_status(execution, "Succeeded") == "Succeeded"
        assert kit.revision(execution) == commit, "a run builds its own push, not the branch's newest head"


def test_pushes_to_other_branches_and_tags_start_nothing(kit, work):
    kit.create(approval_stage())
    work.commit({"app.txt": "on a feature\n"}, branch="feature/x")
    work.push("feature/x")
    work.git("tag", "v1")
    work.push("v1")
    kit.expect_runs(1)


def test_a_file_put_through_the_api_starts_a_run(kit):
    kit.create(approval_stage())
    codecommit = kit.endpoint.client("codecommit")
    tip = codecommit.get_branch(repositoryName=kit.repository, branchName="main")["branch"]["commitId"]
    put = codecommit.put_file(
        repositoryName=kit.repository,
        branchName="main",
        fileContent=b"from the API\n",
        filePath="api.txt",
        parentCommitId=tip,
    )
    run = kit.expect_runs(2)[-1]
    assert trigger_of(run)[0] == "PollForSourceChanges"
    _, artifact = kit.source_output(run["pipelineExecutionId"])
    assert artifact.read("api.txt") == b"from the API\n"
    assert kit.revision(run["pipelineExecutionId"]) == put["commitId"]


def test_a_rule_with_polling_off_starts_one_cloudwatch_event_run(kit, work):
    kit.source = codecommit_source(kit.repository, PollForSourceChanges="false")
    kit.create(approval_stage())
    rule = branch_rule(kit)
    work.commit({"app.txt": "v2\n"})
    work.push("main")
    run = kit.expect_runs(2)[-1]
    assert trigger_of(run) == ("CloudWatchEvent", rule)


def test_polling_and_a_rule_both_on_start_two_runs(kit, work):
    kit.create(approval_stage())
    rule = branch_rule(kit)
    work.commit({"app.txt": "v2\n"})
    work.push("main")
    runs = kit.expect_runs(3)
    assert sorted(trigger_of(run)[0] for run in runs[1:]) == ["CloudWatchEvent", "PollForSourceChanges"]
    assert ("CloudWatchEvent", rule) in [trigger_of(run) for run in runs]


def test_rules_for_other_branches_and_deleted_branches_start_nothing(kit, work):
    kit.source = codecommit_source(kit.repository, BranchName="release", PollForSourceChanges="false")
    kit.create(approval_stage())
    role = events_role(kit)
    branch_rule(kit, "develop", role)
    branch_rule(kit, "release", role)
    work.commit({"app.txt": "v2\n"})
    work.push("main")
    work.commit({"app.txt": "release\n"}, branch="release")
    work.push("release")
    kit.expect_runs(2)
    work.push(":release")
    kit.expect_runs(2)


def test_a_rule_whose_role_may_not_start_the_pipeline_starts_nothing(kit, work):
    kit.source = codecommit_source(kit.repository, PollForSourceChanges="false")
    kit.create(approval_stage())
    branch_rule(kit, role=events_role(kit, may_start=False))
    work.commit({"app.txt": "v2\n"})
    work.push("main")
    kit.expect_runs(1)


def test_two_quick_pushes_under_superseded_leave_the_newer_run(kit, work):
    created = kit.create(approval_stage())
    holding = kit.approval_token("Approve", created)
    first = work.commit({"app.txt": "one\n"})
    work.push("main")
    older = kit.expect_runs(2)[-1]["pipelineExecutionId"]
    kit.wait_for(
        lambda: kit.stage_state("Approve").get("inboundExecution", {}).get("pipelineExecutionId") == older
    )
    second = work.commit({"app.txt": "two\n"})
    work.push("main")
    newer = kit.expect_runs(3)[-1]["pipelineExecutionId"]
    assert kit.wait_status(older, "Superseded") == "Superseded"
    kit.answer("Approve", holding)
    kit.answer("Approve", kit.approval_token("Approve", newer))
    assert kit.wait_status(newer, "Succeeded") == "Succeeded"
    assert (kit.revision(older), kit.revision(newer)) == (first, second)


# -- CodeStarSourceConnection: webhooks and V2 trigger filters ---------------------------------------


def test_a_connection_source_runs_on_pushes_to_its_branch_as_a_webhook(kit, work, connection_arn):
    kit.source = connection_source(connection_arn, kit.repository)
    kit.create(approval_stage())
    work.commit({"other.txt": "elsewhere\n"}, branch="feature/x")
    work.push("feature/x")
    pushed = work.commit({"app.txt": "v2\n"}, "ship it", branch="main")
    work.push("main")
    run = kit.expect_runs(2)[-1]
    assert trigger_of(run) == ("Webhook", connection_arn)
    action, artifact = kit.source_output(run["pipelineExecutionId"])
    assert artifact.read("app.txt") == b"v2\n"
    variables = action["output"]["outputVariables"]
    assert variables == {
        "AuthorDate": variables["AuthorDate"],
        "BranchName": "main",
        "CommitId": pushed,
        "CommitMessage": "ship it",
        "ConnectionArn": connection_arn,
        "FullRepositoryName": f"octocat/{kit.repository}",
    }
    kit.revision(run["pipelineExecutionId"])
    summary = json.loads(kit.executions()[-1]["sourceRevisions"][0]["revisionSummary"])
    assert summary == {"ProviderType": "GitHub", "CommitMessage": "ship it"}


def test_detect_changes_false_starts_nothing(kit, work, connection_arn):
    kit.source = connection_source(connection_arn, kit.repository, DetectChanges="false")
    kit.create(approval_stage())
    work.commit({"app.txt": "v2\n"})
    work.push("main")
    kit.expect_runs(1)


def test_a_branch_filter_runs_for_main_not_for_a_feature_branch(kit, work, connection_arn):
    kit.source = connection_source(connection_arn, kit.repository)
    kit.create(approval_stage(), triggers=push_trigger({"branches": {"includes": ["main", "release/**"]}}))
    work.commit({"app.txt": "feature\n"}, branch="feature/x")
    work.push("feature/x")
    kit.expect_runs(1)
    released = work.commit({"app.txt": "release\n"}, branch="release/1.0")
    work.push("release/1.0")
    run = kit.expect_runs(2)[-1]
    assert trigger_of(run) == ("WebhookV2", connection_arn)
    action, artifact = kit.source_output(run["pipelineExecutionId"])
    assert artifact.read("app.txt") == b"release\n", "a push runs the commit of the branch pushed to"
    assert action["output"]["outputVariables"]["BranchName"] == "release/1.0"
    assert kit.revision(run["pipelineExecutionId"]) == released
    work.commit({"app.txt": "main\n"}, branch="main")
    work.push("main")
    kit.expect_runs(3)


def test_a_file_path_filter_skips_docs_only_pushes_and_excludes_win(kit, work, connection_arn):
    kit.source = connection_source(connection_arn, kit.repository)
    code_only = {
        "branches": {"includes": ["main"]},
        "filePaths": {"includes": ["src/**", "docs/api/**"], "excludes": ["docs/**", "**/*.md"]},
    }
    kit.create(approval_stage(), triggers=push_trigger(code_only))
    work.commit({"docs/guide.txt": "words\n"})
    work.push("main")
    work.commit({"docs/api/reference.txt": "excluded by docs/**\n", "src/notes.md": "excluded by *.md\n"})
    work.push("main")
    kit.expect_runs(1)
    code = work.commit({"src/app.py": "print('hi')\n"})
    work.push("main")
    assert kit.revision(kit.expect_runs(2)[-1]["pipelineExecutionId"]) == code


def test_a_tag_filter_runs_the_tagged_commit(kit, work, connection_arn):
    kit.source = connection_source(connection_arn, kit.repository)
    tags = {"tags": {"includes": ["v*"], "excludes": ["v*-rc*"]}}
    kit.create(approval_stage(), triggers=push_trigger(tags))
    tagged = work.commit({"app.txt": "1.0\n"})
    work.push("main")
    work.git("tag", "-a", "v1.0-rc1", "-m", "candidate")
    work.push("v1.0-rc1")
    kit.expect_runs(1)
    work.git("tag", "-a", "v1.0", "-m", "release")
    work.commit({"app.txt": "after the tag\n"})
    work.push("main", "v1.0")
    run = kit.expect_runs(2)[-1]
    assert trigger_of(run) == ("WebhookV2", connection_arn)
    _, artifact = kit.source_output(run["pipelineExecutionId"])
    assert artifact.read("app.txt") == b"1.0\n"
    assert kit.revision(run["pipelineExecutionId"]) == tagged


def test_a_file_deleted_through_the_api_starts_a_run(kit):
    kit.create(approval_stage())
    codecommit = kit.endpoint.client("codecommit")
    tip = codecommit.get_branch(repositoryName=kit.repository, branchName="main")["branch"]["commitId"]
    path = codecommit.get_folder(repositoryName=kit.repository, folderPath="/")["files"][0]["absolutePath"]
    deleted = codecommit.delete_file(
        repositoryName=kit.repository, branchName="main", filePath=path, parentCommitId=tip
    )
    run = kit.expect_runs(2)[-1]
    assert kit.revision(run["pipelineExecutionId"]) == deleted["commitId"]


def feature_branch(kit, path: str):
    """A branch `feature` off main with one more file, `path`; its CodeCommit client."""
    codecommit = kit.endpoint.client("codecommit")
    tip = codecommit.get_branch(repositoryName=kit.repository, branchName="main")["branch"]["commitId"]
    codecommit.create_branch(repositoryName=kit.repository, branchName="feature", commitId=tip)
    codecommit.put_file(
        repositoryName=kit.repository,
        branchName="feature",
        fileContent=f"{path}\n".encode(),
        filePath=path,
        parentCommitId=tip,
    )
    return codecommit


def test_a_merged_pull_request_starts_a_run_with_the_merge_commit(kit):
    kit.create(approval_stage())
    codecommit = feature_branch(kit, "reviewed.txt")
    targets = [
        {"repositoryName": kit.repository, "sourceReference": "feature", "destinationReference": "main"}
    ]
    pull = codecommit.create_pull_request(title="Review me", targets=targets)["pullRequest"]
    merged = codecommit.merge_pull_request_by_three_way(
        pullRequestId=pull["pullRequestId"], repositoryName=kit.repository
    )["pullRequest"]["pullRequestTargets"][0]["mergeMetadata"]
    run = kit.expect_runs(2)[-1]
    assert kit.revision(run["pipelineExecutionId"]) == merged["mergeCommitId"]


def test_a_branch_merge_starts_a_run_with_the_merge_commit(kit):
    kit.create(approval_stage())
    codecommit = feature_branch(kit, "merged.txt")
    merged = codecommit.merge_branches_by_squash(
        repositoryName=kit.repository, sourceCommitSpecifier="feature", destinationCommitSpecifier="main"
    )
    run = kit.expect_runs(2)[-1]
    assert kit.revision(run["pipelineExecutionId"]) == merged["commitId"]


def test_a_renamed_repository_no_longer_starts_the_pipeline_of_its_old_name(kit, unique):
    kit.create(approval_stage())
    codecommit = kit.endpoint.client("codecommit")
    renamed = f"renamed-{unique}"
    codecommit.update_repository_name(oldName=kit.repository, newName=renamed)
    tip = codecommit.get_branch(repositoryName=renamed, branchName="main")["branch"]["commitId"]
    codecommit.put_file(
        repositoryName=renamed, branchName="main", fileContent=b"x\n", filePath="x.txt", parentCommitId=tip
    )
    kit.expect_runs(1)
    codecommit.update_repository_name(oldName=renamed, newName=kit.repository)  # for the fixture's teardown


def test_an_update_delivered_late_starts_only_pipelines_that_existed_before_it(tmp_path):
    """The worker may reach a push after a pipeline was created (a busy machine): it never saw that push."""
    from labhelpers.local.codecommit.store import RepoStore
    from labhelpers.local.codeconnections.store import ConnectionStore
    from labhelpers.local.codepipeline.engine.connection_source import PushedRevisions
    from labhelpers.local.codepipeline.store import PipelineStore
    from labhelpers.local.codepipeline.triggers import ChangeDetection

    class Engine:
        permissions = None

        def __init__(self):
            self.started = []

        def start(self, declaration, trigger_type, *, region, trigger_detail):
            self.started.append(declaration["name"])
            return type("Execution", (), {"id": str(len(self.started))})

    repos = RepoStore(tmp_path / "repos", config.ACCOUNT, config.REGION)
    repos.create("repo")
    pipelines = PipelineStore(tmp_path / "pipelines")
    engine = Engine()
    detection = ChangeDetection(
        repos=repos,
        pipelines=pipelines,
        engine=engine,
        connections=ConnectionStore(tmp_path / "connections.json", config.ACCOUNT),
        pushes=PushedRevisions(),
        account=config.ACCOUNT,
    )
    source = {"name": "Source", "actions": [codecommit_source("repo")]}
    pipelines.create({"name": "before", "stages": [source]})
    push = Push("repo", "refs/heads/main", None, "a" * 40, time.time())
    time.sleep(0.01)
    pipelines.create({"name": "after", "stages": [source]})
    detection._deliver(push)
    assert engine.started == ["before"]
