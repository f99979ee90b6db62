"""A web page of another origin, in real chromium, tries what an attacker's page would: start a build through
a preflighted fetch, send one without a preflight, post an upload form to S3, read the git server; and a
page served with the deployed pages' sandbox tries the API from inside. Nothing changes state, nothing runs.
"""

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_kit import chromium, needs_chromium

from labhelpers.local import config
from labhelpers.local.labpages import SANDBOX

pytestmark = needs_chromium

ATTACK = """
<!doctype html><title>attacker</title>
<form id="upload" method="post" enctype="multipart/form-data" target="sink" action="{endpoint}/{bucket}">
  <input name="key" value="from-a-form.txt"><input type="file" name="file">
</form>
<iframe name="sink"></iframe>
<script>
const endpoint = "{endpoint}";
const outcome = (promise) => promise.then(r => "answered " + r.status, e => "blocked: " + e.message);
async function attack() {{
  const spec = "version: 0.2\\nphases:\\n  build:\\n    commands:\\n      - touch {marker}";
  const build = JSON.stringify({{projectName: "{project}", sourceTypeOverride: "NO_SOURCE",
                                buildspecOverride: spec}});
  const results = {{}};
  const scope = "AKIAFAKE/20260101/{region}/codebuild/aws4_request";
  const forged = `AWS4-HMAC-SHA256 Credential=${{scope}}, SignedHeaders=host, Signature=00`;
  results.preflighted = await outcome(fetch(endpoint + "/{bucket}/x", {{method: "POST", body: build,
      headers: {{"X-Amz-Target": "CodeBuild_20161006.StartBuild",
                 "Content-Type": "application/x-amz-json-1.1",
                 "Authorization": forged}}}}));
  results.simple = await outcome(fetch(endpoint + "/", {{method: "POST", mode: "no-cors", body: build,
      headers: {{"Content-Type": "text/plain"}}}}));
  results.git = await outcome(fetch(endpoint + "/v1/repos/{repository}/info/refs?service=git-upload-pack"));
  document.getElementById("upload").submit();
  await new Promise(r => setTimeout(r, 1000));
  document.title = JSON.stringify(results);
}}
attack();
</script>
"""
SANDBOXED = """
<!doctype html><title>deployed</title>
<script>
fetch("{endpoint}/_lab/health").then(r => r.status, e => "blocked: " + e.message)
  .then(s => {{ document.title = JSON.stringify({{origin: self.origin, health: String(s)}}); }});
</script>
"""


class Pages(BaseHTTPRequestHandler):
    """Serves the attacker's page; `/deployed` comes with the deployed pages' sandbox policy."""

    pages: dict[str, str] = {}

    def do_GET(self):
        body = self.pages[self.path.split("?")[0]].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if self.path.startswith("/deployed"):
            self.send_header("Content-Security-Policy", SANDBOX)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def attacker_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_page_of_another_origin_changes_nothing(endpoint, attacker_site, unique, tmp_path):
    s3, cb = endpoint.client("s3"), endpoint.client("codebuild")
    bucket, project, repository = f"victim-{unique}", f"victim-{unique}", f"victim-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": config.REGION})
    cb.create_project(
        name=project,
        source={"type": "NO_SOURCE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands: [true]\n"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        serviceRole=f"arn:aws:iam::{config.ACCOUNT}:role/lab-codebuild",
    )
    endpoint.client("codecommit").create_repository(repositoryName=repository)
    marker = tmp_path / "the-attack-ran"
    Pages.pages = {
        "/attack": ATTACK.format(
            endpoint=endpoint.url,
            bucket=bucket,
            project=project,
            repository=repository,
            marker=marker,
            region=config.REGION,
        )
    }
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{attacker_site}/attack")
        page.wait_for_function("() => document.title.startsWith('{')", timeout=30_000)
        results = json.loads(page.title())
    assert results["preflighted"].startswith("blocked"), results  # the preflight is refused
    assert results["simple"] == "answered 0", results  # an opaque answer: the page learns nothing
    assert results["git"].startswith("blocked"), results
    assert cb.list_builds_for_project(projectName=project)["ids"] == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not marker.exists()


def test_a_deployed_page_runs_in_an_opaque_origin_that_the_endpoint_refuses(endpoint, attacker_site):
    Pages.pages = {"/deployed": SANDBOXED.format(endpoint=endpoint.url)}
    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{attacker_site}/deployed")
        page.wait_for_function("() => document.title.startsWith('{')", timeout=30_000)
        seen = json.loads(page.title())
    assert seen["origin"] == "null"  # the sandbox: the page's scripts have no origin of their own
    assert seen["health"].startswith("blocked") or seen["health"] == "403"


def test_a_rebound_host_name_is_refused_before_any_work(endpoint):
    port = endpoint.url.rpartition(":")[2]
    request = urllib.request.Request(
        f"{endpoint.url}/", data=b"{}", headers={"Host": f"attacker.example:{port}"}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
