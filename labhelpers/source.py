"""Where the article's pipeline takes its code from: `lab.source`.

* `codecommit` (the article's): the repository `lab.names.repository`; on AWS git pushes to it with the
  AWS CLI's credential helper.
* `connection`: the GitHub repository `lab.repository_id` ("owner/name"), reached through the
  CodeConnections connection `lab.names.connection`, for AWS accounts that may no longer create
  CodeCommit repositories. On AWS a new connection stays PENDING until someone finishes its handshake
  with GitHub in the console (`handshake`); git pushes with the learner's own GitHub credentials.
  Locally the connection is AVAILABLE at once and serves the lab's own repository, as GitHub would.

07's connection pipeline uses the same connection.

configuration = lh.source.configuration(lab)     # the connection source's action configuration
url = lh.source.clone_url(lab)                    # what `git clone` and `git push` use
"""

import os
import subprocess
from pathlib import Path

from .lab import Lab

GITHUB = "https://github.com"  # where a connection source's repositories are cloned from on AWS
DEMO_APP_COMMIT = "The demo app: page, buildspec, appspec and scripts"


def connection_arns(lab: Lab) -> list[str]:
    """The ARNs of every connection named `lab.names.connection` (one, unless made twice by hand)."""
    connections, name, found, token = lab.client("codeconnections"), lab.names.connection, [], {}
    while True:  # botocore has no paginator for ListConnections
        page = connections.list_connections(MaxResults=100, **token)
        found += [c["ConnectionArn"] for c in page["Connections"] if c["ConnectionName"] == name]
        if not page.get("NextToken"):
            return found
        token = {"NextToken": page["NextToken"]}


def ensure_connection(lab: Lab) -> tuple[dict, str]:
    """The lab's GitHub connection, made if missing (it costs nothing); (connection, "created"/"existed").

    Examples
    --------
    >>> connection, status = ensure_connection(lab)  # doctest: +SKIP
    >>> connection["ConnectionStatus"]  # doctest: +SKIP
    'PENDING'
    """
    connections, found = lab.client("codeconnections"), connection_arns(lab)
    status = "existed" if found else "created"
    arn = (
        found[0]
        if found
        else connections.create_connection(ProviderType="GitHub", ConnectionName=lab.names.connection)[
            "ConnectionArn"
        ]
    )
    return connections.get_connection(ConnectionArn=arn)["Connection"], status


ENSURE_AGAIN = "run prerequisites.ensure(lab) again"


def handshake(lab: Lab, connection: dict, *, repository: str | None = None, then: str = ENSURE_AGAIN) -> str:
    """What to do in the console so that a PENDING connection becomes AVAILABLE for `repository`
    ("owner/name", by default the lab's), and what `then`."""
    region, repository = lab.region, repository or lab.repository_id or "your repository"
    who = f" as {repository.split('/')[0]} (or an owner of its organization)" if "/" in repository else ""
    return (
        f"The connection {connection['ConnectionName']} is {connection['ConnectionStatus']}: AWS made it, "
        "but GitHub has not said yes yet, and no API call can. Finish its handshake once, in the console:\n"
        f"  1. open https://{region}.console.aws.amazon.com/codesuite/settings/connections?region={region}\n"
        f"  2. choose {connection['ConnectionName']}, then 'Update pending connection'\n"
        f"  3. sign in to GitHub{who}, install the 'AWS Connector for GitHub' app with access to "
        f"{repository}, and choose Connect\n"
        f"Its status becomes Available. Then {then}."
    )


def configuration(lab: Lab) -> dict:
    """The configuration of the connection source's action (CodeStarSourceConnection), branch `main`.

    It needs the connection's ARN: the connection is made first if missing.
    """
    connection, _ = ensure_connection(lab)
    return {
        "ConnectionArn": connection["ConnectionArn"],
        "FullRepositoryId": lab.repository_id,
        "BranchName": "main",
        "OutputArtifactFormat": "CODE_ZIP",
    }


def clone_url(lab: Lab) -> str:
    """What git clones and pushes to: the CodeCommit repository's HTTPS URL, or the GitHub repository's
    (locally a connection source is the lab's own repository)."""
    if lab.source == "connection" and not lab.is_local:
        return f"{GITHUB}/{lab.repository_id}.git"
    repository = lab.client("codecommit").get_repository(repositoryName=lab.names.repository)
    return repository["repositoryMetadata"]["cloneUrlHttp"]


def git_credentials(lab: Lab) -> list[str]:
    """git options for the credentials `clone_url` needs: on AWS with CodeCommit the AWS CLI's helper; for
    GitHub the learner's own (a token in their credential helper); locally connect() has set them."""
    if lab.is_local or lab.source == "connection":
        return []
    return [
        "-c", "credential.helper=",
        "-c", "credential.helper=!aws codecommit credential-helper $@",
        "-c", "credential.UseHttpPath=true",
    ]  # fmt: skip


def read_main(url: str) -> tuple[bool, str]:
    """(True, "") if the git repository at `url` has a branch main, (False, "") if it has none; (False,
    git's words) if git cannot read it without asking for a password (private, missing, unreachable)."""
    try:
        listed = subprocess.run(
            ["git", "ls-remote", "--heads", url, "main"],
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as failed:
        return False, str(failed)
    if listed.returncode:
        return False, " ".join(listed.stderr.split()) or f"exit status {listed.returncode}"
    return bool(listed.stdout.strip()), ""


def commit_demo_app(folder: Path, files: dict[str, bytes]) -> Path:
    """A git repository in `folder` whose branch main holds `files` (the demo app), ready to push."""
    if not (folder / ".git").exists():
        folder.mkdir(parents=True, exist_ok=True)
        for path, content in files.items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if path.endswith(".sh"):
                target.chmod(0o755)
        options = ["-c", "user.name=labhelpers", "-c", "user.email=lab@example.com"]
        options += ["-c", "commit.gpgsign=false"]
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", DEMO_APP_COMMIT]):
            subprocess.run(["git", *options, *args], cwd=folder, check=True, capture_output=True)
    return folder
