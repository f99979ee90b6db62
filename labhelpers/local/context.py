"""What our services share inside the endpoint process: the state folder, the endpoint's own URL, and
boto3 clients that call back into the endpoint (the engine speaks to S3 and the others through their APIs)."""

import threading
from collections.abc import Callable
from dataclasses import dataclass

import boto3
import botocore.session
from botocore.config import Config

from . import config
from .awsjson import models_session

_CLIENT_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=300)


@dataclass(frozen=True)
class Pace:
    """How long the endpoint holds work on purpose, so a learner can watch it (all 0: never). A hold waits on
    the work's stop signal, so a stop ends it at once."""

    action_seconds: float = 0.0  # the least time a pipeline action shows InProgress (approvals aside)
    line_seconds: float = 0.0  # the gap after each line of a build's log and each start of a build phase
    line_budget_seconds: float = 0.0  # a build's gaps in all: a longer log flows on at once
    event_seconds: float = 0.0  # the least time a deploy lifecycle event shows InProgress


PACE_HOLDS = {"teach": Pace(3.0, 0.2, 30.0, 0.8), "fast": Pace()}


class EndpointContext:
    def __init__(self, layout: config.Layout):
        self.layout = layout
        self.account = config.ACCOUNT
        self.url = ""  # set once the server is bound, before it serves a request
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        keys = config.credentials(layout)
        models = botocore.session.Session()  # its keys are its own; the models are the process's
        models.register_component("data_loader", models_session().get_component("data_loader"))
        self._session = boto3.Session(
            aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key, botocore_session=models
        )

    def client(self, service: str, region: str = config.REGION):
        """A boto3 client for the endpoint itself (clients are thread-safe; one per service and region)."""
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._session.client(
                    service, endpoint_url=self.url, region_name=region, config=_CLIENT_CONFIG
                )
            return self._clients[key]

    def pace(self) -> Pace:
        """The pace as the state folder records it now: read as each piece of work starts."""
        return PACE_HOLDS[config.pace(self.layout)]

    def build_env(self, region: str = config.REGION) -> dict[str, str]:
        """What a build gets of the lab: the endpoint, the lab's keys (builds call AWS, as their role lets
        them on AWS) and git's credentials; nothing of the user's."""
        return config.client_env(self.url, self.layout, region)

    def hook_env(self, region: str = config.REGION) -> dict[str, str]:
        """What a deploy hook gets of the lab: the endpoint and its Region, no credentials."""
        return config.endpoint_env(self.url, self.layout, region)


class StopSignal(threading.Event):
    """A stop request (`set()`) that a watcher thread waits on together with the end of its work."""

    def __init__(self):
        super().__init__()
        self._watchers: set[threading.Event] = set()
        self._watchers_lock = threading.Lock()

    def set(self) -> None:
        with self._watchers_lock:
            super().set()
            watchers = list(self._watchers)
        for watcher in watchers:
            watcher.set()

    def when_set(self, action: Callable[[], None], timeout: float) -> threading.Event:
        """Run `action` in a thread of its own if a stop comes within `timeout` s; the returned event is set
        by the work's owner once the work is over, and ends the thread at once."""
        over = threading.Event()
        with self._watchers_lock:
            self._watchers.add(over)
            if self.is_set():
                over.set()

        def watch() -> None:
            over.wait(timeout)
            with self._watchers_lock:
                self._watchers.discard(over)
            if self.is_set():
                action()

        threading.Thread(target=watch, name="stop-watcher", daemon=True).start()
        return over
