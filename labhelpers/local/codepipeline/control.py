"""CodePipeline's control plane: pipelines (create, get, update, delete, list), their tags and the action
types, answered the way the service answers.

Every input is first checked against the botocore model (`labhelpers.validator`); a declaration is judged
by the same `validate()` the notebooks use, so the endpoint and the lab give one verdict. Then the service
role is looked up in moto's IAM (it must trust codepipeline.amazonaws.com) and the artifact buckets in
moto's S3 (each in its Region). Pipelines are regional: the Region is the request's (SigV4 scope)."""

import copy
import json
from collections import Counter
from urllib.parse import unquote

from labhelpers import actiontypes
from labhelpers.validator import MAX_TAGS, effective_pipeline_type, validate, validate_shape

from .. import motoapi
from ..awsjson import AwsError
from ..dispatch import JsonService
from ..paging import page, with_token
from .customtypes import CustomActionTypes
from .requests import answer as _answer
from .requests import check_tag_keys as _check_tag_keys
from .requests import region as _region
from .store import PipelineStore, name_in_use, not_found

SERVICE_PRINCIPAL = "codepipeline.amazonaws.com"
DEFAULT_EXECUTION_MODE = "SUPERSEDED"
SECRET_MASK = "****"
# Defaults the service fills in each action of a stored declaration (codepipeline-spec §3.5).
ACTION_DEFAULTS = {"runOrder": 1, "configuration": {}, "inputArtifacts": [], "outputArtifacts": []}


class CodePipelineControl(JsonService):
    target_prefix = "CodePipeline_20150709"
    signing_name = "codepipeline"

    def __init__(self, store: PipelineStore, custom_types: CustomActionTypes, *, page_size: int = 1000):
        self.store = store
        self.custom_types = custom_types
        self.page_size = page_size

    # -- pipelines -----------------------------------------------------------------------------------

    def create_pipeline(self, params):
        region = _region()
        _answer(
            validate({"pipeline": None, **params}, region=region, custom_types=self._custom_types(region))
        )
        pipeline = _with_defaults(params["pipeline"])
        if self.store.exists(pipeline["name"], region=region):
            raise name_in_use(pipeline["name"], self.store.account)
        self._check_prerequisites(pipeline, region)
        record = self.store.create(pipeline, params.get("tags"), region=region)
        answer = {"pipeline": _masked(record["pipeline"])}
        if "tags" in params:
            answer["tags"] = record["tags"]
        return answer

    def update_pipeline(self, params):
        region = _region()
        # UpdatePipeline takes the pipeline only (no tags); the pipeline itself is judged by validate().
        extra = [
            p
            for p in validate_shape("UpdatePipelineInput", {**params, "pipeline": {}})
            if p.rule == "unknown"
        ]
        judged = validate(
            {"pipeline": params.get("pipeline")}, region=region, custom_types=self._custom_types(region)
        )
        _answer([*judged, *extra])
        pipeline = _with_defaults(params["pipeline"])
        if not self.store.exists(pipeline["name"], region=region):  # the name says which pipeline: no renames
            raise not_found(pipeline["name"], self.store.account)
        self._check_prerequisites(pipeline, region)
        return {"pipeline": _masked(self.store.update(pipeline, region=region)["pipeline"])}

    def get_pipeline(self, params):
        _answer(validate_shape("GetPipelineInput", params))
        record = self.store.get(params["name"], region=_region(), version=params.get("version"))
        return {"pipeline": _masked(record["pipeline"]), "metadata": record["metadata"]}

    def delete_pipeline(self, params):
        _answer(validate_shape("DeletePipelineInput", params))
        self.store.delete(params["name"], region=_region())  # a missing pipeline is no error
        return {}

    def list_pipelines(self, params):
        _answer(validate_shape("ListPipelinesInput", params))
        keyed = [(record["pipeline"]["name"], record) for record in self.store.records(region=_region())]
        size = params.get("maxResults") or self.page_size
        chosen, token = page(keyed, params.get("nextToken"), size, "pipelines")
        return with_token({"pipelines": [_summary(record) for record in chosen]}, token)

    # -- tags ----------------------------------------------------------------------------------------

    def tag_resource(self, params):
        _answer(validate_shape("TagResourceInput", params))
        name = self._tagged_pipeline(params["resourceArn"])
        keys = [tag["key"] for tag in params["tags"]]
        _check_tag_keys(keys)
        repeated = next((key for key, count in Counter(keys).items() if count > 1), None)
        if repeated is not None:
            raise AwsError(
                "InvalidTagsException", f"Tag keys must be unique: '{repeated}' appears more than once"
            )
        added = {tag["key"]: tag["value"] for tag in params["tags"]}

        def add(current: dict[str, str]) -> dict[str, str]:
            merged = {**current, **added}
            if len(merged) > MAX_TAGS:
                raise AwsError(
                    "TooManyTagsException", f"Tag limit exceeded for resource [{params['resourceArn']}]."
                )
            return merged

        self.store.edit_tags(name, add, region=_region())
        return {}

    def untag_resource(self, params):
        _answer(validate_shape("UntagResourceInput", params))
        name = self._tagged_pipeline(params["resourceArn"])
        removed = set(params["tagKeys"])
        _check_tag_keys(params["tagKeys"])
        self.store.edit_tags(
            name, lambda current: {k: v for k, v in current.items() if k not in removed}, region=_region()
        )
        return {}

    def list_tags_for_resource(self, params):
        _answer(validate_shape("ListTagsForResourceInput", params))
        name = self._tagged_pipeline(params["resourceArn"])
        tags = self.store.get(name, region=_region())["tags"]
        size = params.get("maxResults") or self.page_size
        chosen, token = page(_by_position(tags), params.get("nextToken"), size, "tags")
        return with_token({"tags": chosen}, token)

    def _tagged_pipeline(self, arn: str) -> str:
        """The name of the pipeline of this Region and account that `arn` names."""
        parts = arn.split(":")
        name = parts[5] if len(parts) == 6 else ""
        if not name or validate_shape("PipelineName", name):
            raise AwsError(
                "InvalidArnException",
                f"The ARN {arn} is not valid: use arn:aws:codepipeline:<region>:<account>:<pipeline name>.",
            )
        if parts[3:5] != [_region(), self.store.account] or not self.store.exists(name, region=parts[3]):
            raise AwsError(
                "ResourceNotFoundException",
                f"The account with id '{parts[4]}' does not include a pipeline with the name '{name}'",
            )
        return name

    # -- action types --------------------------------------------------------------------------------

    def list_action_types(self, params):
        _answer(validate_shape("ListActionTypesInput", params))
        owner = params.get("actionOwnerFilter")
        types = actiontypes.list_action_types(owner)
        if owner in (None, "Custom"):
            types += self.custom_types.listed(_region())
        chosen, token = page(_by_position(types), params.get("nextToken"), self.page_size, "actionTypes")
        return with_token({"actionTypes": chosen}, token)

    def get_action_type(self, params):
        _answer(validate_shape("GetActionTypeInput", params))
        category, owner, provider, version = (params[k] for k in ("category", "owner", "provider", "version"))
        action_type = actiontypes.find(category, owner, provider, version)
        if action_type is None:
            raise AwsError(
                "ActionTypeNotFoundException",
                f"ActionType (Category: '{category}', Owner: '{owner}', Provider: '{provider}', "
                f"Version: '{version}') does not exist",
            )
        return {"actionType": _declaration_of(action_type)}

    def _custom_types(self, region: str):
        """The lookup of the Region's custom action types that the declaration's judge asks."""
        return lambda category, provider, version: self.custom_types.find(region, category, provider, version)

    # -- prerequisites -------------------------------------------------------------------------------

    def _check_prerequisites(self, pipeline: dict, region: str) -> None:
        """The service role trusts CodePipeline; each artifact bucket exists in its Region."""
        stores = (
            pipeline["artifactStores"]
            if "artifactStores" in pipeline
            else {region: pipeline["artifactStore"]}
        )
        trust = motoapi.role_trust_policy(self.store.account, pipeline["roleArn"])
        bucket_regions = {
            store["location"]: motoapi.bucket_region(self.store.account, store["location"])
            for store in stores.values()
        }
        if not _trusts(trust, SERVICE_PRINCIPAL):
            raise AwsError(
                "InvalidStructureException",
                f"CodePipeline is not authorized to perform AssumeRole on role {pipeline['roleArn']}",
            )
        for store_region, store in stores.items():
            bucket = store["location"]
            found_in = bucket_regions[bucket]
            if found_in is None:
                raise AwsError(
                    "InvalidStructureException",
                    f"The artifact store bucket '{bucket}' does not exist in region '{store_region}'. "
                    "Create the bucket first, or name an existing bucket as the artifact store location.",
                )
            if found_in != store_region:
                raise AwsError(
                    "InvalidStructureException",
                    f"The artifact store bucket '{bucket}' is in region '{found_in}', but the artifact store "
                    f"for region '{store_region}' must be a bucket in that region.",
                )


# -- input and answers ---------------------------------------------------------------------------------


def _without_nulls(value):
    """JSON nulls mean "not given": drop them, as the service does."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value if item is not None]
    return value


def _with_defaults(pipeline: dict) -> dict:
    """The declaration as the service stores it: defaults filled in, no version (the store numbers it)."""
    pipeline = _without_nulls(pipeline)
    pipeline.pop("version", None)
    pipeline.setdefault("pipelineType", effective_pipeline_type(pipeline))
    pipeline.setdefault("executionMode", DEFAULT_EXECUTION_MODE)
    for stage in pipeline["stages"]:
        for action in stage["actions"]:
            for member, default in ACTION_DEFAULTS.items():
                action.setdefault(member, copy.deepcopy(default))
    return pipeline


def _masked(pipeline: dict) -> dict:
    """The declaration with secret configuration values (OAuth tokens...) shown as ****, as AWS shows them."""
    pipeline = copy.deepcopy(pipeline)
    for stage in pipeline["stages"]:
        for action in stage["actions"]:
            type_id = action["actionTypeId"]
            action_type = actiontypes.find(
                type_id["category"], type_id["owner"], type_id["provider"], type_id["version"]
            )
            configuration = action.get("configuration", {})
            for prop in action_type.properties if action_type else ():
                if prop.secret and prop.name in configuration:
                    configuration[prop.name] = SECRET_MASK
    return pipeline


def _summary(record: dict) -> dict:
    pipeline, metadata = record["pipeline"], record["metadata"]
    return {
        "name": pipeline["name"],
        "version": pipeline["version"],
        "pipelineType": pipeline["pipelineType"],
        "executionMode": pipeline["executionMode"],
        "created": metadata["created"],
        "updated": metadata["updated"],
    }


def _trusts(document, principal: str) -> bool:
    """True when the trust policy `document` lets `principal` call sts:AssumeRole (and denies it nothing)."""
    policy = _policy(document)
    statements = policy.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    matching = [
        s
        for s in statements
        if isinstance(s, dict)
        and _allows_assume_role(s.get("Action"))
        and _names(s.get("Principal"), principal)
    ]
    effects = {s.get("Effect") for s in matching}
    return "Allow" in effects and "Deny" not in effects


def _policy(document) -> dict:
    if isinstance(document, dict):
        return document
    for text in (document, unquote(document or "")):
        try:
            policy = json.loads(text)
        except (TypeError, ValueError):
            continue
        if isinstance(policy, dict):
            return policy
    return {}


def _strings(value) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [item for item in values if isinstance(item, str)]


def _allows_assume_role(actions) -> bool:
    return any(action.lower() in ("sts:assumerole", "sts:*", "*") for action in _strings(actions))


def _names(principals, service: str) -> bool:
    if principals == "*":
        return True
    if not isinstance(principals, dict):
        return False
    return service in _strings(principals.get("Service")) or "*" in _strings(principals.get("AWS"))


def _declaration_of(action_type: actiontypes.ActionType) -> dict:
    """The ActionTypeDeclaration shape of GetActionType."""
    listed = action_type.to_api()
    settings = listed["settings"]
    return {
        "executor": {
            "configuration": {
                "jobWorkerExecutorConfiguration": {"pollingServicePrincipals": [SERVICE_PRINCIPAL]}
            },
            "type": "JobWorker",
        },
        "id": listed["id"],
        "inputArtifactDetails": listed["inputArtifactDetails"],
        "outputArtifactDetails": listed["outputArtifactDetails"],
        "properties": [
            {
                "name": prop.name,
                "optional": not prop.required,
                "key": prop.key,
                "noEcho": prop.secret,
                "queryable": False,
                "description": prop.description,
            }
            for prop in action_type.properties
        ],
        "urls": {
            key: settings[key] for key in ("entityUrlTemplate", "executionUrlTemplate") if key in settings
        },
    }


# -- pagination --------------------------------------------------------------------------------------


def _by_position(items: list) -> list[tuple[str, object]]:
    return [(f"{index:08d}", item) for index, item in enumerate(items)]
