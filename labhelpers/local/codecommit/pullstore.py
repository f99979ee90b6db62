"""Pull requests on disk: one JSON file each in its repository's folder
(`<name>.git/codecommit-pull-requests/<id>.json`, so it goes where the repository goes), numbered per account
by a counter beside the repositories. Each file holds the API's pull request, its events and its approvals."""

import json
import threading

from ..awsjson import AwsError
from .store import RepoStore, write_json

FOLDER = "codecommit-pull-requests"
COUNTER = ".pull-request-counter.json"


class PullRequestStore:
    def __init__(self, repos: RepoStore):
        self.repos = repos
        self._counter_lock = threading.Lock()

    def new_id(self) -> str:
        with self._counter_lock:
            counter = self.repos.root / COUNTER
            number = json.loads(counter.read_text())["lastPullRequestId"] + 1 if counter.exists() else 1
            write_json(counter, {"lastPullRequestId": number})
        return str(number)

    def find(self, pull_request_id: str) -> tuple[str, dict]:
        """The repository name and record of a pull request, else CodeCommit's exception."""
        for path in self.repos.root.glob(f"*.git/{FOLDER}/{pull_request_id}.json"):
            name = path.parent.parent.name.removesuffix(".git")
            return name, self._read(name, path)
        raise AwsError("PullRequestDoesNotExistException", f"Pull request {pull_request_id} does not exist.")

    def all(self, name: str) -> list[dict]:
        folder = self.repos.path(name) / FOLDER
        return [self._read(name, path) for path in folder.glob("*.json")]

    def save(self, name: str, record: dict) -> None:
        folder = self.repos.path(name) / FOLDER
        folder.mkdir(exist_ok=True)
        write_json(folder / f"{record['pullRequest']['pullRequestId']}.json", record)

    @staticmethod
    def _read(name: str, path) -> dict:
        record = json.loads(path.read_text())
        for target in record["pullRequest"]["pullRequestTargets"]:
            target["repositoryName"] = name  # renamed repositories take their pull requests along
        return record
