"""nextToken paging shared by our services: a token names the last key served, so a listing that changes
between pages (a new execution, say) neither skips nor repeats anything; listings of fixed content page by
offset."""

import base64
import binascii
import bisect
import json
from collections.abc import Callable

from .awsjson import AwsError


def page(keyed: list[tuple[str, object]], token, size: int, listing: str) -> tuple[list, str | None]:
    """One page of `keyed` ((key, item) pairs sorted by key) after the key `token` names; the next token."""
    start = bisect.bisect_right([key for key, _ in keyed], _after(token, listing)) if token is not None else 0
    chunk = keyed[start : start + size]
    more = start + size < len(keyed)
    return [item for _, item in chunk], _token(listing, chunk[-1][0]) if more else None


def offset_page(items: list, token, size: int, invalid: Callable[[], AwsError]) -> tuple[list, str | None]:
    """One page of `items` from the offset `token` encodes, and the next page's token if any; `invalid()` is
    the service's own error for a token it did not give."""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("offset:"))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            start = -1
        if start < 0:
            raise invalid()
    end = start + size
    following = base64.urlsafe_b64encode(f"offset:{end}".encode()).decode() if end < len(items) else None
    return items[start:end], following


def with_token(answer: dict, token: str | None) -> dict:
    return {**answer, "nextToken": token} if token else answer


def _token(listing: str, after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"list": listing, "after": after}).encode()).decode()


def _after(token, listing: str) -> str:
    try:
        content = json.loads(base64.urlsafe_b64decode(str(token).encode()))
    except (ValueError, binascii.Error):
        content = None
    if not (
        isinstance(content, dict) and content.get("list") == listing and isinstance(content.get("after"), str)
    ):
        raise AwsError(
            "InvalidNextTokenException",
            "The next token is not valid: pass the nextToken of the previous answer unchanged.",
        )
    return content["after"]


def newest_first_key(stamp: float, unique: str) -> str:
    """A key that sorts newer stamps first."""
    return f"{10**13 - int(stamp * 1000):014d}-{unique}"
