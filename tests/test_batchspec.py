"""The batch section of a buildspec: build-list, build-matrix and build-graph, and its errors with a line."""

import pytest

from labhelpers.local.codebuild.batchspec import EnvOverride, load_batch
from labhelpers.local.codebuild.buildspec import BuildspecError

PHASES = "phases:\n  build:\n    commands:\n      - echo hi\n"


def test_a_build_list_keeps_each_entrys_buildspec_env_and_ignore_failure():
    spec = load_batch(
        "version: 0.2\n"
        "batch:\n"
        "  fast-fail: true\n"
        "  build-list:\n"
        "    - identifier: linux_small\n"
        "      env:\n"
        "        compute-type: BUILD_GENERAL1_SMALL\n"
        "        image: aws/codebuild/standard:7.0\n"
        "        privileged-mode: true\n"
        "        variables:\n"
        "          SIZE: small\n"
        "    - identifier: other\n"
        "      buildspec: other.yml\n"
        "      ignore-failure: true\n" + PHASES
    )
    assert spec.fast_fail is True
    first, second = spec.entries
    assert first.identifier == "linux_small" and first.buildspec is None and not first.ignore_failure
    assert first.env == EnvOverride(
        "BUILD_GENERAL1_SMALL", "aws/codebuild/standard:7.0", None, True, {"SIZE": "small"}
    )
    assert second.buildspec == "other.yml" and second.ignore_failure and second.depends_on == ()


def test_a_build_matrix_makes_one_build_per_combination_of_its_dynamic_values():
    spec = load_batch(
        "version: 0.2\n"
        "batch:\n"
        "  build-matrix:\n"
        "    static:\n"
        "      ignore-failure: true\n"
        "      env:\n"
        "        image: aws/codebuild/standard:7.0\n"
        "    dynamic:\n"
        "      buildspec:\n"
        "        - a.yml\n"
        "        - b.yml\n"
        "      env:\n"
        "        compute-type: [BUILD_GENERAL1_SMALL, BUILD_GENERAL1_MEDIUM]\n"
        "        variables:\n"
        "          V: ['1', '2']\n"
    )
    assert [entry.identifier for entry in spec.entries] == [f"build{n}" for n in range(1, 9)]
    combos = {(e.buildspec, e.env.compute_type, e.env.variables["V"]) for e in spec.entries}
    assert len(combos) == 8
    assert all(e.ignore_failure and e.env.image == "aws/codebuild/standard:7.0" for e in spec.entries)


def test_a_build_graph_keeps_its_dependencies():
    spec = load_batch(
        "version: 0.2\nbatch:\n  build-graph:\n"
        "    - identifier: a\n"
        "    - identifier: b\n      depend-on:\n        - a\n"
        "    - identifier: c\n      depend-on: [a, b]\n" + PHASES
    )
    assert [(e.identifier, e.depends_on) for e in spec.entries] == [
        ("a", ()),
        ("b", ("a",)),
        ("c", ("a", "b")),
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("version: 0.2\n" + PHASES, 1, "batch is required to start a batch build"),
        (
            "version: 0.2\nbatch:\n  fast-fail: false\n",
            2,
            "exactly one of build-list, build-matrix or build-graph",
        ),
        ("version: 0.2\nbatch:\n  build-list: []\n", 3, "must be a list of builds"),
        ("version: 0.2\nbatch:\n  build-list:\n    - buildspec: x.yml\n", 4, "identifier is required"),
        ("version: 0.2\nbatch:\n  build-list:\n    - identifier: 9x\n", 4, "must start with a letter"),
        ("version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n    - identifier: a\n", 5, "used twice"),
        (
            "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [z]\n",
            4,
            "depends on z",
        ),
        (
            "version: 0.2\nbatch:\n  build-graph:\n    - identifier: a\n      depend-on: [b]\n"
            "    - identifier: b\n      depend-on: [a]\n",
            4,
            "cycle",
        ),
        (
            "version: 0.2\nbatch:\n  build-list:\n    - identifier: a\n"
            "      env:\n        compute-type: HUGE\n",
            6,
            "compute-type must be one of",
        ),
        ("version: 0.2\nbatch:\n  build-fanout:\n    parallelism: 5\n", 3, "not run by the local endpoint"),
        ("version: 0.2\nbatch:\n  build-matrix:\n    static: {}\n", 4, "dynamic is required"),
    ],
)
def test_bad_batch_sections_name_the_line_and_the_setting(text, line, reason):
    with pytest.raises(BuildspecError) as caught:
        load_batch(text)
    assert caught.value.line == line, caught.value
    assert reason in caught.value.reason
