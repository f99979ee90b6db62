"""CodeConnections and CodeStar Connections on the endpoint through real boto3 and the aws CLI: connections
are AVAILABLE at once, hosts stay PENDING, both are shared by both APIs and kept across a restart; a
CodeStarSourceConnection action fails clearly on a connection or repository it cannot use."""

import json
import subprocess

import pytest
from botocore.exceptions import ClientError
from conftest import start_endpoint
from pipeline_kit import approval_stage
from test_triggers import TriggerKit, connection_source

from labhelpers.local import config, process

APIS = [("codeconnections", "codeconnections"), ("codestar-connections", "codestar-connections")]


@pytest.mark.parametrize("service, arn_service", APIS)
def test_connections_are_created_read_listed_and_deleted(endpoint, unique, service, arn_service):
    client = endpoint.client(service)
    created = client.create_connection(
        ProviderType="GitHub", ConnectionName=f"gh-{unique}", Tags=[{"Key": "team", "Value": "lab"}]
    )
    arn = created["ConnectionArn"]
    assert arn.startswith(f"arn:aws:{arn_service}:{config.REGION}:{config.ACCOUNT}:connection/")
    assert created["Tags"] == [{"Key": "team", "Value": "lab"}]
    assert client.get_connection(ConnectionArn=arn)["Connection"] == {
        "ConnectionName": f"gh-{unique}",
        "ConnectionArn": arn,
        "ProviderType": "GitHub",
        "OwnerAccountId": config.ACCOUNT,
        "ConnectionStatus": "AVAILABLE",
    }
    listed = client.list_connections(ProviderTypeFilter="GitHub", MaxResults=100)["Connections"]
    assert arn in [c["ConnectionArn"] for c in listed]
    client.delete_connection(ConnectionArn=arn)
    with pytest.raises(ClientError) as missing:
        client.get_connection(ConnectionArn=arn)
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as again:
        client.delete_connection(ConnectionArn=arn)
    assert again.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_both_apis_see_the_same_connections_page_by_page(endpoint, unique):
    new, old = endpoint.client("codeconnections"), endpoint.client("codestar-connections")
    arns = {
        new.create_connection(ProviderType="GitLab", ConnectionName=f"gl-{unique}-1")["ConnectionArn"],
        old.create_connection(ProviderType="Bitbucket", ConnectionName=f"bb-{unique}")["ConnectionArn"],
        new.create_connection(ProviderType="GitLab", ConnectionName=f"gl-{unique}-2")["ConnectionArn"],
    }
    seen, token = [], {}
    while token is not None:
        page = old.list_connections(MaxResults=1, **token)
        seen += [c["ConnectionArn"] for c in page["Connections"]]
        token = {"NextToken": page["NextToken"]} if "NextToken" in page else None
    assert arns <= set(seen) and len(seen) == len(set(seen))
    assert all(new.get_connection(ConnectionArn=arn)["Connection"]["ConnectionArn"] == arn for arn in arns)
    gitlab = new.list_connections(ProviderTypeFilter="GitLab")["Connections"]
    assert {c["ConnectionName"] for c in gitlab} >= {f"gl-{unique}-1", f"gl-{unique}-2"}
    assert "Bitbucket" not in {c["ProviderType"] for c in gitlab}


def test_connections_are_tagged_and_untagged(endpoint, unique):
    client = endpoint.client("codeconnections")
    arn = client.create_connection(ProviderType="GitHub", ConnectionName=f"tags-{unique}")["ConnectionArn"]
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    client.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]


def test_bad_requests_get_aws_errors(endpoint):
    client = endpoint.client("codestar-connections")
    with pytest.raises(ClientError) as unknown_type:
        client.create_connection(ProviderType="AzureDevOps", ConnectionName="x")
    assert unknown_type.value.response["Error"]["Code"] == "ValidationException"
    assert "enum value set" in unknown_type.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as long_name:
        client.create_connection(ProviderType="GitHub", ConnectionName="n" * 33)
    assert long_name.value.response["Error"]["Code"] == "ValidationException"
    missing = f"arn:aws:codestar-connections:{config.REGION}:{config.ACCOUNT}:connection/nope"
    with pytest.raises(ClientError) as not_found:
        client.list_tags_for_resource(ResourceArn=missing)
    assert not_found.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_restart_keeps_the_connections_and_hosts(fresh_endpoint, unique):
    client = fresh_endpoint.client("codeconnections")
    arn = client.create_connection(ProviderType="Bitbucket", ConnectionName=f"kept-{unique}")["ConnectionArn"]
    host = client.create_host(
        Name=f"kept-{unique}", ProviderType="GitLabSelfManaged", ProviderEndpoint="https://gitlab.example.com"
    )["HostArn"]
    process.stop(fresh_endpoint.layout)
    restarted = start_endpoint(fresh_endpoint.layout.root).client("codestar-connections")
    connection = restarted.get_connection(ConnectionArn=arn)["Connection"]
    assert (connection["ConnectionName"], connection["ConnectionStatus"]) == (f"kept-{unique}", "AVAILABLE")
    assert restarted.get_host(HostArn=host)["Name"] == f"kept-{unique}"


# --- hosts -------------------------------------------------------------------------------------------------

VPC = {"VpcId": "vpc-0123abcd", "SubnetIds": ["subnet-0123abcd"], "SecurityGroupIds": ["sg-0123abcd"]}


def error_code(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


@pytest.mark.parametrize("service, arn_service", APIS)
def test_hosts_are_created_pending_read_listed_and_deleted(endpoint, unique, service, arn_service):
    client = endpoint.client(service)
    created = client.create_host(
        Name=f"ghes-{unique}",
        ProviderType="GitHubEnterpriseServer",
        ProviderEndpoint="https://ghes.example.com",
        VpcConfiguration=VPC,
        Tags=[{"Key": "team", "Value": "lab"}],
    )
    arn = created["HostArn"]
    assert arn.startswith(f"arn:aws:{arn_service}:{config.REGION}:{config.ACCOUNT}:host/ghes-{unique}-")
    assert created["Tags"] == [{"Key": "team", "Value": "lab"}]
    host = client.get_host(HostArn=arn)
    host.pop("ResponseMetadata")
    assert host == {
        "Name": f"ghes-{unique}",
        "Status": "PENDING",
        "ProviderType": "GitHubEnterpriseServer",
        "ProviderEndpoint": "https://ghes.example.com",
        "VpcConfiguration": VPC,
    }
    listed = [h for h in client.list_hosts()["Hosts"] if h["HostArn"] == arn]
    assert listed == [{**host, "HostArn": arn}]
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "lab"}]
    client.delete_host(HostArn=arn)
    assert error_code(client.get_host, HostArn=arn) == "ResourceNotFoundException"
    assert error_code(client.delete_host, HostArn=arn) == "ResourceNotFoundException"


def test_both_apis_see_the_same_hosts_page_by_page(endpoint, unique):
    new, old = endpoint.client("codeconnections"), endpoint.client("codestar-connections")
    made = {"ProviderType": "GitLabSelfManaged", "ProviderEndpoint": "https://gitlab.example.com"}
    arns = {
        new.create_host(Name=f"gl-{unique}-1", **made)["HostArn"],
        old.create_host(Name=f"gl-{unique}-2", **made)["HostArn"],
    }
    seen, token = [], {}
    while token is not None:
        page = old.list_hosts(MaxResults=1, **token)
        assert len(page["Hosts"]) <= 1
        seen += [h["HostArn"] for h in page["Hosts"]]
        token = {"NextToken": page["NextToken"]} if "NextToken" in page else None
    assert arns <= set(seen) and len(seen) == len(set(seen))
    assert {new.get_host(HostArn=arn)["Status"] for arn in arns} == {"PENDING"}


def test_a_host_is_tagged_and_a_connection_waits_for_it_to_be_available(endpoint, unique):
    client = endpoint.client("codestar-connections")
    arn = client.create_host(
        Name=f"tags-{unique}",
        ProviderType="GitHubEnterpriseServer",
        ProviderEndpoint="https://ghes.example.com",
    )["HostArn"]
    client.tag_resource(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    client.untag_resource(ResourceArn=arn, TagKeys=["a"])
    assert client.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(ClientError) as pending:
        client.create_connection(ConnectionName=f"on-{unique}", HostArn=arn)
    assert pending.value.response["Error"]["Code"] == "ResourceUnavailableException"
    assert "PENDING" in pending.value.response["Error"]["Message"]
    gone = arn.replace(f"tags-{unique}", f"gone-{unique}")
    assert (
        error_code(client.create_connection, ConnectionName="x", HostArn=gone) == "ResourceNotFoundException"
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"ProviderType": "GitHub"}, "providerType"),
        ({"ProviderEndpoint": "my-instance.dev"}, "providerEndpoint"),
        ({"Name": "n" * 65}, "name"),
        ({"VpcConfiguration": {**VPC, "VpcId": "vpc-1"}}, "vpcConfiguration.vpcId"),
        ({"VpcConfiguration": {**VPC, "SubnetIds": []}}, "vpcConfiguration.subnetIds"),
        ({"VpcConfiguration": {**VPC, "SecurityGroupIds": ["group"]}}, "vpcConfiguration.securityGroupIds"),
        ({"Tags": [{"Key": "", "Value": "v"}]}, "tags"),
    ],
)
def test_create_host_refuses_bad_members_naming_them(endpoint, change, field):
    request = {
        "Name": "bad",
        "ProviderType": "GitHubEnterpriseServer",
        "ProviderEndpoint": "https://ghes.example.com",
        **change,
    }
    status, answer = endpoint.call(
        "CodeStar_connections_20191201.CreateHost", request, service="codestar-connections"
    )
    assert (status, answer["__type"]) == (400, "ValidationException")
    assert f"at '{field}'" in answer["message"]


def test_the_aws_cli_creates_reads_lists_and_deletes_a_host(endpoint, unique, tmp_path):
    """The CLI v1 fetches https:// parameter values unless cli_follow_urlparam is false."""
    settings = tmp_path / "aws-config"
    settings.write_text("[default]\ncli_follow_urlparam = false\n")

    def aws(*args: str) -> str:
        env = {**endpoint.env, "AWS_CONFIG_FILE": str(settings)}
        done = subprocess.run(["aws", "codestar-connections", *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    created = aws(
        "create-host",
        "--name",
        f"MyHost-{unique}",
        "--provider-type",
        "GitHubEnterpriseServer",
        "--provider-endpoint",
        "https://my-instance.dev",
    )
    arn = json.loads(created)["HostArn"]
    host = json.loads(aws("get-host", "--host-arn", arn))
    assert (host["Status"], host["ProviderEndpoint"]) == ("PENDING", "https://my-instance.dev")
    assert arn in [h["HostArn"] for h in json.loads(aws("list-hosts"))["Hosts"]]
    assert aws("delete-host", "--host-arn", arn) == ""


@pytest.fixture
def kit(endpoint, unique):
    made = TriggerKit(endpoint, unique)
    made.setup()
    yield made
    made.codepipeline.delete_pipeline(name=made.pipeline)


def source_failure(kit) -> str:
    run = kit.executions()[-1]["pipelineExecutionId"]
    assert kit.wait_status(run, "Failed", "Succeeded") == "Failed"
    action = next(a for a in kit.actions(run) if a["stageName"] == "Source")
    return action["output"]["executionResult"]["errorDetails"]["message"]


def test_a_source_on_a_missing_connection_fails_naming_it(kit):
    arn = f"arn:aws:codeconnections:{config.REGION}:{config.ACCOUNT}:connection/0000-gone"
    kit.source = connection_source(arn, kit.repository)
    kit.create(approval_stage())
    message = source_failure(kit)
    assert message.startswith(f"Unable to use Connection: {arn}.") and "does not exist" in message


def test_a_source_on_an_unknown_repository_says_what_to_create(kit, unique):
    arn = kit.endpoint.client("codeconnections").create_connection(
        ProviderType="GitHub", ConnectionName=f"gh-{unique}"
    )["ConnectionArn"]
    kit.source = connection_source(arn, f"absent-{unique}")
    kit.create(approval_stage())
    message = source_failure(kit)
    assert f"octocat/absent-{unique}" in message
    assert f"create-repository --repository-name absent-{unique}" in message
