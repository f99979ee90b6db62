"""The endpoint's own pages under /_lab/: health, the local instances' web roots, and the pages of the lab's
records (a build's log, a deployment's events, a commit), which the guard serves only with the page token."""

import html
import mimetypes
import os
import time
from urllib.parse import quote

from .. import config
from ..codedeploy.instance import WEB_SERVERS
from ..codedeploy.store import LocalInstances, instances_folder
from ..dispatch import json_response
from ..inventory import deployment_counts, moto_counts, pipeline_count
from .links import BRANCHES, BUILD_LOGS, COMMITS, DEPLOYMENT_GROUPS, DEPLOYMENTS, PROJECTS
from .records import Page, Records

INSTANCE_PAGES = "/_lab/instances/"
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-modals"
# The record pages run no script, load nothing, and go in no frame; their inline style is all they use.
RECORD_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
RELOAD_SECONDS = 2
STYLE = (
    "body{font-family:sans-serif;margin:1em 2em}pre{background:#f5f5f5;padding:8px;white-space:pre-wrap}"
    "table{border-collapse:collapse}"
    "td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
    "dt{font-weight:bold;float:left;clear:left;width:9em}dd{margin-left:10em}"
)


class LabPages:
    def __init__(
        self,
        layout: config.Layout,
        started: float,
        instances: LocalInstances | None = None,
        records: Records | None = None,
    ):
        self.layout = layout
        self.started = started
        self.instances = instances or LocalInstances(instances_folder(layout))
        self.records = records

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_lab/health":
            return json_response(start_response, self.health(environ))
        if path.startswith(INSTANCE_PAGES):
            return self.instance_page(environ, start_response)
        page = self.record_page(path)
        if page is not None:
            if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
                return _text(start_response, "405 Method Not Allowed", "The lab's pages answer GET and HEAD.")
            return _record_response(start_response, page, environ.get("REQUEST_METHOD") == "HEAD")
        return json_response(start_response, {"message": f"nothing at {path}"}, "404 Not Found")

    def health(self, environ) -> dict:
        return {
            "status": "ok",
            "pid": os.getpid(),
            "home": str(self.layout.root),
            "url": f"http://{environ.get('HTTP_HOST', '')}",
            "account": config.ACCOUNT,
            "region": config.REGION,
            "started": self.started,
            "uptime_seconds": round(time.time() - self.started, 1),
            "holds": {
                **moto_counts(),
                "repositories": len(list(self.layout.repos.glob("*.git"))),
                "pipelines": pipeline_count(self.layout),
                **deployment_counts(self.layout),
            },
        }

    def record_page(self, path: str) -> Page | None:
        """The page of a record or an action's entity that `path` names; None otherwise."""
        parts = path.split("/")[3:]  # PATH_INFO is decoded already
        if self.records is None:
            return None
        if path.startswith(BUILD_LOGS) and len(parts) == 2 and parts[1] == "log":
            return self.records.build_log(parts[0])
        if path.startswith(DEPLOYMENTS) and len(parts) == 2 and parts[1] == "events":
            return self.records.deployment_events(parts[0])
        if path.startswith(COMMITS) and len(parts) == 2:
            return self.records.commit(*parts)
        if path.startswith(BRANCHES) and len(parts) >= 2:  # a branch name may hold slashes
            return self.records.branch(parts[0], "/".join(parts[1:]))
        if path.startswith(PROJECTS) and len(parts) == 1:
            return self.records.project(parts[0])
        if path.startswith(DEPLOYMENT_GROUPS) and len(parts) == 2:
            return self.records.deployment_group(*parts)
        return None

    def instance_page(self, environ, start_response):
        """A file of a local instance's web root, served as its web server would while it runs."""
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "Instance pages answer GET and HEAD.")
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
        instance_id, _, rest = path[len(INSTANCE_PAGES) :].partition("/")
        instance = self.instances.find(instance_id)
        if instance is None:
            known = ", ".join(self.instances.names()) or "none yet"
            return _text(
                start_response,
                "404 Not Found",
                f"There is no local instance {instance_id!r}: an instance gets its folder with the first "
                f"CodeDeploy deployment to it. Local instances: {known}.",
            )
        if not instance.web_running:
            return _text(
                start_response,
                "404 Not Found",
                f"The web server of local instance {instance_id} is not running (no {', '.join(WEB_SERVERS)} "
                "service is active), so it serves no pages. A deployment whose hooks run "
                "`systemctl start httpd` starts it.",
            )
        parts = [part for part in rest.split("/") if part]
        if any(part in (".", "..") or "\0" in part for part in parts):
            return _text(start_response, "400 Bad Request", f"{path} climbs out of the web root.")
        wanted = "/".join(["", *instance.web_root.relative_to(instance.root).parts, *parts])
        try:
            found = instance.path(wanted)  # symbolic links resolve inside the instance, never outside
            if found.is_dir():
                if not path.endswith("/"):
                    return _redirect(start_response, quote(f"{path}/"))
                found = instance.path(f"{wanted}/index.html")
            if not found.is_file():
                raise FileNotFoundError(wanted)
            fd = os.open(found, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return _text(
                start_response, "404 Not Found", f"{wanted} is not a file on instance {instance_id}."
            )
        with os.fdopen(fd, "rb") as file:
            body = file.read()
        content_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=UTF-8"
        length = str(len(body))
        start_response(
            "200 OK",
            [
                ("Content-Type", content_type),
                ("Content-Length", length),
                ("Cache-Control", "no-cache"),
                # A deployed page is the learner's app, not the lab's: its scripts run in an opaque origin,
                # so whatever they send the endpoint carries Origin: null, and the endpoint refuses it.
                ("Content-Security-Policy", SANDBOX),
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _record_response(start_response, page: Page, head: bool):
    reload = f'<meta http-equiv="refresh" content="{RELOAD_SECONDS}">' if page.running else ""
    title = html.escape(page.title)
    body = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>{reload}'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>{page.body}</body></html>"
    ).encode()
    start_response(
        page.status,
        [
            ("Content-Type", "text/html; charset=UTF-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", RECORD_POLICY),
            ("Referrer-Policy", "no-referrer"),  # the token in the address goes nowhere else
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [] if head else [body]


def _text(start_response, status: str, message: str):
    body = f"{message}\n".encode()
    start_response(
        status, [("Content-Type", "text/plain; charset=UTF-8"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _redirect(start_response, location: str):
    start_response("301 Moved Permanently", [("Location", location), ("Content-Length", "0")])
    return []
