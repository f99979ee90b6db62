"""The notebooks' exercise checks: each takes the learner's answer, says what is right, and when it is not,
stops the cell with a `Hint` that says why and where to look, never with a traceback.

The notebooks are written once, with nbgrader solution regions; `make student` releases copies whose
answers are `...`. A check that meets `...` asks for the answer. nbgrader grades a check cell by whether
it raises, so a wrong answer always raises."""

import json
import time

import pandas as pd

from .errors import LabError
from .lab import Lab, Names, check_prefix


class Hint(AssertionError):
    """A check's verdict on a wrong or missing answer: shown in Jupyter as the hint alone."""

    def _render_traceback_(self) -> list[str]:  # IPython shows these lines instead of a traceback
        return [f"\x1b[1;31mNot yet.\x1b[0m {line}" if i == 0 else line for i, line in enumerate(self.lines)]

    @property
    def lines(self) -> list[str]:
        return str(self).splitlines()


def _answered(**answers) -> None:
    missing = [name for name, value in answers.items() if value is ...]
    if missing:
        raise Hint(
            f"Fill in {', '.join(f'`{name}`' for name in missing)} in the cell above: replace each `...` "
            "with your answer, run that cell, then run this check again."
        )


def _confirm(message: str, why: str) -> None:
    print(f"✓ {message}\n  Why: {why}")


def names_for_classmate(lab: Lab, classmate_prefix, predicted_pipeline, predicted_bucket) -> Names:
    """00: the pipeline and bucket names another prefix gives."""
    _answered(
        classmate_prefix=classmate_prefix,
        predicted_pipeline=predicted_pipeline,
        predicted_bucket=predicted_bucket,
    )
    try:
        check_prefix(classmate_prefix, lab.account, lab.region)
    except LabError as error:
        raise Hint(f"`classmate_prefix`: {error}") from None
    if classmate_prefix == lab.prefix:
        raise Hint(
            f"`classmate_prefix` is your own prefix, {lab.prefix!r}: pick another, or you would share names."
        )
    classmate = Names(classmate_prefix, lab.account, lab.region)
    if predicted_pipeline != classmate.pipeline:
        raise Hint(
            f"`predicted_pipeline` is {predicted_pipeline!r}. Look at your own: `lab.names.pipeline` is "
            f"{lab.names.pipeline!r}, made from your prefix {lab.prefix!r}. Do the same with the classmate's."
        )
    if predicted_bucket != classmate.bucket:
        raise Hint(
            f"`predicted_bucket` is {predicted_bucket!r}. Bucket names are global across all accounts, so "
            f"yours, {lab.names.bucket!r}, carries more than the prefix: which parts come from `lab.account` "
            "and `lab.region`?"
        )
    _confirm(
        f"Both names match: {classmate.pipeline}, {classmate.bucket}",
        "every name comes from the prefix; the bucket adds the account and Region, as S3 names are global.",
    )
    return classmate


def failing_stages(explained: pd.DataFrame, permission_to_remove, predicted_failures) -> set[str]:
    """01: the stages `roles.explain` finds failing once `permission_to_remove` is gone."""
    _answered(permission_to_remove=permission_to_remove, predicted_failures=predicted_failures)
    calls = sorted(set(explained["call"]))
    lost = explained[explained["decision"] != "allowed"]
    if lost.empty:
        raise Hint(
            f"{permission_to_remove!r} is not a call the pipeline makes, so nothing went missing. "
            f"Pick one of the `call` column, e.g. {', '.join(calls[:4])}, and run the exercise's cells again."
        )
    failing = set(lost["stage"])
    print(lost[["stage", "call", "resource"]].to_string(index=False))
    predicted = {predicted_failures} if isinstance(predicted_failures, str) else set(predicted_failures)
    if predicted != failing:
        uses = lost.drop_duplicates("stage")[["stage", "action"]].to_string(index=False)
        raise Hint(
            f"You predicted {sorted(predicted)}; the stages that would fail are {sorted(failing)}. "
            f"Every action that makes the call {permission_to_remove} fails: in the table above, find the "
            f"rows whose `call` is it, and read their `stage`.\n{uses}"
        )
    _confirm(
        f"Prediction confirmed: {sorted(failing)}",
        "an action fails at run time when the role lacks one call it makes; `explain` finds it beforehand. "
        f"The fix: {lost['fix'].iloc[0]}",
    )
    return failing


def blamed_stage(missing_edges: list[dict], predicted_stage) -> str:
    """02: which stage the wiring check blames after Build's output is renamed."""
    _answered(predicted_stage=predicted_stage)
    blamed = [edge["consumer_stage"] for edge in missing_edges]
    if blamed != [predicted_stage]:
        raise Hint(
            f"You predicted {predicted_stage!r}; the check blames {blamed}. A declaration is checked from "
            "the reader's side: which action still asks for `BuildOutput`, now that nobody produces it?"
        )
    _confirm(
        f"Prediction confirmed: {predicted_stage}",
        "an output nobody reads is allowed; an input nobody produces is not, so the reader is blamed.",
    )
    return predicted_stage


def deployed_artifact(key: str, pipeline: str, predicted_artifact) -> str:
    """03: which artifact the deployment's revision is."""
    _answered(predicted_artifact=predicted_artifact)
    if not key.startswith(f"{pipeline[:20]}/{str(predicted_artifact)[:10]}/"):
        raise Hint(
            f"CodeDeploy deployed {key}. Keys are `<pipeline[:20]>/<artifact[:10]>/<random>`: which artifact "
            "does the Deploy action take in its `inputArtifacts`? (Names are cut to 10 characters.)"
        )
    _confirm(
        f"Prediction confirmed: {key}",
        "the Deploy action hands CodeDeploy its input artifact's S3 object as the revision to install.",
    )
    return key


def left_out(change, predicted_removed) -> set[str]:
    """04: the source files the build did not put into BuildOutput (`change`: artifacts.diff)."""
    _answered(predicted_removed=predicted_removed)
    frame = change.frame
    removed = set(frame.loc[frame["change"] == "removed", "path"])
    predicted = {predicted_removed} if isinstance(predicted_removed, str) else set(predicted_removed)
    if predicted != removed:
        extra, missed = sorted(predicted - removed), sorted(removed - predicted)
        detail = "; ".join(
            part
            for part in (
                f"{extra} did reach BuildOutput" if extra else "",
                f"you missed {len(missed)} file(s)" if missed else "",
            )
            if part
        )
        raise Hint(
            f"Not quite: {detail}. Match each path of SourceOutput against the buildspec's `artifacts.files` "
            "patterns (`**/*` takes a whole folder)."
        )
    _confirm(
        f"Prediction confirmed: {sorted(removed)}",
        "the server needs the page, the appspec and its scripts; the build instructions stay behind.",
    )
    return removed


def own_commit(lab: Lab, my_commit, my_sentence, page_url: str, *, timeout: float = 900) -> pd.Series:
    """05: the run a PutFile commit started, waited for; the page shows the sentence."""
    import urllib.request

    from . import history, runs

    _answered(my_commit=my_commit, my_sentence=my_sentence)
    found = pd.DataFrame()
    deadline = time.monotonic() + timeout
    while found.empty:
        executions = history.executions(lab)
        found = executions[executions["source_revision"] == my_commit]
        if found.empty and time.monotonic() > deadline:
            raise Hint(
                f"No run built the commit {str(my_commit)[:12]}. Set `my_commit` to the `commitId` that "
                "`put_file` returned, and make the commit on the branch the pipeline watches, `main`."
            )
        if found.empty:
            time.sleep(0.5 if lab.is_local else 10)
    run = found.iloc[-1]
    ended = runs.wait(lab, run["execution_id"], timeout=timeout)
    if ended["status"] != "Succeeded":
        raise Hint(
            f"The run of your commit ended {ended['status']}. Look at it with "
            f"`runs.snapshot(lab, execution_id={run['execution_id']!r})`: did you change only the note?"
        )
    with urllib.request.urlopen(page_url, timeout=10) as response:
        page = response.read().decode("utf-8")
    if str(my_sentence) not in page:
        raise Hint(f"The page does not show {my_sentence!r}: did your commit put it into index.html's note?")
    _confirm(
        f"Your commit {my_commit[:8]} ran ({run['trigger_type']}) and your sentence is live",
        "a commit made through the API is a new commit on main, and the pipeline's trigger sees it.",
    )
    return run


def last_two_releases(lab: Lab, last_two) -> dict[str, int]:
    """06: the diff of the two newest succeeded runs' BuildOutput."""
    from . import artifacts, history

    _answered(last_two=last_two)
    if not isinstance(last_two, artifacts.ArtifactDiff):
        raise Hint("`last_two` should be what `artifacts.diff(lab, older, newer)` returns.")
    executions = history.executions(lab)
    newest = executions.loc[executions["status"] == "Succeeded", "execution_id"].iloc[-2:]
    builds = [artifacts.of_execution(lab, run).set_index("artifact").loc["BuildOutput"] for run in newest]
    expected = artifacts.diff(lab, *builds)
    if last_two.frame.to_dict("records") != expected.frame.to_dict("records"):
        raise Hint(
            "That is not the diff of the two newest succeeded runs' BuildOutput, older first. Take their "
            "ids from `executions[executions['status'] == 'Succeeded']` (the last two rows), and each one's "
            "artifacts with `artifacts.of_execution`."
        )
    counts = last_two.counts()
    _confirm(
        f"The right two releases: {counts}",
        "the artifact store keeps every release's zip, so any two compare.",
    )
    return counts


def slowest_stage(stages: pd.DataFrame, median_durations) -> str:
    """06: the median duration of each stage over its succeeded runs, slowest first."""
    _answered(median_durations=median_durations)
    ok = stages[stages["status"] == "Succeeded"]
    expected = ok.groupby("stage")["duration"].median().sort_values(ascending=False)
    if not isinstance(median_durations, pd.Series):
        raise Hint(
            "`median_durations` should be a Series: group the stage runs by `stage`, then `.median()`."
        )
    if set(median_durations.index) != set(expected.index):
        raise Hint(
            f"Index it by stage: {sorted(expected.index)}; yours has {sorted(median_durations.index)}."
        )
    if not median_durations.sort_index().equals(expected.sort_index()):
        raise Hint(
            "The values differ: keep only the stage runs whose `status` is 'Succeeded' (a failed Build "
            "stops early), then take the median `duration` per stage."
        )
    _confirm(
        f"The slowest stage is {expected.index[0]}",
        "a median ignores the odd slow run that a mean would follow.",
    )
    return expected.index[0]


def gate_back(full, production: dict) -> list[str]:
    """07: the production pipeline with the approval gate right before Deploy, valid."""
    from . import pipelines

    _answered(full=full)
    try:
        stages = [stage["name"] for stage in full["pipeline"]["stages"]]
    except (TypeError, KeyError):
        raise Hint(
            "`full` should be a declaration like `production`: {'pipeline': {..., 'stages': [...]}}"
        ) from None
    expected = [stage["name"] for stage in production["pipeline"]["stages"]]
    expected.insert(expected.index("Deploy"), "Approve")
    if stages != expected:
        raise Hint(f"The stages are {stages}; they should be {expected}: the gate goes right before Deploy.")
    try:
        pipelines.check(full)
    except LabError as error:
        raise Hint(f"`pipelines.check` refuses it:\n{error}") from None
    _confirm(
        f"Stages {stages}, and pipelines.check accepts it", "a gate is a stage of its own that holds a run."
    )
    return stages


def feature_branches(feature_pattern, main_only: dict) -> dict:
    """07: an EventBridge pattern for pushes to any `feature/` branch."""
    _answered(feature_pattern=feature_pattern)
    expected = json.loads(json.dumps(main_only))
    expected["detail"]["referenceName"] = [{"prefix": "feature/"}]
    if not isinstance(feature_pattern, dict) or feature_pattern.get("detail") is None:
        raise Hint("`feature_pattern` should be a whole pattern like `main_only`, with its `detail`.")
    if feature_pattern != expected:
        got = feature_pattern["detail"].get("referenceName")
        raise Hint(
            f"`detail.referenceName` is {got!r}. A pattern matches values listed exactly; for a start of a "
            "name, EventBridge has a `prefix` filter: a dict in the list. Keep the rest of `main_only`."
        )
    _confirm(
        "The pattern matches every push to feature/…", "EventBridge filters like prefix sit inside the list."
    )
    return feature_pattern


def nothing_left(lab: Lab, roles_left, buckets_left) -> None:
    """99: the CLI's own answer (`--output json`) that no role and no bucket with the prefix is left."""
    _answered(roles_left=roles_left, buckets_left=buckets_left)
    found = {}
    for name, answer in (("roles_left", roles_left), ("buckets_left", buckets_left)):
        text = "\n".join(answer) if isinstance(answer, list) else str(answer)
        try:
            found[name] = json.loads(text)
        except ValueError:
            raise Hint(
                f"`{name}` is not the JSON the CLI prints: capture the command's output with "
                f"`{name} = !aws ... --output json`.\nIt printed: {text[:200]}"
            ) from None
    for name, listed in found.items():
        if not isinstance(listed, list) or any(not str(item).startswith(f"{lab.prefix}-") for item in listed):
            raise Hint(
                f"`{name}` lists {listed!r}: filter with JMESPath inside --query, "
                f"e.g. `Roles[?starts_with(RoleName, '{lab.prefix}-')].RoleName`."
            )
    ours = [item for listed in found.values() for item in listed]
    if ours and lab.is_local:
        raise Hint(f"These are still there: {ours}. Run the cleanup cells above first.")
    _confirm(
        "The CLI finds nothing the lab made", "you checked with your own query, not the notebook's word."
    )
