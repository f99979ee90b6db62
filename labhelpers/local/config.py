"""Where the local endpoint keeps its state, and the identity it presents."""

import os
from pathlib import Path

ACCOUNT = "111122223333"
REGION = "ap-southeast-1"
ACCESS_KEY = "local-lab-access-key"
SECRET_KEY = "local-lab-secret-key"


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


def client_env(url: str, layout: Layout, region: str = REGION) -> dict[str, str]:
    """The environment that points boto3, the aws CLI and builds at the endpoint, never at AWS.

    The user's ~/.aws files are swapped for empty ones so no profile can redirect a call."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_CONFIG_FILE": str(layout.empty_aws_config),
        "AWS_SHARED_CREDENTIALS_FILE": str(layout.empty_aws_config),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
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
