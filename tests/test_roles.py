"""The pipeline's service role: the generated least-privilege policy runs the article's pipeline on the
endpoint, which enforces it; each statement is needed; `explain` reads the role's policies right."""

import json
import uuid

import pytest

import labhelpers as lh
from labhelpers import iam_rules, pipelines, prerequisites, roles, runs
from labhelpers.lab import _restore_environ

# Which action fails, and on which call, when the statement is left out of the generated policy.
FAILS_WITHOUT = {
    "ArtifactBucket": ("Source", "s3:GetBucketVersioning"),
    "ArtifactObjects": ("Source", "s3:PutObject"),
    "CodeCommitSource": ("Source", "codecommit:GetBranch"),
    "CodeBuild": ("Build", "codebuild:StartBuild"),
    "CodeDeployGroup": ("Deploy", "codedeploy:CreateDeployment"),
    "CodeDeployApplication": ("Deploy", "codedeploy:GetApplication"),
    "CodeDeployConfig": ("Deploy", "codedeploy:GetDeploymentConfig"),
}


@pytest.fixture(scope="module")
def lab(endpoint):
    """The article's prerequisites and pipeline, named from a prefix of this module's own."""
    made = lh.connect(home=str(endpoint.layout.root), prefix=f"r{uuid.uuid4().hex[:8]}", quiet=True)
    prerequisites.ensure(made)
    yield made
    _restore_environ()


@pytest.fixture(scope="module")
def article(lab):
    """The article's pipeline under the generated role, after its first run."""
    declaration = pipelines.article_pipeline(lab)
    roles.ensure_pipeline_role(lab, declaration)
    lab.client("codepipeline").create_pipeline(**declaration)
    runs.watch(lab, timeout=60)
    return declaration


def put_policy(lab, policy: dict):
    lab.client("iam").put_role_policy(
        RoleName=lab.names.pipeline_role,
        PolicyName=f"{lab.names.pipeline_role}-policy",
        PolicyDocument=json.dumps(policy),
    )


def test_the_trust_policy_lets_codepipeline_assume_the_role():
    assert roles.trust_policy() == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codepipeline.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_the_policy_names_only_the_lab_resources_and_the_calls_their_providers_need(lab):
    names = lab.names
    policy = roles.permissions_policy(lab, pipelines.article_pipeline(lab))
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert list(by_sid) == list(FAILS_WITHOUT)
    region, account = lab.region, lab.account
    assert by_sid["ArtifactBucket"]["Resource"] == [f"arn:aws:s3:::{names.bucket}"]
    assert by_sid["ArtifactObjects"]["Resource"] == [f"arn:aws:s3:::{names.bucket}/*"]
    assert by_sid["ArtifactObjects"]["Condition"] == {"StringEquals": {"aws:ResourceAccount": account}}
    assert by_sid["CodeCommitSource"]["Resource"] == [
        f"arn:aws:codecommit:{region}:{account}:{names.repository}"
    ]
    assert by_sid["CodeBuild"] == {
        "Sid": "CodeBuild",
        "Effect": "Allow",
        "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
        "Resource": [f"arn:aws:codebuild:{region}:{account}:project/{names.build_project}"],
    }
    group = f"deploymentgroup:{names.application}/{names.deployment_group}"
    assert by_sid["CodeDeployGroup"]["Resource"] == [f"arn:aws:codedeploy:{region}:{account}:{group}"]
    assert all("*" not in call for statement in policy["Statement"] for call in statement["Action"])


def test_a_pipeline_without_build_or_deploy_gets_no_statements_for_them(lab):
    declaration = pipelines.article_pipeline(lab)
    stages = declaration["pipeline"]["stages"]
    stages[1:] = [
        {
            "name": "Approve",
            "actions": [
                {
                    "name": "Approve",
                    "actionTypeId": {
                        "category": "Approval",
                        "owner": "AWS",
                        "provider": "Manual",
                        "version": "1",
                    },
                    "configuration": {"NotificationArn": f"arn:aws:sns:{lab.region}:{lab.account}:reviewers"},
                }
            ],
        }
    ]
    sids = [statement["Sid"] for statement in roles.permissions_policy(lab, declaration)["Statement"]]
    assert sids == ["ArtifactBucket", "ArtifactObjects", "CodeCommitSource", "ApprovalNotification"]


def test_variables_in_resource_names_become_wildcards(lab):
    declaration = pipelines.article_pipeline(lab)
    declaration["pipeline"]["stages"][1]["actions"][0]["configuration"]["ProjectName"] = "#{Vars.Project}"
    build = next(
        s for s in roles.permissions_policy(lab, declaration)["Statement"] if s["Sid"] == "CodeBuild"
    )
    assert build["Resource"] == [f"arn:aws:codebuild:{lab.region}:{lab.account}:project/*"]


def test_the_generated_role_runs_the_article_pipeline_to_succeeded(lab, article):
    execution = runs.wait(lab, runs.start(lab), timeout=60)
    assert execution["status"] == "Succeeded"
    report = roles.explain(lab, article)
    assert set(report.decision) == {"allowed"}
    assert report.statement.str.startswith(f"{lab.names.pipeline_role}-policy/").all()
    assert (report.fix == "").all()


def test_ensure_pipeline_role_is_idempotent_and_repairs_the_role(lab, article):
    iam = lab.client("iam")
    put_policy(
        lab, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    )
    iam.update_assume_role_policy(
        RoleName=lab.names.pipeline_role, PolicyDocument=json.dumps(roles.trust_policy("ec2.amazonaws.com"))
    )
    arn = roles.ensure_pipeline_role(lab, article)
    assert arn == roles.ensure_pipeline_role(lab, article)
    assert arn == f"arn:aws:iam::{lab.account}:role/{lab.names.pipeline_role}"
    role = iam.get_role(RoleName=lab.names.pipeline_role)["Role"]
    assert role["AssumeRolePolicyDocument"] == roles.trust_policy()
    assert iam.list_role_policies(RoleName=lab.names.pipeline_role)["PolicyNames"] == [
        f"{lab.names.pipeline_role}-policy"
    ]
    document = iam.get_role_policy(
        RoleName=lab.names.pipeline_role, PolicyName=f"{lab.names.pipeline_role}-policy"
    )
    assert document["PolicyDocument"] == roles.permissions_policy(lab, article)


@pytest.mark.parametrize("sid", list(FAILS_WITHOUT))
def test_each_statement_is_needed_by_its_action(lab, article, sid):
    full = roles.permissions_policy(lab, article)
    removed = next(statement for statement in full["Statement"] if statement["Sid"] == sid)
    put_policy(lab, {**full, "Statement": [s for s in full["Statement"] if s["Sid"] != sid]})
    try:
        report = roles.explain(lab, article)
        missing = report[report.decision == "missing"]
        assert set(missing.call) == set(removed["Action"])
        assert missing.fix.str.contains(f"statement {sid} of roles.permissions_policy").all()

        execution_id = runs.start(lab)
        assert runs.wait(lab, execution_id, timeout=60)["status"] == "Failed"
        stage, call = FAILS_WITHOUT[sid]
        failed = [a for a in runs.snapshot(lab, execution_id=execution_id).actions if a.status == "Failed"]
        assert [a.stage for a in failed] == [stage]
        assert f"is not authorized to perform: {call} on resource: " in failed[0].error
    finally:
        roles.ensure_pipeline_role(lab, article)


def test_explain_names_the_deny_that_wins_and_the_attached_policy_that_allows(lab, article):
    iam = lab.client("iam")
    full = roles.permissions_policy(lab, article)
    deny = {"Sid": "NoBuilds", "Effect": "Deny", "Action": "CodeBuild:Start*", "Resource": "*"}
    put_policy(lab, {**full, "Statement": [*full["Statement"], deny]})
    arn = "arn:aws:iam::aws:policy/AWSCodeCommitFullAccess"
    iam.attach_role_policy(RoleName=lab.names.pipeline_role, PolicyArn=arn)
    try:
        report = roles.explain(lab, article).set_index("call")
        assert report.loc["codebuild:StartBuild", "decision"] == "denied"
        assert report.loc["codebuild:StartBuild", "statement"] == f"{lab.names.pipeline_role}-policy/NoBuilds"
        assert "narrow the Deny" in report.loc["codebuild:StartBuild", "fix"]
        assert report.loc["codebuild:BatchGetBuilds", "decision"] == "allowed"
        put_policy(
            lab, {**full, "Statement": [s for s in full["Statement"] if s["Sid"] != "CodeCommitSource"]}
        )
        report = roles.explain(lab, article)
        source = report[report.call.str.startswith("codecommit:")]
        assert set(source.decision) == {"allowed"}
        assert source.statement.str.startswith("AWSCodeCommitFullAccess").all()
    finally:
        iam.detach_role_policy(RoleName=lab.names.pipeline_role, PolicyArn=arn)
        roles.ensure_pipeline_role(lab, article)


def test_explain_of_a_missing_role_says_how_to_create_it(lab):
    with pytest.raises(lh.LabError, match=r"roles\.ensure_pipeline_role"):
        roles.explain(lab, pipelines.article_pipeline(lab), role="no-such-role")


def test_a_declaration_without_stages_is_refused(lab):
    with pytest.raises(lh.LabError, match="article_pipeline"):
        roles.permissions_policy(lab, {"pipeline": {"name": "x"}})


# -- the evaluator on its own ---------------------------------------------------------------------------

OBJECT = "arn:aws:s3:::bucket/key"


def decide(*statements, call="s3:GetObject", resource=OBJECT, account="111122223333"):
    documents = [("inline", {"Version": "2012-10-17", "Statement": list(statements)})]
    return roles.decide(documents, call, resource, {"aws:ResourceAccount": account})


def allow(**fields):
    return {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", **fields}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (allow(Action="S3:getobject"), "allowed"),
        (allow(Action=["codebuild:*", "s3:Get*"]), "allowed"),
        (allow(Action="s3:Get?bject"), "allowed"),
        (allow(Action="s3:Put*"), "missing"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "allowed"),
        ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, "missing"),
        (allow(Resource="arn:aws:s3:::bucket/*"), "allowed"),
        (allow(Resource="arn:aws:s3:::BUCKET/*"), "missing"),
        (allow(Resource="arn:aws:s3:::other/*"), "missing"),
        ({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::other/*"}, "allowed"),
        ({"Effect": "Allow", "Action": "s3:*"}, "missing"),
        (allow(Condition={"StringEquals": {"aws:ResourceAccount": "111122223333"}}), "allowed"),
        (allow(Condition={"StringEquals": {"AWS:ResourceAccount": "444455556666"}}), "missing"),
        (allow(Condition={"StringLike": {"aws:ResourceAccount": "1111*"}}), "allowed"),
        (allow(Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}), "allowed"),
        (allow(Condition={"Bool": {"aws:SecureTransport": "true"}}), "missing"),
    ],
)
def test_the_evaluator_reads_actions_resources_and_conditions_as_iam_does(statement, expected):
    assert decide(statement)[0] == expected


def test_an_explicit_deny_wins_over_any_allow():
    assert decide(allow(Sid="Read"), {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}) == (
        "denied",
        "inline#1",
    )
    assert decide(allow(Sid="Read")) == ("allowed", "inline/Read")


def test_the_engine_enforces_the_same_table():
    from labhelpers.local.codepipeline.engine.permissions import needs

    action = pipelines.article_pipeline(lh.Names("awscicd", "111122223333", "ap-southeast-1"))
    build = action["pipeline"]["stages"][1]["actions"][0]
    location = {"bucket": "b", "key": "p/SourceOutp/abc"}
    wanted = needs(
        build,
        build["configuration"],
        region="ap-southeast-1",
        account="111122223333",
        inputs={"SourceOutput": location},
        bucket="b",
    )
    grants = iam_rules.action_grants(
        build,
        build["configuration"],
        region="ap-southeast-1",
        account="111122223333",
        bucket="b",
        reads=["arn:aws:s3:::b/p/SourceOutp/abc"],
    )
    assert wanted == [(call, grant.resource) for grant in grants for call in grant.calls]
    assert ("s3:GetObject", "arn:aws:s3:::b/p/SourceOutp/abc") in wanted
    assert (
        "codebuild:StartBuild",
        "arn:aws:codebuild:ap-southeast-1:111122223333:project/awscicd-demo-build",
    ) in wanted


def test_explain_without_the_role_says_to_run_01_first(lab):
    declaration = pipelines.article_pipeline(lab)
    declaration["pipeline"]["roleArn"] = f"arn:aws:iam::{lab.account}:role/{lab.prefix}-not-made-yet"
    with pytest.raises(lh.LabError, match="run notebook 01_service_role first"):
        roles.explain(lab, declaration)
