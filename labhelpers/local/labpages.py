"""The endpoint's own pages under /_lab/: health, and later the local instances' web roots."""

import os
import time

from . import config
from .dispatch import json_response
from .inventory import moto_counts


class LabPages:
    def __init__(self, layout: config.Layout, started: float):
        self.layout = layout
        self.started = started

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_lab/health":
            return json_response(start_response, self.health(environ))
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
            "holds": {**moto_counts(), "repositories": len(list(self.layout.repos.glob("*.git")))},
        }
