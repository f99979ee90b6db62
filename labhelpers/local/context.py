"""What our services share inside the endpoint process: the state folder, the endpoint's own URL, and
boto3 clients that call back into the endpoint (the engine speaks to S3 and the others through their APIs)."""

import threading

import boto3
from botocore.config import Config

from . import config

_CLIENT_CONFIG = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=300)


class EndpointContext:
    def __init__(self, layout: config.Layout):
        self.layout = layout
        self.account = config.ACCOUNT
        self.url = ""  # set once the server is bound, before it serves a request
        self._clients: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()
        self._session = boto3.Session(
            aws_access_key_id=config.ACCESS_KEY, aws_secret_access_key=config.SECRET_KEY
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

    def process_env(self, region: str = config.REGION) -> dict[str, str]:
        """Environment for builds and hooks: the endpoint and dummy credentials, nothing of the user's."""
        return config.client_env(self.url, self.layout, region)
