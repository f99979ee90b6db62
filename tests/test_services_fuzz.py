"""Bad input is a 4xx naming the field, never a 500: every operation our own services implement gets requests
made from botocore's input shapes, first with a wrong JSON type in each member, then (hypothesis) with odd
values of the right types. The endpoint answers each with an AWS error and keeps serving."""

import base64
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import start_endpoint
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labhelpers.local import config, process
from labhelpers.local.awsjson import service_model
from labhelpers.local.codebuild import service as codebuild
from labhelpers.local.codebuild.images import ImagesService
from labhelpers.local.codebuild.reports import ReportsService
from labhelpers.local.codebuild.sharing import SharingService
from labhelpers.local.codebuild.source_credentials import SourceCredentialsService
from labhelpers.local.codebuild.webhooks import WebhooksService
from labhelpers.local.codecommit.service import CodeCommitService
from labhelpers.local.codeconnections.service import CodeStarConnectionsService, ConnectionsService
from labhelpers.local.codedeploy.service import CodeDeployService
from labhelpers.local.codepipeline.control import CodePipelineControl
from labhelpers.local.codepipeline.jobworkers import CodePipelineJobWorkers
from labhelpers.local.codepipeline.runs import CodePipelineRuns
from labhelpers.local.codepipeline.webhooks import CodePipelineWebhooks
from labhelpers.local.dispatch import JsonService

SERVICES = (
    codebuild.CodeBuildService,
    ReportsService,
    SharingService,
    ImagesService,
    SourceCredentialsService,
    WebhooksService,
    CodeCommitService,
    CodeDeployService,
    CodePipelineControl,
    CodePipelineRuns,
    CodePipelineJobWorkers,
    CodePipelineWebhooks,
    ConnectionsService,
    CodeStarConnectionsService,
)
# The JSON values a member of each shape type must not hold, one of each other kind.
WRONG = {
    "structure": [[], "text", 7, True],
    "list": [{}, "text", 7],
    "map": [[], "text", 7],
    "string": [[], {}, 7, True],
    "blob": [[], {}, 7],
    "boolean": ["true", 1, []],
    "integer": ["7", 7.5, [], True],
    "long": ["7", [], {}],
    "float": ["1.5", [], True],
    "double": ["1.5", [], True],
    "timestamp": [[], {}, True],
}


def implemented(service) -> list[str]:
    """The operations of the botocore model that `service` answers itself."""
    allowed = codebuild.OPERATIONS if service is codebuild.CodeBuildService else None
    names = []
    for operation in service_model(service.signing_name).operation_names:
        method = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
        if method not in vars(JsonService) and callable(getattr(service, method, None)):
            if allowed is None or operation in allowed:
                names.append(operation)
    return names


OPERATIONS = [(service, operation) for service in SERVICES for operation in implemented(service)]


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """An endpoint of this module's own: odd requests may create odd resources."""
    started = start_endpoint(tmp_path_factory.mktemp("fuzzed"))
    yield started
    process.stop(started.layout)


def wrong_type_cases() -> list[tuple]:
    cases = []
    for service, operation in OPERATIONS:
        shape = service_model(service.signing_name).operation_model(operation).input_shape
        for name, member in shape.members.items() if shape else ():
            cases += [(service, operation, {name: value}, name) for value in WRONG[member.type_name][:2]]
            if member.type_name == "structure":
                for inner, inner_shape in list(member.members.items())[:3]:
                    value = WRONG[inner_shape.type_name][0]
                    cases.append((service, operation, {name: {inner: value}}, f"{name}.{inner}"))
    return cases


def ask(endpoint, service, operation, params) -> tuple[int, dict]:
    return endpoint.call(f"{service.target_prefix}.{operation}", params, service=service.signing_name)


def test_every_operation_is_covered():
    assert len(OPERATIONS) >= 80, len(OPERATIONS)  # 86 when this was written
    assert ("CodeDeployService", "GetDeployment") in {(s.__name__, o) for s, o in OPERATIONS}


def test_a_wrong_type_in_any_member_is_a_400_naming_it(endpoint):
    failures = []
    for service, operation, params, field in wrong_type_cases():
        status, answer = ask(endpoint, service, operation, params)
        named = field.split(".")[-1] in answer.get("message", "")
        if status != 400 or answer.get("__type") != "SerializationException" or not named:
            failures.append((operation, params, status, answer))
    assert not failures, failures[:10]
    assert ask(endpoint, CodeCommitService, "ListRepositories", {})[0] == 200


# moto's JSON services on the endpoint: (signing name, X-Amz-Target prefix).
MOTO_JSON = (("logs", "Logs_20140328"), ("events", "AWSEvents"), ("ssm", "AmazonSSM"))


@pytest.mark.parametrize("signing_name, prefix", MOTO_JSON)
def test_a_wrong_type_to_a_moto_service_is_a_400_before_moto_sees_it(endpoint, signing_name, prefix):
    model = service_model(signing_name)
    failures, sent = [], 0
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        for name, member in shape.members.items() if shape else ():
            sent += 1
            status, answer = endpoint.call(
                f"{prefix}.{operation}", {name: WRONG[member.type_name][0]}, service=signing_name
            )
            if (
                status != 400
                or answer.get("__type") != "SerializationException"
                or name not in answer["message"]
            ):
                failures.append((operation, name, status, answer))
    assert sent > 100 and not failures, failures[:10]
    assert endpoint.client("logs").describe_log_groups()["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    "service, operation, params",
    [
        (CodeDeployService, "GetDeployment", {"deploymentId": [None]}),
        (codebuild.CodeBuildService, "StartBuild", {"projectName": 123}),
        (CodeCommitService, "BatchGetRepositories", {"repositoryNames": 123}),
    ],
)
def test_the_reported_500s_are_400s(endpoint, service, operation, params):
    status, answer = ask(endpoint, service, operation, params)
    assert status == 400 and next(iter(params)) in answer["message"], answer


def test_an_unknown_operation_is_aws_unknown_operation(endpoint):
    for service in SERVICES:
        status, answer = ask(endpoint, service, "NoSuchOperation", {})
        assert (status, answer["__type"]) == (400, "UnknownOperationException"), (service, answer)
    for signing_name, prefix in (("logs", "Logs_20140328"), ("events", "AWSEvents"), ("ssm", "AmazonSSM")):
        status, answer = endpoint.call(f"{prefix}.NoSuchOperation", {}, service=signing_name)
        assert (status, answer["__type"]) == (400, "UnknownOperationException"), (signing_name, answer)


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_an_unknown_query_action_is_invalid_action(endpoint, service):
    data = b"Action=NoSuchAction&Version=2011-06-15"
    request = AWSRequest(
        method="POST",
        url=f"{endpoint.url}/",
        data=data,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    SigV4Auth(
        Credentials(endpoint.keys.access_key, endpoint.keys.secret_key), service, config.REGION
    ).add_auth(request)
    sent = urllib.request.Request(request.url, data=data, headers=dict(request.headers), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(sent, timeout=30)
    assert refused.value.code == 400 and b"<Code>InvalidAction</Code>" in refused.value.read()


def test_a_malformed_git_request_of_any_size_is_a_400_at_once(endpoint, unique):
    endpoint.client("codecommit").create_repository(repositoryName=f"framed-{unique}")
    keys = endpoint.keys
    login = base64.b64encode(f"{config.GIT_USER}:{keys.git_password}".encode()).decode()
    for body in (b"zz", b"not pkt-lines " * 2000, b"0004" * 5000):
        request = urllib.request.Request(
            f"{endpoint.url}/v1/repos/framed-{unique}/git-upload-pack",
            data=body,
            headers={
                "Authorization": f"Basic {login}",
                "Content-Type": "application/x-git-upload-pack-request",
            },
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 400, len(body)


REFUSED_BEFORE_THE_SERVICE = ("InvalidSignatureException", "MissingAuthenticationTokenException")
odd_strings = st.sampled_from(["", " ", "x" * 3000, "../../etc/passwd", "arn:aws:x", "é\u0000", "*", "-1"])
odd_values = {
    "string": odd_strings,
    "blob": st.sampled_from(["", "!!!not base64", "x" * 5000]),
    "boolean": st.booleans(),
    "integer": st.sampled_from([-1, 0, 2**31, 2**63]),
    "long": st.sampled_from([-1, 0, 2**63]),
    "float": st.sampled_from([-1.5, 0.0, 1e308]),
    "double": st.sampled_from([-1.5, 0.0, 1e308]),
    "timestamp": st.sampled_from([-1, 0, 1e12, "not a time"]),
}


def value_of(shape, depth: int = 0):
    kind = shape.type_name
    if kind == "structure":
        if depth > 2 or not shape.members:
            return st.just({})
        members = {name: value_of(member, depth + 1) for name, member in shape.members.items()}
        required = {name: members.pop(name) for name in shape.required_members}
        return st.fixed_dictionaries(required, optional=members)
    if kind == "list":
        return st.lists(value_of(shape.member, depth + 1), max_size=3)
    if kind == "map":
        return st.dictionaries(odd_strings, value_of(shape.value, depth + 1), max_size=2)
    return odd_values[kind]


@st.composite
def odd_requests(draw):
    service, operation = draw(st.sampled_from(OPERATIONS))
    shape = service_model(service.signing_name).operation_model(operation).input_shape
    params = draw(value_of(shape)) if shape else {}
    return service, operation, params


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(request=odd_requests())
def test_odd_values_of_the_right_types_never_get_a_500(endpoint, request):
    service, operation, params = request
    status, answer = ask(endpoint, service, operation, params)
    assert status < 500, (operation, params, answer)
    assert status == 200 or isinstance(answer.get("__type"), str), answer
    assert answer.get("__type") not in REFUSED_BEFORE_THE_SERVICE, answer  # the service's own code answered
