"""The endpoint process: `python -m labhelpers.local.server --home DIR`.

Binds 127.0.0.1 only, records its port and pid in the state folder, saves state as it changes and
once more when it is stopped."""

import argparse
import functools
import json
import logging
import os
import secrets
import signal
import socket
import threading
import time

from . import config


def _prepare_environment(layout: config.Layout):
    """moto reads these when it is imported; the process must never reach real AWS. moto.ec2 is to read its
    instance type offerings per Region (a snapshot restore or a request imports it later, if at all), and
    moto's backends are to share our botocore models."""
    for name in config.cleared_names(os.environ):
        del os.environ[name]
    os.environ.update(
        MOTO_ACCOUNT_ID=config.ACCOUNT,
        MOTO_IAM_LOAD_MANAGED_POLICIES="true",
        MOTO_DISABLE_GLOBAL_CORS="true",  # moto would answer any Origin's preflight
        AWS_DEFAULT_REGION=config.REGION,
        AWS_CONFIG_FILE=str(layout.empty_aws_config),
        AWS_SHARED_CREDENTIALS_FILE=str(layout.empty_aws_config),
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from .motoapi import read_ec2_offerings_lazily, share_service_models

    read_ec2_offerings_lazily()
    share_service_models()


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def _bind(app, layout: config.Layout):
    """The server on LAB_LOCAL_PORT if set (its being taken is an error), else the last port, else any."""
    from werkzeug.serving import make_server

    from .motoapi import request_handler

    requested = os.environ.get("LAB_LOCAL_PORT")
    if requested:
        try:
            sock = _listen(int(requested))
        except (OSError, ValueError) as exc:
            raise SystemExit(
                f"port {requested} (LAB_LOCAL_PORT) is not free on 127.0.0.1: {exc}. "
                "Choose another port or unset LAB_LOCAL_PORT to let the lab pick one."
            ) from exc
    else:
        try:
            sock = _listen(int(layout.port_file.read_text()))
        except (OSError, ValueError):
            sock = _listen(0)
    port = sock.getsockname()[1]
    server = make_server(
        "127.0.0.1", port, app, threaded=True, request_handler=request_handler(), fd=sock.fileno()
    )
    # Idle keep-alive connections must not hold up a stop.
    server.daemon_threads, server.block_on_close = True, False
    return server


def build_app(ctx, snapshots, started: float):
    from .codebuild.batches import BuildBatchesService
    from .codebuild.images import ImagesService
    from .codebuild.reports import ReportsService
    from .codebuild.service import CodeBuildService
    from .codebuild.sharing import SharingService
    from .codebuild.source_credentials import SourceCredentials, SourceCredentialsService, credentials_file
    from .codebuild.webhooks import WebhooksService
    from .codecommit.gitserver import make_git_app
    from .codecommit.service import CodeCommitService
    from .codecommit.store import RepoStore
    from .codeconnections.service import CodeStarConnectionsService, ConnectionsService
    from .codeconnections.store import ConnectionStore, HostStore
    from .codedeploy.service import CodeDeployService
    from .codepipeline.control import CodePipelineControl
    from .codepipeline.customtypes import CustomActionTypes
    from .codepipeline.engine.connection_source import PushedRevisions
    from .codepipeline.engine.flow import Engine
    from .codepipeline.engine.jobs import JobBoard
    from .codepipeline.engine.permissions import RolePermissions
    from .codepipeline.engine.providers import PROVIDERS
    from .codepipeline.engine.store import ExecutionStore
    from .codepipeline.entities import EntityLinks
    from .codepipeline.jobworkers import CodePipelineJobWorkers
    from .codepipeline.runs import CodePipelineRuns
    from .codepipeline.store import PipelineStore, pipelines_folder
    from .codepipeline.triggers import ChangeDetection
    from .codepipeline.webhooks import CodePipelineWebhooks, WebhookStore
    from .dispatch import Dispatcher
    from .labpages import LabPages
    from .labpages.links import PageLinks
    from .labpages.records import Records
    from .motoapp import MotoApp

    layout = ctx.layout
    repos = RepoStore(layout.repos, config.ACCOUNT, config.REGION)

    def caller_arn() -> str:
        return ctx.client("sts").get_caller_identity()["Arn"]

    def clone_url(name: str) -> str:
        return f"{ctx.url}/v1/repos/{name}"

    def artifact_credentials() -> dict:
        """What a job worker gets to reach the artifact bucket: the lab's keys, as any client of it."""
        keys = config.credentials(layout)
        return {
            "accessKeyId": keys.access_key,
            "secretAccessKey": keys.secret_key,
            "sessionToken": secrets.token_urlsafe(32),
        }

    pipelines = PipelineStore(pipelines_folder(layout), config.ACCOUNT, config.REGION)
    codedeploy = CodeDeployService(ctx, on_write=snapshots.mark)
    codebuild = CodeBuildService(ctx, on_write=snapshots.mark)
    credentials = SourceCredentials(credentials_file(layout))
    codecommit = CodeCommitService(repos, clone_url=clone_url, caller=functools.cache(caller_arn))
    executions = ExecutionStore(layout.state / "executions")
    executions.load()
    connections = ConnectionStore(layout.state / "connections.json", config.ACCOUNT)
    hosts = HostStore(layout.state / "hosts.json", config.ACCOUNT)
    pushes = PushedRevisions()
    pages = PageLinks(ctx)
    custom_types = CustomActionTypes(layout.state / "custom-action-types.json")
    engine_cond = threading.Condition(threading.RLock())
    jobs = JobBoard(
        engine_cond, account=config.ACCOUNT, custom_types=custom_types, credentials=artifact_credentials
    )
    engine = Engine(
        executions,
        account=config.ACCOUNT,
        client=ctx.client,
        providers=PROVIDERS,
        services={
            "repos": repos,
            "builds": codebuild,
            "deployments": codedeploy,
            "connections": connections,
            "pushes": pushes,
            "pages": pages,
            "jobs": jobs,
        },
        transitions_file=layout.state / "transitions.json",
        permissions=RolePermissions(config.ACCOUNT),
        pace=ctx.pace,
        cond=engine_cond,
    )
    ChangeDetection(
        repos=repos,
        pipelines=pipelines,
        engine=engine,
        connections=connections,
        pushes=pushes,
        account=config.ACCOUNT,
    ).start()
    services = [
        codecommit,
        CodePipelineControl(pipelines, custom_types),
        CodePipelineRuns(pipelines, engine, EntityLinks(pages, custom_types)),
        CodePipelineJobWorkers(custom_types, jobs),
        CodePipelineWebhooks(WebhookStore(layout.state / "webhooks.json", config.ACCOUNT), pipelines),
        codedeploy,
        codebuild,
        ReportsService(ctx, codebuild.reports),
        BuildBatchesService(ctx, codebuild),
        SharingService(),
        ImagesService(),
        SourceCredentialsService(ctx, credentials),
        WebhooksService(ctx, credentials, on_write=snapshots.mark),
        ConnectionsService(connections, hosts),
        CodeStarConnectionsService(connections, hosts),
    ]
    return Dispatcher(
        MotoApp(snapshots.mark),
        services,
        git_app=make_git_app(repos),
        lab_app=LabPages(
            layout,
            started,
            instances=codedeploy.instances,
            records=Records(ctx, builds=codebuild, deployments=codedeploy, commits=codecommit),
        ),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="labhelpers.local.server")
    parser.add_argument("--home", required=True)
    args = parser.parse_args(argv)
    layout = config.Layout(config.home(args.home))
    for folder in (layout.state, layout.repos, layout.work):
        folder.mkdir(parents=True, exist_ok=True)
    layout.empty_aws_config.touch()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _prepare_environment(layout)
    started = time.time()

    from .context import EndpointContext
    from .motoapi import register_lab_user
    from .snapshots import Snapshots
    from .trust.guard import Guard, new_page_token

    snapshots = Snapshots(layout.moto_snapshots)
    restored = snapshots.restore()
    register_lab_user(config.ACCOUNT, config.LAB_USER, config.credentials(layout).access_key)
    ctx = EndpointContext(layout)
    app = build_app(ctx, snapshots, started)
    guard = Guard(app, config.credentials(layout), new_page_token(layout))
    server = _bind(guard, layout)
    port = server.port
    guard.listen_on(port)
    url = ctx.url = f"http://127.0.0.1:{port}"
    layout.port_file.write_text(str(port))
    record = {"pid": os.getpid(), "port": port, "url": url, "home": str(layout.root), "started": started}
    tmp = layout.endpoint_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, layout.endpoint_file)
    snapshots.start()
    logging.getLogger("labhelpers.endpoint").info(
        "serving %s (pid %s); restored %s", url, os.getpid(), ", ".join(restored) or "nothing"
    )

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        app.close()
        snapshots.stop()
        layout.endpoint_file.unlink(missing_ok=True)
        logging.getLogger("labhelpers.endpoint").info("stopped; state saved")
        logging.shutdown()
    # Everything is saved; skip the interpreter's slow teardown of moto's modules and threads.
    os._exit(0)


if __name__ == "__main__":
    main()
