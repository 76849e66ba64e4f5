"""Geometry of the dashboard's charts, drawn server-side as inline SVG by
templates/dashboard/_charts.html: no script, no inline style (the CSP forbids both), colours from
CSS classes in static/css/hoso.css, sizes as SVG presentation attributes.

Each builder returns a `Chart`: its bars, its text labels, its legend and the data table
that goes beside it for screen readers and for anyone who wants the exact numbers. All
labels arrive already translated; this module knows nothing of cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 560
ROW_HEIGHT = 26
LABEL_WIDTH = 170
SERIES_CLASSES = ("hoso-chart-s0", "hoso-chart-s1", "hoso-chart-s2", "hoso-chart-s3")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    tip: str  # what a pointer hovering the bar reads (an SVG <title>)
    track: bool = False  # a gauge's background, not a data bar


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    anchor: str = "start"  # SVG text-anchor: start, middle, end
    css: str = "hoso-chart-label"


@dataclass
class Chart:
    width: int
    height: int
    bars: list[Bar] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)  # axis and grid lines
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, label)
    columns: list[str] = field(default_factory=list)  # the data table's header
    rows: list[list[str]] = field(default_factory=list)  # the data table's rows (first cell: the category)
    summary: str = ""  # one sentence for the SVG's <desc>
    empty: bool = True


def _scale(maximum: float, length: float) -> float:
    return length / maximum if maximum > 0 else 0.0


def stacked_rows(categories: list[str], series: list[str], values: list[list[int]], *, summary: str,
                 category_header: str, total_header: str) -> Chart:
    """Horizontal bars, one per category, stacked by series (e.g. cases per state, by kind).
    A zero segment draws nothing."""
    totals = [sum(row) for row in values]
    chart = Chart(WIDTH, 24 + ROW_HEIGHT * len(categories), summary=summary, empty=not any(totals),
                  legend=list(zip(SERIES_CLASSES, series, strict=False)),
                  columns=[category_header, *series, total_header])
    scale = _scale(max(totals, default=0), WIDTH - LABEL_WIDTH - 60)
    for index, (category, row) in enumerate(zip(categories, values, strict=True)):
        y = 8 + ROW_HEIGHT * index
        chart.texts.append(Text(LABEL_WIDTH - 8, y + 14, category, "end"))
        x = LABEL_WIDTH
        for number, value in enumerate(row):
            if value:
                width = max(value * scale, 1.0)
                chart.bars.append(Bar(x, y, width, ROW_HEIGHT - 8, SERIES_CLASSES[number],
                                      f"{category} · {series[number]}: {value}"))
                x += width
        chart.texts.append(Text(x + 6, y + 14, str(totals[index]), "start", "hoso-chart-value"))
        chart.rows.append([category, *(str(value) for value in row), str(totals[index])])
    chart.lines.append((LABEL_WIDTH, 4, LABEL_WIDTH, chart.height - 12))
    return chart


def grouped_columns(categories: list[str], series: list[str], values: list[list[int]], *, summary: str,
                    category_header: str) -> Chart:
    """Vertical columns grouped by category (e.g. per month: received and resolved); every
    value draws a column, a zero one with no height."""
    height, top, bottom, left = 240, 16, 40, 36
    plot = height - top - bottom
    maximum = max((value for row in values for value in row), default=0)
    chart = Chart(WIDTH, height, summary=summary, empty=maximum == 0,
                  legend=list(zip(SERIES_CLASSES, series, strict=False)), columns=[category_header, *series])
    scale = _scale(maximum, plot)
    group = (WIDTH - left - 8) / max(len(categories), 1)
    bar = (group - 6) / max(len(series), 1)
    baseline = top + plot
    for step in _ticks(maximum):
        y = baseline - step * scale
        chart.lines.append((left, y, WIDTH - 8, y))
        chart.texts.append(Text(left - 4, y + 4, str(step), "end", "hoso-chart-axis"))
    for index, (category, row) in enumerate(zip(categories, values, strict=True)):
        x = left + group * index + 3
        for number, value in enumerate(row):
            chart.bars.append(Bar(x + bar * number, baseline - value * scale, bar - 1, value * scale,
                                  SERIES_CLASSES[number], f"{category} · {series[number]}: {value}"))
        chart.texts.append(Text(x + (group - 6) / 2, baseline + 16, category, "middle", "hoso-chart-axis"))
        chart.rows.append([category, *(str(value) for value in row)])
    return chart


def _ticks(maximum: int) -> list[int]:
    """Gridline values from 0 to `maximum`, a round step apart (1, 2, 5, 10, 20 ...), at most
    five of them."""
    if maximum <= 0:
        return [0]
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if maximum // step <= 4:
                return list(range(0, maximum + 1, step))
        magnitude *= 10


def value_rows(categories: list[str], values: list[float], texts: list[str], details: list[list[str]], *,
               summary: str, columns: list[str]) -> Chart:
    """Horizontal bars of one series (e.g. response days per body), each with its value
    written beside it; `details` are the data table's cells after the category."""
    chart = Chart(WIDTH, 24 + ROW_HEIGHT * len(categories), summary=summary, empty=not categories,
                  columns=columns)
    scale = _scale(max(values, default=0), WIDTH - LABEL_WIDTH - 90)
    for index, (category, value, text) in enumerate(zip(categories, values, texts, strict=True)):
        y = 8 + ROW_HEIGHT * index
        width = max(value * scale, 1.0)
        chart.texts.append(Text(LABEL_WIDTH - 8, y + 14, category, "end"))
        chart.bars.append(Bar(LABEL_WIDTH, y, width, ROW_HEIGHT - 8, SERIES_CLASSES[0], f"{category}: {text}"))
        chart.texts.append(Text(LABEL_WIDTH + width + 6, y + 14, text, "start", "hoso-chart-value"))
        chart.rows.append([category, *details[index]])
    chart.lines.append((LABEL_WIDTH, 4, LABEL_WIDTH, chart.height - 12))
    return chart


def gauge(rate: float | None, text: str, *, summary: str, columns: list[str], row: list[str]) -> Chart:
    """One bar filled to `rate` percent over a full-width track, the percentage beside it."""
    chart = Chart(WIDTH, 56, summary=summary, empty=rate is None, columns=columns, rows=[row])
    track = WIDTH - 120
    chart.bars.append(Bar(0, 12, track, 24, "hoso-chart-track", text, track=True))
    if rate is not None:
        chart.bars.append(Bar(0, 12, max(track * rate / 100, 1.0) if rate else 0.0, 24, "hoso-chart-s0", text))
    chart.texts.append(Text(track + 12, 30, text, "start", "hoso-chart-figure"))
    return chart
