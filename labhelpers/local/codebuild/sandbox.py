"""What a build sees of this machine: where user and mount namespaces exist, the build's shell runs in its
own, with the user's home folder covered by an empty one (no ~/.aws, no ~/.ssh, no other state of the
lab's), and only what the build needs there put back: its own folder and the lab's Python."""

import functools
import logging
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("labhelpers.endpoint")

# Arguments: <home> <folders to keep, colon-separated> <command...>. Binds each kept folder aside, covers
# the home folder with an empty tmpfs, moves the kept folders back to their places, then runs the command.
_HIDE_HOME = r"""
set -eu
home=$1 keep=$2
shift 2
mount() { command mount --no-mtab "$@"; }
stage=$(mktemp -d /tmp/lab-build-keep.XXXXXX)
IFS=:
i=0
for path in $keep; do mkdir "$stage/$i"; mount --rbind "$path" "$stage/$i"; i=$((i + 1)); done
mount -t tmpfs -o mode=755,size=16m tmpfs "$home"
i=0
for path in $keep; do mkdir -p "$path"; mount --move "$stage/$i" "$path"; i=$((i + 1)); done
unset IFS
rm -r "$stage"
exec "$@"
"""


def wrapper(build_folder: Path) -> list[str]:
    """The command prefix that runs a build's shell with the home folder hidden, or [] where it cannot be
    (then `problem()` says why, and the endpoint's log says so once)."""
    home = Path.home().resolve()
    if problem() is not None or home == Path("/"):
        return []
    python = Path(sys.executable).resolve().parent.parent  # the Python the lab's scripts run with
    needed = {Path(path).resolve() for path in (build_folder, sys.prefix, sys.base_prefix, python)}
    keep = sorted(str(path) for path in needed if path.is_relative_to(home) and path != home)
    return [*_unshare(), "/bin/sh", "-c", _HIDE_HOME, "hide-home", str(home), ":".join(keep)]


def _unshare() -> list[str]:
    return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount"]


@functools.cache
def problem() -> str | None:
    """Why builds cannot hide the home folder on this machine, or None when they can (checked once)."""
    if shutil.which("unshare") is None:
        reason = "the unshare command (util-linux) is not installed"
    else:
        try:
            probe = subprocess.run(
                [*_unshare(), "/bin/sh", "-c", _HIDE_HOME, "hide-home", str(Path.home()), "", "/bin/true"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            reason = None if probe.returncode == 0 else f"namespaces are refused: {probe.stderr.strip()}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            reason = f"namespaces are refused: {exc}"
    if reason:
        log.warning(
            "builds run as this user without a mount namespace (%s): a buildspec can read the files of your "
            "home folder (such as ~/.aws). Run buildspecs you do not trust on AWS (LAB_BACKEND=aws).",
            reason,
        )
    return reason
