"""What the endpoint holds, counted for `labhelpers local status` and /_lab/health."""

from . import motoapi
from .codedeploy.store import instance_count, stored_deployment_count
from .codepipeline.store import pipelines_folder, stored_count
from .config import ACCOUNT, REGION


def pipeline_count(layout) -> int:
    """The pipelines the endpoint keeps on disk, in every Region."""
    return stored_count(pipelines_folder(layout))


def deployment_counts(layout) -> dict[str, int]:
    """CodeDeploy deployments and local instances the endpoint keeps on disk."""
    return {
        "codedeploy_deployments": stored_deployment_count(layout),
        "local_instances": instance_count(layout),
    }


def moto_counts(account: str = ACCOUNT, region: str = REGION) -> dict[str, int]:
    return motoapi.resource_counts(account, region)
