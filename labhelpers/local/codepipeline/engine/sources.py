"""Source actions: CodeCommit (a branch head, zipped without .git) and S3 (a zip object)."""

import io
import stat
import zipfile
from datetime import UTC, datetime

from .actions import ActionContext, ActionFailed, Outcome


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tree_zip(repo, tree_id: bytes, stamp: int) -> bytes:
    """The files of a git tree as a zip (CODE_ZIP): modes kept, symlinks as links, submodules left out."""
    date = datetime.fromtimestamp(stamp, UTC).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, mode, sha in _walk(repo, tree_id, ""):
            info = zipfile.ZipInfo(path, date_time=date)
            info.external_attr = (mode & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, repo[sha].data)
    return buffer.getvalue()


def _walk(repo, tree_id: bytes, prefix: str):
    for entry in repo[tree_id].items():
        path = prefix + entry.path.decode("utf-8", "surrogateescape")
        if stat.S_ISDIR(entry.mode):
            yield from _walk(repo, entry.sha, path + "/")
        elif stat.S_ISREG(entry.mode) or stat.S_ISLNK(entry.mode):
            yield path, entry.mode, entry.sha


def codecommit(ctx: ActionContext) -> Outcome:
    repos = ctx.services["repos"]
    name, branch = ctx.configuration["RepositoryName"], ctx.configuration["BranchName"]
    require_code_zip(ctx.configuration)
    if not repos.exists(name):
        raise ActionFailed(
            f"The repository {name} does not exist. Create it (CodeCommit CreateRepository) "
            "and push the branch the pipeline watches."
        )
    pushes = ctx.services.get("pushes")
    pushed = pushes.take(ctx.execution_id, ctx.action["name"]) if pushes else None
    with repos.open(name) as repo:
        try:
            commit_id = pushed.commit.encode() if pushed else repo.refs[f"refs/heads/{branch}".encode()]
        except KeyError:
            raise ActionFailed(
                f"The branch {branch} does not exist in repository {name}. Push a commit to "
                f"it (git push origin {branch}) and start the pipeline again."
            ) from None
        commit = repo[commit_id]
        data = tree_zip(repo, commit.tree, commit.commit_time)
    variables = {"RepositoryName": name, "CommitterDate": _iso(commit.commit_time)}
    pages = ctx.services.get("pages")
    link = pages and pages.commit(name, commit.id.decode())
    return commit_outcome(ctx, commit, data, branch=branch, variables=variables, external_url=link)


def require_code_zip(configuration: dict):
    if configuration.get("OutputArtifactFormat", "CODE_ZIP") != "CODE_ZIP":
        raise ActionFailed(
            "The local lab endpoint produces CODE_ZIP source artifacts only; remove "
            "OutputArtifactFormat CODEBUILD_CLONE_REF or use LAB_BACKEND=aws."
        )


def commit_outcome(
    ctx: ActionContext,
    commit,
    data: bytes,
    *,
    branch: str,
    variables: dict,
    revision_summary: str | None = None,
    external_url: str | None = None,
) -> Outcome:
    """A git source's result: the commit's zip as the output artifact, its variables and revision."""
    sha = commit.id.decode()
    message = commit.message.decode("utf-8", "replace").strip()
    (output,) = ctx.output_names
    return Outcome(
        summary=message,
        external_id=sha,
        external_url=external_url,
        output_artifacts={output: ctx.write_output(output, data)},
        output_variables={
            "CommitId": sha,
            "CommitMessage": message,
            "BranchName": branch,
            "AuthorDate": _iso(commit.author_time),
            **variables,
        },
        revision={
            "revisionId": sha,
            "revisionSummary": revision_summary or message,
            "created": float(commit.commit_time),
            "revisionChangeIdentifier": sha,
        },
    )


def s3(ctx: ActionContext) -> Outcome:
    bucket, key = ctx.configuration["S3Bucket"], ctx.configuration["S3ObjectKey"]
    try:
        found = ctx.client("s3").get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise ActionFailed(f"The object s3://{bucket}/{key} could not be read: {exc}") from exc
    data = found["Body"].read()
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ActionFailed(f"The object s3://{bucket}/{key} is not a zip file; an S3 source must be a .zip.")
    version = found.get("VersionId") or "null"
    (output,) = ctx.output_names
    summary = f"Amazon S3 version id: {version}"
    return Outcome(
        summary=summary,
        external_id=version,
        output_artifacts={output: ctx.write_output(output, data)},
        output_variables={"ETag": found["ETag"].strip('"'), "VersionId": version},
        revision={
            "revisionId": version,
            "revisionSummary": summary,
            "created": found["LastModified"].timestamp(),
            "revisionChangeIdentifier": version,
        },
    )
