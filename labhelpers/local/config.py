"""Where the local endpoint keeps its state, and the identity it presents."""

import json
import os
import secrets
import shlex
import string
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ACCOUNT = "111122223333"
REGION = "ap-southeast-1"
LAB_USER = "lab"  # the IAM user the lab's keys belong to: STS GetCallerIdentity names it
GIT_USER = f"lab-at-{ACCOUNT}"  # CodeCommit's HTTPS git credentials are named <user>-at-<account>


def caller_arn(account: str = ACCOUNT) -> str:
    """Who calls with the lab's keys, as STS names them (and CodePipeline's triggerDetail, CodeCommit's
    authorArn, EventBridge's callerUserArn...)."""
    return f"arn:aws:iam::{account}:user/{LAB_USER}"


def home(path: str | os.PathLike | None = None) -> Path:
    """The state folder: LABHELPERS_HOME, else ~/.labhelpers."""
    chosen = path or os.environ.get("LABHELPERS_HOME") or Path.home() / ".labhelpers"
    return Path(chosen).expanduser().resolve()


class Layout:
    """The files of one endpoint's state folder."""

    def __init__(self, root: Path):
        self.root = root
        self.endpoint_file = root / "endpoint.json"
        self.port_file = root / "port"
        self.log_file = root / "endpoint.log"
        self.start_lock = root / "start.lock"
        self.state = root / "state"
        self.moto_snapshots = self.state / "moto"
        self.repos = self.state / "repos"
        self.work = self.state / "work"
        self.empty_aws_config = root / "aws-config-empty"
        self.credentials = root / "credentials.json"
        self.page_token = root / "page-token"  # the lab pages' token, new at each start (trust.guard)
        self.settings = root / "settings.json"  # the class's settings: labhelpers configure
        self.pace_file = root / "pace"  # the endpoint's pace, as the last connect() chose it


# How the endpoint runs work: `teach` holds each step so a learner can watch it, `fast` never holds.
PACES = ("teach", "fast")
DEFAULT_PACE = "teach"


def record_pace(layout: Layout, pace: str) -> None:
    """Make `pace` the endpoint's, from its next action on (every kernel of the state folder shares it)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    tmp = layout.pace_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(pace + "\n")
    os.replace(tmp, layout.pace_file)


def pace(layout: Layout) -> str:
    """The endpoint's pace: the state folder's pace file, else LAB_PACE, else teach."""
    try:
        recorded = layout.pace_file.read_text().strip()
    except (OSError, UnicodeDecodeError):
        recorded = ""
    for found in (recorded, os.environ.get("LAB_PACE", "").strip().lower()):
        if found in PACES:
            return found
    return DEFAULT_PACE


@dataclass(frozen=True)
class Credentials:
    """The lab's own keys: every AWS request is signed with them, every git request carries the git pair."""

    access_key: str
    secret_key: str
    git_password: str


def credentials(layout: Layout) -> Credentials:
    """The state folder's credentials, made at random on first use and kept readable by its owner only."""
    try:
        return Credentials(**json.loads(layout.credentials.read_text()))
    except FileNotFoundError:
        pass
    alphabet = string.ascii_uppercase + string.digits
    made = Credentials(
        access_key="AKIA" + "".join(secrets.choice(alphabet) for _ in range(16)),
        secret_key=secrets.token_urlsafe(30),
        git_password=secrets.token_urlsafe(33),
    )
    layout.root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(layout.credentials, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made them first
        return Credentials(**json.loads(layout.credentials.read_text()))
    with os.fdopen(fd, "w") as file:
        json.dump(asdict(made), file)
    return made


def client_env(url: str, layout: Layout, region: str = REGION) -> dict[str, str]:
    """The environment that points boto3, the aws CLI, git and builds at the endpoint, never at AWS.

    The user's ~/.aws files are swapped for empty ones so no profile can redirect a call; git asks the
    lab's credential helper for the endpoint's URL only."""
    keys = credentials(layout)
    return {
        **endpoint_env(url, layout, region),
        "AWS_ACCESS_KEY_ID": keys.access_key,
        "AWS_SECRET_ACCESS_KEY": keys.secret_key,
        **git_env(url, layout),
    }


def endpoint_env(url: str, layout: Layout, region: str = REGION) -> dict[str, str]:
    """The endpoint and the Region, no credentials (what a deploy hook gets)."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_CONFIG_FILE": str(layout.empty_aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(layout.empty_aws_config),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def git_env(url: str, layout: Layout) -> dict[str, str]:
    """git configuration in the environment: the lab's credential helper, for the endpoint's URL only."""
    home = shlex.quote(str(layout.root))
    helper = f"!{shlex.quote(sys.executable)} -m labhelpers git-credential --home {home}"
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"credential.{url}.helper",
        "GIT_CONFIG_VALUE_0": helper,
    }


# Variables that would send a process to real AWS or another identity; cleared for local work.
CLEARED_ENV = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def cleared_names(environ) -> list[str]:
    """The variables to clear from `environ`, service-specific endpoint overrides included."""
    return [name for name in environ if name in CLEARED_ENV or name.startswith("AWS_ENDPOINT_URL_")]
