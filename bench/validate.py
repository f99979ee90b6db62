"""Time the pipeline validator: a generated 50-stage x 10-action declaration and the article's pipeline.

    .venv/bin/python bench/validate.py [--runs 200]

Prints the median (and fastest) wall time of `validate()` over many runs, after one warm-up run that
loads the botocore model. The target is 10 ms for the large declaration.
"""

import argparse
import statistics
import time
from types import SimpleNamespace

from labhelpers.pipelines import article_pipeline
from labhelpers.validator import validate

ACCOUNT = "111122223333"


def large_declaration(stages: int = 50, actions_per_stage: int = 10) -> dict:
    """A valid pipeline: sources in the first stage, then CodeBuild actions that each read the action
    above them in the previous stage, half of them in a second runOrder reading the first half's output."""
    return {
        "pipeline": {
            "name": "bench-pipeline",
            "roleArn": f"arn:aws:iam::{ACCOUNT}:role/bench-role",
            "artifactStore": {"type": "S3", "location": f"bench-artifacts-{ACCOUNT}"},
            "pipelineType": "V2",
            "stages": [_source_stage(actions_per_stage)]
            + [_build_stage(s, actions_per_stage) for s in range(1, stages)],
        }
    }


def _source_stage(width: int) -> dict:
    actions = [
        {
            "name": f"Source{a}",
            "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeCommit", "version": "1"},
            "configuration": {"RepositoryName": f"repo-{a}", "BranchName": "main"},
            "outputArtifacts": [{"name": f"S0A{a}"}],
            "namespace": f"Src{a}",
        }
        for a in range(width)
    ]
    return {"name": "Source", "actions": actions}


def _build_stage(stage: int, width: int) -> dict:
    half = width // 2
    actions = []
    for a in range(width):
        second_half = a >= half
        source = f"S{stage}A{a - half}" if second_half else f"S{stage - 1}A{a}"
        actions.append(
            {
                "name": f"Build{a}",
                "actionTypeId": {
                    "category": "Build",
                    "owner": "AWS",
                    "provider": "CodeBuild",
                    "version": "1",
                },
                "runOrder": 2 if second_half else 1,
                "configuration": {
                    "ProjectName": f"project-{a}",
                    "EnvironmentVariables": f'[{{"name": "COMMIT", "value": "#{{Src{a % half}.CommitId}}"}}]',
                },
                "inputArtifacts": [{"name": source}],
                "outputArtifacts": [{"name": f"S{stage}A{a}"}],
            }
        )
    return {"name": f"Stage{stage}", "actions": actions}


def median_ms(declaration, runs: int) -> tuple[float, float]:
    validate(declaration)  # warm-up: loads and compiles the service model once
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        problems = validate(declaration)
        times.append(time.perf_counter() - start)
    assert not problems, problems[:3]
    return statistics.median(times) * 1000, min(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    runs = parser.parse_args().runs
    lab = SimpleNamespace(account=ACCOUNT, region="ap-southeast-1", prefix="awscicd")
    cases = {"50 stages x 10 actions": large_declaration(), "article pipeline": article_pipeline(lab)}
    for label, declaration in cases.items():
        median, fastest = median_ms(declaration, runs)
        print(f"{label:<24} median {median:7.3f} ms   fastest {fastest:7.3f} ms   ({runs} runs)")


if __name__ == "__main__":
    main()
