"""What every CodePipeline call checks first: the Region it is scoped to, and its input against the model."""

from labhelpers.validator import MAX_TAGS, Problem, aws_regions, service_error

from ..awsjson import AwsError
from ..dispatch import request_region

SYSTEM_TAG_PREFIX = "aws:"


def region() -> str:
    """The request's Region (its SigV4 scope); AWS refuses a scope that names no Region."""
    found = request_region()
    if found not in aws_regions():
        raise AwsError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{found}'.",
            403,
        )
    return found


def answer(problems: list[Problem]) -> None:
    """Raise the error the service answers for `problems`, if any."""
    verdict = service_error(problems)
    if verdict:
        raise AwsError(*verdict)


def check_tag_keys(keys: list[str]) -> None:
    """System tags (aws:...) are the service's own: callers neither set nor remove them."""
    if any(key.lower().startswith(SYSTEM_TAG_PREFIX) for key in keys):
        raise AwsError(
            "InvalidTagsException",
            "Not allowed to modify system tags. System tags start with 'aws:'. "
            "msg=[Caller is an end user and not allowed to mutate system tags]",
        )


def check_new_tags(tags: list[dict]) -> None:
    """The tags a resource is created with: no system tags, no key twice, at most MAX_TAGS."""
    keys = [tag["key"] for tag in tags]
    check_tag_keys(keys)
    if len(set(keys)) < len(keys):
        raise AwsError("InvalidTagsException", "Tag keys must be unique.")
    if len(keys) > MAX_TAGS:
        raise AwsError("TooManyTagsException", f"A resource can have at most {MAX_TAGS} tags.")
