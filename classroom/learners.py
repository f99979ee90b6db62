"""JupyterHub's side of a class on one host: each learner a Unix user of their own, created at their first
start (as the Littlest JupyterHub does), with a home that holds their working copy of the notebooks and
their own local endpoint's state; stopping a learner's server (by hand or by the idle culler) stops their
endpoint too."""

import asyncio
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Unicode

from labhelpers.local import config, process

NOTEBOOKS = "codepipeline-lab"  # the working copy's folder in each learner's home


class LearnerSpawner(LocalProcessSpawner):
    unix_prefix = Unicode("lab-", config=True, help="What a learner's Unix name starts with.")
    homes = Unicode("/home", config=True, help="The folder that holds the learners' homes.")
    student_copies = Unicode(config=True, help="The notebooks without solutions (make student).")

    @property
    def unix_name(self) -> str:
        return self.unix_prefix + self.user.name

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.unix_name).pw_dir)

    def make_preexec_fn(self, name):
        return set_user_setuid(self.unix_name)

    def user_env(self, env):
        entry = pwd.getpwnam(self.unix_name)
        env.update(USER=entry.pw_name, HOME=entry.pw_dir, SHELL=entry.pw_shell or "/bin/bash")
        env["LABHELPERS_HOME"] = str(Path(entry.pw_dir) / ".labhelpers")
        return env

    async def start(self):
        await asyncio.to_thread(self._prepare_learner)
        return await super().start()

    async def stop(self, now=False):
        await super().stop(now=now)
        stopped = await asyncio.to_thread(process.stop, config.Layout(self.home / ".labhelpers"))
        if stopped:
            self.log.info("stopped %s's local endpoint (pid %s)", self.user.name, stopped.pid)

    def _prepare_learner(self):
        """The learner's Unix user and home, and the student copies their working copy lacks (their own
        edits are never overwritten)."""
        if not _exists(self.unix_name):
            home = Path(self.homes) / self.unix_name
            created = subprocess.run(
                [
                    shutil.which("useradd") or "/usr/sbin/useradd",
                    "--create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    "/bin/bash",
                ]
                + ["--comment", f"codepipeline-lab learner {self.user.name}", self.unix_name],
                capture_output=True,
                text=True,
            )
            if created.returncode:
                raise RuntimeError(
                    f"useradd {self.unix_name} failed (the hub must run as root): {created.stderr}"
                )
            home.chmod(0o700)
            self.log.info("created the Unix user %s for %s", self.unix_name, self.user.name)
        entry = pwd.getpwnam(self.unix_name)
        work = Path(entry.pw_dir) / NOTEBOOKS
        work.mkdir(exist_ok=True)
        os.chown(work, entry.pw_uid, entry.pw_gid)
        for notebook in sorted(Path(self.student_copies).glob("*.ipynb")):
            target = work / notebook.name
            if not target.exists():
                shutil.copyfile(notebook, target)
                os.chown(target, entry.pw_uid, entry.pw_gid)


def _exists(unix_name: str) -> bool:
    try:
        pwd.getpwnam(unix_name)
    except KeyError:
        return False
    return True
