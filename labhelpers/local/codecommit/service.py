"""CodeCommit's API over the RepoStore: repositories, branches, commits, files, folders and differences,
read from and written to the git repositories with dulwich."""

import base64
import stat
from collections.abc import Callable

from dulwich.objects import S_ISGITLINK, Blob, Commit, Tree, TreeEntry

from .. import config
from ..awsjson import AwsError
from ..dispatch import JsonService
from ..paging import with_token
from .approvals import PullRequestApprovals
from .branchmerges import BranchMerges
from .commentedits import CommentEdits
from .comments import CommitComments
from .commentstore import CommentStore
from .gitobjects import branch_names, branch_tip, commit_info, find_commit, new_commit, read_ref
from .history import CommitHistory
from .mergeconflicts import MergeConflicts
from .merges import PullRequestMerges
from .params import (
    FULL_ID,
    blob_content,
    branch_name,
    check_description,
    checked_tags,
    commit_identity,
    file_mode,
    file_path,
    object_id,
    offset_page,
    optional_string,
    repo_path,
    repository_names,
    required,
)
from .pulls import PullRequests
from .pullstore import PullRequestStore
from .reactions import CommentReactions
from .repotriggers import RepositoryTriggers
from .store import BRANCH_PREFIX, RepoStore, check_name
from .templates import ApprovalRuleTemplates
from .templatestore import TemplateStore
from .tree import FILE_MODES, TreeEdit, changed_entries, mode_name, tree_entry

MAX_FILE_BYTES = 6 * 1024 * 1024
MAX_FILE_ENTRIES = 100
DIFFERENCES_PAGE = 100


class CodeCommitService(
    ApprovalRuleTemplates,
    MergeConflicts,
    BranchMerges,
    PullRequestMerges,
    PullRequestApprovals,
    CommentEdits,
    CommitComments,
    CommentReactions,
    PullRequests,
    CommitHistory,
    RepositoryTriggers,
    JsonService,
):
    target_prefix = "CodeCommit_20150413"
    signing_name = "codecommit"

    def __init__(
        self,
        store: RepoStore,
        *,
        clone_url: Callable[[str], str],
        caller: Callable[[], str] | None = None,
        page_size: int = 1000,
    ):
        self.store = store
        self.pulls = PullRequestStore(store)
        self.comments = CommentStore(store)
        self.templates = TemplateStore(store)
        self.clone_url = clone_url
        # The ARN of whoever calls: authors and actors of pull requests (the endpoint's STS tells it).
        self.caller = caller or (lambda: config.caller_arn(store.account))
        self.page_size = page_size

    # -- repositories --------------------------------------------------------------------------------

    def create_repository(self, params):
        name = check_name(params.get("repositoryName"))
        description = optional_string(params, "repositoryDescription")
        check_description(description)
        tags = checked_tags(params.get("tags") or {})
        metadata = self.store.create(name, description, tags, optional_string(params, "kmsKeyId"))
        return {"repositoryMetadata": self._metadata(metadata)}

    def get_repository(self, params):
        return {
            "repositoryMetadata": self._metadata(self.store.get(check_name(params.get("repositoryName"))))
        }

    def list_repositories(self, params):
        sort_by = params.get("sortBy") or "repositoryName"
        order = params.get("order") or "ascending"
        if sort_by not in ("repositoryName", "lastModifiedDate"):
            raise AwsError(
                "InvalidSortByException",
                f"sortBy must be repositoryName or lastModifiedDate, not {sort_by!r}.",
            )
        if order not in ("ascending", "descending"):
            raise AwsError("InvalidOrderException", f"order must be ascending or descending, not {order!r}.")
        found = sorted(self.store.all(), key=lambda m: m[sort_by], reverse=order == "descending")
        pairs = [{"repositoryName": m["repositoryName"], "repositoryId": m["repositoryId"]} for m in found]
        page, token = offset_page(pairs, params.get("nextToken"), self.page_size)
        return with_token({"repositories": page}, token)

    def batch_get_repositories(self, params):
        found, missing = [], []
        for name in map(check_name, repository_names(params)):
            try:
                found.append(self._metadata(self.store.get(name)))
            except AwsError:
                missing.append(name)
        errors = [
            {
                "repositoryName": n,
                "errorCode": "RepositoryDoesNotExistException",
                "errorMessage": f"{n} does not exist",
            }
            for n in missing
        ]
        return {"repositories": found, "repositoriesNotFound": missing, "errors": errors}

    def delete_repository(self, params):
        deleted = self.store.delete(check_name(params.get("repositoryName")))
        return {"repositoryId": deleted["repositoryId"]} if deleted else {}

    def update_repository_description(self, params):
        name = check_name(params.get("repositoryName"))
        description = optional_string(params, "repositoryDescription")
        check_description(description)
        self.store.update(name, repositoryDescription=description)

    def update_repository_name(self, params):
        old = check_name(params.get("oldName"))
        new = check_name(params.get("newName"))
        self.store.rename(old, new)

    def update_default_branch(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params, "defaultBranchName")
        with self.store.lock(name), self.store.open(name) as repo:
            branch_tip(repo, branch)
            self.store.set_default_branch(name, branch)

    def _metadata(self, metadata: dict) -> dict:
        url = self.clone_url(metadata["repositoryName"])
        hidden = ("tags", "triggers", "triggersConfigurationId")
        shown = {key: value for key, value in metadata.items() if key not in hidden}
        return {**shown, "cloneUrlHttp": url, "cloneUrlSsh": url}

    # -- tags ----------------------------------------------------------------------------------------

    def list_tags_for_resource(self, params):
        return {"tags": self.store.get(self._arn_name(params))["tags"]}

    def tag_resource(self, params):
        name = self._arn_name(params)
        if not params.get("tags"):
            raise AwsError("TagsMapRequiredException", "A map of tags is required.")
        added = checked_tags(params["tags"])
        with self.store.lock(name):
            self.store.update(name, tags=checked_tags({**self.store.get(name)["tags"], **added}))

    def untag_resource(self, params):
        name = self._arn_name(params)
        keys = params.get("tagKeys")
        if not keys:
            raise AwsError("TagKeysListRequiredException", "A list of tag keys is required.")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise AwsError("InvalidTagKeysListException", "tagKeys must be a list of strings.")
        with self.store.lock(name):
            tags = self.store.get(name)["tags"]
            self.store.update(name, tags={k: v for k, v in tags.items() if k not in keys})

    def _arn_name(self, params) -> str:
        arn = optional_string(params, "resourceArn")
        if not arn:
            raise AwsError("ResourceArnRequiredException", "A resource ARN is required.")
        prefix = f"arn:aws:codecommit:{self.store.region}:{self.store.account}:"
        if not arn.startswith(prefix):
            raise AwsError(
                "InvalidResourceArnException", f"{arn} is not a CodeCommit repository ARN ({prefix}<name>)."
            )
        name = check_name(arn[len(prefix) :])
        self.store.get(name)
        return name

    # -- branches ------------------------------------------------------------------------------------

    def get_branch(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        with self.store.open(name) as repo:
            return {"branch": {"branchName": branch, "commitId": branch_tip(repo, branch).decode()}}

    def list_branches(self, params):
        with self.store.open(check_name(params.get("repositoryName"))) as repo:
            names = sorted(branch_names(repo))
        page, token = offset_page(names, params.get("nextToken"), self.page_size)
        return with_token({"branches": page}, token)

    def create_branch(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        commit_id = object_id(
            required(params, "commitId", "CommitIdRequiredException"), "InvalidCommitIdException"
        )
        with self.store.open(name) as repo:
            if find_commit(repo, commit_id) is None:
                raise AwsError(
                    "CommitDoesNotExistException", f"Commit {commit_id.decode()} does not exist in {name}."
                )
        if not self.store.update_ref(name, BRANCH_PREFIX + branch, None, commit_id.decode()):
            raise AwsError("BranchNameExistsException", f"Branch {branch} already exists in {name}.")

    def delete_branch(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        with self.store.lock(name):
            if branch == self.store.get(name).get("defaultBranch"):
                raise AwsError(
                    "DefaultBranchCannotBeDeletedException",
                    f"{branch} is the default branch of {name}; make another branch the default first.",
                )
            with self.store.open(name) as repo:
                tip = read_ref(repo, BRANCH_PREFIX + branch)
            if tip is None:
                return {}
            if not self.store.update_ref(name, BRANCH_PREFIX + branch, tip.decode(), None):
                raise AwsError(
                    "ConcurrentReferenceUpdateException", f"{branch} moved while it was being deleted."
                )
        return {"deletedBranch": {"branchName": branch, "commitId": tip.decode()}}

    # -- reading commits, files and folders ----------------------------------------------------------

    def get_commit(self, params):
        name = check_name(params.get("repositoryName"))
        commit_id = object_id(
            required(params, "commitId", "CommitIdRequiredException"), "InvalidCommitIdException"
        )
        with self.store.open(name) as repo:
            commit = find_commit(repo, commit_id)
        if commit is None:
            raise AwsError(
                "CommitIdDoesNotExistException", f"Commit {commit_id.decode()} does not exist in {name}."
            )
        return {"commit": commit_info(commit)}

    def get_file(self, params):
        name = check_name(params.get("repositoryName"))
        path = file_path(params.get("filePath"))
        with self.store.open(name) as repo:
            commit = self._specified_commit(repo, name, params.get("commitSpecifier"))
            entry = tree_entry(repo, commit.tree, path)
            if entry is None or stat.S_ISDIR(entry[0]) or S_ISGITLINK(entry[0]):
                raise AwsError(
                    "FileDoesNotExistException", f"{path} does not exist in commit {commit.id.decode()}."
                )
            content = repo.object_store[entry[1]].as_raw_string()
        if len(content) > MAX_FILE_BYTES:
            raise AwsError(
                "FileTooLargeException", f"{path} is larger than {MAX_FILE_BYTES} bytes; use git to read it."
            )
        return {
            "commitId": commit.id.decode(),
            "blobId": entry[1].decode(),
            "filePath": path,
            "fileMode": mode_name(entry[0]),
            "fileSize": len(content),
            "fileContent": _b64(content),
        }

    def get_folder(self, params):
        name = check_name(params.get("repositoryName"))
        given = params.get("folderPath")
        folder = repo_path("/" if given == "" else given)  # "" and "/" are the root, as the CLI example
        with self.store.open(name) as repo:
            commit = self._specified_commit(repo, name, params.get("commitSpecifier"))
            entry = tree_entry(repo, commit.tree, folder)
            if entry is None or not stat.S_ISDIR(entry[0]):
                raise AwsError(
                    "FolderDoesNotExistException", f"/{folder} does not exist in commit {commit.id.decode()}."
                )
            listing = repo.object_store[entry[1]].items()
        found = {"subFolders": [], "files": [], "symbolicLinks": [], "subModules": []}
        for item in listing:
            relative = item.path.decode()
            where = {"absolutePath": _join(folder, relative), "relativePath": relative}
            if stat.S_ISDIR(item.mode):
                found["subFolders"].append({"treeId": item.sha.decode(), **where})
            elif S_ISGITLINK(item.mode):
                found["subModules"].append({"commitId": item.sha.decode(), **where})
            else:
                kind = "symbolicLinks" if stat.S_ISLNK(item.mode) else "files"
                found[kind].append({"blobId": item.sha.decode(), **where, "fileMode": mode_name(item.mode)})
        return {"commitId": commit.id.decode(), "folderPath": folder, "treeId": entry[1].decode(), **found}

    def get_blob(self, params):
        name = check_name(params.get("repositoryName"))
        blob_id = object_id(required(params, "blobId", "BlobIdRequiredException"), "InvalidBlobIdException")
        with self.store.open(name) as repo:
            if blob_id not in repo.object_store:
                raise AwsError(
                    "BlobIdDoesNotExistException", f"Blob {blob_id.decode()} does not exist in {name}."
                )
            blob = repo.object_store[blob_id]
        if not isinstance(blob, Blob):
            raise AwsError(
                "InvalidBlobIdException", f"{blob_id.decode()} is a {blob.type_name.decode()}, not a blob."
            )
        return {"content": _b64(blob.as_raw_string())}

    def get_differences(self, params):
        name = check_name(params.get("repositoryName"))
        after_spec = required(params, "afterCommitSpecifier", "CommitRequiredException")
        limit = params.get("MaxResults", DIFFERENCES_PAGE)
        if not isinstance(limit, int) or limit < 1:
            raise AwsError("InvalidMaxResultsException", "MaxResults must be a positive integer.")
        before_path = repo_path(params.get("beforePath") or params.get("afterPath") or "/")
        after_path = repo_path(params.get("afterPath") or params.get("beforePath") or "/")
        with self.store.open(name) as repo:
            after = self._specified_commit(repo, name, after_spec)
            before_spec = params.get("beforeCommitSpecifier")
            before = self._specified_commit(repo, name, before_spec) if before_spec else None
            changes = changed_entries(
                repo, before.tree if before else None, after.tree, before_path, after_path
            )
        differences = [_difference(old, new) for old, new in changes]
        page, token = offset_page(differences, params.get("NextToken"), limit)
        return {"differences": page, **({"NextToken": token} if token else {})}

    def _specified_commit(self, repo, name: str, specifier: str | None) -> Commit:
        """The commit a specifier names: a full commit ID, branch, tag, full ref or HEAD (the default)."""
        specifier = specifier or "HEAD"
        if specifier == "HEAD" and not self.store.get(name).get("defaultBranch"):
            raise AwsError("CommitDoesNotExistException", f"{name} is empty: it has no default branch yet.")
        candidates = [f"refs/heads/{specifier}", f"refs/tags/{specifier}"]
        if specifier == "HEAD" or specifier.startswith("refs/"):
            candidates.insert(0, specifier)
        shas = [read_ref(repo, ref) for ref in candidates]
        if FULL_ID.fullmatch(specifier):
            shas.insert(0, specifier.lower().encode())
        for sha in filter(None, shas):
            commit = find_commit(repo, sha)
            if commit is not None:
                return commit
        raise AwsError("CommitDoesNotExistException", f"{specifier} names no commit in {name}.")

    # -- writing -------------------------------------------------------------------------------------

    def put_file(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        path = file_path(params.get("filePath"))
        content = blob_content(params.get("fileContent"), "fileContent")
        if not content:
            raise AwsError(
                "FileContentRequiredException", "The file is empty: PutFile cannot add empty files."
            )
        identity = commit_identity(params.get("name"), params.get("email"))
        with self.store.lock(name), self.store.open(name) as repo:
            parent = self._parent(repo, name, branch, optional_string(params, "parentCommitId"))
            edit = TreeEdit(repo, parent.tree if parent else None)
            existing = edit.existing(path)
            mode = file_mode(params.get("fileMode")) or (existing[0] if existing else FILE_MODES["NORMAL"])
            if existing == (mode, Blob.from_string(content).id):
                raise AwsError(
                    "SameFileContentException", f"{path} already has this content and mode on {branch}."
                )
            blob_id = edit.put(path, mode, content)
            tree_id = edit.write_tree(keep_empty_folders=False)
            message = params.get("commitMessage") or f"{'Updated' if existing else 'Added'} {path}"
            commit_id = self._commit_to(repo, name, branch, parent, tree_id, identity, message)
        return {"commitId": commit_id, "blobId": blob_id.decode(), "treeId": tree_id.decode()}

    def delete_file(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        path = file_path(params.get("filePath"))
        parent_id = required(params, "parentCommitId", "ParentCommitIdRequiredException")
        identity = commit_identity(params.get("name"), params.get("email"))
        with self.store.lock(name), self.store.open(name) as repo:
            parent = self._parent(repo, name, branch, parent_id)
            edit = TreeEdit(repo, parent.tree)
            _, blob_id = edit.existing_file(path)
            edit.delete(path)
            tree_id = edit.write_tree(bool(params.get("keepEmptyFolders")))
            message = params.get("commitMessage") or f"Deleted {path}"
            commit_id = self._commit_to(repo, name, branch, parent, tree_id, identity, message)
        return {
            "commitId": commit_id,
            "blobId": blob_id.decode(),
            "treeId": tree_id.decode(),
            "filePath": path,
        }

    def create_commit(self, params):
        name = check_name(params.get("repositoryName"))
        branch = branch_name(params)
        puts, deletes, modes = (params.get(key) or [] for key in ("putFiles", "deleteFiles", "setFileModes"))
        if not (puts or deletes or modes):
            raise AwsError(
                "FileEntryRequiredException", "Give at least one of putFiles, deleteFiles, setFileModes."
            )
        if len(puts) + len(deletes) + len(modes) > MAX_FILE_ENTRIES:
            raise AwsError(
                "MaximumFileEntriesExceededException",
                f"At most {MAX_FILE_ENTRIES} file changes fit in one commit.",
            )
        identity = commit_identity(params.get("authorName"), params.get("email"))
        with self.store.lock(name), self.store.open(name) as repo:
            parent = self._parent(repo, name, branch, optional_string(params, "parentCommitId"))
            edit = TreeEdit(repo, parent.tree if parent else None)
            for entry in deletes:
                edit.delete(file_path(entry.get("filePath")))
            for entry in modes:
                mode = file_mode(entry.get("fileMode"))
                if mode is None:
                    raise AwsError("FileModeRequiredException", "Each setFileModes entry needs a fileMode.")
                edit.set_mode(file_path(entry.get("filePath")), mode)
            for entry in puts:
                _put_entry(edit, entry)
            tree_id = edit.write_tree(bool(params.get("keepEmptyFolders")))
            if tree_id == (parent.tree if parent else Tree().id):
                raise AwsError("NoChangeException", "The commit would change nothing in the repository.")
            message = params.get("commitMessage") or "Commit made with CreateCommit"
            commit_id = self._commit_to(repo, name, branch, parent, tree_id, identity, message)
        return {"commitId": commit_id, "treeId": tree_id.decode(), **edit.report()}

    def _parent(self, repo, name: str, branch: str, parent_id) -> Commit | None:
        """The branch tip a write builds on, checked against parentCommitId; None for an empty repository."""
        tip = read_ref(repo, BRANCH_PREFIX + branch)
        if tip is None and branch_names(repo):
            raise AwsError("BranchDoesNotExistException", f"Branch {branch} does not exist in {name}.")
        if not parent_id:
            if tip is not None:
                raise AwsError(
                    "ParentCommitIdRequiredException",
                    f"Give parentCommitId: the commit at the tip of {branch} (GetBranch tells it).",
                )
            return None
        sha = object_id(parent_id, "InvalidParentCommitIdException")
        parent = find_commit(repo, sha)
        if parent is None:
            raise AwsError(
                "ParentCommitDoesNotExistException", f"Commit {parent_id} does not exist in {name}."
            )
        if sha != tip:
            raise AwsError(
                "ParentCommitIdOutdatedException",
                f"{parent_id} is not the tip of {branch}; GetBranch tells the current tip.",
            )
        return parent

    def _commit_to(
        self, repo, name, branch, parent: Commit | None, tree_id: bytes, identity: bytes, message: str
    ):
        commit = new_commit(repo, tree_id, [parent.id] if parent else [], identity, message)
        old = parent.id.decode() if parent else None
        if not self.store.update_ref(name, BRANCH_PREFIX + branch, old, commit.id.decode()):
            raise AwsError(
                "ParentCommitIdOutdatedException", f"{branch} moved while the commit was being made."
            )
        return commit.id.decode()


def _put_entry(edit: TreeEdit, entry: dict) -> None:
    """One putFiles entry of CreateCommit: content given, or copied or moved from another file."""
    path = file_path(entry.get("filePath"))
    source = entry.get("sourceFile")
    if "fileContent" in entry and source:
        raise AwsError(
            "FileContentAndSourceFileSpecifiedException", f"{path}: give fileContent or sourceFile, not both."
        )
    if "fileContent" not in entry and not source:
        raise AwsError("SourceFileOrContentRequiredException", f"{path}: give fileContent or sourceFile.")
    mode = file_mode(entry.get("fileMode"))
    if source:
        source_path = file_path(source.get("filePath"))
        if source_path == path:
            raise AwsError("SamePathRequestException", f"{path} cannot be copied or moved onto itself.")
        source_mode, sha = edit.existing_file(source_path)
        content = edit.repo.object_store[sha].as_raw_string()
        mode = mode or source_mode
        if source.get("isMove"):
            edit.delete(source_path)
    else:
        content = blob_content(entry["fileContent"], "fileContent")
        existing = edit.existing(path)
        mode = mode or (existing[0] if existing else FILE_MODES["NORMAL"])
    edit.put(path, mode, content)


# -- answers -----------------------------------------------------------------------------------------


def _difference(old: TreeEntry | None, new: TreeEntry | None) -> dict:
    def blob(entry: TreeEntry) -> dict:
        return {"blobId": entry.sha.decode(), "path": entry.path.decode(), "mode": f"{entry.mode:o}"}

    difference = {"changeType": "M" if old and new else ("A" if new else "D")}
    if old:
        difference["beforeBlob"] = blob(old)
    if new:
        difference["afterBlob"] = blob(new)
    return difference


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _b64(content: bytes) -> str:
    return base64.b64encode(content).decode()
