"""connect(): the Lab — which backend, the boto3 clients, the account, region and resource names."""

import json
import os
import re
import sysconfig
from dataclasses import dataclass, field, replace

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .account_limits import explain_refusals
from .errors import LabError
from .local import config, process

BACKENDS = ("local", "aws")
SOURCES = ("codecommit", "connection")  # where the article's pipeline takes its code from
REPOSITORY_ID = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
# The local endpoint answers at once or not at all: one retry covers a dropped connection, more would
# only hide a real error.
LOCAL_CLIENT_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=60
)
AWS_CLIENT_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"})
PREFIX_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
MAX_BUCKET_NAME = 63


@dataclass(frozen=True)
class Names:
    """Every resource the lab creates, named from one prefix (the article's names by default)."""

    prefix: str
    account: str
    region: str

    @property
    def pipeline(self):
        return f"{self.prefix}-pipeline"

    @property
    def pipeline_role(self):
        return f"{self.prefix}-codepipeline-role"

    @property
    def bucket(self):
        return f"{self.prefix}-artifacts-{self.account}-{self.region}"

    @property
    def repository(self):
        return f"{self.prefix}-demo-app"

    @property
    def build_project(self):
        return f"{self.prefix}-demo-build"

    @property
    def application(self):
        return f"{self.prefix}-demo"

    @property
    def deployment_group(self):
        return f"{self.prefix}-demo-dg"

    @property
    def build_role(self):
        return f"{self.prefix}-codebuild-role"

    @property
    def deploy_role(self):
        return f"{self.prefix}-codedeploy-role"

    @property
    def deploy_target(self):
        """The Name tag of the instance the deployment group deploys to."""
        return f"{self.prefix}-demo-target"

    @property
    def instance_role(self):
        """The role of the deploy target's instance profile (CodeDeploy agent, Session Manager)."""
        return f"{self.prefix}-ec2-role"

    @property
    def instance_profile(self):
        return f"{self.prefix}-ec2-profile"

    @property
    def security_group(self):
        """The deploy target's security group: HTTP from anywhere."""
        return f"{self.prefix}-web-sg"

    @property
    def build_log_group(self):
        return f"/aws/codebuild/{self.build_project}"

    # What 07_production_ready adds: parallel checks, a branch rule, a connection pipeline.
    @property
    def test_project(self):
        return f"{self.prefix}-demo-test"

    @property
    def lint_project(self):
        return f"{self.prefix}-demo-lint"

    @property
    def branch_rule(self):
        """The EventBridge rule that starts the pipeline on pushes to main."""
        return f"{self.prefix}-main-branch-push"

    @property
    def events_role(self):
        return f"{self.prefix}-events-role"

    @property
    def connection(self):
        return f"{self.prefix}-github"

    @property
    def connection_pipeline(self):
        return f"{self.prefix}-connection-pipeline"

    @property
    def connection_pipeline_role(self):
        return f"{self.prefix}-connection-pipeline-role"


def check_prefix(prefix: str, account: str, region: str) -> str:
    """Return `prefix` if every lab name made from it is valid; else raise LabError saying how to fix it.

    Examples
    --------
    >>> check_prefix("team7", "111122223333", "ap-southeast-1")
    'team7'
    """
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix):
        raise LabError(
            f"the prefix {prefix!r} cannot name S3 buckets and IAM roles: use lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit, e.g. connect(prefix='team7')"
        )
    bucket = Names(prefix, account, region).bucket
    if len(bucket) > MAX_BUCKET_NAME:
        room = len(prefix) - (len(bucket) - MAX_BUCKET_NAME)
        raise LabError(
            f"the prefix {prefix!r} makes the bucket name {bucket!r} longer than {MAX_BUCKET_NAME} "
            f"characters: use a prefix of at most {room} characters"
        )
    return prefix


@dataclass
class Lab:
    """Where the lab's calls go. Create it with `connect()`; hand it to every helper."""

    backend: str
    account: str
    region: str
    session: boto3.Session
    prefix: str = "awscicd"
    endpoint_url: str | None = None
    home: str | None = None  # the local endpoint's state folder
    pace: str = config.DEFAULT_PACE  # local: teach or fast (connect's pace); on AWS, "aws": AWS's own
    source: str = "codecommit"  # or "connection": a GitHub repository through CodeConnections
    repository_id: str | None = None  # the connection source's GitHub "owner/name" (AWS)
    _clients: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        check_prefix(self.prefix, self.account, self.region)
        if self.source == "connection" and self.is_local:  # the endpoint serves "owner/name" from `name`
            self.repository_id = f"lab-learner/{self.names.repository}"

    @property
    def names(self) -> Names:
        return Names(self.prefix, self.account, self.region)

    @property
    def is_local(self) -> bool:
        return self.backend == "local"

    def client(self, service: str):
        """A boto3 client for `service`, created on first use and then reused. A CodeBuild client explains
        a build the account's quota refused (`account_limits.explain_refusals`)."""
        if service not in self._clients:
            client = self.session.client(
                service,
                endpoint_url=self.endpoint_url,
                config=LOCAL_CLIENT_CONFIG if self.is_local else AWS_CLIENT_CONFIG,
            )
            explain_refusals(client)
            self._clients[service] = client
        return self._clients[service]

    def banner(self) -> str:
        connection = self.source == "connection"
        source = f" Source: GitHub {self.repository_id} through a connection." if connection else ""
        if self.is_local:
            return (
                f"labhelpers: local backend at {self.endpoint_url} — account {self.account}, "
                f"region {self.region}, pace {self.pace}; nothing reaches AWS.{source}"
            )
        return (
            f"labhelpers: AWS backend — account {self.account}, region {self.region}. "
            f"Real resources cost money; run the cleanup notebook when you are done.{source}"
        )


def pipeline_not_found(lab: Lab, name: str) -> LabError:
    """The lab's answer to PipelineNotFoundException: which pipelines exist, and which notebook makes one."""
    codepipeline = lab.client("codepipeline")
    existing = [
        p["name"]
        for page in codepipeline.get_paginator("list_pipelines").paginate()
        for p in page["pipelines"]
    ]
    listed = ", ".join(existing) if existing else "none yet"
    return LabError(
        f"there is no pipeline {name!r} in {lab.region} (pipelines there: {listed}). Run notebooks 00-02 "
        "first: 02_pipeline_json creates it. Or pass pipeline=<one of those>."
    )


# The values connect() replaced in os.environ, so an AWS connection can put them back.
_saved_environ: dict[str, str | None] = {}


def _point_environ(values: dict[str, str], cleared) -> None:
    for name in [*values, *cleared]:
        _saved_environ.setdefault(name, os.environ.get(name))
    for name in cleared:
        os.environ.pop(name, None)
    os.environ.update(values)


def _restore_environ() -> None:
    for name, value in _saved_environ.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _saved_environ.clear()


DEFAULT_PREFIX = "awscicd"  # the article's names


def settings(home: str | None = None) -> dict:
    """What `labhelpers configure` stored for this state folder ({} if nothing)."""
    try:
        return json.loads(config.Layout(config.home(home)).settings.read_text())
    except (OSError, ValueError):
        return {}


def configure(
    *,
    prefix: str | None = None,
    backend: str | None = None,
    pace: str | None = None,
    source: str | None = None,
    repository: str | None = None,
    home: str | None = None,
) -> dict:
    """Store the class's settings once for every notebook (`labhelpers configure --prefix alice`)."""
    chosen = {**settings(home)}
    if source is not None:
        chosen["source"] = _source_name(source)
    if repository is not None:
        chosen["repository"] = _repository_id(repository)
    if prefix is not None:
        chosen["prefix"] = check_prefix(prefix, config.ACCOUNT, config.REGION)
    if backend is not None:
        chosen["backend"] = _backend_name(backend)
    if pace is not None:
        chosen["pace"] = _pace_name(pace)
    layout = config.Layout(config.home(home))
    layout.root.mkdir(parents=True, exist_ok=True)
    layout.settings.write_text(json.dumps(chosen, indent=1) + "\n")
    return chosen


def _backend_name(backend: str) -> str:
    name = backend.strip().lower()
    if name not in BACKENDS:
        raise LabError(f"unknown backend {backend!r}: use 'local' (no AWS account needed) or 'aws'")
    return name


def _source_name(source: str) -> str:
    name = source.strip().lower()
    if name not in SOURCES:
        raise LabError(
            f"unknown source {source!r}: use 'codecommit' (the article's) or 'connection' (a GitHub "
            "repository through CodeConnections, for accounts without CodeCommit)"
        )
    return name


def _repository_id(repository: str) -> str:
    if not REPOSITORY_ID.fullmatch(repository):
        raise LabError(
            f"the repository {repository!r} is not a GitHub repository id: write it as owner/name, "
            "e.g. your-user/awscicd-app"
        )
    return repository


def _pace_name(pace: str) -> str:
    name = pace.strip().lower() if isinstance(pace, str) else pace
    if name not in config.PACES:
        raise LabError(
            f"unknown pace {pace!r}: use 'teach' (each step held so you can watch it, the default) or 'fast' "
            "(no holds), as connect(pace='fast'), LAB_PACE=fast or `labhelpers configure --pace fast`"
        )
    return name


def connect(
    backend: str | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    prefix: str | None = None,
    pace: str | None = None,
    source: str | None = None,
    repository: str | None = None,
    home: str | None = None,
    quiet: bool = False,
) -> Lab:
    """Connect to the lab's backend: `local` (default) or `aws` (also chosen by LAB_BACKEND=aws).

    Local: makes sure the endpoint runs and points this process's environment at it, so `!aws ...`
    cells and subprocesses reach the endpoint and never AWS. `prefix` names every resource the lab
    makes (`lab.names`): in a classroom sharing one account, give each learner their own. Each of
    `backend` and `prefix` is, when not given, LAB_BACKEND / LAB_PREFIX, else what `labhelpers configure`
    stored in the state folder, else the defaults (`local`, the article's `awscicd`). `pace` (LAB_PACE) is
    how the local endpoint runs pipelines: `teach` (default) holds each action, build log line and deploy
    event a moment so you can watch a run; `fast` never holds. It is the endpoint's, shared by every kernel
    of the state folder: the last connect() sets it. On AWS the pace is AWS's own (`lab.pace == "aws"`).

    `source` (LAB_SOURCE) is where the pipeline takes its code from: `codecommit` (the article's, default)
    or `connection`, a GitHub repository `repository="owner/name"` (LAB_SOURCE_REPOSITORY) reached through
    a CodeConnections connection, for AWS accounts that may no longer create CodeCommit repositories.
    Locally a connection source serves the lab's own repository, as GitHub would.

    Examples
    --------
    >>> lab = connect()                      # doctest: +SKIP
    >>> lab.client("codepipeline").list_pipelines()  # doctest: +SKIP
    """
    stored = settings(home)
    backend = _backend_name(backend or os.environ.get("LAB_BACKEND") or stored.get("backend") or "local")
    if prefix is None:  # "" is a prefix too, and refused as one
        prefix = os.environ.get("LAB_PREFIX") or stored.get("prefix") or DEFAULT_PREFIX
    pace = _pace_name(pace or os.environ.get("LAB_PACE") or stored.get("pace") or config.DEFAULT_PACE)
    source = _source_name(source or os.environ.get("LAB_SOURCE") or stored.get("source") or "codecommit")
    repository = repository or os.environ.get("LAB_SOURCE_REPOSITORY") or stored.get("repository")
    if repository is not None:
        _repository_id(repository)
    if backend == "aws" and source == "connection" and repository is None:
        raise LabError(
            "a connection source on AWS takes its code from your own GitHub repository: name it, as "
            "connect(source='connection', repository='your-user/awscicd-app'), LAB_SOURCE_REPOSITORY or "
            "`labhelpers configure --source connection --repository your-user/awscicd-app`"
        )
    lab = (
        _connect_local(region, prefix, pace, home)
        if backend == "local"
        else _connect_aws(profile, region, prefix)
    )
    lab = replace(lab, source=source, repository_id=repository)
    if not quiet:
        print(lab.banner())
    return lab


def _connect_local(region, prefix, pace, home) -> Lab:
    region = region or config.REGION
    check_prefix(prefix, config.ACCOUNT, region)
    layout = config.Layout(config.home(home))
    running = process.start(layout)
    config.record_pace(layout, pace)
    values = config.client_env(running.url, layout, region)
    # `!aws` and `!labhelpers` in a kernel: this environment's scripts first, whatever PATH the kernel got.
    scripts = sysconfig.get_path("scripts")
    values["PATH"] = os.pathsep.join(
        [scripts, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != scripts)]
    )
    _point_environ(values, config.cleared_names(os.environ))
    keys = config.credentials(layout)
    session = boto3.Session(
        aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key, region_name=region
    )
    return Lab("local", config.ACCOUNT, region, session, prefix, running.url, str(layout.root), pace)


def _connect_aws(profile, region, prefix) -> Lab:
    _restore_environ()
    try:
        session = boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION"))
        if not session.region_name:
            raise LabError("no AWS region is set: pass region=..., or set AWS_REGION / a profile's region")
        identity = session.client("sts", config=AWS_CLIENT_CONFIG).get_caller_identity()
    except (BotoCoreError, ClientError) as exc:
        raise LabError(
            f"cannot reach AWS with these credentials ({exc}). Configure a profile "
            "(aws configure) and set AWS_PROFILE, or use the local backend: connect('local')"
        ) from exc
    return Lab("aws", identity["Account"], session.region_name, session, prefix, pace="aws")
