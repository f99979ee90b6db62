"""Artifacts in the S3 artifact store: locate an execution's, download them, list and diff their files.

Artifacts are zip files. Their members are read in memory and never extracted to disk; a member whose
path would escape the archive's folder is refused.

    found = lh.artifacts.of_execution(lab, run_id)            # one row per artifact the run produced
    source, build = (found.set_index("artifact").loc[name] for name in ("SourceOutput", "BuildOutput"))
    lh.artifacts.diff(lab, source, build)                     # what the build added, removed, changed
"""

import difflib
import hashlib
import html
import io
import stat
import zipfile
from collections.abc import Mapping
from pathlib import PurePosixPath

import pandas as pd
from botocore.exceptions import ClientError

from . import history
from .errors import LabError
from .lab import Lab

__all__ = [
    "ARTIFACT_COLUMNS",
    "DIFF_COLUMNS",
    "FILE_COLUMNS",
    "ArtifactDiff",
    "diff",
    "download",
    "files",
    "of_execution",
]

ARTIFACT_COLUMNS = {
    "execution_id": "str",
    "artifact": "str",
    "stage": "str",
    "action": "str",
    "bucket": "str",
    "key": "str",
    "size": "Int64",
}
FILE_COLUMNS = {"path": "str", "size": "int64", "mode": "str", "sha256": "str"}
DIFF_COLUMNS = {"path": "str", "change": "str", "size_a": "Int64", "size_b": "Int64"}
MAX_MEMBER_BYTES = 256 * 1024 * 1024  # larger members are refused: an artifact is not read whole beyond this


def _table(rows: list[dict], schema: Mapping[str, str]) -> pd.DataFrame:
    columns = {name: pd.Series([row[name] for row in rows], dtype=object) for name in schema}
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows))).astype(schema)


def _size(lab: Lab, bucket: str, key: str) -> int | None:
    """The object's size, or None when the object is gone (cleaned up or expired)."""
    try:
        return lab.client("s3").head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def of_execution(lab: Lab, execution_id: str, pipeline: str | None = None) -> pd.DataFrame:
    """The artifacts an execution produced: who produced each, where it is, its size (ARTIFACT_COLUMNS).

    Read from the output artifacts (``s3location``) of the execution's action runs; when an action was
    retried, its latest attempt's artifact is kept. `size` is <NA> for an object that no longer exists.

    Examples
    --------
    >>> of_execution(lab, run_id)[["artifact", "stage", "key", "size"]]  # doctest: +SKIP
           artifact   stage                              key  size
    0  SourceOutput  Source  awscicd-pipeline/SourceOutp/Ab3x  1630
    1   BuildOutput   Build  awscicd-pipeline/BuildOutpu/Zk1q  1702
    """
    details = sorted(
        history.iter_action_executions(lab, pipeline, execution_id), key=lambda d: d.get("startTime")
    )
    produced = {}
    for detail in details:
        for artifact in (detail.get("output") or {}).get("outputArtifacts") or []:
            location = artifact.get("s3location") or {}
            produced[artifact["name"]] = {
                "execution_id": detail.get("pipelineExecutionId"),
                "artifact": artifact["name"],
                "stage": detail.get("stageName"),
                "action": detail.get("actionName"),
                "bucket": location.get("bucket"),
                "key": location.get("key"),
            }
    for row in produced.values():
        row["size"] = _size(lab, row["bucket"], row["key"]) if row["bucket"] and row["key"] else None
    return _table(list(produced.values()), ARTIFACT_COLUMNS)


def _location(artifact) -> tuple[str, str]:
    """(bucket, key) of an of_execution row, an ``s3location`` dict or an ``s3://bucket/key`` URI."""
    if isinstance(artifact, str) and artifact.startswith("s3://") and "/" in artifact[5:]:
        bucket, key = artifact[5:].split("/", 1)
        return bucket, key
    if isinstance(artifact, Mapping | pd.Series) and "bucket" in artifact and "key" in artifact:
        return str(artifact["bucket"]), str(artifact["key"])
    raise LabError(
        f"cannot tell which artifact {artifact!r} is: pass a row of artifacts.of_execution(...), "
        "an s3location dict {'bucket': ..., 'key': ...} or an 's3://bucket/key' URI"
    )


def _label(artifact, fallback: str) -> str:
    """A short name for diff headers: ``BuildOutput@1f0e2a3b`` for a row, the URI for a location."""
    if isinstance(artifact, bytes):
        return fallback
    name = artifact.get("artifact") if isinstance(artifact, Mapping | pd.Series) else None
    if name is None and isinstance(artifact, pd.Series) and isinstance(artifact.name, str):
        name = artifact.name  # a row picked with .set_index("artifact").loc[name]
    if name is None:
        bucket, key = _location(artifact)
        return f"s3://{bucket}/{key}"
    run = str(artifact.get("execution_id") or "")[:8]
    return f"{name}@{run}" if run else str(name)


def download(lab: Lab, artifact) -> bytes:
    """The artifact's zip file, as bytes.

    Parameters
    ----------
    lab : Lab
    artifact : row, dict or str
        A row of :func:`of_execution`, an ``s3location`` dict, or an ``s3://bucket/key`` URI.

    Examples
    --------
    >>> data = download(lab, of_execution(lab, run_id).iloc[0])  # doctest: +SKIP
    >>> data[:2]  # doctest: +SKIP
    b'PK'
    """
    bucket, key = _location(artifact)
    return lab.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def _safe_path(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (parts[0][1:2] == ":"):
        raise LabError(
            f"the artifact holds an entry whose path escapes its folder ({name!r}); it was not read. "
            "Whatever built this zip is broken or hostile: fix the build's artifacts section"
        )
    return str(PurePosixPath(*[part for part in parts if part not in ("", ".")]))


def _members(data: bytes) -> dict[str, tuple[int, bytes]]:
    """The zip's files by path: (unix mode or 0, content), read in memory."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LabError(
            "this artifact is not a zip file (a CODEBUILD_CLONE_REF source is a git reference, not files): "
            "pick an artifact with the default CODE_ZIP format"
        ) from None
    members = {}
    with archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = _safe_path(info.filename)
            if info.file_size > MAX_MEMBER_BYTES:
                raise LabError(
                    f"{path} is {info.file_size} bytes, more than the {MAX_MEMBER_BYTES} read in memory: "
                    "download() the artifact and inspect that file with zipfile yourself"
                )
            members[path] = (info.external_attr >> 16, archive.read(info))
    return members


def _read(lab: Lab, artifact) -> dict[str, tuple[int, bytes]]:
    return _members(artifact if isinstance(artifact, bytes) else download(lab, artifact))


def _mode(mode: int) -> str | None:
    return stat.filemode(mode) if mode else None


def files(lab: Lab, artifact) -> pd.DataFrame:
    """The files in an artifact: path, size, mode (``-rwxr-xr-x``; <NA> if not recorded), sha256.

    Parameters
    ----------
    lab : Lab
    artifact : row, dict, str or bytes
        What :func:`download` takes, or the zip's bytes.

    Examples
    --------
    >>> files(lab, "s3://bucket/pipeline/SourceOutp/Ab3x")[["path", "mode"]]  # doctest: +SKIP
                         path        mode
    0  scripts/start_server.sh  -rwxr-xr-x
    """
    rows = [
        {
            "path": path,
            "size": len(content),
            "mode": _mode(mode),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
        for path, (mode, content) in sorted(_read(lab, artifact).items())
    ]
    return _table(rows, FILE_COLUMNS)


def _text(content: bytes) -> str | None:
    if b"\0" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


class ArtifactDiff:
    """What differs between two artifacts, file by file.

    Attributes
    ----------
    frame : DataFrame
        path, change (added | removed | changed | same), size_a, size_b; sorted by path. A file whose
        content or mode differs is changed.
    """

    def __init__(
        self,
        a: Mapping[str, tuple[int, bytes]],
        b: Mapping[str, tuple[int, bytes]],
        a_label: str = "a",
        b_label: str = "b",
    ):
        self.a_label, self.b_label = a_label, b_label
        self._a, self._b = dict(a), dict(b)
        self.frame = _table(
            [self._row(path) for path in sorted(self._a.keys() | self._b.keys())], DIFF_COLUMNS
        )

    def _row(self, path: str) -> dict:
        old, new = self._a.get(path), self._b.get(path)
        change = "added" if old is None else "removed" if new is None else "same" if old == new else "changed"
        return {
            "path": path,
            "change": change,
            "size_a": None if old is None else len(old[1]),
            "size_b": None if new is None else len(new[1]),
        }

    def counts(self) -> dict[str, int]:
        """How many files were added, removed, changed and left the same."""
        found = self.frame["change"].value_counts()
        return {change: int(found.get(change, 0)) for change in ("added", "removed", "changed", "same")}

    def unified(self, path: str, context: int = 3) -> str:
        """A unified diff of one file ("" if it is the same); binary files are only said to differ.

        Examples
        --------
        >>> print(artifact_diff.unified("index.html"))  # doctest: +SKIP
        --- SourceOutput@1f0e2a3b/index.html
        +++ BuildOutput@1f0e2a3b/index.html
        @@ -1 +1 @@
        -<h1>Hello</h1>
        +<h1>Hello, build 7</h1>
        """
        if path not in self._a and path not in self._b:
            raise LabError(f"{path!r} is in neither artifact: pick a path from the diff's frame['path']")
        old_mode, old = self._a.get(path, (0, b""))
        new_mode, new = self._b.get(path, (0, b""))
        before = f"{self.a_label}/{path}" if path in self._a else "/dev/null"
        after = f"{self.b_label}/{path}" if path in self._b else "/dev/null"
        both = path in self._a and path in self._b
        header = (
            f"old mode {_mode(old_mode) or 'not recorded'}\nnew mode {_mode(new_mode) or 'not recorded'}\n"
            if both and old_mode != new_mode
            else ""
        )
        if old == new:
            return header
        old_text, new_text = _text(old), _text(new)
        if old_text is None or new_text is None:
            return f"{header}Binary files {before} and {after} differ\n"
        lines = difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), before, after, n=context
        )
        return header + "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def _title(self) -> str:
        counts = ", ".join(f"{count} {change}" for change, count in self.counts().items())
        return f"ArtifactDiff {self.a_label} → {self.b_label}: {counts}"

    def __repr__(self) -> str:
        lines = [self._title()]
        lines += [f"  {row.change:<8} {row.path}" for row in self.frame.itertuples() if row.change != "same"]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return f"<h4>{html.escape(self._title())}</h4>" + self.frame.to_html(index=False, na_rep="")


def diff(lab: Lab, a, b) -> ArtifactDiff:
    """Compare two artifacts file by file.

    Parameters
    ----------
    lab : Lab
    a, b : row, dict, str or bytes
        What :func:`files` takes: rows of :func:`of_execution`, ``s3location`` dicts, ``s3://`` URIs or
        zip bytes.

    Examples
    --------
    SourceOutput against BuildOutput of one run, then BuildOutput of two runs:

    >>> found = of_execution(lab, run_id).set_index("artifact")  # doctest: +SKIP
    >>> diff(lab, found.loc["SourceOutput"], found.loc["BuildOutput"]).frame  # doctest: +SKIP
    >>> older = of_execution(lab, earlier_id).set_index("artifact")  # doctest: +SKIP
    >>> diff(lab, older.loc["BuildOutput"], found.loc["BuildOutput"]).unified("index.html")  # doctest: +SKIP
    """
    return ArtifactDiff(_read(lab, a), _read(lab, b), _label(a, "a"), _label(b, "b"))
