"""CodeCommit's view of git trees: the entry at a path, edits checked the way PutFile and CreateCommit check
them, and what differs between two trees."""

import stat

from dulwich.diff_tree import tree_changes
from dulwich.errors import NotTreeError
from dulwich.object_store import commit_tree_changes
from dulwich.objects import S_ISGITLINK, Blob, SubmoduleEncountered, Tree, TreeEntry

from ..awsjson import AwsError

FILE_MODES = {"NORMAL": 0o100644, "EXECUTABLE": 0o100755, "SYMLINK": 0o120000}


def mode_name(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "SYMLINK"
    return "EXECUTABLE" if mode & 0o111 else "NORMAL"


def tree_entry(repo, tree_id: bytes, path: str) -> tuple[int, bytes] | None:
    """(mode, sha) at `path` in the tree ('' is the tree itself), or None."""
    try:
        return repo.object_store[tree_id].lookup_path(repo.object_store.__getitem__, path.encode())
    except (KeyError, NotTreeError, SubmoduleEncountered):
        return None


class TreeEdit:
    """Changes to one commit's tree, checked the way CodeCommit checks PutFile and CreateCommit."""

    def __init__(self, repo, tree_id: bytes | None):
        self.repo = repo
        self.tree_id = tree_id
        self.changes: dict[str, tuple[int, bytes] | None] = {}
        self.added, self.updated, self.deleted = [], [], []

    def existing(self, path: str) -> tuple[int, bytes] | None:
        return tree_entry(self.repo, self.tree_id, path) if self.tree_id else None

    def existing_file(self, path: str) -> tuple[int, bytes]:
        found = self.existing(path)
        if found is None or stat.S_ISDIR(found[0]) or S_ISGITLINK(found[0]):
            raise AwsError("FileDoesNotExistException", f"{path} is not a file in the parent commit.")
        return found

    def put(self, path: str, mode: int, content: bytes) -> bytes:
        self._claim(path)
        self._check_room(path)
        blob = Blob.from_string(content)
        self.repo.object_store.add_object(blob)
        (self.updated if self.existing(path) else self.added).append(_file_metadata(path, mode, blob.id))
        self.changes[path] = (mode, blob.id)
        return blob.id

    def delete(self, path: str) -> None:
        mode, sha = self.existing_file(path)
        self._claim(path)
        self.changes[path] = None
        self.deleted.append(_file_metadata(path, mode, sha))

    def set_mode(self, path: str, mode: int) -> None:
        _, sha = self.existing_file(path)
        self._claim(path)
        self.changes[path] = (mode, sha)
        self.updated.append(_file_metadata(path, mode, sha))

    def write_tree(self, keep_empty_folders: bool) -> bytes:
        store = self.repo.object_store
        changes = [(p.encode(), *(change or (None, None))) for p, change in self.changes.items()]
        tree_id = commit_tree_changes(store, self.tree_id or Tree(), changes)
        if keep_empty_folders:
            emptied = {p.rpartition("/")[0] for p, change in self.changes.items() if change is None} - {""}
            kept = gitkeeps({d for d in emptied if tree_entry(self.repo, tree_id, d) is None})
            if kept:
                keep = Blob.from_string(b"")
                store.add_object(keep)
                tree_id = commit_tree_changes(
                    store, tree_id, [(k.encode(), FILE_MODES["NORMAL"], keep.id) for k in kept]
                )
                self.added += [_file_metadata(k, FILE_MODES["NORMAL"], keep.id) for k in kept]
        return tree_id

    def report(self) -> dict:
        return {"filesAdded": self.added, "filesUpdated": self.updated, "filesDeleted": self.deleted}

    def _claim(self, path: str) -> None:
        if path in self.changes:
            raise AwsError(
                "SamePathRequestException", f"{path} appears in more than one change of this commit."
            )

    def _check_room(self, path: str) -> None:
        """A file may go at `path` only if no folder is there and no file stands where its folders go."""
        found = self.existing(path)
        if found and S_ISGITLINK(found[0]):
            raise AwsError("FilePathConflictsWithSubmodulePathException", f"{path} is a submodule.")
        if found and stat.S_ISDIR(found[0]):
            raise AwsError(
                "FileNameConflictsWithDirectoryNameException", f"{path} is a folder in the repository."
            )
        if any(other.startswith(path + "/") for other, change in self.changes.items() if change):
            raise AwsError(
                "PutFileEntryConflictException", f"{path} is both a file and a folder in this commit."
            )
        parts = path.split("/")
        for folder in ("/".join(parts[:n]) for n in range(1, len(parts))):
            if folder in self.changes:
                if self.changes[folder] is None:
                    continue  # that file is deleted in this commit: the folder can take its place
                raise AwsError(
                    "PutFileEntryConflictException", f"{folder} is both a file and a folder in this commit."
                )
            found = self.existing(folder)
            if found and S_ISGITLINK(found[0]):
                raise AwsError("FilePathConflictsWithSubmodulePathException", f"{folder} is a submodule.")
            if found and not stat.S_ISDIR(found[0]):
                raise AwsError(
                    "DirectoryNameConflictsWithFileNameException", f"{folder} is a file in the repository."
                )


def gitkeeps(emptied: set[str]) -> list[str]:
    """The .gitkeep files that keep folders a change emptied (keepEmptyFolders): one in each deepest one."""
    deepest = [d for d in emptied if not any(other.startswith(d + "/") for other in emptied)]
    return [f"{d}/.gitkeep" for d in sorted(deepest)]


def _file_metadata(path: str, mode: int, sha: bytes) -> dict:
    return {"absolutePath": path, "blobId": sha.decode(), "fileMode": mode_name(mode)}


def changed_entries(repo, before_tree, after_tree, before_path: str, after_path: str):
    """(old, new) tree entries, full paths, of what differs between two trees under the given paths."""
    store = repo.object_store
    old_entry = tree_entry(repo, before_tree, before_path) if before_tree else None
    new_entry = tree_entry(repo, after_tree, after_path)
    if (before_path or after_path) and old_entry is None and new_entry is None:
        raise AwsError("PathDoesNotExistException", f"{after_path or before_path} exists in neither commit.")
    if before_path == after_path:
        changed = tree_changes(
            store, before_tree, after_tree, paths=[after_path.encode()] if after_path else None
        )
        return [(change.old, change.new) for change in changed]
    # A renamed folder or file: compare what lies under each path.
    old_files = _files_under(repo, old_entry, before_path)
    new_files = _files_under(repo, new_entry, after_path)
    pairs = [(old_files.get(key), new_files.get(key)) for key in sorted(old_files.keys() | new_files.keys())]
    return [(old, new) for old, new in pairs if old is None or new is None or old[1:] != new[1:]]


def _files_under(repo, entry: tuple[int, bytes] | None, path: str) -> dict[bytes, TreeEntry]:
    if entry is None:
        return {}
    mode, sha = entry
    if not stat.S_ISDIR(mode):
        return {b"": TreeEntry(path.encode(), mode, sha)}
    prefix = path.encode() + b"/" if path else b""
    return {
        e.path: TreeEntry(prefix + e.path, e.mode, e.sha) for e in repo.object_store.iter_tree_contents(sha)
    }
