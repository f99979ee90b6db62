"""How fast the local engine runs pipelines: wall time from StartPipelineExecution to Succeeded, the time
spent in the work itself (buildspec phases, deploy hook events), and the engine's overhead (the rest), at
fast pace; then the article's pipeline once at each pace (teach holds each step so a learner can watch it).

Run: .venv/bin/python bench/pipeline_run.py [--runs 5]. It starts its own endpoint in a temporary folder."""

import argparse
import copy
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import labhelpers as lh
from labhelpers import pipelines, prerequisites
from labhelpers.lab import _restore_environ
from labhelpers.local import config, process
from labhelpers.roles import trust_policy

BUILD_PHASES = {"INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD"}
HOOK_EVENTS = {"ApplicationStop", "BeforeInstall", "AfterInstall", "ApplicationStart", "ValidateService"}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TRUST = trust_policy()


def seconds(start, end) -> float:
    return (end - start).total_seconds()


def wait_done(codepipeline, name: str, execution_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = codepipeline.get_pipeline_execution(pipelineName=name, pipelineExecutionId=execution_id)
        if found["pipelineExecution"]["status"] != "InProgress":
            return found["pipelineExecution"]
        time.sleep(0.01)
    raise TimeoutError(f"{name} {execution_id} still running after {timeout} s")


def work_seconds(lab, name: str, execution_id: str) -> float:
    """Time inside buildspec phases and deploy hook events of one execution."""
    total = 0.0
    details = lab.client("codepipeline").list_action_executions(
        pipelineName=name, filter={"pipelineExecutionId": execution_id}
    )["actionExecutionDetails"]
    for detail in details:
        external = detail["output"].get("executionResult", {}).get("externalExecutionId")
        provider = detail["input"]["actionTypeId"]["provider"]
        if provider == "CodeBuild":
            build = lab.client("codebuild").batch_get_builds(ids=[external])["builds"][0]
            total += sum(
                seconds(p["startTime"], p["endTime"])
                for p in build["phases"]
                if p["phaseType"] in BUILD_PHASES and "endTime" in p
            )
        elif provider == "CodeDeploy":
            codedeploy = lab.client("codedeploy")
            targets = codedeploy.list_deployment_targets(deploymentId=external)["targetIds"]
            for target in codedeploy.batch_get_deployment_targets(deploymentId=external, targetIds=targets)[
                "deploymentTargets"
            ]:
                total += sum(
                    seconds(e["startTime"], e["endTime"])
                    for e in target["instanceTarget"]["lifecycleEvents"]
                    if e["lifecycleEventName"] in HOOK_EVENTS and "startTime" in e
                )
    return total


def measure(lab, name: str, execution_id: str) -> tuple[float, float]:
    """(wall, work) of a finished execution, from the service's own timestamps."""
    summary = next(
        s
        for s in lab.client("codepipeline").list_pipeline_executions(pipelineName=name)[
            "pipelineExecutionSummaries"
        ]
        if s["pipelineExecutionId"] == execution_id
    )
    assert summary["status"] == "Succeeded", summary
    return seconds(summary["startTime"], summary["lastUpdateTime"]), work_seconds(lab, name, execution_id)


def sequential(lab, declaration: dict, runs: int) -> list[tuple[float, float]]:
    codepipeline = lab.client("codepipeline")
    name = declaration["pipeline"]["name"]
    codepipeline.create_pipeline(**declaration)
    first = codepipeline.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
    wait_done(codepipeline, name, first["pipelineExecutionId"])  # warms clients and caches
    results = []
    for _ in range(runs):
        execution_id = codepipeline.start_pipeline_execution(name=name)["pipelineExecutionId"]
        wait_done(codepipeline, name, execution_id)
        results.append(measure(lab, name, execution_id))
    return results


def one_run(lab, name: str) -> float:
    """The wall time of one more run of an existing pipeline."""
    codepipeline = lab.client("codepipeline")
    execution_id = codepipeline.start_pipeline_execution(name=name)["pipelineExecutionId"]
    wait_done(codepipeline, name, execution_id)
    return measure(lab, name, execution_id)[0]


def parallel(lab, declaration: dict, count: int) -> tuple[float, list[tuple[float, float]]]:
    codepipeline = lab.client("codepipeline")
    name = declaration["pipeline"]["name"]
    codepipeline.create_pipeline(**declaration)
    first = codepipeline.list_pipeline_executions(pipelineName=name)["pipelineExecutionSummaries"][0]
    wait_done(codepipeline, name, first["pipelineExecutionId"])
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ids = list(
            pool.map(
                lambda _: codepipeline.start_pipeline_execution(name=name)["pipelineExecutionId"],
                range(count),
            )
        )
    for execution_id in ids:
        wait_done(codepipeline, name, execution_id)
    return time.monotonic() - started, [measure(lab, name, execution_id) for execution_id in ids]


def report(title: str, results: list[tuple[float, float]]):
    walls = [wall for wall, _ in results]
    works = [work for _, work in results]
    overheads = [wall - work for wall, work in results]
    print(f"{title}")
    print(f"  wall, start -> Succeeded   median {statistics.median(walls):6.3f} s   (max {max(walls):.3f})")
    print(f"  inside build/hook work     median {statistics.median(works):6.3f} s")
    overhead = statistics.median(overheads)
    print(f"  engine overhead            median {overhead:6.3f} s   (max {max(overheads):.3f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        layout = config.Layout(Path(home))
        process.start(layout)
        try:
            lab = lh.connect(home=home, quiet=True, pace="fast")
            prerequisites.ensure(lab)
            iam = lab.client("iam")
            iam.create_role(RoleName=lab.names.pipeline_role, AssumeRolePolicyDocument=json.dumps(TRUST))
            iam.put_role_policy(
                RoleName=lab.names.pipeline_role, PolicyName="all", PolicyDocument=json.dumps(ADMIN)
            )
            article = pipelines.article_pipeline(lab)
            two_stage = copy.deepcopy(article)
            two_stage["pipeline"].update(name="bench-source-build", stages=article["pipeline"]["stages"][:2])
            report(f"Source -> Build ({args.runs} runs)", sequential(lab, two_stage, args.runs))
            report(
                f"Source -> Build -> Deploy, the article's pipeline ({args.runs} runs)",
                sequential(lab, article, args.runs),
            )
            many = copy.deepcopy(two_stage)
            many["pipeline"].update(name="bench-parallel", executionMode="PARALLEL")
            total, results = parallel(lab, many, args.parallel)
            report(
                f"{args.parallel} executions of Source -> Build in PARALLEL mode, started together", results
            )
            print(
                f"  all {args.parallel} Succeeded after {total:.3f} s: {total / args.parallel:.3f} s per "
                "execution amortized (each run's own wall includes waiting for the machine's 2 cores)"
            )
            print("The article's pipeline, start -> Succeeded, at each pace")
            for pace in config.PACES:
                lh.connect(home=home, quiet=True, pace=pace)
                print(f"  {pace:<6} {one_run(lab, article['pipeline']['name']):7.3f} s")
        finally:
            _restore_environ()
            process.stop(layout)


if __name__ == "__main__":
    main()
