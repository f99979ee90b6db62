"""Fuzzing CodePipeline's control plane on the shared endpoint.

Well over a thousand malformed requests, each invalid by construction: declarations with one member of the
wrong type, far too long, unknown or missing; parameters with an unknown member; bodies that are not a JSON
object. Every answer must be a 4xx AWS error with `__type`, never a 5xx, and the endpoint keeps serving."""

import copy
import json
import uuid
from types import SimpleNamespace

import botocore.session
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labhelpers.local import config, process
from labhelpers.pipelines import article_pipeline
from labhelpers.roles import trust_policy

TARGET = "CodePipeline_20150709"
OPERATIONS = (
    "CreatePipeline",
    "UpdatePipeline",
    "GetPipeline",
    "DeletePipeline",
    "ListPipelines",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "ListActionTypes",
    "GetActionType",
)
_MODEL = botocore.session.get_session().get_service_model("codepipeline")
MEMBERS = {
    operation: sorted(_MODEL.operation_model(operation).input_shape.members) for operation in OPERATIONS
}
TRUST = trust_policy()
# Longer than any string member of the article's declaration may be (the longest limit is roleArn's 1024).
HUGE = st.integers(min_value=1025, max_value=200_000).map(lambda size: "x" * size)
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | HUGE
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


class Poster:
    """Raw POSTs to the endpoint, signed with the lab's keys (past botocore's validation), counted."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.sent = 0

    def __call__(self, operation: str, body: bytes) -> tuple[int, dict]:
        self.sent += 1
        return self.endpoint.call(f"{TARGET}.{operation}", body, service="codepipeline")

    def expect_client_error(self, operation: str, body: bytes) -> None:
        status, answer = self(operation, body)
        assert 400 <= status < 500, (status, answer)
        assert isinstance(answer.get("__type"), str) and isinstance(answer.get("message"), str), answer


@pytest.fixture(scope="module")
def fuzz(endpoint):
    """A poster, and a check that the endpoint still answers valid calls from the same process."""
    iam, s3 = endpoint.client("iam"), endpoint.client("s3")
    role = f"fuzz-role-{uuid.uuid4().hex[:8]}"
    bucket = f"awscicd-artifacts-{config.ACCOUNT}-{config.REGION}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST))
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    anchor = valid_declaration(f"fuzz-anchor-{uuid.uuid4().hex[:8]}", role)
    cp = endpoint.client("codepipeline")
    cp.create_pipeline(**anchor)
    pid = process.find(endpoint.layout).pid

    def still_serving():
        assert process.find(endpoint.layout).pid == pid
        assert cp.get_pipeline(name=anchor["pipeline"]["name"])["pipeline"]["version"] == 1

    return SimpleNamespace(post=Poster(endpoint), role=role, still_serving=still_serving)


def valid_declaration(name: str, role: str) -> dict:
    lab = SimpleNamespace(account=config.ACCOUNT, region=config.REGION, prefix=None)
    declaration = article_pipeline(lab)
    declaration["pipeline"].update(name=name, roleArn=f"arn:aws:iam::{config.ACCOUNT}:role/{role}")
    return declaration


def paths(value, at=()) -> list[tuple]:
    """Every place in a JSON document, as key/index paths from its root (the root included)."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*at, index))
    return found


def _kind(value) -> str:
    return (
        "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__
    )


@st.composite
def malformed_declarations(draw, base: dict) -> dict:
    """`base` with one place made invalid: another type, overlong, an unknown member, a required one gone."""
    declaration = copy.deepcopy(base)
    at = draw(st.sampled_from(paths(declaration)))
    parent = declaration
    for step in at[:-1]:
        parent = parent[step]
    target = parent[at[-1]] if at else declaration
    mutation = draw(st.sampled_from(["retype", "huge", "unknown", "remove"]))
    if mutation == "unknown" and isinstance(target, dict):
        target[f"junk{draw(st.text(max_size=8))}"] = draw(json_values)
        return declaration
    # pipelineType is the one optional member of the article's declaration, and list items may go unnoticed.
    if mutation == "remove" and at and isinstance(parent, dict) and at[-1] != "pipelineType":
        del parent[at[-1]]
        return declaration
    if mutation == "huge":
        replacement = draw(HUGE)
    else:  # null means "absent": a retype must be a present value of another kind
        replacement = draw(json_values.filter(lambda v: v is not None and _kind(v) != _kind(target)))
    if not at:
        return replacement
    parent[at[-1]] = replacement
    return declaration


@st.composite
def junk_parameters(draw) -> tuple[str, dict]:
    """An operation, and parameters with one member it does not take (the others may be anything)."""
    operation = draw(st.sampled_from(OPERATIONS))
    params = draw(st.dictionaries(st.sampled_from(MEMBERS[operation]), json_values, max_size=3))
    params[f"junk{draw(st.text(max_size=8))}"] = draw(json_values)
    return operation, params


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except (ValueError, RecursionError):
        return False


def raw_bodies(base: dict):
    """Bodies that are not a JSON object: bytes, cut-off JSON, other JSON values, deep nesting, huge text."""
    text = json.dumps(base).encode()
    return st.one_of(
        st.binary(max_size=300),
        st.integers(min_value=0, max_value=len(text) - 1).map(lambda cut: text[:cut]),
        json_values.filter(lambda v: not isinstance(v, dict)).map(lambda v: json.dumps(v).encode()),
        st.integers(min_value=1, max_value=200_000).map(lambda depth: b"[" * depth + b"]" * depth),
        st.integers(min_value=1, max_value=200_000).map(
            lambda depth: b"[" + b'{"a":' * depth + b"1" + b"}" * depth + b"]"
        ),
        HUGE.map(lambda huge: json.dumps(huge).encode()),
    ).filter(lambda body: not _is_json_object(body))


def test_malformed_declarations(fuzz):
    base = valid_declaration(f"fuzz-{uuid.uuid4().hex[:8]}", fuzz.role)
    before = fuzz.post.sent

    @settings(FUZZ, max_examples=500)
    @given(malformed_declarations(base))
    def check(declaration):
        body = json.dumps(declaration).encode()
        fuzz.post.expect_client_error("CreatePipeline", body)
        fuzz.post.expect_client_error("UpdatePipeline", body)

    check()
    assert fuzz.post.sent - before >= 1000
    fuzz.still_serving()


def test_parameters_with_unknown_members(fuzz):
    before = fuzz.post.sent

    @settings(FUZZ, max_examples=300)
    @given(junk_parameters())
    def check(call):
        operation, params = call
        fuzz.post.expect_client_error(operation, json.dumps(params).encode())

    check()
    assert fuzz.post.sent - before >= 300
    fuzz.still_serving()


def test_bodies_that_are_not_json_objects(fuzz):
    base = valid_declaration(f"fuzz-{uuid.uuid4().hex[:8]}", fuzz.role)
    before = fuzz.post.sent

    @settings(FUZZ, max_examples=300)
    @given(st.sampled_from(OPERATIONS), raw_bodies(base))
    def check(operation, body):
        assume(body)  # an empty body is the empty object {}, which some operations take
        fuzz.post.expect_client_error(operation, body)

    check()
    assert fuzz.post.sent - before >= 250
    fuzz.still_serving()
