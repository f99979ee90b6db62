"""The parameters every merge operation shares, checked as CodeCommit checks them: mergeOption,
conflictDetailLevel, conflictResolutionStrategy and conflictResolution."""

from dataclasses import dataclass, field

from ..awsjson import AwsError
from .params import file_mode, file_path

STRATEGIES = ("NONE", "ACCEPT_SOURCE", "ACCEPT_DESTINATION", "AUTOMERGE")
DETAIL_LEVELS = ("FILE_LEVEL", "LINE_LEVEL")
REPLACEMENT_TYPES = ("KEEP_BASE", "KEEP_SOURCE", "KEEP_DESTINATION", "USE_NEW_CONTENT")
MERGE_OPTIONS = ("FAST_FORWARD_MERGE", "SQUASH_MERGE", "THREE_WAY_MERGE")
MAX_RESOLUTION_ENTRIES = 100


@dataclass(frozen=True)
class Settings:
    detail_level: str = "FILE_LEVEL"
    strategy: str = "NONE"
    resolutions: dict = field(default_factory=dict)  # path -> (kind, entry of conflictResolution)


def merge_settings(params: dict) -> Settings:
    """conflictDetailLevel, conflictResolutionStrategy and conflictResolution, checked."""
    detail_level = params.get("conflictDetailLevel") or "FILE_LEVEL"
    if detail_level not in DETAIL_LEVELS:
        raise AwsError(
            "InvalidConflictDetailLevelException",
            f"conflictDetailLevel must be one of {', '.join(DETAIL_LEVELS)}.",
        )
    strategy = params.get("conflictResolutionStrategy") or "NONE"
    if strategy not in STRATEGIES:
        raise AwsError(
            "InvalidConflictResolutionStrategyException",
            f"conflictResolutionStrategy must be one of {', '.join(STRATEGIES)}.",
        )
    return Settings(detail_level, strategy, _resolutions(params.get("conflictResolution") or {}))


def _resolutions(given: dict) -> dict:
    entries = [
        (kind, entry)
        for kind in ("replaceContents", "deleteFiles", "setFileModes")
        for entry in given.get(kind) or []
    ]
    if len(entries) > MAX_RESOLUTION_ENTRIES:
        raise AwsError(
            "MaximumConflictResolutionEntriesExceededException",
            f"conflictResolution: at most {MAX_RESOLUTION_ENTRIES} entries.",
        )
    found = {}
    for kind, entry in entries:
        path = file_path(entry.get("filePath"))
        if path in found:
            raise AwsError(
                "MultipleConflictResolutionEntriesException",
                f"conflictResolution: {path} has more than one entry; give one per conflicting file.",
            )
        found[path] = (kind, entry)
        if kind == "setFileModes" and not entry.get("fileMode"):
            raise AwsError(
                "FileModeRequiredException", f"conflictResolution.setFileModes: {path} needs a fileMode."
            )
        file_mode(entry.get("fileMode"))
        if kind != "replaceContents":
            continue
        replacement = entry.get("replacementType")
        if not replacement:
            raise AwsError(
                "ReplacementTypeRequiredException",
                f"conflictResolution.replaceContents: {path} needs a replacementType.",
            )
        if replacement not in REPLACEMENT_TYPES:
            raise AwsError(
                "InvalidReplacementTypeException",
                "conflictResolution.replaceContents: replacementType must be one of "
                f"{', '.join(REPLACEMENT_TYPES)}.",
            )
        if replacement == "USE_NEW_CONTENT" and entry.get("content") is None:
            raise AwsError(
                "ReplacementContentRequiredException",
                f"conflictResolution.replaceContents: {path} is USE_NEW_CONTENT but has no content.",
            )
        if replacement != "USE_NEW_CONTENT" and entry.get("content") is not None:
            raise AwsError(
                "InvalidReplacementContentException",
                f"conflictResolution.replaceContents: {path} has content, which only USE_NEW_CONTENT takes.",
            )
    return found


def merge_option(params: dict, fast_forward_allowed: bool = True) -> str:
    option = params.get("mergeOption")
    if not option:
        raise AwsError("MergeOptionRequiredException", "mergeOption is required but was not specified.")
    if option not in MERGE_OPTIONS:
        raise AwsError(
            "InvalidMergeOptionException", f"mergeOption must be one of {', '.join(MERGE_OPTIONS)}."
        )
    if option == "FAST_FORWARD_MERGE" and not fast_forward_allowed:
        raise AwsError(
            "InvalidMergeOptionException",
            "mergeOption: a fast-forward merge makes no merge commit (nor conflicts); "
            "use SQUASH_MERGE or THREE_WAY_MERGE.",
        )
    return option
