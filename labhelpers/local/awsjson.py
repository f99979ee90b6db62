"""The awsJson1_1 wire protocol as our own services speak it: errors, timestamps, and the JSON types of a
request checked against the operation's input shape in botocore's model (before any code of ours reads it)."""

import functools
import io
import json
import time


class AwsError(Exception):
    """An AWS-style error: answered as HTTP `status` with {"__type": code, "message": message}."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> dict:
        return {"__type": self.code, "message": self.message}


def now() -> float:
    """Epoch seconds with fractions, as the JSON protocol sends timestamps."""
    return round(time.time(), 3)


def request_body(environ) -> bytes:
    """The body: to its end when the server de-chunked it, else CONTENT_LENGTH bytes (reading on would wait
    for more from the client)."""
    if environ.get("wsgi.input_terminated"):
        return environ["wsgi.input"].read()
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


_BODY = "labhelpers.body"


def buffered_body(environ) -> bytes:
    """The request's body, read once and kept, with `wsgi.input` a fresh stream of it for the app behind
    (which may read it again, and again)."""
    body = environ.get(_BODY)
    if body is None:
        body = environ[_BODY] = request_body(environ)
        environ["CONTENT_LENGTH"] = str(len(body))
        # The stream now ends where CONTENT_LENGTH says: werkzeug de-chunked it already, and a reader that
        # sees Transfer-Encoding (dulwich) would de-chunk it again and hang.
        environ.pop("wsgi.input_terminated", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def json_params(raw: bytes) -> dict:
    """The request's JSON object; SerializationException when the body is not one."""
    try:
        params = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise AwsError("SerializationException", f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise AwsError("SerializationException", "The request body must be a JSON object.")
    return params


def check_types(service: str, operation: str, params: dict) -> None:
    """SerializationException naming the member whose JSON type the operation's input shape does not allow."""
    shape = service_model(service).operation_model(operation).input_shape
    problem = type_problem(shape, params) if shape else None
    if problem:
        raise AwsError("SerializationException", problem)


def not_implemented(service: str, operation: str) -> AwsError:
    """An operation AWS has and the local endpoint does not: 501, and where to run it instead."""
    return AwsError(
        "NotImplemented",
        f"The local lab endpoint does not implement {service} {operation}. "
        "Use LAB_BACKEND=aws for it, or an operation the lab supports.",
        501,
    )


def unknown_operation(
    service: str, operation: str, code: str = "UnknownOperationException"
) -> AwsError | None:
    """AWS's answer to an operation the service (by botocore's model) does not have; None if it has it."""
    if operation in service_model(service).operation_names:
        return None
    return AwsError(code, f"{service} has no operation {operation!r}.")


@functools.cache
def models_session():
    """The process's one botocore session for service models: each model (EC2's is ~16 MB of dicts) is read
    once, for the checks here, the error statuses and, through its loader, the endpoint's own clients."""
    import botocore.session

    return botocore.session.get_session()


@functools.cache
def service_model(name: str):
    return models_session().get_service_model(name)


_JSON_TYPES = {
    "string": (str,),
    "blob": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "timestamp": (int, float),  # awsJson sends epoch seconds
}
_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def type_problem(shape, value, path: str = "") -> str | None:
    """Where `value` does not have the JSON types of `shape` (a botocore shape), said with its path; None if
    it does. Constraints (lengths, patterns, required members) are the operation's own to check."""
    kind = shape.type_name
    where = path or "the request"
    if value is None:
        return None
    if kind == "structure":
        if not isinstance(value, dict):
            return f"{where} must be an object, not {_NAMES.get(type(value), 'that')}."
        members = shape.members
        found = (
            type_problem(members[name], item, f"{path}.{name}" if path else name)
            for name, item in value.items()
            if name in members
        )
        return next((problem for problem in found if problem), None)
    if kind == "list":
        if not isinstance(value, list):
            return f"{where} must be a list, not {_NAMES.get(type(value), 'that')}."
        found = (type_problem(shape.member, item, f"{where}[{index}]") for index, item in enumerate(value))
        return next((problem for problem in found if problem), None)
    if kind == "map":
        if not isinstance(value, dict):
            return f"{where} must be an object, not {_NAMES.get(type(value), 'that')}."
        found = (type_problem(shape.value, item, f"{where}.{key}") for key, item in value.items())
        return next((problem for problem in found if problem), None)
    wanted = _JSON_TYPES.get(kind, (object,))
    if not isinstance(value, wanted) or (isinstance(value, bool) and bool not in wanted):
        return f"{where} must be {_NAMES[wanted[0]]}, not {_NAMES.get(type(value), 'that')}."
    return None
