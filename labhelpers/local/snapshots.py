"""Nothing lost: moto's in-memory backends are pickled to disk after writes and loaded at start."""

import logging
import os
import pickle
import threading
from pathlib import Path

from .motoapi import LOCK, backend_dict, backend_dict_name, backend_dicts_in_use

log = logging.getLogger("labhelpers.endpoint")


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
                backends = backend_dict(path.stem)
            except Exception:
                log.exception("could not restore %s; that service starts empty", path.name)
                continue
            for account, regions in accounts.items():
                for region, backend in regions.items():
                    backends[account][region] = backend
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
            targets = backend_dicts_in_use()
        else:
            targets = [backend_dict(s) for s in services]
        for backends in targets:
            self._write(backends)

    @staticmethod
    def _known(service: str) -> bool:
        try:
            backend_dict(service)
            return True
        except KeyError:
            return False

    def _write(self, backends):
        name = backend_dict_name(backends)
        try:
            with LOCK:
                blob = pickle.dumps({acct: dict(regions) for acct, regions in backends.items()})
        except Exception as exc:
            log.warning("%s state cannot be saved (%s); it will not survive a restart", name, exc)
            return
        path = self.folder / f"{name}.pickle"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
