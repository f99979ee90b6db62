"""moto's server for the plain AWS services, made safe to share: one lock, AWS-style errors for what moto
lacks, and a note of which service each write touched (for snapshots)."""

import json
import logging
import re
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs

from botocore.exceptions import UnknownServiceError

from . import motoapi
from .awsjson import AwsError, buffered_body, check_types, json_params, not_implemented, unknown_operation

READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "Lookup", "Search", "Filter")
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/aws4_request")
log = logging.getLogger("labhelpers.endpoint")


class Call:
    """What an incoming AWS request is: its service, region, operation and protocol."""

    def __init__(self, environ):
        scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        self.region, self.service = scope.groups() if scope else ("", "")
        self.method = environ.get("REQUEST_METHOD", "GET")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        content_type = environ.get("CONTENT_TYPE", "")
        self.json = bool(target) or "json" in content_type
        self.query = content_type.startswith("application/x-www-form-urlencoded")
        if target:
            self.operation = target.rpartition(".")[2]
        elif self.query:
            self.operation = _form_action(environ)
        else:
            self.operation = f"{self.method} {environ.get('PATH_INFO', '/')}"

    @property
    def is_read(self) -> bool:
        if self.json or self.query:
            return self.operation.startswith(READ_PREFIXES)
        return self.method in ("GET", "HEAD", "OPTIONS")

    def error_response(self, error: AwsError, start_response):
        if self.json:
            body = json.dumps(error.body()).encode()
            content_type = "application/x-amz-json-1.1"
        elif self.query:
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{error.code}</Code>"
                f"<Message>{_xml(error.message)}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
            ).encode()
            content_type = "text/xml"
        else:
            body = (
                f"<Error><Code>{error.code}</Code><Message>{_xml(error.message)}</Message></Error>".encode()
            )
            content_type = "application/xml"
        start_response(
            f"{error.status} {'Not Implemented' if error.status == 501 else 'Error'}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _form_action(environ) -> str:
    """Read the form body for its Action; moto reads the body again."""
    values = parse_qs(buffered_body(environ).decode("utf-8", "replace")).get("Action")
    return values[0] if values else "UnknownAction"


class MotoApp:
    """WSGI app around moto's dispatcher."""

    def __init__(self, on_write: Callable[[str], None]):
        self._moto = motoapi.wsgi_app()
        self._on_write = on_write

    def __call__(self, environ, start_response):
        call = Call(environ)
        refused = _refusal(call, environ)
        if refused is not None:
            return call.error_response(refused, start_response)
        try:
            with motoapi.LOCK:
                body = b"".join(self._moto(environ, start_response))
        except NotImplementedError:
            service = call.service or "this service"
            return call.error_response(not_implemented(service, call.operation), start_response)
        except Exception as exc:
            error = motoapi.service_error(exc, call.service)
            if error is None:  # a moto defect
                log.exception("moto failed on %s %s", call.service, call.operation)
                error = AwsError(
                    "InternalFailure", f"{call.service} {call.operation} failed locally: {exc}", 500
                )
            return call.error_response(error, start_response)
        if not call.is_read:
            self._on_write(call.service)
        return [body]


def _refusal(call: Call, environ) -> AwsError | None:
    """What AWS answers before the operation runs: an operation the service does not have, a JSON body of
    the wrong types (moto would fail on either with a 404 or a 500)."""
    if not (call.json or call.query) or not call.service:
        return None
    try:
        unknown = unknown_operation(
            call.service, call.operation, "UnknownOperationException" if call.json else "InvalidAction"
        )
    except UnknownServiceError:  # a signing name botocore knows otherwise: moto answers
        return None
    if unknown or not call.json:
        return unknown
    try:
        check_types(call.service, call.operation, json_params(buffered_body(environ)))
    except AwsError as error:
        return error
    return None
