"""Building blocks for pipeline tests: a role, a bucket and a repository on the endpoint, declarations
made of a CodeCommit source and whatever stages a test needs, and waiting on states by polling."""

import json
import time
import uuid

import labhelpers as lh
from labhelpers import pipelines, prerequisites, roles
from labhelpers.local import config
from labhelpers.roles import trust_policy

TRUST = json.dumps(trust_policy())
ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


class Kit:
    """Resources named from one suffix, so tests share an endpoint without colliding."""

    def __init__(self, endpoint, unique: str):
        self.endpoint = endpoint
        self.unique = unique
        self.role = f"pipe-role-{unique}"
        self.bucket = f"pipe-artifacts-{unique}"
        self.repository = f"pipe-repo-{unique}"
        self.pipeline = f"pipe-{unique}"
        self.codepipeline = endpoint.client("codepipeline")

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{config.ACCOUNT}:role/{self.role}"

    def setup(self, files: dict[str, str] | None = None) -> str:
        """Role (allowed everything), versioned bucket, repository with `files` on main; the commit id."""
        iam, s3, codecommit = (self.endpoint.client(s) for s in ("iam", "s3", "codecommit"))
        iam.create_role(RoleName=self.role, AssumeRolePolicyDocument=TRUST)
        iam.put_role_policy(RoleName=self.role, PolicyName="everything", PolicyDocument=ADMIN)
        s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
        s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        codecommit.create_repository(repositoryName=self.repository)
        put = [
            {"filePath": path, "fileContent": content.encode()}
            for path, content in (files or {"README.md": "hello\n"}).items()
        ]
        return codecommit.create_commit(
            repositoryName=self.repository, branchName="main", putFiles=put, commitMessage="first"
        )["commitId"]

    def create_build_role(self) -> None:
        """build-role-<suffix>, which CodeBuild may assume (test_pipeline_builds' projects run under it)."""
        self.endpoint.client("iam").create_role(
            RoleName=f"build-role-{self.unique}",
            AssumeRolePolicyDocument=json.dumps(trust_policy("codebuild.amazonaws.com")),
        )

    def source_stage(self, namespace: str | None = None) -> dict:
        action = {
            "name": "Source",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {
                "RepositoryName": self.repository,
                "BranchName": "main",
                "PollForSourceChanges": "false",
            },
            "outputArtifacts": [{"name": "SourceOutput"}],
        }
        if namespace:
            action["namespace"] = namespace
        return {"name": "Source", "actions": [action]}

    def declaration(self, *stages: dict, mode: str | None = None, **extra) -> dict:
        pipeline = {
            "name": self.pipeline,
            "roleArn": self.role_arn,
            "artifactStore": {"type": "S3", "location": self.bucket},
            "pipelineType": "V2",
            "stages": [self.source_stage(), *stages],
            **extra,
        }
        if mode:
            pipeline["executionMode"] = mode
        return pipeline

    def create(self, *stages: dict, mode: str | None = None, **extra) -> str:
        """Create the pipeline; the id of the execution its creation started."""
        self.codepipeline.create_pipeline(pipeline=self.declaration(*stages, mode=mode, **extra))
        return self.wait_for(
            lambda: self.executions()[-1]["pipelineExecutionId"] if self.executions() else None
        )

    def start(self, **options) -> str:
        return self.codepipeline.start_pipeline_execution(name=self.pipeline, **options)[
            "pipelineExecutionId"
        ]

    def executions(self) -> list[dict]:
        """Oldest first."""
        found = self.codepipeline.list_pipeline_executions(pipelineName=self.pipeline)
        return list(reversed(found["pipelineExecutionSummaries"]))

    def execution(self, execution_id: str) -> dict:
        return self.codepipeline.get_pipeline_execution(
            pipelineName=self.pipeline, pipelineExecutionId=execution_id
        )["pipelineExecution"]

    def status(self, execution_id: str) -> str:
        return self.execution(execution_id)["status"]

    def wait_status(self, execution_id: str, *wanted: str, timeout: float = 60) -> str:
        return self.wait_for(
            lambda: (s := self.status(execution_id)) in wanted and s,
            timeout,
            f"execution {execution_id} to be {wanted}",
        )

    def state(self) -> dict:
        return self.codepipeline.get_pipeline_state(name=self.pipeline)

    def stage_state(self, stage: str) -> dict:
        return next(s for s in self.state()["stageStates"] if s["stageName"] == stage)

    def approval_token(self, stage: str, execution_id: str, timeout: float = 30) -> str:
        """The token of the approval `execution_id` waits on in `stage`."""

        def token():
            details = self.actions(execution_id)
            waiting = [d for d in details if d["stageName"] == stage and d["status"] == "InProgress"]
            return waiting and self.stage_state(stage)["actionStates"][0]["latestExecution"].get("token")

        return self.wait_for(token, timeout, f"an approval in {stage} for {execution_id}")

    def answer(self, stage: str, token: str, status: str = "Approved", summary: str = "looks good"):
        self.codepipeline.put_approval_result(
            pipelineName=self.pipeline,
            stageName=stage,
            actionName=stage,
            result={"status": status, "summary": summary},
            token=token,
        )

    def actions(self, execution_id: str) -> list[dict]:
        return self.codepipeline.list_action_executions(
            pipelineName=self.pipeline, filter={"pipelineExecutionId": execution_id}
        )["actionExecutionDetails"]

    @staticmethod
    def wait_for(probe, timeout: float = 60, what: str = "a condition"):
        """Poll `probe` (clients poll; the engine does not) until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def article_lab(endpoint, letter: str) -> lh.Lab:
    """A Lab on the endpoint with the article's pipeline created (its first run started), under a prefix of
    its own that starts with `letter`."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"{letter}{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    declaration = pipelines.article_pipeline(made)
    roles.ensure_pipeline_role(made, declaration)
    made.client("codepipeline").create_pipeline(**declaration)
    return made


def approval_stage(name: str = "Approve", **configuration) -> dict:
    return {
        "name": name,
        "actions": [
            {
                "name": name,
                "actionTypeId": {
                    "category": "Approval",
                    "owner": "AWS",
                    "provider": "Manual",
                    "version": "1",
                },
                **({"configuration": configuration} if configuration else {}),
            }
        ],
    }
