"""The request parameters several CodeDeploy operations check alike, and the errors they answer with."""

from ..awsjson import AwsError


def s3_revision(revision) -> dict:
    if not revision:
        raise AwsError("RevisionRequiredException", "The revision to deploy is required.")
    kind = revision.get("revisionType")
    if kind == "GitHub":
        raise AwsError(
            "InvalidRevisionException",
            "The local lab endpoint cannot fetch revisions from GitHub. Upload the revision as a zip to S3 "
            "and deploy it with revisionType S3 (a pipeline's CodeDeploy action does this for you).",
        )
    if kind != "S3":
        raise AwsError(
            "InvalidRevisionException",
            f"EC2/on-premises deployments take an S3 (or GitHub) revision, not revisionType {kind}.",
        )
    location = dict(revision.get("s3Location") or {})
    if not location.get("bucket") or not location.get("key"):
        raise AwsError(
            "InvalidRevisionException", "An S3 revision needs s3Location.bucket and s3Location.key."
        )
    bundle_type = location.setdefault("bundleType", "zip")
    if bundle_type != "zip":
        raise AwsError(
            "InvalidRevisionException",
            f"The local lab endpoint deploys zip bundles; bundleType {bundle_type} is not supported locally.",
        )
    return {"revisionType": "S3", "s3Location": location}


def application_name(name) -> str:
    if not name:
        raise AwsError("ApplicationNameRequiredException", "applicationName is required.")
    return name


def batch_limit(limit: int) -> AwsError:
    return AwsError(
        "BatchLimitExceededException",
        f"The maximum number of IDs allowed for this request ({limit}) was exceeded.",
    )
