"""git smart HTTP at /v1/repos/<name> (or <name>.git) over the RepoStore, served by dulwich."""

import gzip
import zlib

from dulwich.errors import HookError, NotGitRepository
from dulwich.server import Backend
from dulwich.web import make_wsgi_chain

from ..awsjson import AwsError, buffered_body
from .store import BRANCH_PREFIX, RepoStore, check_name

URL_PREFIX = "/v1/repos/"
_ZERO = b"0" * 40


def make_git_app(store: RepoStore):
    """The WSGI app for clone, fetch and push; a request closes the repositories it opened."""

    def git_app(environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            if not well_framed(buffered_body(environ), environ.get("HTTP_CONTENT_ENCODING", "")):
                message = b"Bad request: the body is not git pkt-lines ending in a flush-pkt (0000).\n"
                start_response(
                    "400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", str(len(message)))]
                )
                yield message
                return
        backend = _StoreBackend(store)
        try:
            yield from make_wsgi_chain(backend)(environ, start_response)
        finally:
            backend.close()

    return git_app


def well_framed(body: bytes, encoding: str = "") -> bool:
    """Whether an upload-pack or receive-pack request starts with well-framed pkt-lines up to a flush-pkt
    (what follows, a pack or the "done" line, is the protocol's business). Checked before dulwich reads the
    body: a malformed one of any size gets a 400 at once."""
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            return False
    at = 0
    while at + 4 <= len(body):
        try:
            size = int(body[at : at + 4], 16)
        except ValueError:
            return False
        if size == 0:
            return True
        if size in (1, 2):  # delim-pkt and response-end-pkt of protocol v2
            at += 4
            continue
        if size < 4 or at + size > len(body):
            return False
        at += size
    return False


def repository_name(url_path: str) -> str:
    """`/v1/repos/<name>` or `/v1/repos/<name>.git` -> name; NotGitRepository (HTTP 404) otherwise."""
    name = url_path.strip("/").removeprefix(URL_PREFIX.strip("/") + "/").removesuffix(".git")
    try:
        return check_name(name)
    except AwsError:
        raise NotGitRepository(f"no repository at {url_path!r}".encode("ascii", "replace").decode()) from None


class _StoreBackend(Backend):
    def __init__(self, store: RepoStore):
        self.store = store
        self.opened = []

    def open_repository(self, path: str | bytes):
        # dulwich passes str for ref discovery and bytes for the upload/receive-pack requests.
        name = repository_name(path.decode("utf-8", "replace") if isinstance(path, bytes) else path)
        try:
            repo = self.store.open(name)
        except AwsError:
            raise NotGitRepository(f"repository {name} does not exist") from None
        self.opened.append(repo)
        # Only our hooks: no shell hooks from the repository folder.
        repo.hooks = {
            "update": _KeepDefaultBranch(self.store, name),
            "post-receive": _PostReceive(self.store, name),
        }
        return repo

    def close(self):
        for repo in self.opened:
            repo.close()


class _KeepDefaultBranch:
    """Refuse a push that deletes the default branch, as CodeCommit does."""

    def __init__(self, store: RepoStore, name: str):
        self.store, self.name = store, name

    def execute(self, ref: bytes, old: bytes, new: bytes):
        default = self.store.get(self.name).get("defaultBranch")
        if new == _ZERO and default and ref.decode() == BRANCH_PREFIX + default:
            raise HookError("the default branch cannot be deleted; make another branch the default first")
        return None, None


class _PostReceive:
    """Tell the store what the push changed: it sets the first branch as default and notifies subscribers."""

    def __init__(self, store: RepoStore, name: str):
        self.store, self.name = store, name

    def execute(self, client_refs: list[tuple[bytes, bytes, bytes]]):
        def sha(value: bytes) -> str | None:
            return None if value == _ZERO else value.decode()

        self.store.refs_updated(
            self.name, [(ref.decode(), sha(old), sha(new)) for old, new, ref in client_refs]
        )
        return None
