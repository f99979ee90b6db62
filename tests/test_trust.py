"""The trust boundary: only the lab's own clients make the endpoint do anything. Every AWS call is signed
with the state folder's keys and refused with AWS's code when it is not; git needs the lab's git
credentials; a foreign Host or Origin is refused before any work; deployed pages are sandboxed."""

import json
import os
import stat
import subprocess
import time
import urllib.error
import urllib.request

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import BIN

from labhelpers.local import config

NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def raw(url, data=None, headers=None, method=None):
    """(status, headers, body) of a plain HTTP request: no signature unless the caller adds one."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def client_with(endpoint, service, access_key, secret_key, **options):
    return boto3.client(
        service,
        endpoint_url=endpoint.url,
        region_name=config.REGION,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=options.pop("config", NO_RETRIES),
    )


def error_of(call, **params) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


# -- every AWS call is signed -------------------------------------------------------------------------


def test_unsigned_calls_get_aws_codes_per_protocol_and_change_nothing(endpoint, unique):
    json_call = raw(
        f"{endpoint.url}/",
        data=json.dumps({"projectName": f"p-{unique}"}).encode(),
        headers={
            "X-Amz-Target": "CodeBuild_20161006.StartBuild",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    assert json_call[0] == 403
    assert json.loads(json_call[2])["__type"] == "MissingAuthenticationTokenException"
    query_call = raw(
        f"{endpoint.url}/",
        data=f"Action=CreateRole&Version=2010-05-08&RoleName=r-{unique}&AssumeRolePolicyDocument=%7B%7D".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert query_call[0] == 403 and b"<Code>MissingAuthenticationToken</Code>" in query_call[2]
    s3_call = raw(f"{endpoint.url}/bucket-{unique}", method="PUT")
    assert s3_call[0] == 403 and b"<Code>AccessDenied</Code>" in s3_call[2]
    roles = [role["RoleName"] for role in endpoint.client("iam").list_roles()["Roles"]]
    assert f"r-{unique}" not in roles
    assert f"bucket-{unique}" not in [b["Name"] for b in endpoint.client("s3").list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "service, call, codes",
    [
        ("codebuild", "list_projects", ("InvalidSignatureException", "UnrecognizedClientException")),
        ("sts", "get_caller_identity", ("SignatureDoesNotMatch", "InvalidClientTokenId")),
        ("s3", "list_buckets", ("SignatureDoesNotMatch", "InvalidAccessKeyId")),
    ],
)
def test_a_wrong_secret_or_an_unknown_key_is_refused_with_403(endpoint, service, call, codes):
    wrong_secret = client_with(endpoint, service, endpoint.keys.access_key, "not-the-secret")
    assert error_of(getattr(wrong_secret, call)) == (codes[0], 403)
    unknown_key = client_with(endpoint, service, "AKIAUNKNOWNKEY000000", endpoint.keys.secret_key)
    assert error_of(getattr(unknown_key, call)) == (codes[1], 403)
    getattr(endpoint.client(service), call)()  # the lab's own keys get in


def test_each_state_folder_has_its_own_keys_kept_for_its_owner(endpoint, fresh_endpoint):
    mine, other = endpoint.keys, fresh_endpoint.keys
    assert mine.access_key != other.access_key and mine.secret_key != other.secret_key
    assert stat.S_IMODE(os.stat(endpoint.layout.credentials).st_mode) == 0o600
    stranger = client_with(fresh_endpoint, "sts", mine.access_key, mine.secret_key)
    assert error_of(stranger.get_caller_identity)[0] == "InvalidClientTokenId"


def test_presigned_urls_of_both_versions_work_and_tampering_fails(endpoint, unique):
    s3 = endpoint.client("s3")
    bucket = f"presign-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
    s3.put_object(Bucket=bucket, Key="page.txt", Body=b"shared\n")
    expired = []
    for version in ("s3", "s3v4"):  # boto3's and `aws s3 presign`'s default, and SigV4
        signer = client_with(endpoint, "s3", *keys_of(endpoint), config=Config(signature_version=version))
        url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "page.txt"})
        status, _, body = raw(url)
        assert (status, body) == (200, b"shared\n"), version
        assert raw(url.replace("page.txt", "other.txt"))[0] == 403, version
        params = {"Bucket": bucket, "Key": "page.txt"}
        expired.append(signer.generate_presigned_url("get_object", Params=params, ExpiresIn=1))
    time.sleep(2.1)
    assert [raw(url)[0] for url in expired] == [403, 403]


def keys_of(endpoint) -> tuple[str, str]:
    return endpoint.keys.access_key, endpoint.keys.secret_key


def test_an_s3_upload_form_needs_a_signed_policy(endpoint, unique):
    s3 = endpoint.client("s3")
    bucket = f"forms-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
    unsigned = requests.post(
        f"{endpoint.url}/{bucket}", data={"key": "evil.txt"}, files={"file": b"x"}, timeout=10
    )
    assert unsigned.status_code == 403 and "<Code>AccessDenied</Code>" in unsigned.text
    for version, signature in (("s3", "signature"), ("s3v4", "x-amz-signature")):
        signer = client_with(endpoint, "s3", *keys_of(endpoint), config=Config(signature_version=version))
        form = signer.generate_presigned_post(bucket, f"{version}.txt", ExpiresIn=60)
        signed = requests.post(form["url"], data=form["fields"], files={"file": b"by form\n"}, timeout=10)
        assert signed.status_code in (200, 204), signed.text
        forged = {**form["fields"], "key": "forged.txt", signature: form["fields"][signature][::-1]}
        assert requests.post(form["url"], data=forged, files={"file": b"x"}, timeout=10).status_code == 403
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["s3.txt", "s3v4.txt"]


# -- browsers and foreign hosts are kept out -----------------------------------------------------------


def signed_request(endpoint, **extra_headers):
    """A correctly signed ListProjects request, sent with extra headers: (status, answer)."""
    return endpoint.call("CodeBuild_20161006.ListProjects", b"{}", service="codebuild", headers=extra_headers)


def test_a_foreign_origin_or_host_is_refused_even_when_signed(endpoint):
    assert signed_request(endpoint)[0] == 200
    assert signed_request(endpoint, Origin=endpoint.url)[0] == 200  # the endpoint's own origin
    assert signed_request(endpoint, Origin="http://attacker.example")[0] == 403
    assert signed_request(endpoint, Origin="null")[0] == 403  # a sandboxed page, a file:// page
    port = endpoint.url.rpartition(":")[2]
    assert raw(f"{endpoint.url}/_lab/health", headers={"Host": f"rebound.example:{port}"})[0] == 403
    assert raw(f"{endpoint.url}/_lab/health", headers={"Host": f"localhost:{port}"})[0] == 200


def test_no_answer_grants_cors(endpoint, unique):
    bucket = f"cors-{unique}"
    endpoint.client("s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION}
    )
    preflight = {
        "Origin": "http://attacker.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type",
    }
    status, headers, _ = raw(f"{endpoint.url}/{bucket}/x", headers=preflight, method="OPTIONS")
    assert status == 403
    assert not [name for name in headers if name.lower().startswith("access-control-")]
    own = {**preflight, "Origin": endpoint.url}
    _, headers, _ = raw(f"{endpoint.url}/{bucket}/x", headers=own, method="OPTIONS")
    assert not [name for name in headers if name.lower().startswith("access-control-")]


# -- git needs the lab's git credentials ---------------------------------------------------------------


def test_git_needs_the_labs_credentials(endpoint, unique, git_identity):
    endpoint.client("codecommit").create_repository(repositoryName=f"guarded-{unique}")
    url = f"{endpoint.url}/v1/repos/guarded-{unique}"
    status, headers, _ = raw(f"{url}/info/refs?service=git-upload-pack")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    bare = {k: v for k, v in endpoint.env.items() if not k.startswith("GIT_CONFIG_")}
    refused = subprocess.run(["git", "ls-remote", url], env=bare, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    wrong = {**bare, "GIT_ASKPASS": "echo"}
    assert (
        subprocess.run(["git", "ls-remote", url], env=wrong, capture_output=True, timeout=30).returncode != 0
    )
    assert endpoint.run(["git", "ls-remote", url]).returncode == 0  # with `labhelpers local env`'s settings


def test_codecommits_own_credential_helper_signs_for_the_endpoint_too(endpoint, unique, git_identity):
    endpoint.client("codecommit").create_repository(repositoryName=f"helper-{unique}")
    url = f"{endpoint.url}/v1/repos/helper-{unique}"
    helper = [
        "-c",
        "credential.helper=",
        "-c",
        "credential.helper=!aws codecommit credential-helper --ignore-host-check $@",
    ]
    argv = ["git", *helper, "-c", "credential.UseHttpPath=true", "ls-remote", url]
    assert endpoint.run(argv).returncode == 0
    wrong = {**endpoint.env, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    assert subprocess.run(argv, env=wrong, capture_output=True, timeout=60).returncode != 0


def test_local_env_sets_up_the_cli_and_git_for_the_endpoint_only(endpoint):
    printed = subprocess.run(
        [str(BIN / "labhelpers"), "local", "env"],
        env=endpoint.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"export AWS_ACCESS_KEY_ID={endpoint.keys.access_key}" in printed
    assert f"export GIT_CONFIG_KEY_0=credential.{endpoint.url}.helper" in printed
    helper = subprocess.run(
        [str(BIN / "labhelpers"), "git-credential", "--home", str(endpoint.layout.root), "get"],
        input="protocol=http\nhost=127.0.0.1\n\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"username={config.GIT_USER}\npassword={endpoint.keys.git_password}\n" in helper


# -- builds and hooks get what AWS gives them ---------------------------------------------------------


def test_a_deploy_hook_gets_no_lab_credentials(endpoint, tmp_path):
    ctx = endpoint.context(tmp_path / "home")
    hook = ctx.hook_env()
    assert hook["AWS_ENDPOINT_URL"] == endpoint.url
    assert not [name for name in hook if "KEY" in name or name.startswith("GIT_CONFIG")]
    assert ctx.build_env()["AWS_ACCESS_KEY_ID"] == endpoint.keys.access_key
