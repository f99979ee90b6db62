"""A class on a real JupyterHub, driven as the hub's own REST API and a learner's JupyterLab drive it: the
hub's API creates learners and starts their servers; a notebook runs cell by cell in a kernel of the
learner's single-user server, over the same kernel websocket a browser uses."""

import asyncio
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nbformat
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

CELL_TIMEOUT = 120


class Hub:
    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, (json.loads(raw) if raw.strip() else {})
        except ValueError:  # the proxy's own page, before the hub is up
            return status, {"page": raw.decode(errors="replace")}

    def wait_ready(self, name: str, timeout: float = 180) -> dict:
        """The learner's default server once it answers through the proxy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, user = self.call("GET", f"/hub/api/users/{name}")
            server = user.get("servers", {}).get("")
            if status == 200 and server and server.get("ready"):
                return server
            time.sleep(0.5)
        raise TimeoutError(f"{name}'s server was not ready within {timeout} s: {user}")

    def wait_stopped(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.call("GET", f"/hub/api/users/{name}")[1].get("servers"):
                return
            time.sleep(0.5)
        raise TimeoutError(f"{name}'s server did not stop within {timeout} s")


def code_cells(notebooks: list[Path]) -> list[dict]:
    """The code cells of `notebooks`, in order: source, tags and the notebook's name."""
    return [
        {"source": cell.source, "tags": cell.metadata.get("tags", []), "notebook": path.name}
        for path in notebooks
        for cell in nbformat.read(path, as_version=4).cells
        if cell.cell_type == "code"
    ]


def run_cells(hub: Hub, learner: str, cells: list[dict]) -> list[dict]:
    """Run `cells` in order in one new kernel of the learner's server, in its notebook folder; stops at the
    first error of a cell not tagged `raises-exception`. Returns each cell with its reply (status, ename,
    evalue, traceback)."""
    return asyncio.run(_run_cells(hub, learner, cells))


async def _run_cells(hub: Hub, learner: str, cells: list[dict]) -> list[dict]:
    base = f"/user/{learner}/api"
    status, session = hub.call(
        "POST",
        f"{base}/sessions",
        {"path": f"hub-test-{uuid.uuid4().hex[:6]}.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert status == 201, (status, session)
    kernel = session["kernel"]["id"]
    ws_url = f"{hub.url.replace('http', 'ws', 1)}{base}/kernels/{kernel}/channels"
    socket = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {hub.token}"}))
    replies = []
    try:
        for cell in cells:
            replies.append(cell | await _execute(socket, cell["source"]))
            if replies[-1]["status"] != "ok" and "raises-exception" not in cell["tags"]:
                break
    finally:
        socket.close()
        hub.call("DELETE", f"{base}/sessions/{session['id']}")
    return replies


async def _execute(socket, code: str) -> dict:
    msg_id = uuid.uuid4().hex
    await socket.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "session": msg_id,
                    "username": "",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
                "channel": "shell",
            }
        )
    )
    deadline = time.monotonic() + CELL_TIMEOUT
    while True:
        raw = await asyncio.wait_for(socket.read_message(), max(deadline - time.monotonic(), 0.1))
        if raw is None:
            raise ConnectionError("the kernel's websocket closed")
        message = json.loads(raw)
        if (
            message.get("parent_header", {}).get("msg_id") == msg_id
            and message["msg_type"] == "execute_reply"
        ):
            content = message["content"]
            return {key: content.get(key) for key in ("status", "ename", "evalue", "traceback")}
