"""A local instance: a folder that plays an Amazon Linux host for CodeDeploy hooks.

`<root>` is the instance's `/`: a `files` destination of `/var/www/html` lands in `<root>/var/www/html`.
Hook scripts are ordinary Amazon Linux scripts with absolute paths, so they run in a Linux user + mount
+ PID namespace (`unshare`, no real root needed) whose `/` is `<root>`: the host's `/usr` (and the
`/bin`, `/sbin`, `/lib*` that lead into it) is mounted read-only, `/proc` and a small `/dev` are
provided, and nothing else of the host is reachable. Where namespaces are unavailable, hooks run
without isolation, and every hook log says so loudly.

Package and service managers (`yum`, `dnf`, `apt-get`, `apt`, `systemctl`, `service`, `chkconfig`,
`sudo`) are shims that record each call in `<root>/.lab/commands.log` and keep package and service
state under `<root>/.lab/`: `yum install -y httpd` then `systemctl start httpd` makes the instance's
web server "run", which is what the endpoint checks before serving `web_root`.
"""

import contextlib
import errno
import functools
import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..context import StopSignal

Isolation = Literal["namespace", "none"]
WEB_SERVERS = ("httpd", "apache2", "nginx")
SHIMMED_COMMANDS = ("yum", "dnf", "apt-get", "apt", "systemctl", "service", "chkconfig", "sudo")
AGENT_DIR = "/opt/codedeploy-agent"  # the agent's working directory, which hook scripts inherit
# Host folders the namespace shares read-only (or leads into with a symbolic link).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/dev")
WRITABLE_SYSTEM_DIRS = ("/usr/local",)
_HOST_ETC_FILES = ("passwd", "group", "hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "localtime")
_INSTANCE_DIRS = ("etc", "tmp", "root", "home/ec2-user", "opt/codedeploy-agent", "var/log", "run", "srv")
_OS_RELEASE = """NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PRETTY_NAME="Amazon Linux 2023 (codepipeline-lab local instance)"
"""
_SYMLINK_HOPS = 40
_CHUNK = 65536
_DRAIN_CHUNKS = 16

# Runs inside the new namespaces: build the instance's view, make it `/`, then exec the hook.
# Arguments: <instance root> <working directory on the instance> <command...>
_ENTER_INSTANCE = r"""
set -eu
shopt -s nullglob
root=$1 workdir=$2
shift 2
hook_path=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount() { command mount --no-mtab "$@"; }  # leave the host's /run/mount/utab alone
mount --bind "$root" "$root"  # pivot_root needs the new root to be a mount point
mkdir -p "$root/.lab/host" "$root/usr/local"
keep_usr_local=
if [ -d /usr/local ] && [ ! -L /usr/local ]; then
  mount --bind "$root/usr/local" "$root/.lab/host"  # the instance's own /usr/local survives /usr
  keep_usr_local=1
fi
for dir in usr bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$dir" ]; then
    [ -e "$root/$dir" ] || [ -L "$root/$dir" ] || ln -s "$(readlink "/$dir")" "$root/$dir"
  elif [ -d "/$dir" ]; then
    mkdir -p "$root/$dir"
    mount --rbind "/$dir" "$root/$dir"
    mount -o remount,bind,ro "$root/$dir"
  fi
done
if [ -n "$keep_usr_local" ]; then mount --move "$root/.lab/host" "$root/usr/local"; fi
mkdir -p "$root/proc" "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755,size=16m tmpfs "$root/dev"
for node in null zero full random urandom tty; do
  [ -e "/dev/$node" ] || continue
  : > "$root/dev/$node"
  mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/shm" "$root/dev/pts"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
for shim in "$root"/.lab/bin/*; do  # scripts calling /usr/bin/systemctl by path get the shim too
  for dir in usr/bin usr/sbin; do
    if [ -e "$root/$dir/${shim##*/}" ]; then mount --bind "$shim" "$root/$dir/${shim##*/}"; fi
  done
done
cd "$root"
pivot_root . .lab/host
umount --no-mtab -l /.lab/host  # the host's file system is gone from this namespace
export PATH=$hook_path
cd "$workdir"
exec "$@"
"""

# One shim for every command in SHIMMED_COMMANDS, dispatched on the name it is called by.
_SHIM = r"""#!/bin/bash
# codepipeline-lab shim: records the call, then plays a package or service manager on this instance.
set -u
name=${0##*/}
here=${0%/*}
case $here in
  */.lab/bin) root=${here%/.lab/bin} ;;
  *) root= ;;  # mounted over a system command inside the instance, where the root is /
esac
lab=$root/.lab
base_units=" sshd crond rsyslog chronyd amazon-ssm-agent codedeploy-agent "
wants=/etc/systemd/system/multi-user.target.wants

json_string() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\r'/\\r}; s=${s//$'\t'/\\t}
  printf '"%s"' "$s"
}

record() {
  local args="" arg now=${EPOCHREALTIME:-$(date +%s)}
  for arg in "$@"; do args+="${args:+, }$(json_string "$arg")"; done
  mkdir -p "$lab"
  printf '{"time": %s, "event": %s, "command": %s, "args": [%s]}\n' "${now/,/.}" \
    "$(json_string "${LIFECYCLE_EVENT:-}")" "$(json_string "$name")" "$args" >> "$lab/commands.log"
}

installed() { [ -e "$lab/packages/$1" ]; }

install_packages() {
  local package fresh=0
  mkdir -p "$lab/packages"
  for package in "$@"; do
    if installed "$package"; then echo "Package $package is already installed."; continue; fi
    fresh=1
    : > "$lab/packages/$package"
    case $package in
      httpd) mkdir -p "$root/etc/httpd/conf.d" "$root/var/www/html" "$root/var/log/httpd" ;;
      apache2) mkdir -p "$root/etc/apache2/sites-enabled" "$root/var/www/html" "$root/var/log/apache2" ;;
      nginx) mkdir -p "$root/etc/nginx/conf.d" "$root/var/log/nginx" ;;
    esac
    echo "Installed: $package"
  done
  [ $fresh = 1 ] || echo "Nothing to do."
}

package_manager() {
  local verb="" arg status=0
  local -a packages=()
  for arg in "$@"; do
    case $arg in
      -*) ;;
      *) if [ -z "$verb" ]; then verb=$arg; else packages+=("$arg"); fi ;;
    esac
  done
  case $verb in
    install|reinstall) install_packages "${packages[@]}" ;;
    remove|erase|purge)
      for arg in "${packages[@]}"; do rm -f "$lab/packages/$arg"; echo "Removed: $arg"; done ;;
    list)
      for arg in "${packages[@]}"; do
        [ "$arg" = installed ] && continue
        if installed "$arg"; then
          echo "$arg  (installed)"
        else
          echo "Error: No matching Packages to list" >&2
          status=1
        fi
      done ;;
    *) echo "$name ${verb:-}: nothing to do on the local instance" ;;
  esac
  return $status
}

unit_exists() { installed "$1" || [[ $base_units == *" $1 "* ]]; }

service_action() {  # <verb> <unit> <quiet>
  local verb=$1 unit=${2%.service} quiet=$3 state=inactive enabled=disabled
  [ -f "$lab/services/$unit" ] && read -r state enabled < "$lab/services/$unit"
  case $verb in
    start|restart|reload|try-restart|reload-or-restart|condrestart|force-reload|enable|disable|stop)
      if ! unit_exists "$unit"; then
        echo "Failed to $verb $unit.service: Unit $unit.service not found." >&2
        return 5
      fi ;;
  esac
  case $verb in
    start|restart|reload-or-restart|force-reload) state=active ;;
    try-restart|condrestart) ;;
    reload) [ "$state" = active ] || { echo "$unit.service is not active, cannot reload." >&2; return 1; } ;;
    stop) state=inactive ;;
    enable)
      if [ "$enabled" != enabled ]; then
        echo "Created symlink $wants/$unit.service → /usr/lib/systemd/system/$unit.service." >&2
      fi
      enabled=enabled ;;
    disable)
      [ "$enabled" = disabled ] || echo "Removed \"$wants/$unit.service\"." >&2
      enabled=disabled ;;
    is-active) [ -n "$quiet" ] || echo "$state"; [ "$state" = active ] || return 3; return 0 ;;
    is-enabled)
      if ! unit_exists "$unit"; then
        echo "Failed to get unit file state for $unit.service: No such file or directory" >&2
        return 1
      fi
      [ -n "$quiet" ] || echo "$enabled"; [ "$enabled" = enabled ]; return ;;
    status)
      unit_exists "$unit" || { echo "Unit $unit.service could not be found." >&2; return 4; }
      echo "* $unit.service"; echo "   Loaded: loaded ($enabled)"; echo "   Active: $state"
      [ "$state" = active ] || return 3; return ;;
    *) return 0 ;;
  esac
  mkdir -p "$lab/services"
  echo "$state $enabled" > "$lab/services/$unit"
}

systemctl_command() {
  local verb="" quiet="" now="" arg status=0 unit
  local -a units=()
  for arg in "$@"; do
    case $arg in
      -q|--quiet) quiet=1 ;;
      --now) now=1 ;;
      -*) ;;
      *) if [ -z "$verb" ]; then verb=$arg; else units+=("$arg"); fi ;;
    esac
  done
  for unit in "${units[@]}"; do
    service_action "$verb" "$unit" "$quiet" || status=$?
    if [ -n "$now" ] && [ $status = 0 ]; then
      case $verb in
        enable) service_action start "$unit" "$quiet" || status=$? ;;
        disable) service_action stop "$unit" "$quiet" || status=$? ;;
      esac
    fi
  done
  return $status
}

chkconfig_command() {
  local unit=${1:-}
  case $unit in -*|"") return 0 ;; esac
  case ${2:-} in
    on) service_action enable "$unit" "" > /dev/null ;;
    off) service_action disable "$unit" "" > /dev/null ;;
    *) service_action is-enabled "$unit" 1 ;;
  esac
}

sudo_command() {
  while [ $# -gt 0 ]; do
    case $1 in
      -u|-g|-C|-D|-h|-p|-r|-t|-U) shift 2 ;;
      --) shift; break ;;
      -*) shift ;;
      *) break ;;
    esac
  done
  [ $# -gt 0 ] || { echo "usage: sudo command" >&2; return 1; }
  exec "$@"
}

record "$@"
case $name in
  yum|dnf|apt-get|apt) package_manager "$@" ;;
  systemctl) systemctl_command "$@" ;;
  service) if [ $# -ge 2 ]; then service_action "$2" "$1" ""; fi ;;
  chkconfig) chkconfig_command "$@" ;;
  sudo) sudo_command "$@" ;;
esac
exit $?
"""


@dataclass(frozen=True)
class ScriptOutcome:
    exit_code: int | None  # None when the lab ended the script
    ended_by: Literal["timeout", "cancel"] | None
    seconds: float


@functools.cache
def namespace_problem() -> str | None:
    """Why hooks cannot run in namespaces on this machine, or None when they can (checked once)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "the unshare command (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="lab-probe-") as probe_root:
        for folder in ("tmp", ".lab/bin"):
            Path(probe_root, folder).mkdir(parents=True)
        result = subprocess.run(
            _namespace_command(unshare, Path(probe_root), "/", ["/bin/true"]),
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
    if result.returncode != 0:
        return (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
    return None


def _namespace_command(unshare: str, root: Path, workdir: str, command: list[str]) -> list[str]:
    namespaces = ["--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child"]
    return [
        unshare,
        *namespaces,
        "/bin/bash",
        "-c",
        _ENTER_INSTANCE,
        "enter-instance",
        str(root),
        workdir,
        *command,
    ]


class LocalInstance:
    """The folder `root` as the Amazon Linux host `instance_id`; created or refreshed on construction."""

    def __init__(self, root: Path, instance_id: str, *, isolate: bool = True):
        self.root = Path(root).absolute()
        self.instance_id = instance_id
        self._isolate = isolate
        self._prepare()

    @property
    def lab_dir(self) -> Path:
        """The lab's own bookkeeping on the instance (shims, logs, state, kept revisions)."""
        return self.root / ".lab"

    @property
    def web_root(self) -> Path:
        return self.root / "var/www/html"

    @property
    def isolation(self) -> Isolation:
        return "namespace" if self._isolate and namespace_problem() is None else "none"

    @property
    def isolation_warning(self) -> str | None:
        """The line every hook log carries when hooks run without isolation."""
        if self.isolation == "namespace":
            return None
        reason = (
            "isolation turned off"
            if not self._isolate
            else f"Linux namespaces unavailable: {namespace_problem()}"
        )
        return (
            f"WARNING: hook scripts on {self.instance_id} run WITHOUT isolation ({reason}); absolute paths "
            "in them such as /var/www/html or /etc touch THIS machine, not the local instance"
        )

    @property
    def web_running(self) -> bool:
        return any(self.service_active(name) for name in WEB_SERVERS)

    def service_active(self, name: str) -> bool:
        state = self.lab_dir / "services" / name
        return state.is_file() and state.read_text().split()[:1] == ["active"]

    def commands(self) -> list[dict]:
        """What hooks asked the shims, oldest first: {time, event, command, args}."""
        log = self.lab_dir / "commands.log"
        if not log.is_file():
            return []
        return [
            json.loads(line, strict=False) for line in log.read_text(errors="replace").splitlines() if line
        ]

    def path(self, instance_path: str) -> Path:
        """The host path of an absolute path on the instance, following symbolic links the way the
        instance sees them (an absolute link target starts again at the instance's `/`), so the result
        never leaves `root`."""
        pending = [part for part in instance_path.split("/") if part not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = self.root.joinpath(*resolved, part)
            if not candidate.is_symlink():
                resolved.append(part)
                continue
            hops += 1
            if hops > _SYMLINK_HOPS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", instance_path)
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending[:0] = [piece for piece in target.split("/") if piece not in ("", ".")]
        return self.root.joinpath(*resolved)

    def off_limits(self, instance_path: str) -> str | None:
        """Why a deployment may not write `instance_path` on this instance, or None if it may."""
        if any(instance_path == d or instance_path.startswith(d + "/") for d in WRITABLE_SYSTEM_DIRS):
            return None
        if instance_path == "/.lab" or instance_path.startswith("/.lab/"):
            return "/.lab holds the lab's own bookkeeping for the local instance"
        for system_dir in SYSTEM_DIRS:
            if instance_path == system_dir or instance_path.startswith(system_dir + "/"):
                return f"{system_dir} is shared read-only from this machine into the local instance"
        return None

    def environment(self) -> dict[str, str]:
        """The base environment of a hook on this instance: shims first on PATH, root's HOME."""
        shims = "/.lab/bin" if self.isolation == "namespace" else str(self.lab_dir / "bin")
        home = "/root" if self.isolation == "namespace" else str(self.root / "root")
        return {
            "PATH": f"{shims}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": home,
            "USER": "root",
            "LOGNAME": "root",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
        }

    def run_script(
        self,
        script: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        on_output: Callable[[str, str], None],
        cancel: StopSignal | None = None,
    ) -> ScriptOutcome:
        """Run `bash <script>` (an absolute path on the instance) from the agent's folder with exactly
        `env`; `on_output(stream, line)` gets each line of "stdout"/"stderr". At `timeout` seconds, or
        when `cancel` is set, the script and everything it started are killed."""
        if self.isolation == "namespace":
            argv = _namespace_command(
                shutil.which("unshare") or "unshare", self.root, AGENT_DIR, ["/bin/bash", script]
            )
            cwd = self.root
        else:
            argv = ["/bin/bash", str(self.root / script.lstrip("/"))]
            cwd = self.root / AGENT_DIR.lstrip("/")
        started = time.monotonic()
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        group = _ProcessGroup(process)
        over = cancel.when_set(lambda: group.kill("cancel"), timeout) if cancel is not None else None
        try:
            _pump(process, group, started + timeout, on_output)
        except BaseException:
            group.kill()
            group.reap()
            raise
        finally:
            if over is not None:
                over.set()
        exit_code = group.reap()
        ended_by = group.ended_by
        return ScriptOutcome(
            exit_code=None if ended_by else _shell_status(exit_code),
            ended_by=ended_by,
            seconds=time.monotonic() - started,
        )

    def _prepare(self) -> None:
        for folder in (*_INSTANCE_DIRS, ".lab/bin", ".lab/services", ".lab/packages", ".lab/deployments"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").chmod(0o1777)
        etc = self.root / "etc"
        for name in _HOST_ETC_FILES:
            if Path("/etc", name).is_file() and not (etc / name).exists():
                shutil.copyfile(Path("/etc", name), etc / name)
        if Path("/etc/ld.so.conf.d").is_dir() and not (etc / "ld.so.conf.d").exists():
            shutil.copytree("/etc/ld.so.conf.d", etc / "ld.so.conf.d")
        for name, text in (("os-release", _OS_RELEASE), ("system-release", "Amazon Linux release 2023\n")):
            if not (etc / name).exists():
                (etc / name).write_text(text)
        shim = self.lab_dir / "bin" / "lab-shim"
        shim.write_text(_SHIM)
        shim.chmod(0o755)
        for command in SHIMMED_COMMANDS:
            link = self.lab_dir / "bin" / command
            if not link.is_symlink():
                link.symlink_to("lab-shim")


class _ProcessGroup:
    """A script's process group: killed with everything in it, never after its leader was reaped, and
    reaped only once every process that was killed has ended (in the namespace, its init ends last)."""

    def __init__(self, process: subprocess.Popen):
        self._process = process
        self._lock = threading.Lock()
        self._leader_exited = False
        self._reaped = False
        self._dying: list[int] = []  # pidfds of killed processes
        self.ended_by: Literal["timeout", "cancel"] | None = None

    def kill(self, reason: Literal["timeout", "cancel"] | None = None) -> None:
        with self._lock:
            if self._reaped:
                return
            if reason and not self._leader_exited and self.ended_by is None:
                self.ended_by = reason
            self._dying += _pidfds(_group_members(self._process.pid))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)

    def leader_exited(self) -> None:
        """The leader ended (not yet reaped): what it left behind goes too."""
        with self._lock:
            self._leader_exited = True
        self.kill()

    def reap(self) -> int:
        with self._lock:
            self._reaped = True
        returncode = self._process.wait()
        for pidfd in self._dying:
            select.select([pidfd], [], [])  # readable once that process has ended
            os.close(pidfd)
        return returncode


def _group_members(pgid: int) -> list[int]:
    """Processes in process group `pgid`, apart from its leader."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == pgid:
            continue
        with contextlib.suppress(OSError):
            stat = Path(entry.path, "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                members.append(int(entry.name))
    return members


def _pidfds(pids: list[int]) -> list[int]:
    pidfds = []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            pidfds.append(os.pidfd_open(pid))
    return pidfds


def _pump(
    process: subprocess.Popen, group: _ProcessGroup, deadline: float, on_output: Callable[[str, str], None]
) -> None:
    """Forward output line by line until the leader exits, killing the group at `deadline`."""
    lines = {process.stdout: _Lines("stdout", on_output), process.stderr: _Lines("stderr", on_output)}
    pidfd = os.pidfd_open(process.pid)
    try:
        with selectors.DefaultSelector() as selector:
            for pipe in lines:
                os.set_blocking(pipe.fileno(), False)
                selector.register(pipe, selectors.EVENT_READ)
            selector.register(pidfd, selectors.EVENT_READ)
            leader_running = True
            while leader_running:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and group.ended_by is None:
                    group.kill("timeout")
                wait = None if group.ended_by else max(remaining, 0)
                for key, _ in selector.select(wait):
                    if key.fileobj == pidfd:
                        leader_running = False
                    elif not lines[key.fileobj].read(key.fileobj):
                        selector.unregister(key.fileobj)
        group.leader_exited()
        for pipe, line_reader in lines.items():
            line_reader.drain(pipe)
    finally:
        os.close(pidfd)
        for pipe in lines:
            pipe.close()


class _Lines:
    """Splits one non-blocking pipe into lines for `on_output`."""

    def __init__(self, stream: str, on_output: Callable[[str, str], None]):
        self._stream = stream
        self._on_output = on_output
        self._pending = b""

    def read(self, pipe) -> bool:
        """Read one chunk if one is waiting; False at end of file."""
        try:
            chunk = os.read(pipe.fileno(), _CHUNK)
        except BlockingIOError:
            return True
        self._take(chunk)
        return bool(chunk)

    def drain(self, pipe) -> None:
        """Take what the ended script left in the pipe (bounded, so a stray writer cannot hold us)."""
        for _ in range(_DRAIN_CHUNKS):
            try:
                chunk = os.read(pipe.fileno(), _CHUNK)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._take(chunk)
        if self._pending:
            self._on_output(self._stream, self._pending.decode("utf-8", "replace"))
            self._pending = b""

    def _take(self, chunk: bytes) -> None:
        *complete, self._pending = (self._pending + chunk).split(b"\n")
        for line in complete:
            self._on_output(self._stream, line.decode("utf-8", "replace"))


def _shell_status(returncode: int) -> int:
    """A Popen return code as a shell reports it: killed by signal N is 128 + N."""
    return 128 - returncode if returncode < 0 else returncode
