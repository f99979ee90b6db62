"""CodePipeline's control plane on the local endpoint: real boto3, the aws CLI and raw signed requests."""

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import start_endpoint

from labhelpers import actiontypes
from labhelpers.local import config, process
from labhelpers.local.codepipeline.store import PipelineStore
from labhelpers.pipelines import article_pipeline

HERE = Path(__file__).parent
BAD = sorted((HERE / "declarations" / "bad").glob("*.json"))
# Cases whose expectation was written without a pipeline Region; the endpoint always has one.
GOOD = sorted((HERE / "declarations" / "good").glob("*.json"))
ROLE = "awscicd-codepipeline-role"
ROLE_ARN = f"arn:aws:iam::{config.ACCOUNT}:role/{ROLE}"
BUCKET = f"awscicd-artifacts-{config.ACCOUNT}-{config.REGION}"
# Buckets the good declarations name outside the lab's Region.
OTHER_BUCKETS = {
    "us-east-1": "virginia-bucket",
    "ap-northeast-1": f"awscicd-artifacts-{config.ACCOUNT}-ap-northeast-1",
}
TARGET = "CodePipeline_20150709"


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def client(endpoint, service: str, region: str = config.REGION, **config_options):
    return boto3.client(
        service,
        endpoint_url=endpoint.url,
        region_name=region,
        aws_access_key_id=endpoint.keys.access_key,
        aws_secret_access_key=endpoint.keys.secret_key,
        config=Config(retries={"max_attempts": 1}, **config_options),
    )


def make_role(endpoint, name: str = ROLE, service: str = "codepipeline.amazonaws.com") -> str:
    iam = endpoint.client("iam")
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def make_bucket(endpoint, name: str, region: str = config.REGION) -> None:
    s3 = client(endpoint, "s3", region)
    # us-east-1 is S3's default location and takes no constraint.
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=name, **location)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def declaration(name: str, **changes) -> dict:
    """The article's pipeline under another name, with top-level pipeline members changed."""
    lab = SimpleNamespace(account=config.ACCOUNT, region=config.REGION, prefix=None)
    pipeline = article_pipeline(lab)["pipeline"]
    return {**pipeline, "name": name, **changes}


def raw_call(endpoint, operation: str, body, region: str = config.REGION) -> tuple[int, dict]:
    """POST `body` (bytes, or JSON-able) signed like boto3 would, bypassing botocore's own validation."""
    return endpoint.call(f"{TARGET}.{operation}", body, service="codepipeline", region=region)


def error_of(call, *args, **kwargs) -> dict:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"] | {
        "status": caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
    }


@pytest.fixture(scope="module")
def cp(endpoint):
    """A CodePipeline client of the shared endpoint, with the article's role and bucket in place."""
    make_role(endpoint)
    make_bucket(endpoint, BUCKET)
    return endpoint.client("codepipeline")


# -- the article ------------------------------------------------------------------------------------


def test_article_transcript_via_the_cli(fresh_endpoint, tmp_path):
    make_role(fresh_endpoint)
    make_bucket(fresh_endpoint, BUCKET)
    lab = SimpleNamespace(account=config.ACCOUNT, region=config.REGION, prefix=None)
    (tmp_path / "pipeline.json").write_text(json.dumps(article_pipeline(lab), indent=2))
    created = fresh_endpoint.run(
        [
            "aws",
            "codepipeline",
            "create-pipeline",
            "--cli-input-json",
            "file://pipeline.json",
            "--query",
            "pipeline.[name,pipelineType]",
            "--output",
            "text",
        ],
        cwd=tmp_path,
    )
    assert created.stdout == "awscicd-pipeline\tV2\n"
    again = fresh_endpoint.run(
        ["aws", "codepipeline", "create-pipeline", "--cli-input-json", "file://pipeline.json"],
        cwd=tmp_path,
        check=False,
    )
    assert again.returncode != 0 and "PipelineNameInUseException" in again.stderr
    deleted = fresh_endpoint.aws("codepipeline", "delete-pipeline", "--name", "awscicd-pipeline")
    assert deleted.stdout == ""


def test_pipelines_survive_a_restart(fresh_endpoint):
    make_role(fresh_endpoint)
    make_bucket(fresh_endpoint, BUCKET)
    cp = fresh_endpoint.client("codepipeline")
    cp.create_pipeline(pipeline=declaration("kept"), tags=[{"key": "team", "value": "lab"}])
    cp.update_pipeline(pipeline=declaration("kept", executionMode="QUEUED"))
    before = cp.get_pipeline(name="kept")
    process.stop(fresh_endpoint.layout)
    again = start_endpoint(fresh_endpoint.layout.root)
    cp = again.client("codepipeline")
    after = cp.get_pipeline(name="kept")
    assert after["pipeline"] == before["pipeline"] and after["metadata"] == before["metadata"]
    assert cp.get_pipeline(name="kept", version=1)["pipeline"]["executionMode"] == "SUPERSEDED"
    assert cp.list_tags_for_resource(resourceArn=after["metadata"]["pipelineArn"])["tags"] == [
        {"key": "team", "value": "lab"}
    ]
    with urllib.request.urlopen(f"{again.url}/_lab/health") as answer:
        assert json.loads(answer.read())["holds"]["pipelines"] == 1


# -- create, get, update, delete, list --------------------------------------------------------------


def test_create_get_update_delete_round_trip(cp, unique):
    name = f"round-trip-{unique}"
    created = cp.create_pipeline(pipeline=declaration(name), tags=[{"key": "stage", "value": "dev"}])
    pipeline = created["pipeline"]
    assert pipeline["version"] == 1 and pipeline["pipelineType"] == "V2"
    assert pipeline["executionMode"] == "SUPERSEDED"
    source = pipeline["stages"][0]["actions"][0]
    assert source["runOrder"] == 1 and source["inputArtifacts"] == []
    assert created["tags"] == [{"key": "stage", "value": "dev"}]

    got = cp.get_pipeline(name=name)
    assert got["pipeline"] == pipeline
    metadata = got["metadata"]
    assert metadata["pipelineArn"] == f"arn:aws:codepipeline:{config.REGION}:{config.ACCOUNT}:{name}"
    assert metadata["created"] == metadata["updated"]

    changed = declaration(name)
    changed["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "another-build"
    assert cp.update_pipeline(pipeline=changed)["pipeline"]["version"] == 2
    assert cp.update_pipeline(pipeline=changed)["pipeline"]["version"] == 3
    current = cp.get_pipeline(name=name)
    assert current["pipeline"]["version"] == 3 and current["metadata"]["updated"] > metadata["created"]
    assert current["metadata"]["created"] == metadata["created"]
    first = cp.get_pipeline(name=name, version=1)["pipeline"]
    assert first["version"] == 1
    assert first["stages"][1]["actions"][0]["configuration"]["ProjectName"] == "awscicd-demo-build"
    assert error_of(cp.get_pipeline, name=name, version=4)["Code"] == "PipelineVersionNotFoundException"

    summary = next(p for p in cp.list_pipelines()["pipelines"] if p["name"] == name)
    assert set(summary) == {"name", "version", "pipelineType", "executionMode", "created", "updated"}
    assert summary["version"] == 3

    cp.delete_pipeline(name=name)
    missing = error_of(cp.get_pipeline, name=name)
    assert missing["Code"] == "PipelineNotFoundException" and missing["status"] == 400
    assert missing["Message"] == f"Account '{config.ACCOUNT}' does not have a pipeline with name '{name}'"
    cp.delete_pipeline(name=name)  # deleting what is gone is no error


def test_timestamps_are_epoch_seconds(endpoint, cp, unique):
    cp.create_pipeline(pipeline=declaration(f"stamped-{unique}"))
    status, answer = raw_call(endpoint, "GetPipeline", {"name": f"stamped-{unique}"})
    assert status == 200
    assert isinstance(answer["metadata"]["created"], float) and answer["metadata"]["created"] > 1.7e9


def test_update_keeps_the_name_and_needs_the_pipeline(cp, unique):
    failed = error_of(cp.update_pipeline, pipeline=declaration(f"never-created-{unique}"))
    assert failed["Code"] == "PipelineNotFoundException"


def test_name_in_use(cp, unique):
    cp.create_pipeline(pipeline=declaration(f"taken-{unique}"))
    failed = error_of(cp.create_pipeline, pipeline=declaration(f"taken-{unique}"))
    assert failed["Code"] == "PipelineNameInUseException"
    assert (
        failed["Message"]
        == f"A pipeline with the name 'taken-{unique}' already exists in account '111122223333'"
    )


def test_role_must_exist_and_trust_codepipeline(endpoint, cp, unique):
    missing = f"arn:aws:iam::{config.ACCOUNT}:role/no-such-role-{unique}"
    failed = error_of(cp.create_pipeline, pipeline=declaration(f"no-role-{unique}", roleArn=missing))
    assert failed["Code"] == "InvalidStructureException"
    assert failed["Message"] == f"CodePipeline is not authorized to perform AssumeRole on role {missing}"

    codebuild_role = make_role(endpoint, f"build-role-{unique}", "codebuild.amazonaws.com")
    failed = error_of(
        cp.create_pipeline, pipeline=declaration(f"wrong-trust-{unique}", roleArn=codebuild_role)
    )
    assert (
        failed["Message"] == f"CodePipeline is not authorized to perform AssumeRole on role {codebuild_role}"
    )

    cp.create_pipeline(pipeline=declaration(f"role-ok-{unique}"))
    failed = error_of(cp.update_pipeline, pipeline=declaration(f"role-ok-{unique}", roleArn=codebuild_role))
    assert failed["Code"] == "InvalidStructureException"


def test_artifact_bucket_must_exist_in_the_pipeline_region(endpoint, cp, unique):
    store = {"type": "S3", "location": f"no-such-bucket-{unique}"}
    failed = error_of(cp.create_pipeline, pipeline=declaration(f"no-bucket-{unique}", artifactStore=store))
    assert failed["Code"] == "InvalidStructureException"
    assert f"'no-such-bucket-{unique}' does not exist in region '{config.REGION}'" in failed["Message"]

    make_bucket(endpoint, f"far-bucket-{unique}", "us-east-1")
    store = {"type": "S3", "location": f"far-bucket-{unique}"}
    failed = error_of(cp.create_pipeline, pipeline=declaration(f"far-bucket-{unique}", artifactStore=store))
    assert failed["Code"] == "InvalidStructureException"
    assert f"'far-bucket-{unique}' is in region 'us-east-1'" in failed["Message"]


def test_pipelines_are_regional(endpoint, cp, unique):
    make_bucket(endpoint, f"virginia-{unique}", "us-east-1")
    virginia = client(endpoint, "codepipeline", "us-east-1")
    store = {"type": "S3", "location": f"virginia-{unique}"}
    virginia.create_pipeline(pipeline=declaration(f"east-{unique}", artifactStore=store))
    arn = virginia.get_pipeline(name=f"east-{unique}")["metadata"]["pipelineArn"]
    assert arn == f"arn:aws:codepipeline:us-east-1:{config.ACCOUNT}:east-{unique}"
    assert error_of(cp.get_pipeline, name=f"east-{unique}")["Code"] == "PipelineNotFoundException"
    assert f"east-{unique}" not in [p["name"] for p in cp.list_pipelines()["pipelines"]]


def test_list_pipelines_pages(cp, unique):
    names = [f"page-{unique}-{index}" for index in range(5)]
    for name in names:
        cp.create_pipeline(pipeline=declaration(name))
    seen, token, pages = [], None, 0
    while True:
        answer = cp.list_pipelines(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(answer["pipelines"]) <= 2
        seen += [p["name"] for p in answer["pipelines"]]
        pages += 1
        token = answer.get("nextToken")
        if not token:
            break
    assert pages >= 3 and seen == sorted(seen) and len(seen) == len(set(seen))
    assert [name for name in seen if unique in name] == names
    paginated = cp.get_paginator("list_pipelines").paginate(PaginationConfig={"PageSize": 3})
    assert [p["name"] for page in paginated for p in page["pipelines"]] == seen
    bad_token = error_of(cp.list_pipelines, nextToken="not-a-token")
    assert bad_token["Code"] == "InvalidNextTokenException"
    too_many = error_of(cp.list_pipelines, maxResults=1001)
    assert too_many["Code"] == "ValidationException"
    assert "Value at 'maxResults' failed to satisfy constraint" in too_many["Message"]


# -- tags -------------------------------------------------------------------------------------------


def test_tags(cp, unique):
    arn = cp.create_pipeline(pipeline=declaration(f"tagged-{unique}"), tags=[{"key": "a", "value": "1"}])
    arn = cp.get_pipeline(name=f"tagged-{unique}")["metadata"]["pipelineArn"]
    cp.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "2"}, {"key": "b", "value": ""}])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [
        {"key": "a", "value": "2"},
        {"key": "b", "value": ""},
    ]
    paginated = cp.get_paginator("list_tags_for_resource").paginate(
        resourceArn=arn, PaginationConfig={"PageSize": 1}
    )
    assert [tag["key"] for page in paginated for tag in page["tags"]] == ["a", "b"]
    cp.untag_resource(resourceArn=arn, tagKeys=["a", "never-set"])
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": ""}]

    system = error_of(cp.tag_resource, resourceArn=arn, tags=[{"key": "aws:owner", "value": "x"}])
    assert system["Code"] == "InvalidTagsException"
    assert (
        error_of(cp.untag_resource, resourceArn=arn, tagKeys=["aws:owner"])["Code"] == "InvalidTagsException"
    )
    twice = [{"key": "c", "value": "1"}, {"key": "c", "value": "2"}]
    assert error_of(cp.tag_resource, resourceArn=arn, tags=twice)["Code"] == "InvalidTagsException"
    many = [{"key": f"k{index}", "value": "v"} for index in range(50)]
    too_many = error_of(cp.tag_resource, resourceArn=arn, tags=many)
    assert too_many["Code"] == "TooManyTagsException" and arn in too_many["Message"]
    assert len(cp.list_tags_for_resource(resourceArn=arn)["tags"]) == 1
    long_value = error_of(cp.tag_resource, resourceArn=arn, tags=[{"key": "d", "value": "v" * 257}])
    assert long_value["Code"] == "ValidationException"


def test_tag_errors_for_arns(cp, unique):
    gone = f"arn:aws:codepipeline:{config.REGION}:{config.ACCOUNT}:gone-{unique}"
    for call, extra in (
        (cp.tag_resource, {"tags": [{"key": "a", "value": "b"}]}),
        (cp.untag_resource, {"tagKeys": ["a"]}),
        (cp.list_tags_for_resource, {}),
    ):
        assert error_of(call, resourceArn=gone, **extra)["Code"] == "ResourceNotFoundException"
    elsewhere = f"arn:aws:codepipeline:{config.REGION}:444455556666:gone-{unique}"
    assert error_of(cp.list_tags_for_resource, resourceArn=elsewhere)["Code"] == "ResourceNotFoundException"
    not_a_pipeline = f"arn:aws:codepipeline:{config.REGION}:{config.ACCOUNT}:pipelines/{unique}"
    assert error_of(cp.list_tags_for_resource, resourceArn=not_a_pipeline)["Code"] == "InvalidArnException"
    assert error_of(cp.list_tags_for_resource, resourceArn="not-an-arn")["Code"] == "ValidationException"


# -- action types -----------------------------------------------------------------------------------


def test_list_action_types(cp):
    listed = cp.list_action_types()["actionTypes"]
    # Custom types are the account's own: other tests of the shared endpoint may have made some.
    assert [t for t in listed if t["id"]["owner"] != "Custom"] == actiontypes.list_action_types()
    third_party = cp.list_action_types(actionOwnerFilter="ThirdParty")["actionTypes"]
    assert third_party and {t["id"]["owner"] for t in third_party} == {"ThirdParty"}
    paginated = cp.get_paginator("list_action_types").paginate()
    assert [t for page in paginated for t in page["actionTypes"]] == listed
    unknown_owner = error_of(cp.list_action_types, actionOwnerFilter="Nobody")
    assert unknown_owner["Code"] == "ValidationException"


def test_list_action_types_pages_with_tokens(tmp_path):
    from labhelpers.local.codepipeline.control import CodePipelineControl
    from labhelpers.local.codepipeline.customtypes import CustomActionTypes

    custom = CustomActionTypes(tmp_path / "custom-action-types.json")
    control = CodePipelineControl(PipelineStore(tmp_path), custom, page_size=4)
    seen, token = [], None
    while True:
        answer = control.handle("ListActionTypes", {"nextToken": token} if token else {})
        assert len(answer["actionTypes"]) <= 4
        seen += answer["actionTypes"]
        token = answer.get("nextToken")
        if not token:
            break
    assert seen == actiontypes.list_action_types()


def test_get_action_type(cp):
    build = cp.get_action_type(category="Build", owner="AWS", provider="CodeBuild", version="1")["actionType"]
    assert build["id"] == {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"}
    assert build["inputArtifactDetails"] == {"minimumCount": 1, "maximumCount": 5}
    assert build["executor"]["type"] == "JobWorker"  # ExecutorType: JobWorker | Lambda
    project = next(p for p in build["properties"] if p["name"] == "ProjectName")
    assert project["optional"] is False
    missing = error_of(cp.get_action_type, category="Build", owner="AWS", provider="Nope", version="1")
    assert missing["Code"] == "ActionTypeNotFoundException"


# -- the validator's verdicts through the endpoint ---------------------------------------------------


@pytest.mark.parametrize("path", BAD, ids=[path.stem for path in BAD])
def test_bad_declarations_get_the_validators_exception(endpoint, cp, path):
    case = json.loads(path.read_text())
    expected = case.pop("_expect")
    status, answer = raw_call(endpoint, "CreatePipeline", case)
    assert (status, answer["__type"]) == (400, expected["code"]), answer["message"]


def test_the_same_verdicts_from_update(endpoint, cp, unique):
    name = f"judged-{unique}"
    cp.create_pipeline(pipeline=declaration(name))
    bad = json.loads((HERE / "declarations" / "bad" / "s17-input-artifact-typo.json").read_text())
    status, answer = raw_call(endpoint, "UpdatePipeline", {"pipeline": {**bad["pipeline"], "name": name}})
    assert (status, answer["__type"]) == (400, "InvalidStructureException")
    status, answer = raw_call(endpoint, "UpdatePipeline", {"pipeline": declaration(name), "tags": []})
    assert (status, answer["__type"]) == (400, "ValidationException") and '"tags"' in answer["message"]
    assert cp.get_pipeline(name=name)["pipeline"]["version"] == 1


@pytest.mark.parametrize("path", GOOD, ids=[path.stem for path in GOOD])
def test_good_declarations_are_created(endpoint, cp, unique, path):
    for region, bucket in OTHER_BUCKETS.items():
        make_bucket(endpoint, bucket, region)
    case = json.loads(path.read_text())
    name = f"{case['pipeline']['name'][:80]}-{unique}"
    case["pipeline"]["name"] = name
    created = cp.create_pipeline(**case)["pipeline"]
    assert created["name"] == name and created["version"] == 1
    for stage, given in zip(created["stages"], case["pipeline"]["stages"], strict=True):
        for action, declared in zip(stage["actions"], given["actions"], strict=True):
            assert action["runOrder"] == declared.get("runOrder", 1)
            if "OAuthToken" in declared.get("configuration", {}):
                assert action["configuration"]["OAuthToken"] == "****"


# -- malformed requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operation, body, code",
    [
        ("GetPipeline", b"{not json", "SerializationException"),
        ("GetPipeline", b"[1, 2]", "SerializationException"),
        ("GetPipeline", {"name": 5}, "SerializationException"),
        ("GetPipeline", {}, "ValidationException"),
        ("GetPipeline", {"name": "x", "version": 0}, "ValidationException"),
        ("CreatePipeline", {}, "ValidationException"),
        ("CreatePipeline", {"pipeline": "awscicd-pipeline"}, "SerializationException"),
        ("DeletePipeline", {"name": "bad name"}, "ValidationException"),
        ("ListPipelines", {"nextToken": ""}, "ValidationException"),
        ("TagResource", {"resourceArn": "arn:aws:codepipeline:x:111122223333:p"}, "ValidationException"),
        ("GetPipeline", b"[" * 100_000 + b"]" * 100_000, "SerializationException"),
    ],
)
def test_malformed_requests_get_4xx_errors(endpoint, operation, body, code):
    status, answer = raw_call(endpoint, operation, body)
    assert (status, answer["__type"]) == (400, code), answer


def test_an_empty_body_is_the_empty_object(endpoint):
    assert raw_call(endpoint, "GetPipeline", b"")[1]["__type"] == "ValidationException"
    assert raw_call(endpoint, "ListActionTypes", b"")[0] == 200


def test_client_validation_off_still_gets_the_service_verdict(endpoint, cp):
    loose = client(endpoint, "codepipeline", parameter_validation=False)
    failed = error_of(loose.create_pipeline, pipeline={"name": "only-a-name"})
    assert failed["Code"] == "ValidationException"
    assert "Value null at 'pipeline.roleArn' failed to satisfy constraint" in failed["Message"]


def test_unimplemented_operations_answer_501_and_base_methods_are_unknown(endpoint):
    status, answer = raw_call(endpoint, "AcknowledgeThirdPartyJob", {})
    assert (status, answer["__type"]) == (501, "NotImplemented")
    for operation in ("Handle", "Owns"):  # methods of the service class, not CodePipeline operations
        status, answer = raw_call(endpoint, operation, {})
        assert (status, answer["__type"]) == (400, "UnknownOperationException")


def test_unknown_region_in_the_signature(endpoint):
    status, answer = raw_call(endpoint, "ListPipelines", {}, region="moon-1")
    assert (status, answer["__type"]) == (403, "InvalidSignatureException")


# -- the store --------------------------------------------------------------------------------------


def test_store_announces_changes_and_reloads_from_disk(tmp_path):
    store = PipelineStore(tmp_path)
    events = []
    store.subscribe(lambda event, name, record: events.append((event, name, record["pipeline"]["version"])))
    store.subscribe(lambda *_: 1 / 0)  # a failing listener is logged and changes nothing
    store.create(declaration("one"), [{"key": "k", "value": "v"}])
    store.update(declaration("one", executionMode="QUEUED"))
    store.create(declaration("two"), region="us-east-1")
    assert events == [("created", "one", 1), ("updated", "one", 2), ("created", "two", 1)]

    reloaded = PipelineStore(tmp_path)
    assert reloaded.names() == ["one"] and reloaded.names(region="us-east-1") == ["two"]
    assert reloaded.get("one") == store.get("one")
    assert reloaded.declaration("one")["executionMode"] == "QUEUED"
    assert "executionMode" not in reloaded.get("one", version=1)["pipeline"]
    assert reloaded.get("one")["metadata"]["pipelineArn"].endswith(f":{config.ACCOUNT}:one")
    assert not list(tmp_path.rglob("*.tmp"))

    assert store.delete("one") and not store.delete("one")
    assert events[-1] == ("deleted", "one", 2)
    assert PipelineStore(tmp_path).names() == []


def test_store_gives_a_name_to_one_creator_only(tmp_path):
    store = PipelineStore(tmp_path)
    outcomes = []

    def create():
        try:
            store.create(declaration("race"))
            outcomes.append("created")
        except Exception as error:
            outcomes.append(getattr(error, "code", repr(error)))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["PipelineNameInUseException"] * 7 + ["created"]
