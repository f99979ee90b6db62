"""What the endpoint holds, counted for `labhelpers local status` and /_lab/health."""

from .config import ACCOUNT, REGION
from .deploystore import instance_count, stored_deployment_count
from .motoapp import LOCK
from .pipelinestore import pipelines_folder, stored_count


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
    from moto.backends import get_backend

    def count(service, region_name, attribute):
        try:
            return len(getattr(get_backend(service)[account][region_name], attribute))
        except Exception:
            return 0

    with LOCK:
        instances = 0
        try:
            ec2 = get_backend("ec2")[account][region]
            instances = sum(len(r.instances) for r in ec2.reservations.values())
        except Exception:
            pass
        return {
            "iam_roles": count("iam", "global", "roles"),
            "s3_buckets": count("s3", "aws", "buckets"),
            "ec2_instances": instances,
            "codebuild_projects": count("codebuild", region, "codebuild_projects"),
            "codedeploy_applications": count("codedeploy", region, "applications"),
        }
