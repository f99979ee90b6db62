"""`labhelpers local start|stop|status|url|env|reset|logs` (also `python -m labhelpers`),
`labhelpers configure --prefix NAME [--pace fast]`, the class's settings every notebook reads, and
`labhelpers git-credential`, the git credential helper that `local env` and `connect()` set up."""

import argparse
import os
import shlex
import sys
import time

from .errors import LabError
from .local import config, process


def _layout(args) -> config.Layout:
    return config.Layout(config.home(args.home))


def _start(args):
    running = process.start(_layout(args))
    state = "already running" if running.already_running else "started"
    print(f"local endpoint {state} at {running.url} (pid {running.pid}, state in {running.home})")


def _stop(args):
    layout = _layout(args)
    stopped = process.stop(layout)
    print(
        f"local endpoint stopped (pid {stopped.pid}); state kept in {layout.state}"
        if stopped
        else "no local endpoint is running for " + str(layout.root)
    )


def _running_or_exit(layout):
    running = process.find(layout)
    if not running:
        raise LabError(f"no local endpoint is running for {layout.root}. Start one: labhelpers local start")
    return running


def _status(args):
    layout = _layout(args)
    running = process.find(layout)
    if not running:
        print(f"stopped (state folder {layout.root}). Start it: labhelpers local start")
        return 3
    answer = process.health(running.url) or {}
    print(f"running   {running.url}")
    print(f"pid       {running.pid}")
    print(f"uptime    {time.time() - running.started:.0f} s")
    print(f"account   {answer.get('account')}  region {answer.get('region')}")
    print(f"state     {layout.state}")
    print(f"pace      {config.pace(layout)}")
    for name, count in answer.get("holds", {}).items():
        print(f"  {name:<24} {count}")
    return 0


def _url(args):
    print(_running_or_exit(_layout(args)).url)


def _env(args):
    layout = _layout(args)
    running = _running_or_exit(layout)
    for name, value in config.client_env(running.url, layout).items():
        print(f"export {name}={shlex.quote(value)}")
    print("unset " + " ".join(dict.fromkeys([*config.CLEARED_ENV, *config.cleared_names(os.environ)])))


def _reset(args):
    layout = _layout(args)
    if not args.yes:
        if not sys.stdin.isatty():
            raise LabError(
                "reset wipes every role, bucket, repository and pipeline of the local endpoint; "
                "run it with --yes to confirm"
            )
        if input(f"Wipe all local state in {layout.state}? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    process.reset(layout)
    print(f"local state wiped ({layout.state}); `labhelpers local start` begins afresh")


def _logs(args):
    print(process.tail(_layout(args), args.lines))


def _configure(args):
    from .lab import configure, settings

    given = {key: getattr(args, key) for key in ("prefix", "backend", "pace", "source", "repository")}
    if all(value is None for value in given.values()):
        chosen = settings(args.home)
    else:
        chosen = configure(**given, home=args.home)
    home = config.home(args.home)
    print(f"prefix     {chosen.get('prefix', 'awscicd (the default)')}")
    print(f"backend    {chosen.get('backend', 'local (the default)')}")
    print(f"pace       {chosen.get('pace', 'teach (the default)')}")
    print(f"source     {chosen.get('source', 'codecommit (the default)')}")
    if "repository" in chosen:
        print(f"repository {chosen['repository']}")
    print(
        f"stored in {config.Layout(home).settings}; LAB_PREFIX, LAB_BACKEND, LAB_PACE, LAB_SOURCE and "
        "LAB_SOURCE_REPOSITORY override them"
    )


def _git_credential(args):
    """git's credential helper protocol: answer `get` with the lab's git credentials; store and erase are
    no-ops (the credentials live in the state folder)."""
    sys.stdin.read()  # the request's protocol, host and path: git asks for the endpoint's URL only
    if args.operation == "get":
        keys = config.credentials(_layout(args))
        print(f"username={config.GIT_USER}\npassword={keys.git_password}\n")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="labhelpers", description="The codepipeline-lab helper CLI.")
    groups = top.add_subparsers(dest="group", required=True)
    settings = groups.add_parser(
        "configure", help="the prefix (and backend) every notebook uses: labhelpers configure --prefix alice"
    )
    settings.set_defaults(handler=_configure)
    settings.add_argument("--prefix", help="names every resource the lab makes (one per learner in a class)")
    settings.add_argument("--backend", choices=["local", "aws"], help="local (default) or aws")
    settings.add_argument(
        "--pace",
        choices=config.PACES,
        help="how the local endpoint runs pipelines: teach (default: each step held to watch) or fast",
    )
    settings.add_argument(
        "--source",
        choices=["codecommit", "connection"],
        help="where the pipeline takes its code: codecommit (default) or a GitHub repository by connection",
    )
    settings.add_argument("--repository", help="the connection source's GitHub repository, owner/name")
    settings.add_argument("--home", help="state folder (default: $LABHELPERS_HOME or ~/.labhelpers)")
    helper = groups.add_parser("git-credential", help="git's credential helper for the local endpoint")
    helper.set_defaults(handler=_git_credential)
    helper.add_argument("--home", help="state folder (default: $LABHELPERS_HOME or ~/.labhelpers)")
    helper.add_argument("operation", choices=["get", "store", "erase"])
    local = groups.add_parser("local", help="the local AWS endpoint")
    commands = local.add_subparsers(dest="command", required=True)
    for name, handler, text in [
        ("start", _start, "start the endpoint (or report the running one)"),
        ("stop", _stop, "stop the endpoint; its state is kept"),
        ("status", _status, "URL, pid, uptime and what the endpoint holds"),
        ("url", _url, "print the endpoint's base URL"),
        ("env", _env, 'print export lines: eval "$(labhelpers local env)"'),
        ("reset", _reset, "wipe the endpoint's state"),
        ("logs", _logs, "show the endpoint log"),
    ]:
        command = commands.add_parser(name, help=text)
        command.set_defaults(handler=handler)
        command.add_argument("--home", help="state folder (default: $LABHELPERS_HOME or ~/.labhelpers)")
        if name == "reset":
            command.add_argument("--yes", action="store_true", help="do not ask")
        if name == "logs":
            command.add_argument("-n", "--lines", type=int, default=50)
    return top


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
