"""COMBINE_ARTIFACTS with buildBatchConfig.combineArtifacts: the primary artifacts of a batch's builds are put
together at the batch's artifact location (the project's S3 artifacts: path, the batch's uuid with
namespaceType BUILD_ID, name), each in a folder named by its build's identifier, zipped with packaging ZIP."""

import hashlib
from pathlib import Path, PurePosixPath

from ..archives import ArchiveError, extract_zip, zip_dir


def combine(s3, batch: dict, settings: dict, builds: dict[str, dict], folder: Path) -> dict:
    """Gather each build's artifact (identifier -> build) into `folder`, write them as one; answer the
    batch's artifacts field. ClientError or ArchiveError when an artifact cannot be read or written."""
    zipped = settings.get("packaging") == "ZIP"
    for identifier, build in builds.items():
        location = (build.get("artifacts") or {}).get("location")
        if location:
            _gather(s3, location, zipped, folder / identifier)
    bucket = settings["location"]
    namespace = batch["id"].rpartition(":")[2] if settings.get("namespaceType") == "BUILD_ID" else ""
    name = settings.get("name") or batch["projectName"]
    parts = ((settings.get("path") or "").strip("/"), namespace, "" if name == "/" else name.strip("/"))
    key = "/".join(part for part in parts if part)
    if zipped:
        data = zip_dir(folder)
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        return {
            "location": f"arn:aws:s3:::{bucket}/{key}",
            "md5sum": hashlib.md5(data).hexdigest(),
            "sha256sum": hashlib.sha256(data).hexdigest(),
        }
    for path in sorted(item for item in folder.rglob("*") if item.is_file()):
        relative = path.relative_to(folder).as_posix()
        s3.put_object(Bucket=bucket, Key=f"{key}/{relative}" if key else relative, Body=path.read_bytes())
    return {"location": f"arn:aws:s3:::{bucket}/{key}"}


def _gather(s3, location: str, zipped: bool, into: Path) -> None:
    bucket, _, key = location.removeprefix("arn:aws:s3:::").partition("/")
    into.mkdir(parents=True, exist_ok=True)
    if zipped:
        extract_zip(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), into)
        return
    prefix = f"{key}/" if key else ""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = PurePosixPath(item["Key"][len(prefix) :])
            if ".." in relative.parts or relative.is_absolute() or not relative.parts:
                raise ArchiveError(f"s3://{bucket}/{item['Key']} is not a file name inside the artifact")
            target = into.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
