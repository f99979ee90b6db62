"""plots: charts of history frames, checked by their artists (bars, lines, labels) on the Agg backend."""

from datetime import timedelta

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from test_history import action, at, crafted_history

from labhelpers import history, plots


@pytest.fixture(autouse=True)
def agg_backend():
    """Draw off screen; close what each test opened."""
    plt.switch_backend("Agg")
    yield
    plt.close("all")


def one_execution():
    return history.action_runs_frame(
        [
            action("e1", "Source", "Source", at(0), at(1), category="Source"),
            action("e1", "Build", "Build", at(1), at(4)),
            action("e1", "Deploy", "Deploy", at(4), at(5), "Failed", category="Deploy"),
        ]
    )


def bar_labels(ax) -> list[str]:
    return [label.get_text() for label in ax.get_yticklabels()]


def legend_labels(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_timeline_draws_one_bar_per_run_coloured_by_status():
    ax = plots.timeline(one_execution())

    bars = ax.patches
    assert len(bars) == 3
    assert bar_labels(ax) == ["Source · Source", "Build · Build", "Deploy · Deploy"]
    assert [bar.get_facecolor() for bar in bars] == [to_rgba("tab:green")] * 2 + [to_rgba("tab:red")]
    assert [bar.get_width() for bar in bars] == pytest.approx([1, 3, 1])  # minutes: 5 min is past two
    assert [bar.get_x() for bar in bars] == pytest.approx([0, 1, 4])
    assert legend_labels(ax) == ["Succeeded", "Failed"]
    assert ax.get_title() == "Timeline of execution e1"
    assert ax.get_xlabel() == "time since the execution started (min)"


@pytest.mark.parametrize(
    ("seconds", "unit", "size"),
    [(1.177, "s", 1.177), (600, "min", 10)],
    ids=["one-second run", "ten-minute run"],
)
def test_a_timeline_fills_its_axis_whatever_the_length_of_the_run(seconds, unit, size):
    start = at(0)
    runs = history.action_runs_frame(
        [
            action(
                "e1", "Source", "Source", start, start + timedelta(seconds=seconds / 4), category="Source"
            ),
            action(
                "e1",
                "Build",
                "Build",
                start + timedelta(seconds=seconds / 4),
                start + timedelta(seconds=seconds),
            ),
        ]
    )
    ax = plots.timeline(runs)
    assert ax.get_xlabel() == f"time since the execution started ({unit})"
    source, build = ax.patches
    assert source.get_x() == 0 and build.get_x() + build.get_width() == pytest.approx(size)
    left, right = ax.get_xlim()
    assert left == 0 and right == pytest.approx(size * 1.02)


def test_each_execution_on_a_timeline_starts_at_zero():
    runs = history.action_runs_frame(
        [
            action("aaaaaaaa-1", "Build", "Build", at(0), at(0.5)),
            action("bbbbbbbb-2", "Build", "Build", at(600), at(600.25)),  # ten hours later
        ]
    )
    ax = plots.timeline(runs)
    assert [bar.get_x() for bar in ax.patches] == [0, 0]
    assert [bar.get_width() for bar in ax.patches] == pytest.approx([30, 15])
    assert ax.get_xlabel() == "time since each execution started (s)"


def test_timeline_of_stages_of_several_executions_names_each_execution():
    runs = history.action_runs_frame(
        [
            action("aaaaaaaa-1", "Build", "Build", at(0), at(2)),
            action("bbbbbbbb-2", "Build", "Build", at(3), at(4), "InProgress"),
        ]
    )
    ax = plots.timeline(history.stage_runs_frame(runs))
    assert bar_labels(ax) == ["aaaaaaaa Build", "bbbbbbbb Build"]
    assert ax.get_title() == "Timeline of 2 executions"
    assert ax.patches[1].get_width() > 0  # still running: drawn up to now


def test_timeline_of_executions_draws_one_bar_each():
    executions, _ = crafted_history()
    ax = plots.timeline(executions)
    assert bar_labels(ax) == ["e1", "e2", "e3", "e4", "e5", "e6"]
    assert legend_labels(ax) == ["Succeeded", "Failed", "InProgress"]
    assert ax.get_title() == "Timeline of 6 executions"


def test_plots_draw_on_the_axes_they_are_given():
    figure, axes = plt.subplots(1, 3)
    frame = one_execution()
    assert plots.timeline(frame, ax=axes[0]) is axes[0]
    assert plots.durations(frame, ax=axes[1]) is axes[1]
    assert plots.outcomes(frame, ax=axes[2]) is axes[2]
    assert len(plt.get_fignums()) == 1


def test_durations_draw_one_line_per_stage():
    executions, runs = crafted_history()
    ax = plots.durations(history.stage_runs_frame(runs))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["Deploy", "Source"]
    assert list(lines["Deploy"].get_ydata()) == [180, 300]  # 3 min, then 5 min
    assert ax.get_ylabel() == "duration (s)" and ax.get_title() == "Durations by stage"


def test_durations_of_executions_leave_running_ones_out():
    executions, _ = crafted_history()
    ax = plots.durations(executions)
    (line,) = ax.get_lines()
    assert line.get_label() == "execution" and len(line.get_ydata()) == 5
    assert ax.get_title() == "Durations by execution"


def test_outcomes_of_a_history_longer_than_a_day_stack_the_statuses_of_each_day():
    executions, _ = crafted_history()
    ax = plots.outcomes(executions)
    assert ax.get_title() == "Outcomes per day" and ax.get_xlabel() == "day (UTC)"

    days = [label.get_text() for label in ax.get_xticklabels()]
    assert days == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert legend_labels(ax) == ["Succeeded", "Failed", "InProgress"]
    heights = {
        (status, day): bar.get_height()
        for status, container in zip(legend_labels(ax), ax.containers, strict=True)
        for day, bar in zip(days, container, strict=True)
    }
    assert heights[("Succeeded", "2026-03-03")] == 1 and heights[("Failed", "2026-03-02")] == 1
    assert heights[("InProgress", "2026-03-04")] == 1 and heights[("InProgress", "2026-03-02")] == 0
    assert len(ax.patches) == 3 * 3


def test_outcomes_of_a_history_within_a_day_show_each_execution():
    executions, _ = crafted_history()
    today = executions[executions["start"] < executions["start"].iloc[0] + timedelta(hours=2)]
    ax = plots.outcomes(pd.concat([today.iloc[1:], today.iloc[:1]]))  # order of rows does not matter
    assert ax.get_title() == "Outcomes per execution"
    assert [label.get_text() for label in ax.get_xticklabels()] == ["e1", "e2"]
    assert legend_labels(ax) == ["Succeeded", "Failed"]
    succeeded, failed = ax.containers
    assert [bar.get_height() for bar in succeeded] == [1, 0]
    assert [bar.get_height() for bar in failed] == [0, 1]


@pytest.mark.parametrize(
    ("plot", "frame", "title"),
    [
        (plots.timeline, history.action_runs_frame([]), "Timeline"),
        (plots.durations, history.stage_runs_frame(history.action_runs_frame([])), "Durations by stage"),
        (plots.outcomes, history.executions_frame([]), "Outcomes"),
    ],
    ids=["timeline", "durations", "outcomes"],
)
def test_an_empty_frame_gives_a_labelled_empty_chart(plot, frame, title):
    ax = plot(frame)
    assert ax.get_title() == title
    assert [text.get_text() for text in ax.texts] == [plots.EMPTY_MESSAGE]
    assert not ax.patches and not ax.get_lines()
