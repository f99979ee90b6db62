"""The action providers the local engine runs, by (category, owner, provider)."""

import json

from ...awsjson import AwsError
from . import sources
from .actions import ActionContext, ActionFailed, Outcome, artifact_key
from .connection_source import codestar_source_connection


def _service(ctx: ActionContext, name: str):
    service = ctx.services.get(name)
    if service is None:
        raise ActionFailed(f"The local endpoint has no {name} service running.")
    return service


def codebuild(ctx: ActionContext) -> Outcome:
    builds = _service(ctx, "builds")
    names = list(ctx.inputs)
    primary = ctx.configuration.get("PrimarySource") or (names[0] if names else "")
    if names and primary not in ctx.inputs:
        raise ActionFailed(f"PrimarySource {primary} is not one of the input artifacts {names}.")
    ordered = [primary, *[name for name in names if name != primary]] if names else []
    outputs = [
        (name, {"bucket": ctx.bucket, "key": artifact_key(ctx.pipeline, name)}) for name in ctx.output_names
    ]
    try:
        variables = json.loads(ctx.configuration.get("EnvironmentVariables") or "[]")
    except ValueError as exc:
        raise ActionFailed(
            f"EnvironmentVariables is not a JSON list: {exc}", code="ConfigurationError"
        ) from None
    try:
        build_id = builds.start_pipeline_build(
            ctx.configuration["ProjectName"],
            region=ctx.region,
            sources=[(name, ctx.inputs[name]) for name in ordered],
            primary=primary,
            outputs=outputs,
            environment_variables=variables,
            initiator=f"codepipeline/{ctx.pipeline}",
            source_revision=ctx.revisions.get(primary),
        )
    except AwsError as error:
        raise ActionFailed(
            f"Error calling startBuild: {error.message} (Service: AWSCodeBuild; Error Code: {error.code})"
        ) from None
    link = (builds.store.get(build_id) or {}).get("logs", {}).get("deepLink")
    ctx.report(external_id=build_id, external_url=link)  # the log can be followed while the build runs
    build = builds.wait(build_id)
    exported = {v["name"]: v.get("value", "") for v in build.get("exportedEnvironmentVariables", [])}
    if build["buildStatus"] != "SUCCEEDED":
        raise ActionFailed(
            f"Build terminated with state: {build['buildStatus']}",
            summary=f"Build terminated with state: {build['buildStatus']}",
        )
    return Outcome(
        external_id=build_id, external_url=link, output_artifacts=dict(outputs), output_variables=exported
    )


def codedeploy(ctx: ActionContext) -> Outcome:
    deployments = _service(ctx, "deployments")
    (location,) = ctx.inputs.values()
    revision = {
        "revisionType": "S3",
        "s3Location": {"bucket": location["bucket"], "key": location["key"], "bundleType": "zip"},
    }
    try:
        deployment_id = deployments.start_deployment(
            ctx.configuration["ApplicationName"],
            ctx.configuration["DeploymentGroupName"],
            revision,
            region=ctx.region,
            description=f"Deployment by CodePipeline {ctx.pipeline} execution {ctx.execution_id}",
        )
    except AwsError as error:
        raise ActionFailed(
            f"Error calling CreateDeployment: {error.message} (Service: AmazonCodeDeploy; "
            f"Error Code: {error.code})"
        ) from None
    pages = ctx.services.get("pages")
    ctx.report(external_id=deployment_id, external_url=pages and pages.deployment_events(deployment_id))
    info = deployments.wait(deployment_id)
    if info["status"] != "Succeeded":
        error = info.get("errorInformation", {})
        raise ActionFailed(
            error.get("message") or f"Deployment {deployment_id} ended {info['status']}",
            summary=f"Deployment {info['status']}",
        )
    return Outcome(summary="Deployment Succeeded", external_id=deployment_id)


def custom_action(ctx: ActionContext) -> Outcome:
    """Any Custom action: a job for the account's job worker (see jobs.JobBoard)."""
    return _service(ctx, "jobs").run(ctx)


PROVIDERS = {
    ("Source", "AWS", "CodeCommit"): sources.codecommit,
    ("Source", "AWS", "S3"): sources.s3,
    ("Source", "AWS", "CodeStarSourceConnection"): codestar_source_connection,
    ("Build", "AWS", "CodeBuild"): codebuild,
    ("Test", "AWS", "CodeBuild"): codebuild,
    ("Deploy", "AWS", "CodeDeploy"): codedeploy,
    # (category, "Custom", "*"): any provider of the account's own, run by its job worker
    **{
        (category, "Custom", "*"): custom_action
        for category in ("Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute")
    },
}
