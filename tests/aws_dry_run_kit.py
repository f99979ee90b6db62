"""The AWS route without AWS: one moto server on 127.0.0.1 plays the learner's account for every kernel, every
`!aws` line and the test; what moto lacks is answered as AWS documents it.

Two kinds of stand-ins, each where it belongs:

* `serve(monkeypatch)`, in the test process: the moto server, and what moto lacks of the *account's state*,
  which the kernel, the aws CLI and the test must all see alike: CodeDeploy's deletes, CodeCommit's
  repository list, CodeBuild's report groups and CODEPIPELINE sources, and CodePipeline's structural check
  of a declaration (moto creates a pipeline whose artifacts do not connect; AWS refuses it).
* `install(refuse=...)`, in a notebook's kernel (its first cell): botocore `before-call` handlers on every
  client the kernel makes, answering what moto cannot play (AWS's own behaviour, not stored state): the
  "not usable yet" refusals while a new role propagates, a CodeCommit commit and its branch, the CodeDeploy
  agent's check through SSM, the run that CreatePipeline starts, and CodeConnections (not in moto). IAM
  waits (propagation.PATIENCE) and the agent's poll do not sleep.
"""

import json
import os
import uuid
from datetime import UTC, datetime

ACCOUNT = "111122223333"
REGION = "ap-southeast-1"
# What each service answers while the role or instance profile it is given is not usable yet, as AWS words it
# (labhelpers.propagation.NOT_YET; the same answers as tests/test_propagation.py's).
NOT_YET = {
    "codebuild.CreateProject": (
        "InvalidInputException",
        f"CodeBuild is not authorized to perform: sts:AssumeRole on arn:aws:iam::{ACCOUNT}:role/{{prefix}}"
        "-codebuild-role",
    ),
    "codedeploy.CreateDeploymentGroup": ("InvalidRoleException", "Cannot assume role provided."),
    "codepipeline.CreatePipeline": (
        "InvalidStructureException",
        f"CodePipeline is not authorized to perform AssumeRole on role arn:aws:iam::{ACCOUNT}:role/{{prefix}}"
        "-codepipeline-role",
    ),
    "ec2.RunInstances": (
        "InvalidParameterValue",
        "Value ({prefix}-ec2-profile) for parameter iamInstanceProfile.name is invalid. "
        "Invalid IAM Instance Profile name",
    ),
}
# What the lab prints once per create it retries (labhelpers.propagation.until_usable).
WAITING = "{by} cannot use the new IAM role {role} yet"


# -- in the kernel ------------------------------------------------------------------------------------------


def _answer(status: int, parsed: dict):
    """A before-call handler's answer: botocore takes it as the service's and calls nothing."""
    from botocore.awsrequest import AWSResponse

    parsed.setdefault("ResponseMetadata", {}).update({"HTTPStatusCode": status, "HTTPHeaders": {}})
    return AWSResponse(None, status, {}, None), parsed


def _body(params) -> dict:
    body = params.get("body") or b"{}"
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def _error(code: str, message: str, status: int = 400):
    return _answer(status, {"Error": {"Code": code, "Message": message}})


class _Account:
    """What this kernel's fakes remember: refusals still to give, what was committed, the run CreatePipeline
    started."""

    def __init__(self, refuse: dict[str, int], prefix: str):
        self.refuse = dict(refuse)
        self.prefix = prefix
        self.refused: list[str] = []
        self.branches: dict[str, str] = {}  # repository -> head commit
        self.runs: dict[str, dict] = {}  # pipeline -> its execution summary

    # Each handler receives botocore's `params` (the request as serialized: every faked operation speaks JSON,
    # read with `_body`) and returns an answer, or None to let the call go on to moto.

    def not_yet(self, operation: str):
        def handler(params, **_):
            if self.refuse.get(operation, 0) <= 0:
                return None
            self.refuse[operation] -= 1
            self.refused.append(operation)
            code, message = NOT_YET[operation]
            return _error(code, message.format(prefix=self.prefix))

        return handler

    # CodeCommit's data plane: moto keeps repositories but no commits.
    def get_branch(self, params, **_):
        params = _body(params)
        name, branch = params["repositoryName"], params["branchName"]
        if name not in self.branches:  # AWS: 400 BranchDoesNotExistException for a repository with no commit
            return _error("BranchDoesNotExistException", f"Could not find branch {branch}.")
        return _answer(200, {"branch": {"branchName": branch, "commitId": self.branches[name]}})

    def create_commit(self, params, **_):
        params = _body(params)
        # AWS: CreateCommitOutput: the commit, its tree, and an entry per file added.
        commit = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.branches[params["repositoryName"]] = commit
        added = [
            {
                "absolutePath": f["filePath"],
                "blobId": uuid.uuid4().hex,
                "fileMode": f.get("fileMode", "NORMAL"),
            }
            for f in params.get("putFiles", [])
        ]
        return _answer(
            200,
            {
                "commitId": commit,
                "treeId": uuid.uuid4().hex,
                "filesAdded": added,
                "filesUpdated": [],
                "filesDeleted": [],
            },
        )

    # The CodeDeploy agent, asked through Session Manager: moto has no managed instances.
    def describe_instance_information(self, params, **_):
        params = _body(params)
        # AWS: the instance is listed once its SSM agent has registered; PingStatus Online.
        ids = [i for f in params.get("Filters", []) if f["Key"] == "InstanceIds" for i in f["Values"]]
        listed = [{"InstanceId": i, "PingStatus": "Online", "PlatformType": "Linux"} for i in ids]
        return _answer(200, {"InstanceInformationList": listed})

    def send_command(self, params, **_):
        params = _body(params)
        # AWS: SendCommandResult.Command, Pending at first.
        command = {
            "CommandId": str(uuid.uuid4()),
            "InstanceIds": params["InstanceIds"],
            "Status": "Pending",
            "DocumentName": params["DocumentName"],
        }
        return _answer(200, {"Command": command})

    def get_command_invocation(self, params, **_):
        params = _body(params)
        # AWS: the script's result; `systemctl is-active codedeploy-agent` prints "active".
        return _answer(
            200,
            {
                "CommandId": params["CommandId"],
                "InstanceId": params["InstanceId"],
                "Status": "Success",
                "ResponseCode": 0,
                "StandardOutputContent": "active\n",
                "StandardErrorContent": "",
            },
        )

    # CodePipeline: moto stores pipelines but runs nothing. AWS starts a run when a pipeline is created; here
    # it is in progress in Source (it goes no further: the notebooks that follow a run are not run on moto).
    def _started(self, pipeline: str) -> None:
        now = datetime.now(UTC)
        self.runs[pipeline] = {
            "pipelineExecutionId": str(uuid.uuid4()),
            "status": "InProgress",
            "startTime": now,
            "lastUpdateTime": now,
            "trigger": {"triggerType": "CreatePipeline", "triggerDetail": f"arn:aws:iam::{ACCOUNT}:user/lab"},
            "executionMode": "SUPERSEDED",
        }

    def _run_of(self, params) -> dict:
        name = params.get("pipelineName") or params["name"]  # GetPipelineState names it `name`
        if name not in self.runs:  # the aws CLI created it, out of this kernel's sight
            self._started(name)
        return self.runs[name]

    def list_pipeline_executions(self, params, **_):
        params = _body(params)
        return _answer(200, {"pipelineExecutionSummaries": [self._run_of(params)]})

    def get_pipeline_execution(self, params, **_):
        params = _body(params)
        run = self._run_of(params)
        if params["pipelineExecutionId"] != run["pipelineExecutionId"]:
            return _error("PipelineExecutionNotFoundException", "Execution not found")
        return _answer(
            200,
            {
                "pipelineExecution": {
                    "pipelineName": params["pipelineName"],
                    "pipelineVersion": 1,
                    "pipelineExecutionId": run["pipelineExecutionId"],
                    "status": "InProgress",
                    "artifactRevisions": [],
                    "trigger": run["trigger"],
                    "executionMode": "SUPERSEDED",
                }
            },
        )

    def get_pipeline_state(self, params, **_):
        params = _body(params)
        # AWS: the stages the run reached; Source in progress, the others not yet run.
        run = self._run_of(params)
        latest = {"pipelineExecutionId": run["pipelineExecutionId"], "status": "InProgress"}
        source = {
            "stageName": "Source",
            "latestExecution": latest,
            "actionStates": [{"actionName": "Source", "latestExecution": {"status": "InProgress"}}],
        }
        return _answer(
            200,
            {
                "pipelineName": params["name"],
                "pipelineVersion": 1,
                "stageStates": [source],
                "created": run["startTime"],
                "updated": run["startTime"],
            },
        )

    def list_action_executions(self, params, **_):
        params = _body(params)
        run = self._run_of(params)
        detail = {
            "pipelineExecutionId": run["pipelineExecutionId"],
            "actionExecutionId": str(uuid.uuid4()),
            "pipelineVersion": 1,
            "stageName": "Source",
            "actionName": "Source",
            "startTime": run["startTime"],
            "lastUpdateTime": run["startTime"],
            "status": "InProgress",
            "input": {
                "actionTypeId": {
                    "category": "Source",
                    "owner": "AWS",
                    "provider": "CodeCommit",
                    "version": "1",
                }
            },
        }
        return _answer(200, {"actionExecutionDetails": [detail]})

    # CodeConnections is not in moto; the lab makes connections only in 07, not run here.
    def list_connections(self, params, **_):
        return _answer(200, {"Connections": []})

    def handlers(self) -> dict:
        found = {f"before-call.{op}": self.not_yet(op) for op in NOT_YET}
        for event, handler in {
            "codecommit.GetBranch": self.get_branch,
            "codecommit.CreateCommit": self.create_commit,
            "ssm.DescribeInstanceInformation": self.describe_instance_information,
            "ssm.SendCommand": self.send_command,
            "ssm.GetCommandInvocation": self.get_command_invocation,
            "codepipeline.ListPipelineExecutions": self.list_pipeline_executions,
            "codepipeline.GetPipelineExecution": self.get_pipeline_execution,
            "codepipeline.GetPipelineState": self.get_pipeline_state,
            "codepipeline.ListActionExecutions": self.list_action_executions,
            "codeconnections.ListConnections": self.list_connections,
        }.items():
            found[f"before-call.{event}"] = handler
        return found


ACCOUNT_STATE: _Account | None = None


def install(*, refuse: dict[str, int] | None = None, prefix: str = "awscicd") -> _Account:
    """In a kernel: every botocore client made from now on gets the fakes; `refuse` gives the number of
    "not usable yet" answers per operation (keys of NOT_YET) before the call reaches moto. IAM waits and the
    agent's poll return at once."""
    global ACCOUNT_STATE
    import botocore.session

    from labhelpers import prerequisites, propagation

    assert os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"), "no moto server in sight"
    unknown = set(refuse or {}) - set(NOT_YET)
    assert not unknown, f"no refusal known for {unknown}"
    ACCOUNT_STATE = account = _Account(refuse or {}, prefix)
    propagation.PATIENCE = propagation.Patience(sleep=lambda seconds: None)
    prerequisites.AGENT_POLL = 0
    create_client = botocore.session.Session.create_client

    def with_fakes(self, service_name, *args, **kwargs):
        client = create_client(self, service_name, *args, **kwargs)
        for event, handler in account.handlers().items():
            client.meta.events.register(event, handler)
        return client

    botocore.session.Session.create_client = with_fakes
    return account


REFUSED_CELL_ID = "aws-dry-run-refused"
REFUSED_SOURCE = "aws_dry_run_kit.print_refused()"


def print_refused() -> None:
    """The last cell of a notebook's copy: the refusals this kernel gave, as JSON."""
    print(json.dumps(ACCOUNT_STATE.refused))


def setup_source(tests: str, refuse: dict[str, int], prefix: str = "awscicd") -> str:
    """The cell prepended to a notebook's copy: the kit from the tests folder, installed with `refuse`."""
    return (
        "# Injected by the test: moto answers; what it lacks is answered as AWS does (aws_dry_run_kit).\n"
        f"import sys\nsys.path.insert(0, {tests!r})\nimport aws_dry_run_kit\n"
        f"aws_dry_run_kit.install(refuse={refuse!r}, prefix={prefix!r})"
    )


# -- in the test process -------------------------------------------------------------------------------------


# "Not usable yet" answers the moto server gives any client, the aws CLI's too (set by a test, then spent).
SERVER_REFUSALS = {"codepipeline.CreatePipeline": 0}


def patch_moto(monkeypatch) -> None:
    """What moto lacks of the account's state, added to moto itself, so the kernel, the aws CLI and the
    test see one account."""
    from moto.codecommit.responses import CodeCommitResponse
    from moto.codedeploy.responses import CodeDeployResponse
    from moto.codepipeline.models import CodePipelineBackend
    from moto.core.exceptions import JsonRESTError
    from test_aws_mode import patch_codebuild

    from labhelpers import pipelines

    patch_codebuild(monkeypatch)

    def list_repositories(self):
        # AWS: ListRepositoriesOutput, each repository's name and id, by name
        held = self.codecommit_backend.repositories.values()
        listed = [
            {
                "repositoryName": r.repository_metadata["repositoryName"],
                "repositoryId": r.repository_metadata["repositoryId"],
            }
            for r in held
        ]
        return json.dumps({"repositories": sorted(listed, key=lambda r: r["repositoryName"])})

    monkeypatch.setattr(CodeCommitResponse, "list_repositories", list_repositories, raising=False)

    def delete_deployment_group(self):
        # AWS: DeleteDeploymentGroupOutput; a group that is not there is deleted all the same
        app, group = self._get_param("applicationName"), self._get_param("deploymentGroupName")
        self.codedeploy_backend.deployment_groups.get(app, {}).pop(group, None)
        return json.dumps({"hooksNotCleanedUp": []})

    def delete_application(self):
        # AWS: no output; the application's deployment groups go with it
        app = self._get_param("applicationName")
        self.codedeploy_backend.applications.pop(app, None)
        self.codedeploy_backend.deployment_groups.pop(app, None)
        return "{}"

    monkeypatch.setattr(CodeDeployResponse, "delete_deployment_group", delete_deployment_group, raising=False)
    monkeypatch.setattr(CodeDeployResponse, "delete_application", delete_application, raising=False)

    create_pipeline = CodePipelineBackend.create_pipeline

    def checked(self, pipeline, tags):
        # AWS checks the structure (artifacts that connect, ...) and refuses with the field; moto does not
        problems = pipelines.validate({"pipeline": pipeline})
        if problems:
            raise JsonRESTError(*pipelines.service_error(problems))
        if SERVER_REFUSALS["codepipeline.CreatePipeline"] > 0:  # for every client, the aws CLI's too
            SERVER_REFUSALS["codepipeline.CreatePipeline"] -= 1
            code = NOT_YET["codepipeline.CreatePipeline"][0]
            raise JsonRESTError(
                code, f"CodePipeline is not authorized to perform AssumeRole on role {pipeline['roleArn']}"
            )
        return create_pipeline(self, pipeline, tags)

    monkeypatch.setattr(CodePipelineBackend, "create_pipeline", checked)


def environment(url: str, config: str) -> dict[str, str]:
    """What a kernel and its `!aws` lines get: the moto server for every service, dummy keys, no profile,
    no instance metadata, no way out of 127.0.0.1."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": config,
        "AWS_SHARED_CREDENTIALS_FILE": config,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_PAGER": "",
        # Whatever would leave 127.0.0.1 goes to a proxy that is not there, and fails.
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "LAB_BACKEND": "aws",
        "LAB_PREFIX": "awscicd",
    }


def serve(monkeypatch):
    """Start a moto server on 127.0.0.1 (a free port) with the lab's account and AWS's managed policies;
    return it and its URL. Stop it with `.stop()`."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from moto.server import ThreadedMotoServer

    patch_moto(monkeypatch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
