"""Approval rule templates on disk: those of the account and Region in one JSON file beside the repositories
(`<root>/.approval-rule-templates.json`), each with the IDs of the repositories it is associated with. IDs,
not names: a renamed repository keeps its templates, a deleted one (and a new one of its name) has none."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .store import RepoStore, write_json

FILE = ".approval-rule-templates.json"


class TemplateStore:
    def __init__(self, repos: RepoStore):
        self.path = repos.root / FILE
        self._lock = threading.Lock()

    def all(self) -> list[dict]:
        """Every template as {"template": <the API's ApprovalRuleTemplate>, "repositoryIds": [...]}."""
        return json.loads(self.path.read_text())["templates"] if self.path.exists() else []

    @contextmanager
    def editing(self) -> Iterator[list[dict]]:
        """The templates to change in place, alone; written back unless the change raised."""
        with self._lock:
            entries = self.all()
            yield entries
            write_json(self.path, {"templates": entries})
