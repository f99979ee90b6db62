"""CodeCommit repositories on disk: bare git repositories at `<root>/<name>.git`, each with its metadata
in a JSON file inside, so they survive an endpoint restart. Every ref update, by `git push` or by the
API, is announced to the subscribers."""

import json
import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dulwich.repo import Repo

from ..awsjson import AwsError, now

log = logging.getLogger("labhelpers.endpoint")

METADATA_FILE = "codecommit-repository.json"
BRANCH_PREFIX = "refs/heads/"
_NAME = re.compile(r"[\w.-]{1,100}", re.ASCII)

# callback(repository_name, ref, old_sha, new_sha); a sha is None where the ref did not or no longer exists.
RefListener = Callable[[str, str, str | None, str | None], None]


def check_name(name) -> str:
    """The repository name if CodeCommit accepts it, else CodeCommit's exception."""
    if name is None or name == "":
        raise AwsError(
            "RepositoryNameRequiredException", "A repository name is required, but was not specified."
        )
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or name.lower().endswith(".git")
        or name in (".", "..")
    ):
        raise AwsError(
            "InvalidRepositoryNameException",
            f"The repository name {name!r} is not valid: use 1-100 letters, digits, '.', '_' or '-', "
            "and do not end it with .git.",
        )
    return name


def _missing(name: str) -> AwsError:
    return AwsError("RepositoryDoesNotExistException", f"{name} does not exist")


class RepoStore:
    """Thread-safe: writes to one repository (refs, metadata) hold that repository's lock."""

    def __init__(self, root: Path, account: str, region: str):
        self.root = Path(root)
        self.account = account
        self.region = region
        self.root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._listeners: list[RefListener] = []

    # -- repositories --------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}.git"

    def create(
        self,
        name: str,
        description: str | None = None,
        tags: dict | None = None,
        kms_key_id: str | None = None,
    ) -> dict:
        final = self.path(name)
        with self.lock(name):
            if final.exists():
                raise AwsError("RepositoryNameExistsException", f"Repository named {name} already exists")
            stamp = now()
            metadata = {
                "repositoryId": str(uuid.uuid4()),
                "repositoryName": name,
                "Arn": f"arn:aws:codecommit:{self.region}:{self.account}:{name}",
                "accountId": self.account,
                "creationDate": stamp,
                "lastModifiedDate": stamp,
                "tags": dict(tags or {}),
            }
            if description is not None:
                metadata["repositoryDescription"] = description
            if kms_key_id:
                metadata["kmsKeyId"] = kms_key_id
            # Built aside and renamed into place, so a repository folder is always complete.
            building = self.root / f".creating-{uuid.uuid4().hex}"
            building.mkdir()
            Repo.init_bare(building, default_branch=b"main").close()
            write_json(building / METADATA_FILE, metadata)
            os.rename(building, final)
        return metadata

    def get(self, name: str) -> dict:
        try:
            return json.loads((self.path(name) / METADATA_FILE).read_text())
        except FileNotFoundError:
            raise _missing(name) from None

    def exists(self, name: str) -> bool:
        return (self.path(name) / METADATA_FILE).is_file()

    def all(self) -> list[dict]:
        found = []
        for folder in sorted(self.root.glob("*.git")):
            try:
                found.append(json.loads((folder / METADATA_FILE).read_text()))
            except (OSError, ValueError):
                continue
        return found

    def delete(self, name: str) -> dict | None:
        """Remove the repository; its metadata, or None if there was none."""
        with self.lock(name):
            try:
                metadata = self.get(name)
            except AwsError:
                return None
            doomed = self.root / f".deleting-{uuid.uuid4().hex}"
            os.rename(self.path(name), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return metadata

    def rename(self, old: str, new: str) -> None:
        """Rename the repository: its folder, so its clone URL, and its name and ARN in the metadata.

        Pipelines keep the name they were given, as on AWS: they no longer see the repository."""
        first, second = sorted((old, new))
        with self.lock(first), self.lock(second):
            self.get(old)
            if self.path(new).exists():
                raise AwsError("RepositoryNameExistsException", f"Repository named {new} already exists")
            os.rename(self.path(old), self.path(new))
            arn = f"arn:aws:codecommit:{self.region}:{self.account}:{new}"
            self.update(new, repositoryName=new, Arn=arn)

    def update(self, name: str, **fields) -> dict:
        """Change metadata fields (description, tags, ...; None removes one) and stamp lastModifiedDate."""
        with self.lock(name):
            merged = {**self.get(name), **fields, "lastModifiedDate": now()}
            metadata = {key: value for key, value in merged.items() if value is not None}
            write_json(self.path(name) / METADATA_FILE, metadata)
            return metadata

    def set_default_branch(self, name: str, branch: str) -> None:
        """Record the default branch and point the repository's HEAD at it, as `git clone` follows HEAD."""
        with self.lock(name), self.open(name) as repo:
            repo.refs.set_symbolic_ref(b"HEAD", (BRANCH_PREFIX + branch).encode())
            self.update(name, defaultBranch=branch)

    # -- git -----------------------------------------------------------------------------------------

    def open(self, name: str) -> Repo:
        """The dulwich repository; close it after use (`with store.open(name) as repo:`)."""
        if not self.exists(name):
            raise _missing(name)
        return Repo(str(self.path(name)))

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """The repository's write lock (re-entrant): hold it from reading a branch tip to updating it."""
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.RLock())
        with lock:
            yield

    def update_ref(self, name: str, ref: str, old: str | None, new: str | None) -> bool:
        """Move `ref` from `old` to `new` (None: absent) if it is still at `old`; then announce it.

        False if the ref had moved meanwhile."""
        with self.lock(name), self.open(name) as repo:
            key = ref.encode()
            if old is None:
                moved = repo.refs.add_if_new(key, new.encode())
            elif new is None:
                moved = repo.refs.remove_if_equals(key, old.encode())
            else:
                moved = repo.refs.set_if_equals(key, old.encode(), new.encode())
            if moved:
                self.refs_updated(name, [(ref, old, new)])
            return moved

    def refs_updated(self, name: str, updates: list[tuple[str, str | None, str | None]]) -> None:
        """Record updates already made to the refs (a push): first branch becomes default; announce."""
        with self.lock(name):
            metadata = self.get(name)
            pushed = [
                ref[len(BRANCH_PREFIX) :] for ref, _, new in updates if new and ref.startswith(BRANCH_PREFIX)
            ]
            if pushed and not metadata.get("defaultBranch"):
                self.set_default_branch(name, pushed[0])
            else:
                self.update(name)
            for ref, old, new in updates:
                self._announce(name, ref, old, new)

    # -- subscribers ---------------------------------------------------------------------------------

    def subscribe(self, listener: RefListener) -> Callable[[], None]:
        """Call `listener(repository_name, ref, old_sha, new_sha)` after every ref update.

        It runs in the writer's thread while that repository's lock is held, so updates of one
        repository arrive in order: keep it short (hand long work to a thread). Returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _announce(self, name: str, ref: str, old: str | None, new: str | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(name, ref, old, new)
            except Exception:
                log.exception("ref listener %r failed on %s %s", listener, name, ref)


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)
