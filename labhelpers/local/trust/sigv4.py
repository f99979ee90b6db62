"""AWS request signatures, verified as AWS verifies them: Signature Version 4 in the Authorization header,
in the query string (presigned URLs) or in an S3 POST policy, and S3's presigned URLs of version 2 (what
boto3's generate_presigned_url and `aws s3 presign` make by default). botocore's own signers compute the
signature that must match.
"""

import base64
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

from botocore.auth import UNSIGNED_PAYLOAD, HmacV1Auth, HmacV1QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials as BotoCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)  # AWS refuses a signed request this far from its clock
TIMESTAMP = "%Y%m%dT%H%M%SZ"


class Refused(Exception):
    """Why a request is not let in: `reason` is missing, unknown-key or signature."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Signed:
    """What a request says of its signature."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    timestamp: str
    presigned: bool = False
    expires: int = 0
    version: int = 4  # 2: an S3 presigned URL of version 2 (timestamp is then its Expires)


class _Verifier(SigV4Auth):
    """botocore's SigV4 signer, told which headers the client signed and what its payload hash is."""

    def __init__(self, credentials, signed: Signed, payload_hash: str, s3: bool):
        super().__init__(credentials, signed.service, signed.region)
        self._signed, self._payload_hash, self._s3 = signed, payload_hash, s3

    def headers_to_sign(self, request):
        chosen = HTTPHeaders()
        for name in self._signed.signed_headers:
            if name in request.headers:
                chosen[name] = request.headers[name]
        return chosen

    def payload(self, request):
        return self._payload_hash

    def _normalize_url_path(self, path):
        return path if self._s3 else super()._normalize_url_path(path)


def signature_of(environ) -> Signed | None:
    """The request's SigV4 signature (header, then query string), or None when it carries none."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header:
        algorithm, _, rest = header.partition(" ")
        if algorithm != ALGORITHM:
            raise Refused(
                "signature", f"Unsupported authorization type {algorithm!r}: sign with {ALGORITHM}."
            )
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        credential, names = fields.get("Credential", ""), fields.get("SignedHeaders", "")
        return _signed(credential, names, fields.get("Signature", ""), environ.get("HTTP_X_AMZ_DATE", ""))
    query = _query_pairs(environ)
    values = dict(query)
    if "X-Amz-Signature" in values:
        if values.get("X-Amz-Algorithm") != ALGORITHM:
            raise Refused("signature", f"X-Amz-Algorithm must be {ALGORITHM}.")
        found = _signed(
            unquote(values.get("X-Amz-Credential", "")),
            unquote(values.get("X-Amz-SignedHeaders", "")),
            values["X-Amz-Signature"],
            values.get("X-Amz-Date", ""),
        )
        expires = values.get("X-Amz-Expires", "")
        if not expires.isdigit():
            raise Refused("signature", "X-Amz-Expires must be a number of seconds.")
        return Signed(**{**found.__dict__, "presigned": True, "expires": int(expires)})
    if "Signature" in values and "AWSAccessKeyId" in values:
        values = {key: unquote(value) for key, value in query}
        if not values.get("Expires", "").isdigit():
            raise Refused("signature", "Expires must be the URL's end in epoch seconds.")
        return Signed(
            values["AWSAccessKeyId"], "", "", "s3", (), values["Signature"], values["Expires"], True, 0, 2
        )
    return None


def _signed(credential: str, names: str, signature: str, timestamp: str) -> Signed:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not signature or not names:
        raise Refused(
            "signature", f"The credential scope {credential!r} is not access-key/date/region/service."
        )
    return Signed(parts[0], parts[1], parts[2], parts[3], tuple(names.split(";")), signature, timestamp)


def _raw_path(environ) -> str:
    """The path (and query) as the client sent it, percent-encoding included: what it signed."""
    return environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")


def _query_pairs(environ) -> list[tuple[str, str]]:
    query = environ.get("QUERY_STRING", "")
    return [pair.partition("=")[::2] for pair in query.split("&") if pair]


def verify(environ, body: bytes, signed: Signed, access_key: str, secret_key: str, now: datetime) -> None:
    """Raise Refused unless `signed` is this request signed with the lab's keys, in time."""
    if signed.access_key != access_key:
        raise Refused("unknown-key", "The AWS access key ID you provided does not exist in our records.")
    if signed.version == 2:
        return _verify_version_2(environ, signed, access_key, secret_key, now)
    try:
        moment = datetime.strptime(signed.timestamp, TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise Refused("signature", "The request has no valid X-Amz-Date (YYYYMMDDTHHMMSSZ).") from None
    if signed.presigned:
        if now > moment + timedelta(seconds=signed.expires) or moment - now > MAX_SKEW:
            raise Refused("signature", "Request has expired: presign the URL again.")
    elif abs(now - moment) > MAX_SKEW:
        raise Refused("signature", "Signature expired: the request's time is more than 15 minutes off.")
    s3 = signed.service == "s3"
    query = "&".join(f"{k}={v}" for k, v in _query_pairs(environ) if k != "X-Amz-Signature")
    url = f"http://{environ.get('HTTP_HOST', '')}{_raw_path(environ).partition('?')[0]}" + (
        f"?{query}" if query else ""
    )
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"), url=url, headers=_headers(environ))
    request.context["timestamp"] = signed.timestamp
    content_hash = request.headers.get("X-Amz-Content-SHA256")
    if content_hash is None and signed.presigned and s3:
        content_hash = UNSIGNED_PAYLOAD
    verifier = _Verifier(
        BotoCredentials(access_key, secret_key), signed, content_hash or hashlib.sha256(body).hexdigest(), s3
    )
    expected = verifier.signature(
        verifier.string_to_sign(request, verifier.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, signed.signature):
        raise Refused(
            "signature",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )


class _VersionTwo(HmacV1QueryAuth):
    """botocore's S3 presigner of version 2, at the URL's own Expires."""

    def __init__(self, credentials, expires: str):
        super().__init__(credentials)
        self._expires_at = expires

    def _get_date(self):
        return self._expires_at


def _verify_version_2(environ, signed: Signed, access_key: str, secret_key: str, now: datetime) -> None:
    if now.timestamp() > int(signed.timestamp):
        raise Refused("signature", "Request has expired: presign the URL again.")
    split = urlsplit(f"http://{environ.get('HTTP_HOST', '')}{_raw_path(environ)}")
    signed_with = HTTPHeaders()  # what the presigner put into the query from the request's headers
    for key, value in _query_pairs(environ):
        if key.lower().startswith("x-amz-") or key.lower() in ("content-md5", "content-type"):
            signed_with[key.lower()] = unquote(value)
    signer = _VersionTwo(BotoCredentials(access_key, secret_key), signed.timestamp)
    expected = signer.get_signature(environ.get("REQUEST_METHOD", "GET"), split, signed_with)
    if not hmac.compare_digest(expected, signed.signature):
        raise Refused(
            "signature", "The request signature we calculated does not match the signature you provided."
        )


def _headers(environ) -> dict[str, str]:
    headers = {
        name[5:].replace("_", "-").lower(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(name):
            headers[name.replace("_", "-").lower()] = environ[name]
    return headers


def verify_post_policy(fields: dict[str, str], access_key: str, secret_key: str, now: datetime) -> None:
    """An S3 POST (browser upload) form: its policy signed with the lab's keys (SigV4, or version 2 as
    boto3's generate_presigned_post makes by default), not expired."""
    policy = fields.get("policy", "")
    if fields.get("x-amz-signature") and policy:
        if fields.get("x-amz-algorithm") != ALGORITHM:
            raise Refused("signature", f"x-amz-algorithm must be {ALGORITHM}.")
        parts = fields.get("x-amz-credential", "").split("/")
        if len(parts) != 5:
            raise Refused("signature", "x-amz-credential is not access-key/date/region/s3/aws4_request.")
        key_id, signature = parts[0], fields["x-amz-signature"]
        dated = AWSRequest()  # the policy is signed with the key of its date, Region and service
        dated.context["timestamp"] = parts[1]
        expected = SigV4Auth(BotoCredentials("", secret_key), parts[3], parts[2]).signature(policy, dated)
    elif fields.get("signature") and policy:
        key_id, signature = fields.get("awsaccesskeyid", ""), fields["signature"]
        expected = HmacV1Auth(BotoCredentials(key_id, secret_key)).sign_string(policy)
    else:
        raise Refused("missing", "The upload form carries no signed policy (policy and its signature).")
    if key_id != access_key:
        raise Refused("unknown-key", "The AWS access key ID you provided does not exist in our records.")
    if not hmac.compare_digest(expected, signature):
        raise Refused("signature", "The policy's signature does not match: sign it with the lab's keys.")
    try:
        expiration = json.loads(base64.b64decode(policy))["expiration"]
        expires = datetime.fromisoformat(expiration.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        raise Refused("signature", "The policy is not base64 JSON with an expiration.") from None
    if now > expires:
        raise Refused("signature", "Invalid according to Policy: Policy expired.")


def form_fields(environ, body: bytes) -> dict[str, str]:
    """The text fields of a multipart form body (lower-case names), the file left out; `environ` keeps its
    own stream of the body for the app."""
    from werkzeug.formparser import parse_form_data

    _, form, _ = parse_form_data({**environ, "wsgi.input": io.BytesIO(body)})
    return {name.lower(): value for name, value in form.items()}


def git_password_is_signed(
    password: str, repository_path: str, host: str, secret_key: str, region: str, now: datetime
) -> bool:
    """Whether `password` is what `aws codecommit credential-helper` makes for this repository with the
    lab's keys: `<timestamp>Z<SigV4 signature of a GIT request>` (its username is the access key)."""
    timestamp, _, signature = password.partition("Z")
    try:
        moment = datetime.strptime(timestamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    if abs(now - moment) > MAX_SKEW:
        return False
    signer = SigV4Auth(BotoCredentials("", secret_key), "codecommit", region)
    request = AWSRequest(method="GIT", url=f"http://{host}{repository_path}")
    request.context["timestamp"] = timestamp
    canonical = f"GIT\n{repository_path}\n\nhost:{host.split(':')[0]}\n\nhost\n"
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signature)
