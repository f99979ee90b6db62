"""The one WSGI app on the endpoint's port: git, our own services, the lab's pages, then moto."""

import json
import logging
from contextvars import ContextVar

from . import config, motoapi
from .awsjson import AwsError, check_types, json_params, not_implemented, request_body, unknown_operation
from .motoapp import Call

log = logging.getLogger("labhelpers.endpoint")
# The Region of the request being handled: its SigV4 credential scope, else the lab's Region.
_request_region: ContextVar[str] = ContextVar("request_region", default=config.REGION)


def request_region() -> str:
    """The Region of the AWS request this thread is handling, for services that keep regional state."""
    return _request_region.get()


class JsonService:
    """Base of the services we implement ourselves over awsJson1_1.

    Operation `GetBranch` is handled by method `get_branch(params) -> dict`. Several services may share a
    target prefix (a control plane and an engine, say); with `moto_fallback`, operations none of them has
    go on to moto (which keeps, for instance, CodeBuild projects)."""

    target_prefix = ""
    signing_name = ""
    moto_fallback = False

    def owns(self, operation: str) -> bool:
        method = _snake(operation)
        return method not in vars(JsonService) and callable(getattr(self, method, None))

    def handle(self, operation: str, params: dict) -> dict:
        return getattr(self, _snake(operation))(params) or {}

    def close(self) -> None:
        """The endpoint is stopping: end what the service runs outside its threads (processes)."""


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


class Dispatcher:
    def __init__(self, moto_app, services=(), git_app=None, lab_app=None):
        self.moto = moto_app
        self.services: dict[str, list[JsonService]] = {}
        for service in services:
            self.services.setdefault(service.target_prefix, []).append(service)
        self.git = git_app
        self.lab = lab_app

    def close(self) -> None:
        for group in self.services.values():
            for service in group:
                service.close()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/v1/repos/") and self.git:
            return self.git(environ, start_response)
        if path.startswith("/_lab/") and self.lab:
            return self.lab(environ, start_response)
        # "CodeBuild_20161006.StartBuild", or smithy-qualified "com.amazonaws.x.Service_2023.Op".
        qualified, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")
        prefix = qualified.rpartition(".")[2]
        group = self.services.get(prefix, [])
        unknown = unknown_operation(group[0].signing_name, operation) if group else None
        if unknown:
            return Call(environ).error_response(unknown, start_response)
        owner = next((service for service in group if service.owns(operation)), None)
        if owner:
            return self._json_call(owner, environ, start_response)
        if group and not any(service.moto_fallback for service in group):
            error = not_implemented(group[0].signing_name, operation)
            return Call(environ).error_response(error, start_response)
        return self.moto(environ, start_response)

    def _json_call(self, service, environ, start_response):
        call = Call(environ)
        region_token = _request_region.set(call.region or config.REGION)
        try:
            params = json_params(request_body(environ))
            check_types(service.signing_name, call.operation, params)
            result = service.handle(call.operation, params)
        except AwsError as error:
            return call.error_response(error, start_response)
        except Exception as exc:
            error = motoapi.service_error(exc, service.signing_name)
            if error is None:
                log.exception("%s %s failed", service.signing_name, call.operation)
                error = AwsError(
                    "InternalFailure", f"{service.signing_name} {call.operation} failed locally: {exc}", 500
                )
            return call.error_response(error, start_response)
        finally:
            _request_region.reset(region_token)
        body = json.dumps(result, default=_json_default).encode()
        start_response(
            "200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
        )
        return [body]


def _json_default(value):
    if hasattr(value, "timestamp"):
        return round(value.timestamp(), 3)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    if isinstance(value, bytes):
        return value.decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_response(start_response, payload, status="200 OK", content_type="application/json"):
    body = json.dumps(payload, indent=1).encode() if not isinstance(payload, bytes) else payload
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
