"""The endpoint's front door, guarded as Jupyter Server guards its kernels.

Every request must name the endpoint in its Host header (no DNS rebinding) and come from no foreign
Origin (no web page of another site); no answer grants CORS. Then, by path:
- `/_lab/health` and `/_lab/instances/...`: public (a local instance's web server serves anyone, as on EC2);
- other `/_lab/...` pages show the learner's records (build logs, deployments, commits): they need the
  page token, `?token=`, made at each start and kept in the state folder for its owner only;
- `/v1/repos/...`: git over HTTP, with the lab's git credentials in HTTP basic auth, as CodeCommit asks;
- anything else is an AWS API call, SigV4-signed with the lab's keys, or refused with AWS's error.
"""

import base64
import hmac
import os
import secrets
from datetime import UTC, datetime
from urllib.parse import parse_qs

from ..awsjson import AwsError, buffered_body
from ..config import GIT_USER, REGION, Credentials, Layout
from ..labpages.links import PUBLIC_PAGES
from ..motoapp import Call
from . import sigv4

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# AWS's codes for each refusal, by protocol: JSON, query (XML) and S3 (REST XML).
_CODES = {
    "missing": ("MissingAuthenticationTokenException", "MissingAuthenticationToken", "AccessDenied"),
    "unknown-key": ("UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId"),
    "signature": ("InvalidSignatureException", "SignatureDoesNotMatch", "SignatureDoesNotMatch"),
}


class Guard:
    """WSGI middleware in front of the endpoint's one app."""

    def __init__(self, app, credentials: Credentials, page_token: str | None = None):
        self.app = app
        self.credentials = credentials
        self._page_token = page_token.encode() if page_token else None  # None: no record page is served
        self.hosts: set[str] = set()  # none until the port is known: nothing is served before
        self.origins: set[str] = set()
        basic = base64.b64encode(f"{GIT_USER}:{credentials.git_password}".encode()).decode()
        self._git_authorization = f"Basic {basic}"

    def listen_on(self, port: int) -> None:
        self.hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        self.origins = {f"http://{host}" for host in self.hosts}

    def __call__(self, environ, start_response):
        host, origin = environ.get("HTTP_HOST", ""), environ.get("HTTP_ORIGIN")
        if host not in self.hosts:
            return _plain(start_response, "403 Forbidden", f"Host {host!r} is not this endpoint's.")
        if origin is not None and origin not in self.origins:
            return _plain(start_response, "403 Forbidden", f"Requests from {origin} are not accepted.")
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_lab/"):
            if not path.startswith(PUBLIC_PAGES) and not self._page_token_given(environ):
                return _plain(start_response, "403 Forbidden", NO_PAGE_TOKEN)
            return self.app(environ, _without_cors(start_response))
        if path.startswith("/v1/repos/"):
            if not self._git_allowed(environ, path):
                return _git_login(start_response)
            return self.app(environ, start_response)
        try:
            self._verify(environ)
        except sigv4.Refused as refused:
            call = Call(environ)
            json_code, query_code, s3_code = _CODES[refused.reason]
            code = json_code if call.json else query_code if call.query else s3_code
            return call.error_response(AwsError(code, refused.message, 403), start_response)
        return self.app(environ, _without_cors(start_response))

    def _page_token_given(self, environ) -> bool:
        given = parse_qs(environ.get("QUERY_STRING", "")).get("token", [""])[0]
        return self._page_token is not None and hmac.compare_digest(given.encode(), self._page_token)

    def _git_allowed(self, environ, path: str) -> bool:
        """The lab's git credentials, or CodeCommit's: the access key and a password signed with the lab's
        keys, as `aws codecommit credential-helper` makes them (the lab's Region)."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if hmac.compare_digest(header, self._git_authorization):
            return True
        try:
            username, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        repository = "/".join(path.split("/")[:4])  # /v1/repos/<name>, the path git's helper signs
        keys = self.credentials
        return hmac.compare_digest(username, keys.access_key) and sigv4.git_password_is_signed(
            password, repository, environ.get("HTTP_HOST", ""), keys.secret_key, REGION, datetime.now(UTC)
        )

    def _verify(self, environ) -> None:
        """Raise sigv4.Refused unless the request is signed with the lab's keys."""
        body = buffered_body(environ)
        keys, now = self.credentials, datetime.now(UTC)
        signed = sigv4.signature_of(environ)
        if signed is not None:
            sigv4.verify(environ, body, signed, keys.access_key, keys.secret_key, now)
        elif environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"):  # an S3 POST upload
            sigv4.verify_post_policy(sigv4.form_fields(environ, body), keys.access_key, keys.secret_key, now)
        else:
            raise sigv4.Refused(
                "missing", "Request is missing Authentication Token: sign it with the lab's keys."
            )


NO_PAGE_TOKEN = (
    "This page shows your lab's records, so it needs the endpoint's page token (?token=...). Open it from "
    "the lab's own links (runs.watch, widgets.PipelineView), which carry the token; it changes each time "
    "the endpoint starts."
)


def new_page_token(layout: Layout) -> str:
    """A fresh page token, written to the state folder readable by its owner only (0600)."""
    token = secrets.token_urlsafe(32)
    temporary = layout.page_token.with_name(f"{layout.page_token.name}.{os.getpid()}")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token)
    os.replace(temporary, layout.page_token)
    return token


def _without_cors(start_response):
    """No answer grants a browser on another site anything."""

    def start(status, headers, exc_info=None):
        kept = [(name, value) for name, value in headers if not name.lower().startswith("access-control-")]
        return start_response(status, kept, exc_info)

    return start


def _plain(start_response, status: str, message: str):
    body = f"{message}\n".encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=UTF-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _git_login(start_response):
    body = (
        b"Authentication required: git needs the lab's git credentials. In a terminal run "
        b'eval "$(labhelpers local env)"; in a notebook, lh.connect() sets them up.\n'
    )
    start_response(
        "401 Unauthorized",
        [
            ("WWW-Authenticate", 'Basic realm="codepipeline-lab git"'),
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]
