"""Where the endpoint serves its pages of the lab's data: a build's log, a deployment's events, a commit, and
what the pipeline's actions work on (a repository's branch, a build project, a deployment group).

These URLs carry no token: the engine and the services that make them never know it. The guard asks for
`?token=` on every /_lab/ page but the public ones, and the lab's client adds it to show a link.
"""

from urllib.parse import quote

PUBLIC_PAGES = ("/_lab/health", "/_lab/instances/")  # deployed pages are public, as a web server's are
BUILD_LOGS = "/_lab/builds/"
DEPLOYMENTS = "/_lab/deployments/"
COMMITS = "/_lab/commits/"
BRANCHES = "/_lab/branches/"
PROJECTS = "/_lab/projects/"
DEPLOYMENT_GROUPS = "/_lab/deployment-groups/"


class PageLinks:
    """The endpoint's page URLs, on the endpoint's URL as `ctx` knows it once the server is bound."""

    def __init__(self, ctx):
        self.ctx = ctx

    def build_log(self, build_id: str) -> str:
        return f"{self.ctx.url}{BUILD_LOGS}{quote(build_id, safe=':')}/log"

    def deployment_events(self, deployment_id: str) -> str:
        return f"{self.ctx.url}{DEPLOYMENTS}{quote(deployment_id, safe='')}/events"

    def commit(self, repository: str, commit_id: str) -> str:
        return f"{self.ctx.url}{COMMITS}{quote(repository, safe='')}/{quote(commit_id, safe='')}"

    def branch(self, repository: str, branch: str) -> str:
        return f"{self.ctx.url}{BRANCHES}{quote(repository, safe='')}/{quote(branch, safe='/')}"

    def project(self, name: str) -> str:
        return f"{self.ctx.url}{PROJECTS}{quote(name, safe='')}"

    def deployment_group(self, application: str, group: str) -> str:
        return f"{self.ctx.url}{DEPLOYMENT_GROUPS}{quote(application, safe='')}/{quote(group, safe='')}"
