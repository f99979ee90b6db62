"""Checking CodeCommit request parameters, and the offset tokens its listings page with."""

import base64
import binascii
import re

from dulwich.refs import check_ref_format

from .. import paging
from ..awsjson import AwsError
from .store import BRANCH_PREFIX
from .tree import FILE_MODES

MAX_TAGS = 50
MAX_BATCH_NAMES = 100
MAX_MESSAGE_BYTES = 100 * 1024
DEFAULT_AUTHOR = "local-lab-user"
FULL_ID = re.compile(r"[0-9a-fA-F]{40}")


def required(params: dict, key: str, code: str) -> str:
    value = optional_string(params, key)
    if not value:
        raise AwsError(code, f"{key} is required but was not specified.")
    return value


def optional_string(params: dict, key: str) -> str | None:
    value = params.get(key)
    if value is not None and not isinstance(value, str):
        raise AwsError("SerializationException", f"{key} must be a string.")
    return value


def check_description(description: str | None) -> None:
    if description is not None and len(description) > 1000:
        raise AwsError("InvalidRepositoryDescriptionException", "A description has at most 1000 characters.")


def branch_name(params: dict, key: str = "branchName") -> str:
    branch = required(params, key, "BranchNameRequiredException")
    if len(branch) > 256 or not check_ref_format((BRANCH_PREFIX + branch).encode()):
        raise AwsError("InvalidBranchNameException", f"{branch!r} is not a valid branch name.")
    return branch


def repository_names(params: dict) -> list[str]:
    """The repositoryNames of a batch operation: 1 to MAX_BATCH_NAMES of them (each checked by the batch)."""
    names = params.get("repositoryNames")
    if not names:
        raise AwsError("RepositoryNamesRequiredException", "repositoryNames: give at least one name.")
    if len(names) > MAX_BATCH_NAMES:
        raise AwsError(
            "MaximumRepositoryNamesExceededException", f"repositoryNames: at most {MAX_BATCH_NAMES} names."
        )
    return names


def object_id(value: str, invalid_code: str) -> bytes:
    if not FULL_ID.fullmatch(value):
        raise AwsError(invalid_code, f"{value!r} is not a full 40-character object ID.")
    return value.lower().encode()


def repo_path(value) -> str:
    """A repository path without leading or trailing slashes ('' is the root folder)."""
    if not value:
        raise AwsError("PathRequiredException", "A path is required but was not specified.")
    if not isinstance(value, str):
        raise AwsError("SerializationException", "A path must be a string.")
    inner = value.strip("/")
    parts = inner.split("/") if inner else []
    if any(part in ("", ".", "..", ".git") for part in parts):
        raise AwsError("InvalidPathException", f"{value!r} is not a valid path.")
    return inner


def file_path(value) -> str:
    path = repo_path(value)
    if not path:
        raise AwsError("InvalidPathException", f"{value!r} names a folder, not a file.")
    return path


def file_mode(value) -> int | None:
    if value is None:
        return None
    if value not in FILE_MODES:
        raise AwsError("InvalidFileModeException", f"fileMode must be one of {', '.join(FILE_MODES)}.")
    return FILE_MODES[value]


def blob_content(value, key: str) -> bytes:
    """A blob parameter: base64 on the wire."""
    if value is None:
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise AwsError("SerializationException", f"{key} is not valid base64: {exc}") from exc


def commit_identity(name, email) -> bytes:
    if email and (not isinstance(email, str) or re.search(r"[<>\s]", email)):
        raise AwsError("InvalidEmailException", f"{email!r} is not a valid email address.")
    clean_name = re.sub(r"[<>\n]", "", name) if isinstance(name, str) and name.strip() else DEFAULT_AUTHOR
    return f"{clean_name.strip()} <{email or ''}>".encode()


def commit_details(params: dict) -> tuple[bytes, str | None]:
    """The identity (authorName, email) and message (commitMessage, or None) of a commit a merge makes."""
    message = optional_string(params, "commitMessage")
    if message is not None and len(message.encode()) > MAX_MESSAGE_BYTES:
        raise AwsError("CommitMessageLengthExceededException", "commitMessage is longer than 100 KB.")
    return commit_identity(params.get("authorName"), params.get("email")), message


def checked_tags(tags) -> dict:
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and 1 <= len(k) <= 128 and len(v) <= 256
        for k, v in tags.items()
    ):
        raise AwsError(
            "InvalidTagsMapException", "Tags map keys of 1-128 characters to values of at most 256."
        )
    if any(k.lower().startswith("aws:") for k in tags):
        raise AwsError("InvalidSystemTagUsageException", "Tag keys cannot start with aws:.")
    if len(tags) > MAX_TAGS:
        raise AwsError("TooManyTagsException", f"A repository has at most {MAX_TAGS} tags.")
    return tags


def offset_page(items: list, token, size: int) -> tuple[list, str | None]:
    """One page of `items` from the offset `token` encodes, and the token of the next page if any."""
    return paging.offset_page(items, token, size, _invalid_token)


def _invalid_token() -> AwsError:
    return AwsError("InvalidContinuationTokenException", "The continuation token is not valid.")
