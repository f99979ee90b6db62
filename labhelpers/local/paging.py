"""nextToken paging shared by our services: a token names the last key served, so a listing that changes
between pages (a new execution, say) neither skips nor repeats anything."""

import base64
import binascii
import bisect
import json

from .awsjson import AwsError


def page(keyed: list[tuple[str, object]], token, size: int, listing: str) -> tuple[list, str | None]:
    """One page of `keyed` ((key, item) pairs sorted by key) after the key `token` names; the next token."""
    start = bisect.bisect_right([key for key, _ in keyed], _after(token, listing)) if token is not None else 0
    chunk = keyed[start : start + size]
    more = start + size < len(keyed)
    return [item for _, item in chunk], _token(listing, chunk[-1][0]) if more else None


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
