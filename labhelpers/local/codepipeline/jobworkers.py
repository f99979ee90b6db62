"""CodePipeline's calls for custom actions and their job workers: create and delete custom action types,
poll for, acknowledge, read and answer jobs. The jobs themselves are the engine's (engine/jobs.py)."""

import json

from labhelpers.validator import validate_shape

from ..awsjson import AwsError
from ..dispatch import JsonService
from .customtypes import CustomActionTypes, type_label
from .engine.jobs import JobBoard
from .requests import answer, check_new_tags, region

DEFAULT_BATCH = 1  # [INF] PollForJobs without maxBatchSize: one job, as the AWS job worker samples ask
MAX_OUTPUT_VARIABLES = 122880  # characters of a job's output variables (CodePipeline quotas)


class CodePipelineJobWorkers(JsonService):
    target_prefix = "CodePipeline_20150709"
    signing_name = "codepipeline"

    def __init__(self, custom_types: CustomActionTypes, jobs: JobBoard):
        self.custom_types = custom_types
        self.jobs = jobs

    # -- custom action types -------------------------------------------------------------------------

    def create_custom_action_type(self, params):
        answer(validate_shape("CreateCustomActionTypeInput", params))
        for kind in ("inputArtifactDetails", "outputArtifactDetails"):
            details = params.get(kind)
            if details and details["minimumCount"] > details["maximumCount"]:
                raise AwsError(
                    "ValidationException",
                    f"{kind}.minimumCount must not be greater than {kind}.maximumCount.",
                )
        properties = params.get("configurationProperties", [])
        _check_properties(properties)
        tags = params.get("tags", [])
        check_new_tags(tags)
        declared = {
            "id": {
                "category": params["category"],
                "owner": "Custom",
                "provider": params["provider"],
                "version": params["version"],
            },
            "settings": params.get("settings", {}),
            "actionConfigurationProperties": properties,
            "inputArtifactDetails": params["inputArtifactDetails"],
            "outputArtifactDetails": params["outputArtifactDetails"],
        }
        created = self.custom_types.create(region(), declared, tags)
        return {"actionType": created["actionType"], **({"tags": created["tags"]} if tags else {})}

    def delete_custom_action_type(self, params):
        answer(validate_shape("DeleteCustomActionTypeInput", params))
        self.custom_types.delete(region(), params["category"], params["provider"], params["version"])

    # -- jobs ----------------------------------------------------------------------------------------

    def poll_for_jobs(self, params):
        answer(validate_shape("PollForJobsInput", params))
        type_id = params["actionTypeId"]
        if type_id["owner"] != "Custom":
            raise AwsError(
                "ValidationException",
                f"actionTypeId.owner is '{type_id['owner']}': PollForJobs is for Custom action types only "
                "(ThirdParty job workers use PollForThirdPartyJobs).",
            )
        here = region()
        action_type = self.custom_types.find(
            here, type_id["category"], type_id["provider"], type_id["version"]
        )
        if action_type is None:
            raise AwsError(
                "ActionTypeNotFoundException",
                f"{type_label(type_id['category'], type_id['provider'], type_id['version'])} does not exist.",
            )
        query = params.get("queryParam") or {}
        _check_query(query, [p.name for p in action_type.properties if p.queryable])
        jobs = self.jobs.poll(here, type_id, params.get("maxBatchSize", DEFAULT_BATCH), query)
        return {"jobs": jobs}

    def acknowledge_job(self, params):
        answer(validate_shape("AcknowledgeJobInput", params))
        return {"status": self.jobs.acknowledge(params["jobId"], params["nonce"])}

    def get_job_details(self, params):
        answer(validate_shape("GetJobDetailsInput", params))
        return {"jobDetails": self.jobs.details(params["jobId"])}

    def put_job_success_result(self, params):
        answer(validate_shape("PutJobSuccessResultInput", params))
        variables = params.get("outputVariables")
        if variables and params.get("continuationToken"):
            raise AwsError(
                "ValidationException",
                "outputVariables go with the job's final result only, not with a continuationToken.",
            )
        if variables and len(json.dumps(variables)) > MAX_OUTPUT_VARIABLES:
            raise AwsError(
                "OutputVariablesSizeExceededException",
                f"The output variables exceed {MAX_OUTPUT_VARIABLES} characters.",
            )
        self.jobs.finish(params["jobId"], "Succeeded", params)

    def put_job_failure_result(self, params):
        answer(validate_shape("PutJobFailureResultInput", params))
        self.jobs.finish(params["jobId"], "Failed", params)


def _check_properties(properties: list[dict]) -> None:
    """Unique names; at most one queryable property, which must be required and not secret."""
    names = [prop["name"] for prop in properties]
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated:
        raise AwsError("ValidationException", f"configurationProperties names '{repeated}' more than once.")
    queryable = [prop for prop in properties if prop.get("queryable")]
    if len(queryable) > 1:
        raise AwsError(
            "ValidationException", "configurationProperties may have at most one queryable property."
        )
    if queryable and (not queryable[0]["required"] or queryable[0]["secret"]):
        raise AwsError(
            "ValidationException",
            f"configurationProperties '{queryable[0]['name']}' is queryable, so it must be required and "
            "not secret.",
        )


def _check_query(query: dict, queryable: list[str]) -> None:
    """A type with a queryable property is polled by its value; one without takes no queryParam."""
    if not queryable and query:
        raise AwsError(
            "ValidationException",
            "queryParam must be empty: the action type has no queryable configuration property.",
        )
    if queryable and set(query) != set(queryable):
        raise AwsError(
            "ValidationException",
            f"queryParam must give the action type's queryable property {queryable[0]} (and only it).",
        )
