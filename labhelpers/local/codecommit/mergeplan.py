"""What merging a source commit into a destination commit gives, path by path, as CodeCommit merges: a file
only one side changed takes that side's version; a file both sides changed differently conflicts (with
conflictDetailLevel FILE_LEVEL, the default) or is merged line by line and conflicts only where both changed
the same lines (LINE_LEVEL). Modes and object types (file, symbolic link, submodule, folder) conflict when
both sides changed them differently. A conflictResolutionStrategy settles conflicts (ACCEPT_SOURCE,
ACCEPT_DESTINATION, or AUTOMERGE: the line merge where it is clean), and conflictResolution entries settle
them path by path; any conflict left unsettled is refused with ManualMergeRequiredException."""

import stat
from dataclasses import dataclass
from functools import cached_property

from dulwich.graph import can_fast_forward, find_merge_base
from dulwich.index import commit_tree
from dulwich.objects import S_ISGITLINK, Blob, Commit

from ..awsjson import AwsError
from .diff3 import LineMerge, merge_lines
from .gitobjects import find_commit, new_commit
from .mergesettings import Settings, merge_settings
from .params import blob_content, commit_details, file_mode
from .tree import FILE_MODES, gitkeeps

VERSIONS = ("source", "destination", "base")

Entry = tuple[int, bytes]  # (mode, sha) of a file, symbolic link or submodule


def commit_merger(params: dict, option: str, default_message: str):
    """`merge(repo, source, destination) -> Commit`: the squash or three-way merge commit the parameters
    (conflict settings, keepEmptyFolders, authorName, email, commitMessage; checked now) ask for."""
    settings = merge_settings(params)
    identity, message = commit_details(params)
    keep_empty_folders = bool(params.get("keepEmptyFolders"))

    def merge(repo, source: Commit, destination: Commit) -> Commit:
        tree_id = Merge(repo, source, destination, settings.detail_level).tree(settings, keep_empty_folders)
        parents = [destination.id] if option == "SQUASH_MERGE" else [destination.id, source.id]
        return new_commit(repo, tree_id, parents, identity, message or default_message)

    return merge


def fast_forward(repo, source: Commit, destination: Commit) -> Commit:
    """The source, which a fast-forward merge moves the destination to, if the destination is its ancestor."""
    if not can_fast_forward(repo, destination.id, source.id):
        raise AwsError(
            "ManualMergeRequiredException",
            "The destination has commits the source lacks: this is not a fast-forward merge; "
            "merge by squash or three-way, or bring the source up to date.",
        )
    return source


def object_type(mode: int) -> str:
    if S_ISGITLINK(mode):
        return "GIT_LINK"
    return "SYMBOLIC_LINK" if stat.S_ISLNK(mode) else "FILE"


@dataclass
class FileMerge:
    """One path of the merge: its versions, what conflicts there, and the line merge of its text."""

    path: str
    entries: dict[str, Entry | None]  # by version: source, destination, base
    types: dict[str, str | None]  # object type by version (DIRECTORY where the version has a folder)
    object_store: object
    content: bool = False
    mode: bool = False
    object_type: bool = False

    @property
    def conflicting(self) -> bool:
        return self.content or self.mode or self.object_type

    def data(self, version: str) -> bytes | None:
        entry = self.entries[version]
        if entry is None or S_ISGITLINK(entry[0]):
            return None
        return self.object_store[entry[1]].as_raw_string()

    @cached_property
    def lines(self) -> LineMerge | None:
        """The line merge of the versions (an absent one empty); None if one is binary or a submodule."""
        versions = [self.data(version) for version in ("base", "source", "destination")]
        gitlink = any(entry and S_ISGITLINK(entry[0]) for entry in self.entries.values())
        if gitlink or any(data is not None and is_binary(data) for data in versions):
            return None
        return merge_lines(*((data or b"").splitlines(keepends=True) for data in versions))

    def conflicts(self, detail_level: str) -> int:
        content = max(self.lines.conflicts, 1) if detail_level == "LINE_LEVEL" and self.lines else 1
        return (content if self.content else 0) + self.mode + self.object_type


def is_binary(data: bytes) -> bool:
    """Git's rule: a NUL byte in the first 8000 bytes."""
    return b"\0" in data[:8000]


class Merge:
    """The merge of `source` into `destination` at `detail_level`: the files it gives (conflicting paths
    keep the destination's version) and its conflicts, by path."""

    def __init__(self, repo, source: Commit, destination: Commit, detail_level: str = "FILE_LEVEL"):
        self.repo = repo
        self.source, self.destination = source, destination
        bases = find_merge_base(repo, [destination.id, source.id])
        self.base = find_commit(repo, bases[0]) if bases else None
        self.detail_level = detail_level
        commits = {"source": source, "destination": destination, "base": self.base}
        self.files = {version: _files(repo, commit) for version, commit in commits.items()}
        self.merged: dict[str, Entry] = {}
        self.conflicts: dict[str, FileMerge] = {}
        for path in sorted(set().union(*self.files.values())):
            self._merge_path(path)
        self._find_folder_conflicts()

    def describe(self, path: str) -> FileMerge:
        """The merge of any path; FileDoesNotExistException if no version has it."""
        if path in self.conflicts:
            return self.conflicts[path]
        entries = {version: self.files[version].get(path) for version in VERSIONS}
        if not any(entries.values()):
            raise AwsError("FileDoesNotExistException", f"filePath: {path} is in none of the merged commits.")
        return self._file_merge(path, entries)

    def unresolved(self, settings: Settings) -> list[str]:
        """The conflicting paths neither the strategy nor a resolution entry settles."""
        return [
            path
            for path, conflict in self.conflicts.items()
            if path not in settings.resolutions and self._settled(conflict, settings.strategy) is None
        ]

    def tree(self, settings: Settings, keep_empty_folders: bool = False) -> bytes:
        """Write the merged tree, conflicts settled as `settings` say; ManualMergeRequiredException if some
        are not."""
        stray = sorted(set(settings.resolutions) - set(self.conflicts))
        if stray:
            raise AwsError(
                "InvalidConflictResolutionException",
                f"conflictResolution: {', '.join(stray)} has no conflict in this merge.",
            )
        unresolved = self.unresolved(settings)
        if unresolved:
            raise AwsError(
                "ManualMergeRequiredException",
                f"The merge has conflicts in {', '.join(unresolved)}: settle them with "
                "conflictResolutionStrategy or conflictResolution, or merge with git and push.",
            )
        files = dict(self.merged)
        for path, conflict in self.conflicts.items():
            if path in settings.resolutions:
                self._resolve(files, conflict, *settings.resolutions[path])
            else:
                _replace(files, path, self._settled(conflict, settings.strategy))
        store = self.repo.object_store
        if keep_empty_folders:
            kept = gitkeeps(_folders(self.files["destination"]) - _folders(files))
            if kept:
                keep = Blob.from_string(b"")
                store.add_object(keep)
                files.update({path: (FILE_MODES["NORMAL"], keep.id) for path in kept})
        return commit_tree(store, [(path.encode(), sha, mode) for path, (mode, sha) in sorted(files.items())])

    # -- merging -------------------------------------------------------------------------------------

    def _merge_path(self, path: str) -> None:
        source, destination, base = (self.files[version].get(path) for version in VERSIONS)
        if source == destination or source == base:
            entry = destination
        elif destination == base:
            entry = source
        else:
            entry = self._merge_changes(path, source, destination, base)
        if entry is not None:
            self.merged[path] = entry

    def _merge_changes(self, path: str, source: Entry | None, destination: Entry | None, base: Entry | None):
        """Both sides changed the path, differently: the merged entry, or the destination's on a conflict."""
        conflict = self._file_merge(path, {"source": source, "destination": destination, "base": base})
        if source is None or destination is None:
            conflict.content = True  # changed on one side, deleted on the other
            self.conflicts[path] = conflict
            return destination
        mode, conflict.mode = _three_way(source[0], destination[0], base and base[0])
        conflict.object_type = object_type(source[0]) != object_type(destination[0])
        sha, content_conflict = _three_way(source[1], destination[1], base and base[1])
        if content_conflict:
            lines = conflict.lines if self.detail_level == "LINE_LEVEL" else None
            if lines and lines.merged is not None and not conflict.object_type:
                sha = self._blob(b"".join(lines.merged))
            else:
                conflict.content = True
        if conflict.conflicting:
            self.conflicts[path] = conflict
            return destination
        return mode, sha

    def _find_folder_conflicts(self) -> None:
        """A file one side put where the other has a folder (or the reverse): an object type conflict, the
        destination's side kept meanwhile."""
        for path in sorted({folder for folder in _folders(self.merged) if folder in self.merged}):
            entries = {version: self.files[version].get(path) for version in VERSIONS}
            conflict = self.conflicts.get(path) or self._file_merge(path, entries)
            conflict.object_type = True
            self.conflicts[path] = conflict
            _replace(self.merged, path, _tree_part(self.files["destination"], path))

    def _file_merge(self, path: str, entries: dict[str, Entry | None]) -> FileMerge:
        types = {}
        for version, entry in entries.items():
            under = any(other.startswith(path + "/") for other in self.files[version])
            types[version] = object_type(entry[0]) if entry else ("DIRECTORY" if under else None)
        return FileMerge(path, entries, types, self.repo.object_store)

    def _settled(self, conflict: FileMerge, strategy: str) -> dict[str, Entry] | None:
        """The files at and under the conflict's path that `strategy` gives; None if it settles nothing."""
        if strategy in ("ACCEPT_SOURCE", "ACCEPT_DESTINATION"):
            version = strategy.removeprefix("ACCEPT_").lower()
            return _tree_part(self.files[version], conflict.path)
        if strategy == "AUTOMERGE" and not (conflict.mode or conflict.object_type) and conflict.lines:
            merged = conflict.lines.merged
            both = conflict.entries["source"] and conflict.entries["destination"]
            if merged is not None and both:
                mode, _ = _three_way(*(conflict.entries[v] and conflict.entries[v][0] for v in VERSIONS))
                return {conflict.path: (mode, self._blob(b"".join(merged)))}
        return None

    def _resolve(self, files: dict, conflict: FileMerge, kind: str, entry: dict) -> None:
        """Apply one conflictResolution entry to the conflict's path."""
        path = conflict.path
        current = files.get(path)
        if kind == "deleteFiles":
            files.pop(path, None)
        elif kind == "setFileModes":
            if current is None:
                raise AwsError(
                    "InvalidConflictResolutionException",
                    f"conflictResolution.setFileModes: {path} is no file in the merge; use replaceContents.",
                )
            files[path] = (file_mode(entry["fileMode"]), current[1])
        elif entry["replacementType"] == "USE_NEW_CONTENT":
            sha = self._blob(blob_content(entry["content"], "conflictResolution.replaceContents.content"))
            files[path] = (file_mode(entry.get("fileMode")) or (current or (FILE_MODES["NORMAL"],))[0], sha)
        else:
            kept = conflict.entries[entry["replacementType"].removeprefix("KEEP_").lower()]
            if kept is None:
                files.pop(path, None)
            else:
                files[path] = (file_mode(entry.get("fileMode")) or kept[0], kept[1])

    def _blob(self, content: bytes) -> bytes:
        blob = Blob.from_string(content)
        self.repo.object_store.add_object(blob)
        return blob.id


def _three_way(source, destination, base):
    """The merged value of one attribute, and whether it conflicts (both sides changed it differently;
    the destination's is kept)."""
    if source == destination or source == base:
        return destination, False
    if destination == base:
        return source, False
    return destination, True


def _files(repo, commit: Commit | None) -> dict[str, Entry]:
    if commit is None:
        return {}
    contents = repo.object_store.iter_tree_contents(commit.tree)
    return {item.path.decode(): (item.mode, item.sha) for item in contents}


def _folders(files) -> set[str]:
    return {path.rsplit("/", n)[0] for path in files for n in range(1, path.count("/") + 1)}


def _tree_part(files: dict[str, Entry], path: str) -> dict[str, Entry]:
    return {p: entry for p, entry in files.items() if p == path or p.startswith(path + "/")}


def _replace(files: dict[str, Entry], path: str, part: dict[str, Entry]) -> None:
    """Put `part` in place of what `files` has at and under `path`."""
    for doomed in _tree_part(files, path):
        del files[doomed]
    files.update(part)
