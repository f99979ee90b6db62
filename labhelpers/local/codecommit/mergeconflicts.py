"""The conflicts of a merge of two commit specifiers: GetMergeConflicts (which files, and whether the merge
option can merge), DescribeMergeConflicts and BatchDescribeMergeConflicts (each file's versions and merge
hunks). At FILE_LEVEL a file is one hunk, whole; at LINE_LEVEL its hunks are the regions diff3 finds.
Hunk lines count from 0, the end excluded, in each version's own lines."""

import base64

from dulwich.graph import can_fast_forward
from dulwich.objects import S_ISGITLINK

from ..awsjson import AwsError
from ..paging import with_token
from .branchmerges import merge_ids
from .mergeplan import VERSIONS, FileMerge, is_binary
from .mergesettings import merge_option, merge_settings
from .params import file_path, offset_page
from .store import check_name
from .tree import mode_name

DEFAULT_PAGE = 100


class MergeConflicts:
    """Operations of CodeCommitService (a mixin: it needs BranchMerges' `_merge_of`)."""

    def get_merge_conflicts(self, params):
        option = merge_option(params)
        settings = merge_settings(params)
        limit = _limit(params, "maxConflictFiles", "InvalidMaxConflictFilesException")
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            plan = self._merge_of(repo, name, params, settings.detail_level)
            if option == "FAST_FORWARD_MERGE":
                mergeable, files = can_fast_forward(repo, plan.destination.id, plan.source.id), []
            else:
                mergeable = not plan.unresolved(settings)
                files = [conflict_metadata(file, settings.detail_level) for file in plan.conflicts.values()]
        page, token = offset_page(files, params.get("nextToken"), limit)
        return with_token({"mergeable": mergeable, **merge_ids(plan), "conflictMetadataList": page}, token)

    def describe_merge_conflicts(self, params):
        merge_option(params, fast_forward_allowed=False)
        settings = merge_settings(params)
        path = file_path(params.get("filePath"))
        limit = _limit(params, "maxMergeHunks", "InvalidMaxMergeHunksException")
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            plan = self._merge_of(repo, name, params, settings.detail_level)
            file = plan.describe(path)
            metadata = conflict_metadata(file, settings.detail_level)
            hunks = merge_hunks(file, settings.detail_level)
        page, token = offset_page(hunks, params.get("nextToken"), limit)
        answer = {"conflictMetadata": metadata, "mergeHunks": page, **merge_ids(plan)}
        return with_token(answer, token)

    def batch_describe_merge_conflicts(self, params):
        merge_option(params, fast_forward_allowed=False)
        settings = merge_settings(params)
        files_limit = _limit(params, "maxConflictFiles", "InvalidMaxConflictFilesException")
        hunks_limit = _limit(params, "maxMergeHunks", "InvalidMaxMergeHunksException")
        paths = params.get("filePaths")
        name = check_name(params.get("repositoryName"))
        with self.store.open(name) as repo:
            plan = self._merge_of(repo, name, params, settings.detail_level)
            files = [] if paths else list(plan.conflicts.values())
            errors = []
            for path in paths or []:
                try:
                    files.append(plan.describe(file_path(path)))
                except AwsError as error:
                    errors.append(
                        {"filePath": str(path), "exceptionName": error.code, "message": error.message}
                    )
            page, token = offset_page(files, params.get("nextToken"), files_limit)
            conflicts = [
                {
                    "conflictMetadata": conflict_metadata(file, settings.detail_level),
                    "mergeHunks": merge_hunks(file, settings.detail_level)[:hunks_limit],
                }
                for file in page
            ]
        return with_token({"conflicts": conflicts, "errors": errors, **merge_ids(plan)}, token)


def conflict_metadata(file: FileMerge, detail_level: str) -> dict:
    files = {version: entry for version, entry in file.entries.items() if entry and not S_ISGITLINK(entry[0])}
    data = {version: file.data(version) for version in files}
    base = file.entries["base"]
    operations = {
        side: "A" if base is None else ("D" if file.entries[side] is None else "M")
        for side in ("source", "destination")
        if file.entries[side] != base
    }
    return {
        "filePath": file.path,
        "fileSizes": {version: len(content) for version, content in data.items()},
        "fileModes": {version: mode_name(entry[0]) for version, entry in files.items()},
        "objectTypes": {version: kind for version, kind in file.types.items() if kind},
        "numberOfConflicts": file.conflicts(detail_level),
        "isBinaryFile": {version: is_binary(content) for version, content in data.items()},
        "contentConflict": file.content,
        "fileModeConflict": file.mode,
        "objectTypeConflict": file.object_type,
        "mergeOperations": operations,
    }


def merge_hunks(file: FileMerge, detail_level: str) -> list[dict]:
    texts = {version: file.data(version) for version in VERSIONS}
    lines = {version: (text or b"").splitlines(keepends=True) for version, text in texts.items()}
    shown = [version for version in VERSIONS if texts[version] is not None]

    def detail(version: str, span: range) -> dict:
        content = base64.b64encode(b"".join(lines[version][span.start : span.stop])).decode()
        return {"startLine": span.start, "endLine": span.stop, "hunkContent": content}

    def hunk(is_conflict: bool, spans: dict[str, range]) -> dict:
        return {"isConflict": is_conflict, **{version: detail(version, spans[version]) for version in shown}}

    if detail_level == "LINE_LEVEL" and file.lines:
        return [
            hunk(h.is_conflict, {"source": h.source, "destination": h.destination, "base": h.base})
            for h in file.lines.hunks
        ]
    if file.entries["source"] == file.entries["base"] and file.entries["destination"] == file.entries["base"]:
        return []
    return [hunk(file.content, {version: range(len(lines[version])) for version in VERSIONS})]


def _limit(params: dict, key: str, code: str) -> int:
    value = params.get(key, DEFAULT_PAGE)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AwsError(code, f"{key} must be a positive integer.")
    return value
