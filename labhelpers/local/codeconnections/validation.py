"""The request members several CodeConnections operations check alike, and AWS's ValidationException."""

from ..awsjson import AwsError
from .store import MAX_TAGS

DEFAULT_PAGE = 100


def invalid(field: str, value, constraint: str) -> AwsError:
    return AwsError(
        "ValidationException",
        f"1 validation error detected: Value {value!r} at '{field}' failed to satisfy constraint: "
        f"{constraint}",
    )


def tags_of(params: dict) -> list[dict]:
    """The request's Tags: at most 200, each Key 1-128 characters and Value at most 256."""
    tags = params.get("Tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise invalid("tags", tags, f"Member must have length less than or equal to {MAX_TAGS}")
    for tag in tags:
        key, value = (tag.get("Key"), tag.get("Value")) if isinstance(tag, dict) else (None, None)
        if not (isinstance(key, str) and 1 <= len(key) <= 128) or not (
            isinstance(value, str) and len(value) <= 256
        ):
            raise invalid("tags", tag, "Key must be 1-128 characters and Value at most 256")
    return [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]


def listing_size(params: dict) -> int:
    """A List operation's MaxResults: 1 to 100, 100 if not given."""
    size = params.get("MaxResults") or DEFAULT_PAGE
    if not isinstance(size, int) or not 0 < size <= 100:
        raise invalid("maxResults", size, "Member must have value less than or equal to 100")
    return size
