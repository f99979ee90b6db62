"""Nothing lost: moto's in-memory backends are pickled to disk after writes and loaded at start."""

import logging
import os
import pickle
import threading
from pathlib import Path

from .motoapp import LOCK

log = logging.getLogger("labhelpers.endpoint")
# SigV4 signing names that differ from moto's backend names.
_BACKEND_NAMES = {"eventbridge": "events", "monitoring": "cloudwatch", "email": "ses"}


def _backend_dict(service: str):
    from moto.backends import get_backend

    return get_backend(_BACKEND_NAMES.get(service, service))


def _in_use() -> list:
    from moto.core.base_backend import BackendDict

    return list(BackendDict._instances)


class Snapshots:
    """One pickle per moto service, written atomically by a background saver."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._dirty: set[str] = set()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="snapshot-saver", daemon=True)

    def restore(self) -> list[str]:
        restored = []
        for path in sorted(self.folder.glob("*.pickle")):
            try:
                accounts = pickle.loads(path.read_bytes())
                backend_dict = _backend_dict(path.stem)
            except Exception:
                log.exception("could not restore %s; that service starts empty", path.name)
                continue
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    backend_dict[account][region] = backend
            restored.append(path.stem)
        return restored

    def start(self):
        self._thread.start()

    def mark(self, service: str):
        with self._changed:
            self._dirty.add(service or "*")
            self._changed.notify()

    def stop(self):
        """Save what is pending and end the saver."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread.is_alive():
            self._thread.join()
        self._save(self._take())

    def _take(self) -> set[str]:
        taken, self._dirty = self._dirty, set()
        return taken

    def _run(self):
        while True:
            with self._changed:
                while not self._dirty and not self._stopping:
                    self._changed.wait()
                if self._stopping:
                    return
                services = self._take()
            self._save(services)

    def _save(self, services: set[str]):
        if not services:
            return
        if "*" in services or any(not self._known(s) for s in services):
            targets = _in_use()
        else:
            targets = [_backend_dict(s) for s in services]
        for backend_dict in targets:
            self._write(backend_dict)

    @staticmethod
    def _known(service: str) -> bool:
        try:
            _backend_dict(service)
            return True
        except Exception:
            return False

    def _write(self, backend_dict):
        name = backend_dict.service_name
        try:
            with LOCK:
                blob = pickle.dumps({acct: dict(regions) for acct, regions in backend_dict.items()})
        except Exception as exc:
            log.warning("%s state cannot be saved (%s); it will not survive a restart", name, exc)
            return
        path = self.folder / f"{name}.pickle"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
