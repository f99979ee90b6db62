"""Emoji reactions to comments: PutCommentReaction and GetCommentReactions, and the reactions a comment shows
its reader (`callerReactions`, `reactionCounts`).

Each user has at most one reaction to a comment; putting another replaces it, and a blank value or `none`
removes it. A value is given as the emoji, its short code (`:thumbsup:`) or its code point (`U+1F44D`), from
the set CodeCommit's user guide lists; counts are keyed by the short code's name in capitals (`THUMBSUP`), as
the CLI's examples show."""

from ..awsjson import AwsError
from ..paging import with_token
from .commentstore import check_not_deleted, comment_id
from .params import offset_page, optional_string
from .pulls import IDENTITY_ARN, max_results

# (short code name, emoji, code point)
REACTIONS = (
    ("thumbsup", "\U0001f44d", "U+1F44D"),
    ("thumbsdown", "\U0001f44e", "U+1F44E"),
    ("smile", "\U0001f600", "U+1F600"),
    ("laugh", "\U0001f602", "U+1F602"),
    ("confused", "\U0001f615", "U+1F615"),
    ("heart", "\u2764", "U+2764"),
    ("hooray", "\U0001f389", "U+1F389"),
    ("clap", "\U0001f44f", "U+1F44F"),
)
MAX_REACTIONS_PAGE = 1000
_VARIATION_SELECTOR = "\ufe0f"  # ❤️ is often sent as U+2764 U+FE0F


class CommentReactions:
    """Operations of CodeCommitService (a mixin: it needs `comments` and `caller`)."""

    def put_comment_reaction(self, params):
        commentid = comment_id(params)
        value = _reaction(params.get("reactionValue"))
        with self.comments.locked(commentid) as (name, kept):
            check_not_deleted(kept)
            kept["reactions"].pop(self.caller(), None)
            if value:
                kept["reactions"][self.caller()] = value
            self.comments.save(name, kept)

    def get_comment_reactions(self, params):
        commentid = comment_id(params)
        user = optional_string(params, "reactionUserArn")
        if user is not None and not IDENTITY_ARN.fullmatch(user):
            raise AwsError(
                "InvalidReactionUserArnException", f"reactionUserArn {user!r} is not an IAM or STS ARN."
            )
        limit = max_results(params, MAX_REACTIONS_PAGE, most=MAX_REACTIONS_PAGE)
        _, kept = self.comments.find(commentid)
        check_not_deleted(kept)
        users: dict[str, list[str]] = {}
        for arn, value in sorted(kept["reactions"].items()):
            if user in (None, arn):
                users.setdefault(value, []).append(arn)
        found = [
            {
                "reaction": {"emoji": emoji, "shortCode": short, "unicode": point},
                "reactionUsers": users[short],
                "reactionsFromDeletedUsersCount": 0,
            }
            for short, emoji, point in REACTIONS
            if short in users
        ]
        page, token = offset_page(found, params.get("nextToken"), limit)
        return with_token({"reactionsForComment": page}, token)

    def shown(self, kept: dict) -> dict:
        """The API's comment, with the reactions to it as its caller sees them."""
        values = kept["reactions"].values()
        mine = kept["reactions"].get(self.caller())
        return {
            **kept["comment"],
            "callerReactions": [mine.upper()] if mine else [],
            "reactionCounts": {short.upper(): list(values).count(short) for short in sorted(set(values))},
        }


def _reaction(value) -> str | None:
    """The short code name of a reaction value; None for a blank or `none` (remove the reaction)."""
    if value is None:
        raise AwsError("ReactionValueRequiredException", "reactionValue is required: an emoji, or none.")
    if not isinstance(value, str):
        raise AwsError("SerializationException", "reactionValue must be a string.")
    given = value.strip().replace(_VARIATION_SELECTOR, "")
    if given.lower() in ("", "none"):
        return None
    for short, emoji, point in REACTIONS:
        if given in (emoji, f":{short}:") or given.upper() == point:
            return short
    accepted = ", ".join(f":{short}:" for short, _, _ in REACTIONS)
    raise AwsError(
        "InvalidReactionValueException",
        f"reactionValue {value!r} is not a reaction CodeCommit supports: give one of {accepted} (or the "
        "emoji, or its code point such as U+1F44D), or none to remove yours.",
    )
