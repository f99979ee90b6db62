"""The lab's pages of its own records: a build's log, a deployment's lifecycle events, a commit; and of what
pipeline actions work on: a branch (its head commit), a build project and a deployment group (their
recent builds and deployments).

Each is read through the endpoint's services, as their APIs answer (the log through CloudWatch Logs), and
rendered as a small HTML page; a page of something still running asks the browser to reload it.
"""

import html
from dataclasses import dataclass
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from ..awsjson import AwsError

LOG_PAGES = 50  # GetLogEvents pages read for one log page, 10,000 events each at most
RECENT = 20  # builds or deployments on a project's or deployment group's page


@dataclass(frozen=True)
class Page:
    title: str
    body: str  # HTML
    running: bool = False  # reload it while the work goes on
    status: str = "200 OK"


def _missing(title: str, message: str) -> Page:
    return Page(title, f"<p>{html.escape(message)}</p>", status="404 Not Found")


def _time(epoch) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC") if epoch else ""


def _seconds(start, end) -> str:
    return f"{end - start:.1f} s" if start and end else ""


def _duration(phase: dict) -> str:
    return f"{phase['durationInSeconds']} s" if "durationInSeconds" in phase else ""


def _table(headings: list[str], rows: list[list[str]]) -> str:
    """A table of `rows`, whose cells are HTML already."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headings)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _facts(pairs: list[tuple[str, str]]) -> str:
    return (
        "<dl>"
        + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in pairs if v)
        + "</dl>"
    )


class Records:
    """The pages, read from the endpoint's CodeBuild, CodeDeploy and CodeCommit services."""

    def __init__(self, ctx, builds, deployments, commits):
        self.ctx, self.builds, self.deployments, self.commits = ctx, builds, deployments, commits

    def build_log(self, build_id: str) -> Page:
        title = f"Build {build_id}"
        build = self.builds.store.get(build_id)
        if build is None:
            return _missing(title, f"There is no build {build_id} on this endpoint.")
        phases = [
            [html.escape(p["phaseType"]), html.escape(p.get("phaseStatus", "")), _duration(p)]
            for p in build.get("phases", [])
        ]
        logs = build.get("logs", {})
        region = build["arn"].split(":")[3]
        if logs.get("groupName"):
            lines = self._log_lines(region, logs["groupName"], logs["streamName"])
            log = f"<pre>{html.escape(''.join(lines))}</pre>" if lines else "<p><i>No log lines yet.</i></p>"
        else:
            log = "<p><i>CloudWatch Logs are turned off in this build's project.</i></p>"
        facts = _facts(
            [
                ("project", build["projectName"]),
                ("status", build["buildStatus"]),
                ("started", _time(build.get("startTime"))),
                ("log", f"{logs.get('groupName', '')} {logs.get('streamName', '')}".strip()),
            ]
        )
        body = facts + _table(["phase", "status", "duration"], phases) + "<h2>Log</h2>" + log
        return Page(title, body, running=not build["buildComplete"])

    def _log_lines(self, region: str, group: str, stream: str) -> list[str]:
        """The stream's messages from the start: GetLogEvents until its forward token comes back again."""
        logs, lines, token = self.ctx.client("logs", region), [], None
        for _ in range(LOG_PAGES):
            params = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            try:
                page = logs.get_log_events(**params, **({"nextToken": token} if token else {}))
            except ClientError as error:
                if error.response["Error"]["Code"] == "ResourceNotFoundException":
                    return lines  # the build has not opened its stream yet
                raise
            lines += [event["message"] for event in page["events"]]
            if page["nextForwardToken"] == token:
                break
            token = page["nextForwardToken"]
        return lines

    def deployment_events(self, deployment_id: str) -> Page:
        title = f"Deployment {deployment_id}"
        try:
            info = self.deployments.get_deployment({"deploymentId": deployment_id})["deploymentInfo"]
            instances = self.deployments.list_deployment_instances({"deploymentId": deployment_id})
            summaries = [
                self.deployments.get_deployment_instance(
                    {"deploymentId": deployment_id, "instanceId": instance}
                )["instanceSummary"]
                for instance in instances["instancesList"]
            ]
        except AwsError as error:
            return _missing(title, error.message)
        error = info.get("errorInformation", {}).get("message", "")
        facts = _facts(
            [
                ("application", info["applicationName"]),
                ("deployment group", info["deploymentGroupName"]),
                ("status", info["status"]),
                ("created by", info.get("creator", "")),
                ("description", info.get("description", "")),
                ("error", error),
            ]
        )
        sections = [facts]
        for summary in summaries:
            rows = [
                [
                    html.escape(event["lifecycleEventName"]),
                    html.escape(event["status"]),
                    _time(event.get("startTime")),
                    _seconds(event.get("startTime"), event.get("endTime")),
                    _diagnostics(event.get("diagnostics") or {}),
                ]
                for event in summary["lifecycleEvents"]
            ]
            instance = summary["instanceId"].rpartition("/")[2]
            sections.append(f"<h2>Instance {html.escape(instance)}: {html.escape(summary['status'])}</h2>")
            sections.append(_table(["event", "status", "started", "duration", "script and log"], rows))
        running = info["status"] in ("Created", "Queued", "InProgress")
        return Page(title, "".join(sections), running=running)

    def commit(self, repository: str, commit_id: str) -> Page:
        title = f"Commit {commit_id[:12]} of {repository}"
        try:
            commit = self.commits.get_commit({"repositoryName": repository, "commitId": commit_id})["commit"]
            changes = self._changes(repository, commit)
        except AwsError as error:
            return _missing(title, error.message)
        author, committer = commit["author"], commit["committer"]
        facts = _facts(
            [
                ("commit", commit["commitId"]),
                ("author", f"{author['name']} <{author['email']}> {_git_date(author['date'])}"),
                ("committer", f"{committer['name']} <{committer['email']}> {_git_date(committer['date'])}"),
                ("parents", ", ".join(commit["parents"]) or "none: the first commit"),
            ]
        )
        rows = [
            [
                html.escape(change["changeType"]),
                html.escape((change.get("afterBlob") or change["beforeBlob"])["path"]),
            ]
            for change in changes
        ]
        message = f"<pre>{html.escape(commit['message'])}</pre>"
        return Page(
            title,
            message + facts + f"<h2>{len(rows)} changed file(s)</h2>" + _table(["change", "path"], rows),
        )

    def branch(self, repository: str, branch: str) -> Page:
        """The branch's head commit, the page a CodeCommit source action's entity leads to."""
        try:
            head = self.commits.get_branch({"repositoryName": repository, "branchName": branch})["branch"]
        except AwsError as error:
            return _missing(f"Branch {branch} of {repository}", error.message)
        page = self.commit(repository, head["commitId"])
        return Page(f"Branch {branch} of {repository}", f"<h2>{html.escape(page.title)}</h2>" + page.body)

    def project(self, name: str) -> Page:
        """A build project's recent builds, newest first."""
        title = f"Build project {name}"
        try:
            ids = self.builds.list_builds_for_project({"projectName": name})["ids"][:RECENT]
            builds = self.builds.batch_get_builds({"ids": ids})["builds"] if ids else []
        except AwsError as error:
            return _missing(title, error.message)
        rows = [
            [
                html.escape(b["id"]),
                html.escape(b["buildStatus"]),
                _time(b.get("startTime")),
                html.escape(b.get("initiator", "")),
            ]
            for b in builds
        ]
        body = f"<h2>{len(rows)} recent build(s)</h2>" + _table(
            ["build", "status", "started", "started by"], rows
        )
        return Page(title, body, running=any(not b["buildComplete"] for b in builds))

    def deployment_group(self, application: str, group: str) -> Page:
        """A deployment group's recent deployments, newest first."""
        title = f"Deployment group {group} of {application}"
        try:
            ids = self.deployments.list_deployments(
                {"applicationName": application, "deploymentGroupName": group}
            )["deployments"][:RECENT]
            found = (
                self.deployments.batch_get_deployments({"deploymentIds": ids})["deploymentsInfo"]
                if ids
                else []
            )
        except AwsError as error:
            return _missing(title, error.message)
        found.sort(key=lambda info: info["createTime"], reverse=True)
        rows = [
            [
                html.escape(info["deploymentId"]),
                html.escape(info["status"]),
                _time(info.get("createTime")),
                html.escape(info.get("description", "")),
            ]
            for info in found
        ]
        body = f"<h2>{len(rows)} recent deployment(s)</h2>" + _table(
            ["deployment", "status", "created", "description"], rows
        )
        return Page(
            title, body, running=any(info["status"] in ("Created", "Queued", "InProgress") for info in found)
        )

    def _changes(self, repository: str, commit: dict) -> list[dict]:
        """GetDifferences from the first parent (from nothing for a first commit), every page."""
        params = {"repositoryName": repository, "afterCommitSpecifier": commit["commitId"]}
        if commit["parents"]:
            params["beforeCommitSpecifier"] = commit["parents"][0]
        changes, token = [], None
        while True:
            page = self.commits.get_differences({**params, **({"NextToken": token} if token else {})})
            changes += page["differences"]
            token = page.get("NextToken")
            if not token:
                return changes


def _diagnostics(diagnostics: dict) -> str:
    script = html.escape(diagnostics.get("scriptName") or "")
    message = html.escape(diagnostics.get("message") or "")
    tail = diagnostics.get("logTail")
    return f"{script} {message}" + (f"<pre>{html.escape(tail)}</pre>" if tail else "")


def _git_date(date: str) -> str:
    """CodeCommit's "<epoch seconds> <+hhmm>" as a UTC time."""
    seconds = date.split()[0]
    return (
        datetime.fromtimestamp(int(seconds), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if seconds.isdigit()
        else date
    )
