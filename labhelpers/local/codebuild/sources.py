"""A build's sources, fetched through the endpoint's own APIs: an S3 zip, a CodeCommit repository through the
endpoint's git server, or nothing. Builds fetch theirs; a batch fetches its primary source to read its
batch buildspec and fix the commit its builds all run."""

import io
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import ClientError

from .. import config
from ..archives import ArchiveError, extract_zip

PRIMARY = "(primary)"  # the primary source's name for the runner; never a valid sourceIdentifier


class SourceError(Exception):
    """A source that cannot be had; str() says which and why, as CodeBuild's CLIENT_ERROR context does."""


@dataclass(frozen=True)
class Source:
    """Where one source comes from: `kind` NO_SOURCE, S3 (`location` bucket/key of a zip) or CODECOMMIT."""

    identifier: str  # PRIMARY, or the secondary source's identifier
    kind: str
    location: str = ""
    version: str | None = None

    def describe(self) -> str:
        which = "primary source" if self.identifier == PRIMARY else f"secondary source {self.identifier}"
        return f"{which} and source version {self.version}" if self.version else which


def fetch_source(ctx, region: str, source: Source, folder: Path) -> str | None:
    """Put the source into `folder`; return the version it resolved to (a commit id), if any."""
    folder.mkdir(parents=True, exist_ok=True)
    if source.kind == "S3":
        return _fetch_s3(ctx, region, source, folder)
    if source.kind == "CODECOMMIT":
        return _fetch_codecommit(ctx, source, folder)
    return None


def _fetch_s3(ctx, region: str, source: Source, folder: Path) -> str | None:
    bucket, _, key = source.location.removeprefix("arn:aws:s3:::").partition("/")
    request = {"Bucket": bucket, "Key": key, **({"VersionId": source.version} if source.version else {})}
    try:
        body = ctx.client("s3", region).get_object(**request)["Body"].read()
        extract_zip(body, folder)
        return source.version
    except ClientError as exc:
        error = exc.response["Error"]
        raise SourceError(f"{error.get('Code')}: {error.get('Message')} for {source.describe()}") from exc
    except ArchiveError as exc:
        raise SourceError(f"s3://{bucket}/{key} is not a usable zip ({exc}) for {source.describe()}") from exc


def _fetch_codecommit(ctx, source: Source, folder: Path) -> str:
    """Clone the repository from the endpoint's git server, at the source version (else its HEAD)."""
    from dulwich import porcelain

    name = source.location.rstrip("/").rpartition("/v1/repos/")[2]
    if not name:
        raise SourceError(f"{source.location!r} is not a CodeCommit clone URL (…/v1/repos/<repository>)")
    try:
        repo = porcelain.clone(
            f"{ctx.url}/v1/repos/{name}",
            str(folder),
            checkout=False,
            errstream=io.BytesIO(),
            username=config.GIT_USER,
            password=config.credentials(ctx.layout).git_password,
        )
    except Exception as exc:
        raise SourceError(f"repository not found for {source.describe()}") from exc
    with closing(repo):
        commit = _resolve_commit(repo, source.version)
        if commit is None:
            raise SourceError(f"reference not found for {source.describe()}")
        porcelain.reset(repo, "hard", commit.id)
        return commit.id.decode()


def _resolve_commit(repo, version: str | None):
    """The commit a CodeCommit source version names: a commit id, a branch, a tag, or HEAD if none."""
    from dulwich.objectspec import parse_commit

    if not version:
        candidates = ["HEAD"]
    else:
        candidates = [f"refs/remotes/origin/{version.removeprefix('refs/heads/')}", version]
    for candidate in candidates:
        try:
            return parse_commit(repo, candidate.encode())
        except (KeyError, ValueError):
            continue
    return None
