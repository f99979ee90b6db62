"""Start, find and stop the endpoint process from the outside (the CLI, connect()). Imports no moto."""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import EndpointError
from . import config

START_TIMEOUT = 60.0


@dataclass
class Running:
    pid: int
    port: int
    url: str
    home: str
    started: float
    already_running: bool = False


def _alive(pid: int) -> bool:
    try:  # reap it first if it is our own child, or it lingers as a zombie
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited process whose parent has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def health(url: str, timeout: float = 5.0) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/_lab/health", timeout=timeout) as response:
            return json.load(response)
    except (OSError, ValueError):
        return None


def _is_endpoint(pid: int) -> bool:
    """Whether `pid` is still an endpoint process (and not a recycled pid)."""
    if not _alive(pid):
        return False
    try:
        return b"labhelpers.local.server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _record(layout: config.Layout) -> dict | None:
    try:
        return json.loads(layout.endpoint_file.read_text())
    except (OSError, ValueError):
        return None


def find(layout: config.Layout) -> Running | None:
    """The endpoint serving this state folder if it answers, else None; a record of a dead one is removed."""
    record = _record(layout)
    if not record:
        return None
    if not _is_endpoint(record["pid"]):
        layout.endpoint_file.unlink(missing_ok=True)
        return None
    answer = health(record["url"])
    if answer and answer.get("pid") == record["pid"] and answer.get("home") == str(layout.root):
        return Running(**record)
    return None


@contextmanager
def _start_lock(layout: config.Layout):
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.start_lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def start(layout: config.Layout) -> Running:
    """Start the endpoint for this folder, or report the one already running. Returns once it answers."""
    with _start_lock(layout):
        running = find(layout)
        if running:
            running.already_running = True
            return running
        record = _record(layout)
        if record and _is_endpoint(record["pid"]):
            raise EndpointError(
                f"the endpoint process {record['pid']} holds {layout.root} but does not answer at "
                f"{record['url']}. See `labhelpers local logs`; `labhelpers local stop` ends it."
            )
        return _spawn(layout)


# The endpoint's environment, an allowlist: it runs code, so it holds nothing else of the shell that
# started it (no AWS keys, tokens or profiles: /proc/<pid>/environ keeps what a process started with).
KEPT_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "PYTHONPATH", "LD_LIBRARY_PATH")
KEPT_ENV += ("LABHELPERS_HOME", "LAB_LOCAL_PORT", "LAB_PACE")


def endpoint_environment(environ) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k in KEPT_ENV or k.startswith("LC_")}


def _spawn(layout: config.Layout) -> Running:
    env = endpoint_environment(os.environ)
    env["MALLOC_ARENA_MAX"] = "2"  # glibc's arenas per thread hold freed memory: ~4% of a class's RSS
    with open(layout.log_file, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "labhelpers.local.server", "--home", str(layout.root)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise EndpointError(
                f"the local endpoint exited during start (code {child.returncode}):\n{tail(layout, 15)}\n"
                f"Full log: {layout.log_file}"
            )
        running = find(layout)
        if running and running.pid == child.pid:
            return running
        time.sleep(0.05)
    child.kill()
    raise EndpointError(
        f"the local endpoint did not answer within {START_TIMEOUT:.0f} s; see {layout.log_file}"
    )


def stop(layout: config.Layout, timeout: float = 20.0) -> Running | None:
    """Stop the endpoint cleanly (it saves its state), answering or not; None if none was running."""
    record = _record(layout)
    if not record or not _is_endpoint(record["pid"]):
        layout.endpoint_file.unlink(missing_ok=True)
        return None
    running = Running(**record)
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(running.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(running.pid):
        os.kill(running.pid, signal.SIGKILL)
    layout.endpoint_file.unlink(missing_ok=True)
    return running


def reset(layout: config.Layout) -> bool:
    """Stop the endpoint and wipe its state. True if there was state to wipe."""
    stop(layout)
    existed = layout.state.exists()
    shutil.rmtree(layout.state, ignore_errors=True)
    layout.port_file.unlink(missing_ok=True)
    return existed


def tail(layout: config.Layout, lines: int = 50) -> str:
    try:
        return "\n".join(Path(layout.log_file).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"
