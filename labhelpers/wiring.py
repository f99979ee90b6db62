"""How artifacts flow through a pipeline: which action produces each one and which actions consume it.

`wiring(declaration)` reads any declaration (broken ones too: an input nobody produces shows up as
missing) and gives plain data, a text form, an inline SVG for notebooks and a matplotlib drawing.
"""

import re
import zlib
from collections import defaultdict
from dataclasses import dataclass
from html import escape as _escape_html

from labhelpers.validator import ActionInfo, actions_of, pipeline_of

EDGE_COLUMNS = (
    "artifact",
    "producer_stage",
    "producer_action",
    "consumer_stage",
    "consumer_action",
    "missing",
)
ARROW = "→"

# Layout units (y grows downwards): an action box is BOX_W x BOX_H; the SVG draws SCALE px per unit.
BOX_W, BOX_H = 1.9, 0.62
COLUMN_PITCH, ROW_PITCH = 3.2, 1.0
MISSING_W, MISSING_GAP = 0.4, 0.5
HEADER, MARGIN = 0.7, 0.4
SCALE = 100
INCHES_PER_UNIT = 1.0
LONGEST_TITLE = 22
INK, LINE_INK, MISSING_INK = "#2c3e50", "#555555", "#c0392b"
FILL, MISSING_FILL = "#eef3f8", "#fdecea"

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def escape(text: str) -> str:
    """Text for SVG/HTML: escaped, and without the control characters XML does not allow."""
    return _escape_html(_NOT_XML.sub("\ufffd", text))


def wiring(declaration) -> "Wiring":
    """The producer -> consumer graph of a declaration (API form or bare pipeline)."""
    pipeline = pipeline_of(declaration) or {}
    name = pipeline.get("name")
    return Wiring(actions_of(pipeline), name if isinstance(name, str) else "")


@dataclass(frozen=True)
class _Box:
    x: float
    y: float
    width: float
    title: str
    subtitle: str = ""
    missing: bool = False


@dataclass(frozen=True)
class _Line:
    x1: float
    y1: float
    x2: float
    y2: float
    missing: bool


@dataclass(frozen=True)
class _Label:
    x: float
    y: float
    text: str
    missing: bool


@dataclass(frozen=True)
class _Picture:
    """Everything to draw, in layout units; both the SVG and the matplotlib drawing render this."""

    headers: list[tuple[float, str]]
    boxes: list[_Box]
    lines: list[_Line]
    labels: list[_Label]
    width: float
    height: float


class Wiring:
    """Artifacts as plain data: `actions` (one dict per action) and `edges` (one dict per input)."""

    def __init__(self, infos: list[ActionInfo], name: str = ""):
        self.name = name
        self._infos = infos
        stage_indexes = list(dict.fromkeys(info.stage_index for info in infos))
        self.stages = [next(i.stage for i in infos if i.stage_index == s) for s in stage_indexes]
        self._column = {stage_index: column for column, stage_index in enumerate(stage_indexes)}
        self.actions = [_action_row(info) for info in infos]
        producers: dict[str, list[int]] = defaultdict(list)
        for index, info in enumerate(infos):
            for artifact in info.outputs:
                producers[artifact].append(index)
        self._links = [
            link for consumer in range(len(infos)) for link in _links_into(consumer, infos, producers)
        ]
        self.edges = [_edge(infos, *link) for link in self._links]

    # --- text --------------------------------------------------------------------------------------

    def lines(self) -> list[str]:
        """One line per artifact, `SourceOutput: Source/Source → Build/Build`; missing and unused marked."""
        consumers: dict[tuple, list[str]] = defaultdict(list)
        for consumer, producer, artifact in self._links:
            consumers[(producer, artifact)].append(self._infos[consumer].label)
        lines = []
        for index, info in enumerate(self._infos):
            for artifact in info.outputs:
                readers = consumers.get((index, artifact)) or ["(not used)"]
                lines.append(f"{artifact}: {info.label} {ARROW} {', '.join(readers)}")
        for (producer, artifact), readers in consumers.items():
            if producer is None:
                lines.append(f"{artifact}: (missing: no action produces it) {ARROW} {', '.join(readers)}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines()) or "(no artifacts)"

    def __repr__(self) -> str:
        return str(self)

    def to_frame(self):
        """The edges as a pandas DataFrame with the fixed EDGE_COLUMNS (pandas is imported on demand)."""
        import pandas

        return pandas.DataFrame(self.edges, columns=list(EDGE_COLUMNS))

    # --- pictures ----------------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """An inline SVG of the wiring, generated here (no matplotlib needed)."""
        picture = self._picture()
        marker = f"wiring-arrow-{zlib.crc32(str(self).encode()):08x}"
        width, height = _px(picture.width), _px(picture.height)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
            f"<defs>{_svg_marker(marker, LINE_INK)}{_svg_marker(marker + '-missing', MISSING_INK)}</defs>",
        ]
        if self.name:
            parts.append(f"<title>{escape(self.name)}</title>")
        parts.extend(_svg_text(x, HEADER / 2, text, weight="bold") for x, text in picture.headers)
        parts.extend(_svg_line(line, marker) for line in picture.lines)
        parts.extend(_svg_box(box) for box in picture.boxes)
        parts.extend(_svg_label(label) for label in picture.labels)
        parts.append("</svg>")
        return "\n".join(parts)

    def draw(self, ax=None):
        """Stages as columns, actions as boxes by runOrder, arrows labelled by artifact; returns the Axes."""
        picture = self._picture()
        if ax is None:
            import matplotlib.pyplot as plt

            size = (picture.width * INCHES_PER_UNIT, picture.height * INCHES_PER_UNIT)
            _, ax = plt.subplots(figsize=size)
        for x, text in picture.headers:
            ax.text(x, HEADER / 2, text, ha="center", va="center", fontweight="bold", fontsize=9)
        for line in picture.lines:
            _draw_line(ax, line)
        for box in picture.boxes:
            _draw_box(ax, box)
        for label in picture.labels:
            color = MISSING_INK if label.missing else INK
            ax.text(label.x, label.y, label.text, ha="left", va="bottom", fontsize=7, color=color, zorder=4)
        ax.set_xlim(0, picture.width)
        ax.set_ylim(picture.height, 0)
        ax.set_axis_off()
        ax.set_title(self.name or "pipeline wiring", fontsize=10)
        return ax

    def _picture(self) -> _Picture:
        # Room on the left for the '?' of a missing input in the first column.
        left = MARGIN + (MISSING_W + MISSING_GAP if any(p is None for _, p, _ in self._links) else 0)
        boxes = self._action_boxes(left)
        headers = [
            (left + column * COLUMN_PITCH + BOX_W / 2, stage) for column, stage in enumerate(self.stages)
        ]
        lines, labels, extra = [], [], []
        labelled: set[tuple] = set()
        for consumer, producer, artifact in self._links:
            end = boxes[consumer]
            start = boxes[producer] if producer is not None else _missing_box(end)
            if producer is None:
                extra.append(start)
            line = _connect(start, end)
            lines.append(line)
            if (artifact, start) not in labelled:
                labelled.add((artifact, start))
                labels.append(_label_for(line, artifact, start))
        rows = max((box.y for box in boxes.values()), default=HEADER)
        width = left + MARGIN + max(len(self.stages) - 1, 0) * COLUMN_PITCH + BOX_W
        return _Picture(headers, [*boxes.values(), *extra], lines, labels, width, rows + BOX_H + MARGIN)

    def _action_boxes(self, left: float) -> dict[int, _Box]:
        """A box per action: its stage's column, one row per action in runOrder."""
        boxes: dict[int, _Box] = {}
        for stage_index, column in self._column.items():
            members = [i for i, info in enumerate(self._infos) if info.stage_index == stage_index]
            members.sort(key=lambda i: (self._infos[i].run_order, i))
            for row, i in enumerate(members):
                info = self._infos[i]
                x, y = left + column * COLUMN_PITCH, HEADER + row * ROW_PITCH
                subtitle = f"{info.provider or '?'} · runOrder {info.run_order}"
                boxes[i] = _Box(x, y, BOX_W, _shorten(info.name), subtitle)
        return boxes


def _action_row(info: ActionInfo) -> dict:
    return {
        "stage": info.stage,
        "action": info.name,
        "provider": info.provider,
        "category": info.category,
        "runOrder": info.run_order,
        "inputs": list(info.inputs),
        "outputs": list(info.outputs),
    }


def _links_into(
    consumer: int, infos: list[ActionInfo], producers: dict[str, list[int]]
) -> list[tuple[int, int | None, str]]:
    """(consumer, producer, artifact) per input: the producer that runs before it, else any, else None."""
    target = infos[consumer]
    links = []
    for artifact in target.inputs:
        candidates = [i for i in producers.get(artifact, ()) if i != consumer]
        earlier = [i for i in candidates if infos[i].runs_before(target)]
        links.append((consumer, (earlier or candidates or [None])[0], artifact))
    return links


def _edge(infos: list[ActionInfo], consumer: int, producer: int | None, artifact: str) -> dict:
    source = infos[producer] if producer is not None else None
    return {
        "artifact": artifact,
        "producer_stage": source.stage if source else None,
        "producer_action": source.name if source else None,
        "consumer_stage": infos[consumer].stage,
        "consumer_action": infos[consumer].name,
        "missing": source is None,
    }


def _shorten(text: str) -> str:
    return text if len(text) <= LONGEST_TITLE else text[: LONGEST_TITLE - 1] + "…"


def _missing_box(consumer: _Box) -> _Box:
    """The '?' marker left of a consumer whose input no action produces."""
    return _Box(consumer.x - MISSING_W - MISSING_GAP, consumer.y, MISSING_W, "?", missing=True)


def _connect(start: _Box, end: _Box) -> _Line:
    """Right edge to left edge between columns; bottom to top within a column."""
    if start.x == end.x:
        x = start.x + start.width / 2
        return _Line(x, start.y + BOX_H, x, end.y, start.missing)
    return _Line(start.x + start.width, start.y + BOX_H / 2, end.x, end.y + BOX_H / 2, start.missing)


def _label_for(line: _Line, artifact: str, start: _Box) -> _Label:
    """Where an arrow's artifact name goes: just after its start (a fan-out shares one label). A missing
    artifact's longer name goes above its '?' marker, in the space between rows, clear of every box."""
    text = f"{artifact} (missing)" if start.missing else artifact
    if start.missing:
        return _Label(start.x, start.y - 0.06, text, True)
    if line.x1 == line.x2:
        return _Label(line.x1 + 0.06, line.y1 + (ROW_PITCH - BOX_H) * 0.75, text, start.missing)
    return _Label(line.x1 + 0.06, line.y1 - 0.05, text, start.missing)


def _px(units: float) -> str:
    return f"{units * SCALE:.0f}"


def _svg_text(x: float, y: float, text: str, weight: str = "normal", fill: str = INK, size: int = 12) -> str:
    return (
        f'<text x="{_px(x)}" y="{_px(y)}" text-anchor="middle" dominant-baseline="middle" '
        f'font-size="{size}" font-weight="{weight}" fill="{fill}">{escape(text)}</text>'
    )


def _svg_box(box: _Box) -> str:
    ink, fill = (MISSING_INK, MISSING_FILL) if box.missing else (INK, FILL)
    dash = ' stroke-dasharray="4 3"' if box.missing else ""
    rect = (
        f'<rect x="{_px(box.x)}" y="{_px(box.y)}" width="{_px(box.width)}" height="{_px(BOX_H)}" rx="6" '
        f'fill="{fill}" stroke="{ink}"{dash}/>'
    )
    center = box.x + box.width / 2
    if not box.subtitle:
        return rect + _svg_text(center, box.y + BOX_H / 2, box.title, "bold", ink)
    title = _svg_text(center, box.y + BOX_H * 0.36, box.title, "bold", ink)
    return rect + title + _svg_text(center, box.y + BOX_H * 0.72, box.subtitle, fill="#555", size=10)


def _svg_marker(marker_id: str, ink: str) -> str:
    """An arrowhead; one per colour (context-stroke is not supported everywhere)."""
    return (
        f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{ink}"/></marker>'
    )


def _svg_line(line: _Line, marker: str) -> str:
    ink, dash = (MISSING_INK, ' stroke-dasharray="4 3"') if line.missing else (LINE_INK, "")
    head = f"{marker}-missing" if line.missing else marker
    return (
        f'<line x1="{_px(line.x1)}" y1="{_px(line.y1)}" x2="{_px(line.x2)}" y2="{_px(line.y2)}" '
        f'stroke="{ink}"{dash} marker-end="url(#{head})"/>'
    )


def _svg_label(label: _Label) -> str:
    ink = MISSING_INK if label.missing else INK
    return (
        f'<text x="{_px(label.x)}" y="{_px(label.y)}" font-size="11" fill="{ink}" stroke="white" '
        f'stroke-width="3" paint-order="stroke">{escape(label.text)}</text>'
    )


def _draw_box(ax, box: _Box) -> None:
    from matplotlib.patches import FancyBboxPatch

    ink, fill = (MISSING_INK, MISSING_FILL) if box.missing else (INK, FILL)
    style = "round,pad=0,rounding_size=0.06"
    linestyle = "--" if box.missing else "-"
    ax.add_patch(
        FancyBboxPatch(
            (box.x, box.y),
            box.width,
            BOX_H,
            boxstyle=style,
            edgecolor=ink,
            facecolor=fill,
            ls=linestyle,
            zorder=2,
        )
    )
    center = box.x + box.width / 2
    if not box.subtitle:
        ax.text(center, box.y + BOX_H / 2, box.title, ha="center", va="center", color=ink, zorder=3)
        return
    ax.text(
        center,
        box.y + BOX_H * 0.36,
        box.title,
        ha="center",
        va="center",
        fontweight="bold",
        fontsize=8,
        zorder=3,
    )
    ax.text(center, box.y + BOX_H * 0.72, box.subtitle, ha="center", va="center", fontsize=7, zorder=3)


def _draw_line(ax, line: _Line) -> None:
    ink = MISSING_INK if line.missing else LINE_INK
    style = {"arrowstyle": "->", "color": ink, "linestyle": "--" if line.missing else "-"}
    ax.annotate("", xy=(line.x2, line.y2), xytext=(line.x1, line.y1), arrowprops=style, zorder=1)
