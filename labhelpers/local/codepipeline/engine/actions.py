"""What an action provider receives and returns, and where artifacts live in the artifact store."""

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field

ALPHANUMERIC = string.ascii_letters + string.digits


class ActionFailed(Exception):
    """Raised by a provider: the action fails with this code and message (and optional summary)."""

    def __init__(self, message: str, code: str = "JobFailed", summary: str | None = None):
        super().__init__(message)
        self.code, self.message, self.summary = code, message, summary


@dataclass
class Outcome:
    """A provider's result; `revision` only for source actions."""

    summary: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    output_artifacts: dict[str, dict] = field(default_factory=dict)  # name -> {bucket, key}
    output_variables: dict[str, str] = field(default_factory=dict)
    revision: dict | None = None  # {revisionId, revisionSummary, created, revisionUrl?}


def artifact_key(pipeline: str, artifact: str) -> str:
    """AWS's layout: pipeline name cut to 20, artifact name cut to 10, then 7 random characters."""
    suffix = "".join(secrets.choice(ALPHANUMERIC) for _ in range(7))
    return f"{pipeline[:20]}/{artifact[:10]}/{suffix}"


@dataclass
class ActionContext:
    """The run of one action: its declaration, resolved configuration, artifacts and live reporting."""

    pipeline: str
    execution_id: str
    stage: str
    action: dict
    configuration: dict
    region: str
    bucket: str
    inputs: dict[str, dict]  # input artifact name -> {bucket, key}
    client: Callable  # client(service) -> boto3 client into the endpoint
    report: Callable[..., None]  # report(external_id=..., external_url=..., summary=...) while running
    services: dict  # our in-process services the providers hand work to (builds, deployments, repos)
    revisions: dict[str, str] = field(default_factory=dict)  # input artifact name -> its source revision id
    action_execution_id: str = ""
    ended: Callable[[], bool] = lambda: False  # True once the run was abandoned: stop waiting for it

    @property
    def output_names(self) -> list[str]:
        return [artifact["name"] for artifact in self.action.get("outputArtifacts", [])]

    def read_input(self, name: str) -> bytes:
        location = self.inputs[name]
        try:
            body = self.client("s3").get_object(Bucket=location["bucket"], Key=location["key"])["Body"]
        except Exception as exc:
            raise ActionFailed(
                f"Unable to access the artifact with Amazon S3 object key '{location['key']}' located in the "
                f"Amazon S3 artifact bucket '{location['bucket']}': {exc}"
            ) from exc
        return body.read()

    def write_output(self, name: str, data: bytes) -> dict:
        location = {"bucket": self.bucket, "key": artifact_key(self.pipeline, name)}
        try:
            self.client("s3").put_object(Bucket=location["bucket"], Key=location["key"], Body=data)
        except Exception as exc:
            raise ActionFailed(
                f"Unable to upload the artifact {name} to the artifact bucket '{self.bucket}': {exc}"
            ) from exc
        return location


Provider = Callable[[ActionContext], Outcome]
