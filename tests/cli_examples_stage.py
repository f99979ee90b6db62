"""What a CodeCommit example of the aws CLI's own needs in place before it runs, made fresh for it: a
repository of its own with a branch ahead of main (diverged from it, with a conflicting edit, where the
example inspects merge conflicts), and the pull request, approval rule, comment or template it names. A fresh
repository per example keeps merges and deletions of one example from moving what another refers to, and
keeps them from starting the article's pipeline."""

import json
import time
import uuid

from labhelpers.local import config
from labhelpers.local.archives import zip_dir

# An approver other than the lab's user: every call is the lab's user, who may not approve their own pull
# request (as on AWS), so a pull request an example approves is recorded as this user's.
TEAMMATE = f"arn:aws:iam::{config.ACCOUNT}:user/teammate"
CONFLICTING = ("get-merge-conflicts", "describe-merge-conflicts", "batch-describe-merge-conflicts")
EMPTY = ("create-commit",)  # its example gives no parent: the first commit of a new repository
PULL_REQUEST_OPTIONS = ("--pull-request-id", "--comment-id", "--in-reply-to")
TEMPLATE_OPTIONS = ("--approval-rule-template-name", "--old-approval-rule-template-name")
SANDBOXED = {
    "get-differences",
    "delete-repository",
    "update-repository-name",
    "create-pull-request",
    "put-file",
    "create-commit",
    "post-comment-for-compared-commit",
    "get-comments-for-compared-commit",
    "get-merge-commit",
    "get-merge-options",
    "create-unreferenced-merge-commit",
    "merge-branches-by-fast-forward",
    "merge-branches-by-squash",
    "merge-branches-by-three-way",
    *CONFLICTING,
}
FILE = "readme.md"
STATEMENTS = [{"Type": "Approvers", "NumberOfApprovalsNeeded": 1, "ApprovalPoolMembers": ["*"]}]
RULE = {"Version": "2018-11-08", "Statements": STATEMENTS}
TEMPLATE = {"Version": "2018-11-08", "DestinationReferences": ["refs/heads/main"], "Statements": STATEMENTS}


class CodeCommitStage:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.cc = endpoint.client("codecommit")

    def needed(self, command: str, argv: list[str]) -> bool:
        creates = command == "create-approval-rule-template"
        named = PULL_REQUEST_OPTIONS + (() if creates else TEMPLATE_OPTIONS)
        return command in SANDBOXED or any(option in argv for option in named)

    def prepare(self, command: str, argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The example's options, and the names in its other arguments, mapped to what was made for it."""
        repository = f"example-{uuid.uuid4().hex[:10]}"
        self.cc.create_repository(repositoryName=repository)
        patterns = {
            "MyDemoRepo": repository,
            "MyOtherDemoRepo": repository,
            r"\bMyNewBranch\b": "feature",
            r"filePath=[^,]+": f"filePath={FILE}",  # a comment's --location
        }
        if command in EMPTY:
            return {"--repository-name": repository}, patterns
        if command == "get-differences":  # a folder renamed, and a file in it changed
            before = self._commit(repository, "main", None, {"tmp/example-folder/blob.txt": "one\n"})
            after = self._commit(repository, "main", before, {"tmp/renamed-folder/blob.txt": "two\n"})
            options = {"--before-commit-specifier": before, "--after-commit-specifier": after}
            return {"--repository-name": repository, **options}, patterns
        mapped = self._branches(command, repository)
        if any(option in argv for option in PULL_REQUEST_OPTIONS):
            mapped |= self._pull_request(command, argv, repository)
        if any(option in argv for option in TEMPLATE_OPTIONS):
            mapped |= self._template(command, repository)
        return mapped, patterns

    def _branches(self, command: str, repository: str) -> dict[str, str]:
        main = self._commit(repository, "main", None, {FILE: "base\n", "app.txt": "one\n"})
        source = self._commit(repository, "feature", main, {FILE: "from feature\n", "feature.txt": "new\n"})
        if command in CONFLICTING:
            main = self._commit(repository, "main", main, {FILE: "from main\n"})
        return {
            "--repository-name": repository,
            "--repository-names": repository,
            "--old-name": repository,
            "--source-commit-specifier": "feature",
            "--destination-commit-specifier": "main",
            "--branch-name": "feature",
            "--parent-commit-id": source,
            "--file-path": FILE,
            "--before-commit-id": main,
            "--before-commit-ID": main,
            "--after-commit-id": source,
            "--source-commit-id": source,
        }

    def _commit(self, repository: str, branch: str, parent: str | None, files: dict[str, str]) -> str:
        if parent and branch not in self.cc.list_branches(repositoryName=repository)["branches"]:
            self.cc.create_branch(repositoryName=repository, branchName=branch, commitId=parent)
        return self.cc.create_commit(
            repositoryName=repository,
            branchName=branch,
            **({"parentCommitId": parent} if parent else {}),
            putFiles=[{"filePath": path, "fileContent": text.encode()} for path, text in files.items()],
        )["commitId"]

    def _pull_request(self, command: str, argv: list[str], repository: str) -> dict[str, str]:
        targets = [
            {"repositoryName": repository, "sourceReference": "feature", "destinationReference": "main"}
        ]
        pull = self.cc.create_pull_request(
            title="An example's pull request", description="What it changes", targets=targets
        )["pullRequest"]
        pull_id, revision = pull["pullRequestId"], pull["revisionId"]
        mapped = {"--pull-request-id": pull_id, "--revision-id": revision}
        rule = _value(argv, "--approval-rule-name")
        if rule and command != "create-pull-request-approval-rule":
            self.cc.create_pull_request_approval_rule(
                pullRequestId=pull_id, approvalRuleName=rule, approvalRuleContent=json.dumps(RULE)
            )
        if command == "update-pull-request-approval-state":
            self._authored_by_teammate(repository, pull_id)
        if command == "get-pull-request-override-state":
            self.cc.override_pull_request_approval_rules(
                pullRequestId=pull_id, revisionId=revision, overrideStatus="OVERRIDE"
            )
        if "--comment-id" in argv or "--in-reply-to" in argv:
            target = pull["pullRequestTargets"][0]
            comment = self.cc.post_comment_for_pull_request(
                pullRequestId=pull_id,
                repositoryName=repository,
                beforeCommitId=target["destinationCommit"],
                afterCommitId=target["sourceCommit"],
                content="A comment the example works on.",
            )["comment"]["commentId"]
            mapped |= {"--comment-id": comment, "--in-reply-to": comment}
        return mapped

    def _template(self, command: str, repository: str) -> dict[str, str]:
        """A template of the example's own, associated with its repository where the example undoes that or
        lists it."""
        name = f"template-{uuid.uuid4().hex[:10]}"
        self.cc.create_approval_rule_template(
            approvalRuleTemplateName=name, approvalRuleTemplateContent=json.dumps(TEMPLATE)
        )
        if "disassociate" in command or command.startswith("list-"):
            self.cc.associate_approval_rule_template_with_repository(
                approvalRuleTemplateName=name, repositoryName=repository
            )
        return {"--approval-rule-template-name": name, "--old-approval-rule-template-name": name}

    def _authored_by_teammate(self, repository: str, pull_id: str) -> None:
        pulls = self.endpoint.layout.repos / f"{repository}.git" / "codecommit-pull-requests"
        path = pulls / f"{pull_id}.json"
        record = json.loads(path.read_text())
        record["pullRequest"]["authorArn"] = TEAMMATE
        path.write_text(json.dumps(record))


def _value(argv: list[str], option: str) -> str | None:
    return argv[argv.index(option) + 1] if option in argv[:-1] else None


JENKINS = {"category": "Test", "owner": "Custom", "provider": "MyJenkinsProviderName", "version": "1"}


class CodePipelineStage:
    """A pipeline of the example's own: its Deploy stage a manual approval, waiting where the example stops
    the run, rejected where it retries the failed stage; or a Test stage of the custom action the job
    examples poll for (their action type made once), its job left queued for poll-for-jobs, polled for the
    others."""

    APPROVALS = ("stop-pipeline-execution", "retry-stage-execution")
    JOBS = ("poll-for-jobs", "acknowledge-job", "get-job-details")

    def __init__(self, endpoint, names, role_arn: str):
        self.names = names
        self.role_arn = role_arn
        self.codepipeline = endpoint.client("codepipeline")
        self.custom_type = False

    def needed(self, command: str, argv: list[str]) -> bool:
        return command in self.APPROVALS + self.JOBS

    def prepare(self, command: str, argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        name = f"example-{uuid.uuid4().hex[:10]}"
        if command in self.JOBS:
            return self._job(command, name), {}
        approval = {
            "name": "Approve",
            "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
        }
        self.codepipeline.create_pipeline(pipeline=self._declaration(name, "Deploy", approval))
        execution = self._wait(name, lambda summary: summary)["pipelineExecutionId"]
        token = self._wait(name, lambda _: self._latest(name, "Deploy", "token"))
        if command == "retry-stage-execution":
            self.codepipeline.put_approval_result(
                pipelineName=name,
                stageName="Deploy",
                actionName="Approve",
                result={"summary": "Rejected so that the example retries it", "status": "Rejected"},
                token=token,
            )
            self._wait(name, lambda summary: summary["status"] == "Failed")
        return {"--pipeline-name": name, "--name": name, "--pipeline-execution-id": execution}, {}

    def _job(self, command: str, name: str) -> dict[str, str]:
        if not self.custom_type:
            self.codepipeline.create_custom_action_type(
                **{key: value for key, value in JENKINS.items() if key != "owner"},
                configurationProperties=[
                    {"name": "ProjectName", "required": True, "key": True, "secret": False, "queryable": True}
                ],
                inputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
                outputArtifactDetails={"minimumCount": 0, "maximumCount": 1},
            )
            self.custom_type = True
        action = {
            "name": "Jenkins",
            "actionTypeId": JENKINS,
            "configuration": {"ProjectName": "MyJenkinsTestProject"},
            "inputArtifacts": [{"name": "SourceOutput"}],
        }
        self.codepipeline.create_pipeline(pipeline=self._declaration(name, "Test", action))
        self._wait(name, lambda _: self._latest(name, "Test", "status") == "InProgress")
        if command == "poll-for-jobs":
            return {}
        [job] = self.codepipeline.poll_for_jobs(
            actionTypeId=JENKINS, maxBatchSize=1, queryParam={"ProjectName": "MyJenkinsTestProject"}
        )["jobs"]
        return {"--job-id": job["id"], "--nonce": job["nonce"]}

    def _declaration(self, name: str, stage: str, action: dict) -> dict:
        source = {
            "name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {
                "RepositoryName": self.names.repository,
                "BranchName": "main",
                "PollForSourceChanges": "false",
            },
            "outputArtifacts": [{"name": "SourceOutput"}],
        }
        return {
            "name": name,
            "roleArn": self.role_arn,
            "artifactStore": {"type": "S3", "location": self.names.bucket},
            "stages": [{"name": "Source", "actions": [source]}, {"name": stage, "actions": [action]}],
        }

    def _latest(self, name: str, stage: str, key: str) -> str | None:
        """A field of the latest execution of the stage's action."""
        stages = self.codepipeline.get_pipeline_state(name=name)["stageStates"]
        found = next(state for state in stages if state["stageName"] == stage)
        return next((a.get("latestExecution", {}).get(key) for a in found.get("actionStates", [])), None)

    def _wait(self, name: str, until, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = self.codepipeline.list_pipeline_executions(pipelineName=name)
            summaries = listed["pipelineExecutionSummaries"]
            found = summaries and until(summaries[0])
            if found:
                return found
            time.sleep(0.2)
        raise TimeoutError(f"{name}: the example's pipeline did not get there in {timeout} s")


BUILDSPEC = """version: 0.2
phases:
  build:
    commands:
      - echo built > built.txt
artifacts:
  files: [built.txt]
"""
SLOW_BUILDSPEC = BUILDSPEC.replace("echo built > built.txt", "sleep 60")


class CodeBuildProjects:
    """The projects CodeBuild's examples use besides the article's, as their documented outputs show them: one
    of an S3 source (a zip in the lab's versioned bucket) with zipped S3 artifacts, and a finished build of it
    at the zip's version; one that builds in batches from the article's CodeCommit repository; one of a GitHub
    source, with GitHub credentials imported, for webhooks."""

    def __init__(self, endpoint, names, folder):
        codebuild, s3 = endpoint.client("codebuild"), endpoint.client("s3")
        article = codebuild.batch_get_projects(names=[names.build_project])["projects"][0]
        common = {"environment": article["environment"], "serviceRole": article["serviceRole"]}
        (folder / "buildspec.yml").write_text(BUILDSPEC)
        key = "cli-examples/source.zip"
        version = s3.put_object(Bucket=names.bucket, Key=key, Body=zip_dir(folder))["VersionId"]
        self.standalone = codebuild.create_project(
            name=f"{names.prefix}-standalone",
            source={"type": "S3", "location": f"{names.bucket}/{key}"},
            artifacts={
                "type": "S3",
                "location": names.bucket,
                "packaging": "ZIP",
                "name": "built.zip",
                "overrideArtifactName": True,
            },
            **common,
        )["project"]["name"]
        self.build = codebuild.start_build(projectName=self.standalone, sourceVersion=version)["build"]["id"]
        clone_url = endpoint.client("codecommit").get_repository(repositoryName=names.repository)[
            "repositoryMetadata"
        ]["cloneUrlHttp"]
        self.batches = codebuild.create_project(  # builds in batches of two, a quick one and one of 30 s
            name=f"{names.prefix}-batches",
            source={
                "type": "CODECOMMIT",
                "location": clone_url,
                "gitCloneDepth": 1,
                "gitSubmodulesConfig": {"fetchSubmodules": False},
                "buildspec": batchspec(30),
            },
            artifacts={"type": "NO_ARTIFACTS"},
            buildBatchConfig={"serviceRole": article["serviceRole"]},
            **common,
        )["project"]["name"]
        codebuild.import_source_credentials(  # never used: GitHub credentials let a webhook be made
            serverType="GITHUB", authType="PERSONAL_ACCESS_TOKEN", token="cli-examples-token"
        )
        self.github = codebuild.create_project(
            name=f"{names.prefix}-github",
            source={"type": "GITHUB", "location": "https://github.com/example/app.git"},
            artifacts={"type": "NO_ARTIFACTS"},
            **common,
        )["project"]["name"]
        deadline = time.monotonic() + 60
        while codebuild.batch_get_builds(ids=[self.build])["builds"][0]["buildStatus"] == "IN_PROGRESS":
            assert time.monotonic() < deadline, f"{self.build} did not finish in 60 s"
            time.sleep(0.2)


def batchspec(pause: int) -> str:
    """A batch of two builds: one quick, one that takes `pause` seconds."""
    return f"""version: 0.2
batch:
  build-list:
    - identifier: quick
      env:
        variables:
          PAUSE: "0"
    - identifier: slow
      env:
        variables:
          PAUSE: "{pause}"
phases:
  build:
    commands:
      - sleep $PAUSE
"""


def _finished(batch: dict) -> bool:
    return batch["buildBatchStatus"] != "IN_PROGRESS"


def _one_done(batch: dict) -> bool:
    summaries = [group.get("currentBuildSummary", {}) for group in batch.get("buildGroups", [])]
    return any(summary.get("buildStatus") == "SUCCEEDED" for summary in summaries)


JUNIT = '<testsuite name="unit" tests="1"><testcase classname="app" name="adds" time="0.1"/></testsuite>'
COBERTURA = (
    '<coverage><packages><package name="app"><classes><class name="app" filename="app.py"><lines>'
    '<line number="1" hits="1"/><line number="2" hits="0"/></lines></class></classes></package></packages>'
    "</coverage>"
)
REPORTING_BUILDSPEC = f"""version: 0.2
phases:
  build:
    commands:
      - echo '{JUNIT}' > junit.xml
      - echo '{COBERTURA}' > coverage.xml
reports:
  unit:
    files: [junit.xml]
    file-format: JUNITXML
  coverage:
    files: [coverage.xml]
    file-format: COBERTURAXML
artifacts:
  files: [junit.xml]
"""


class CodeBuildStage:
    """Reports from a build of the example's own (a JUnit test report, a Cobertura coverage report), and the
    report group, report or source credential an example deletes or changes by --arn; batches of the batch
    project; the GitHub project for webhooks."""

    REPORTS = ("--report-arn", "--report-arns", "--report-group-arn", "--report-group-arns", "--arn")

    def __init__(self, endpoint, projects: "CodeBuildProjects"):
        self.project = projects.standalone
        self.batch_project = projects.batches
        self.github_project = projects.github
        self.codebuild = endpoint.client("codebuild")

    def needed(self, command: str, argv: list[str]) -> bool:
        webhooks = command.endswith("-webhook")
        return webhooks or "build-batch" in command or any(option in argv for option in self.REPORTS)

    def prepare(self, command: str, argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        if command.endswith("-webhook"):  # only a GitHub (Bitbucket, GitLab) source has webhooks
            return {"--project-name": self.github_project}, {}
        if command == "stop-build":
            build = self.codebuild.start_build(projectName=self.project, buildspecOverride=SLOW_BUILDSPEC)
            return {"--id": build["build"]["id"]}, {}
        if "build-batch" in command:
            return self._batch(command), {}
        if command == "delete-source-credentials":
            arn = self.codebuild.import_source_credentials(
                token="example-token", serverType="GITHUB", authType="PERSONAL_ACCESS_TOKEN"
            )["arn"]
            return {"--arn": arn}, {}
        if command in (
            "delete-report-group",
            "update-report-group",
        ):  # an empty one: AWS keeps a group with reports
            group = self.codebuild.create_report_group(
                name=f"example-{uuid.uuid4().hex[:10]}",
                type="TEST",
                exportConfig={"exportConfigType": "NO_EXPORT"},
            )["reportGroup"]["arn"]
            return {"--arn": group}, {}
        tests, coverage = self._reports()
        group = tests["reportGroupArn"]
        mapped = {
            "--report-group-arn": group,
            "--report-group-arns": group,
            "--report-arns": tests["arn"],
            "--arn": tests["arn"],
            "--report-arn": coverage["arn"] if command == "describe-code-coverages" else tests["arn"],
        }
        return mapped, {}

    def _batch(self, command: str) -> dict[str, str]:
        """The batch project for start and listings; a finished batch to read, a batch whose quick build is
        done and whose slow one runs to stop, a stopped one to retry or delete."""
        options = {"--project-name": self.batch_project}
        if command.startswith(("start-", "list-")):
            return options
        quick = command.startswith("batch-get")
        batch = self.codebuild.start_build_batch(
            projectName=self.batch_project, **({"buildspecOverride": batchspec(0)} if quick else {})
        )["buildBatch"]["id"]
        self._until(
            batch, lambda found: found["buildBatchStatus"] != "IN_PROGRESS" if quick else _one_done(found)
        )
        if not quick and command != "stop-build-batch":
            self.codebuild.stop_build_batch(id=batch)
            self._until(batch, _finished)
        return options | {"--id": batch, "--ids": batch}

    def _until(self, batch: str, done) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = self.codebuild.batch_get_build_batches(ids=[batch])["buildBatches"][0]
            if done(found):
                return found
            time.sleep(0.2)
        raise TimeoutError(f"{batch}: the example's batch did not get there in 60 s")

    def _reports(self) -> tuple[dict, dict]:
        build = self.codebuild.start_build(projectName=self.project, buildspecOverride=REPORTING_BUILDSPEC)
        build_id = build["build"]["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = self.codebuild.batch_get_builds(ids=[build_id])["builds"][0]
            if found["buildStatus"] != "IN_PROGRESS" and found.get("reportArns"):
                reports = self.codebuild.batch_get_reports(reportArns=found["reportArns"])["reports"]
                by_type = {report["type"]: report for report in reports}
                return by_type["TEST"], by_type["CODE_COVERAGE"]
            time.sleep(0.2)
        raise TimeoutError(f"{build_id}: the example's build made no reports in 60 s")


APPSPEC = """version: 0.0
os: linux
hooks:
  ApplicationStart:
    - location: wait.sh
      timeout: 120
"""


class CodeDeployStage:
    """A deployment of the example's own to the article's group, from a revision in its versioned bucket that
    names its version and eTag (as `aws deploy push` registers one): finished where the example reads it,
    waiting in its ApplicationStart hook where the example stops it; an application and group of the
    example's own where it renames them."""

    DEPLOYMENTS = ("get-deployment", "batch-get-deployments", "stop-deployment")
    RENAMES = ("update-application", "update-deployment-group")

    def __init__(self, endpoint, names, folder, role_arn: str):
        self.names = names
        self.folder = folder
        self.role_arn = role_arn
        self.codedeploy = endpoint.client("codedeploy")
        self.s3 = endpoint.client("s3")

    def needed(self, command: str, argv: list[str]) -> bool:
        return command in self.DEPLOYMENTS + self.RENAMES

    def prepare(self, command: str, argv: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        if command in self.RENAMES:
            return self._own_group(), {}
        wait = 60 if command == "stop-deployment" else 0
        deployment = self.codedeploy.create_deployment(
            applicationName=self.names.application,
            deploymentGroupName=self.names.deployment_group,
            revision=self._revision(wait),
            description="A deployment of a CLI example's own",
        )["deploymentId"]
        self._until(deployment, "InProgress" if wait else "Succeeded")
        return {"--deployment-id": deployment, "--deployment-ids": deployment}, {}

    def _own_group(self) -> dict[str, str]:
        application = f"example-{uuid.uuid4().hex[:10]}"
        self.codedeploy.create_application(applicationName=application)
        self.codedeploy.create_deployment_group(
            applicationName=application, deploymentGroupName="group", serviceRoleArn=self.role_arn
        )
        return {"--application-name": application, "--current-deployment-group-name": "group"}

    def _revision(self, wait: int) -> dict:
        bundle = self.folder / f"revision-{uuid.uuid4().hex[:10]}"
        bundle.mkdir()
        (bundle / "appspec.yml").write_text(APPSPEC)
        (bundle / "wait.sh").write_text(f"#!/bin/sh\nsleep {wait}\n")
        key = f"cli-examples/{bundle.name}.zip"
        put = self.s3.put_object(Bucket=self.names.bucket, Key=key, Body=zip_dir(bundle))
        location = {"bucket": self.names.bucket, "key": key, "bundleType": "zip"}
        location |= {"version": put["VersionId"], "eTag": put["ETag"].strip('"')}
        return {"revisionType": "S3", "s3Location": location}

    def _until(self, deployment: str, status: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]["status"]
            if found == status:
                return
            if found in ("Failed", "Stopped"):
                break
            time.sleep(0.2)
        raise TimeoutError(f"{deployment}: the example's deployment is {found}, not {status}")
