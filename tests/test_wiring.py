"""labhelpers.wiring: artifacts from producer to consumer, as data, text, SVG and a matplotlib drawing."""

import copy
import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import matplotlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labhelpers.wiring import EDGE_COLUMNS, wiring

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the headless backend)

DECLARATIONS = Path(__file__).parent / "declarations"


def declaration(name: str) -> dict:
    return json.loads((DECLARATIONS / "good" / f"{name}.json").read_text())


def article() -> dict:
    return declaration("article-awscicd-pipeline")


def dangling() -> dict:
    """The article with Deploy reading an artifact nobody produces."""
    broken = article()
    broken["pipeline"]["stages"][2]["actions"][0]["inputArtifacts"] = [{"name": "WebBundle"}]
    return broken


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("draw() must not call plt.show()"))
    yield
    plt.close("all")


def test_article_edges_and_actions_as_plain_data():
    graph = wiring(article())
    assert graph.edges == [
        {
            "artifact": "SourceOutput",
            "producer_stage": "Source",
            "producer_action": "Source",
            "consumer_stage": "Build",
            "consumer_action": "Build",
            "missing": False,
        },
        {
            "artifact": "BuildOutput",
            "producer_stage": "Build",
            "producer_action": "Build",
            "consumer_stage": "Deploy",
            "consumer_action": "Deploy",
            "missing": False,
        },
    ]
    assert graph.actions[1] == {
        "stage": "Build",
        "action": "Build",
        "provider": "CodeBuild",
        "category": "Build",
        "runOrder": 1,
        "inputs": ["SourceOutput"],
        "outputs": ["BuildOutput"],
    }
    assert graph.stages == ["Source", "Build", "Deploy"]
    assert graph.name == "awscicd-pipeline"


def test_text_form_reads_like_the_article():
    graph = wiring(article())
    assert str(graph) == "SourceOutput: Source/Source → Build/Build\nBuildOutput: Build/Build → Deploy/Deploy"
    assert repr(graph) == str(graph)


def test_fan_out_parallel_actions_and_unused_outputs():
    lines = wiring(declaration("parallel-build-and-test")).lines()
    assert lines == [
        "SourceOutput: Source/Source → Build/Compile, Build/UnitTests, Build/Lint",
        "BuildOutput: Build/Compile → Build/Package",
        "TestReports: Build/UnitTests → Build/Package",
        "PackageOutput: Build/Package → Deploy/Deploy",
    ]
    graph = wiring(declaration("two-sources-primary-source"))
    assert "BuildReports: Build/Build → (not used)" in graph.lines()


def test_a_dangling_input_is_marked_missing():
    graph = wiring(dangling())
    assert graph.edges[-1] == {
        "artifact": "WebBundle",
        "producer_stage": None,
        "producer_action": None,
        "consumer_stage": "Deploy",
        "consumer_action": "Deploy",
        "missing": True,
    }
    assert str(graph).splitlines() == [
        "SourceOutput: Source/Source → Build/Build",
        "BuildOutput: Build/Build → (not used)",
        "WebBundle: (missing: no action produces it) → Deploy/Deploy",
    ]


LABEL_CHAR_WIDTH, LABEL_HEIGHT = 0.065, 0.12  # layout units of an 11 px label (generous for sans-serif)


@pytest.mark.parametrize(
    "make",
    [
        article,
        dangling,
        lambda: declaration("parallel-build-and-test"),
        lambda: declaration("two-sources-primary-source"),
    ],
)
def test_no_label_overlaps_an_action_box(make):
    picture = wiring(make())._picture()
    for label in picture.labels:
        left, right = label.x, label.x + LABEL_CHAR_WIDTH * len(label.text)
        top, bottom = label.y - LABEL_HEIGHT, label.y
        for box in picture.boxes:
            overlaps = left < box.x + box.width and box.x < right and top < box.y + 0.62 and box.y < bottom
            assert not overlaps, (label.text, box.title)


def test_to_frame_has_the_fixed_columns_even_when_empty():
    frame = wiring(article()).to_frame()
    assert list(frame.columns) == list(EDGE_COLUMNS)
    assert frame["artifact"].tolist() == ["SourceOutput", "BuildOutput"]
    empty = wiring({"pipeline": {"stages": []}}).to_frame()
    assert list(empty.columns) == list(EDGE_COLUMNS) and empty.empty


def svg_of(graph) -> ElementTree.Element:
    html = graph._repr_html_()
    assert html.startswith("<svg")
    return ElementTree.fromstring(html)


def texts(svg: ElementTree.Element) -> list[str]:
    return [element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")]


def test_html_is_an_svg_with_stages_actions_and_labelled_arrows():
    svg = svg_of(wiring(article()))
    shown = texts(svg)
    for text in ["Source", "Build", "Deploy", "SourceOutput", "BuildOutput", "CodeDeploy · runOrder 1"]:
        assert text in shown
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}line"))) == 2
    assert len(list(svg.iter("{http://www.w3.org/2000/svg}rect"))) == 3


def test_html_marks_a_missing_producer_and_escapes_names():
    broken = dangling()
    broken["pipeline"]["stages"][2]["actions"][0]["name"] = "<Deploy & go>"
    html = wiring(broken)._repr_html_()
    assert "<Deploy" not in html and "&lt;Deploy &amp; go&gt;" in html
    shown = texts(ElementTree.fromstring(html))
    assert "WebBundle (missing)" in shown and "?" in shown


def test_draw_returns_axes_with_boxes_and_artifact_labels():
    ax = wiring(declaration("cloudformation-change-set")).draw()
    shown = {text.get_text() for text in ax.texts}
    assert {"Source", "Deploy", "Templates", "CreateChangeSet", "TemplateSource", "StackOutputs"} <= shown
    assert len(ax.patches) == 4
    assert ax.get_title() == "infrastructure"


def test_draw_uses_the_axes_it_is_given_and_shows_missing_inputs():
    _, ax = plt.subplots()
    assert wiring(dangling()).draw(ax=ax) is ax
    assert "WebBundle (missing)" in {text.get_text() for text in ax.texts}


@pytest.mark.parametrize(
    "value", [None, 7, "x", [], {}, {"pipeline": {"stages": "x"}}, {"stages": [{"actions": 3}]}]
)
def test_malformed_declarations_give_an_empty_wiring(value):
    graph = wiring(value)
    assert (graph.edges, graph.actions, str(graph)) == ([], [], "(no artifacts)")
    svg_of(graph)
    graph.draw()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    stage=st.integers(0, 2),
    key=st.sampled_from(["name", "inputArtifacts", "outputArtifacts", "runOrder"]),
    value=JSON_VALUES,
)
def test_broken_actions_never_break_the_wiring(stage, key, value):
    broken = copy.deepcopy(article())
    broken["pipeline"]["stages"][stage]["actions"][0][key] = value
    graph = wiring(broken)
    str(graph)
    svg_of(graph)
