"""What the gate writes for other tools and for the long view: the figures' history as an
offline HTML plot, and the figures in Bencher Metric Format and github-action-benchmark's
``customSmallerIsBetter`` JSON (the verdict itself: ``memwise.views.verdict``)."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memwise.gate.rules import Tolerance
from memwise.sizes import MIB, mib
from memwise.views.verdict import PEAK_SENTENCE


def bencher_metric_format(figures: dict[str, int]) -> str:
    """Bencher Metric Format: each figure a benchmark with one ``bytes`` measure."""
    return json.dumps(
        {name: {"bytes": {"value": size}} for name, size in sorted(figures.items())},
        indent=1,
    )


def benchmark_action_json(figures: dict[str, int]) -> str:
    """github-action-benchmark's ``customSmallerIsBetter`` input."""
    entries = [
        {"name": name, "unit": "bytes", "value": size}
        for name, size in sorted(figures.items())
    ]
    return json.dumps(entries, indent=1)


@dataclass(frozen=True)
class Version:
    """One committed version of the baseline file: its commit, date, subject and figures."""

    commit: str
    date: str
    subject: str
    figures: dict[str, int]
    noise: dict[str, int] = field(default_factory=dict)


def history_html(
    environment: str, history: Sequence[Version], tolerance: Tolerance | None = None
) -> str:
    """Each figure over the baseline file's git history, as inline SVG plots (no scripts), the
    full width of the page: a value axis from zero, each version's tolerance band (what the
    gate allowed above it), a red marker where a version grew past the band of the one before,
    and each point's commit, date and subject on hover.

    ``history`` runs from oldest to newest.
    """
    names = sorted({name for version in history for name in version.figures})
    plots = [_plot(name, history, tolerance) for name in names]
    body = "".join(plots) or "<p>No figures recorded for this environment yet.</p>"
    title = f"Memory figures over time: {environment}"
    lonely = (
        "<p class='note'>One version of the baseline file so far: each plot is a single "
        "point. A line appears once the file has two or more commits (record with nox -s "
        "baseline, commit, repeat after a change).</p>"
        if len(history) == 1
        else ""
    )
    band = (
        f" The shaded band above each version is what the gate allowed ({tolerance}); a red "
        "ring marks a version that grew past the band of the one before."
        if tolerance is not None
        else ""
    )
    return (
        f"<!doctype html><html lang='en'><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{HISTORY_STYLE}</style><h1>{html.escape(title)}</h1>"
        f"<p>{len(history)} version(s) of the baseline file, oldest on the left; each axis "
        f"starts at zero.{html.escape(band)} {html.escape(PEAK_SENTENCE)}</p>{lonely}{body}\n"
    )


HISTORY_STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em}svg{width:100%;height:auto;"
    "background:#fafafa;border:1px solid #ddd;font-size:11px}.note{color:#666}"
    ".grown{fill:#fff;stroke:#c00;stroke-width:3}"
)
PLOT_LEFT, PLOT_BOTTOM, PLOT_TOP = (
    90,
    48,
    16,
)  # room for the value axis and commit labels
LABELLED_POINTS = (
    12  # with more versions, every n-th is labelled (the rest in tooltips)
)
TICKS = 5


def ticks(high: float) -> tuple[list[float], int]:
    """Round tick values from zero past ``high`` (in MiB), and the decimals that keep their
    labels apart."""
    raw = high / (TICKS - 1) if high > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil(high / step) if high > 0 else 1
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    if step * 10**decimals != round(step * 10**decimals):  # 2.5, 0.25 ...
        decimals += 1
    return [i * step for i in range(count + 1)], decimals


def _plot(
    name: str,
    history: Sequence[Version],
    tolerance: Tolerance | None,
    width: int = 1200,
    height: int = 240,
) -> str:
    values = [version.figures.get(name) for version in history]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if not known:
        return ""
    limits = [
        (
            tolerance.limit(name, v, history[i].noise.get(name, 0))
            if tolerance is not None and v is not None
            else None
        )
        for i, v in enumerate(values)
    ]
    top_bytes = max([v for _, v in known] + [lim for lim in limits if lim is not None])
    marks, decimals = ticks(top_bytes / MIB)
    high = marks[-1] * MIB or 1
    plot_w, plot_h = width - PLOT_LEFT - 40, height - PLOT_TOP - PLOT_BOTTOM
    step = plot_w / max(len(history) - 1, 1)

    def x(index: int) -> float:
        return PLOT_LEFT + (index * step if len(history) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return PLOT_TOP + plot_h - value / high * plot_h

    axis = (
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP}' x2='{PLOT_LEFT}' y2='{PLOT_TOP + plot_h}' "
        "stroke='#888'/>"
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP + plot_h}' x2='{PLOT_LEFT + plot_w}' "
        f"y2='{PLOT_TOP + plot_h}' stroke='#888'/>"
    )
    for tick in marks:
        axis += (
            f"<text class='tick' x='{PLOT_LEFT - 6}' y='{y(tick * MIB) + 4:.1f}' "
            f"text-anchor='end'>{tick:.{decimals}f} MiB</text><line x1='{PLOT_LEFT}' "
            f"y1='{y(tick * MIB):.1f}' x2='{PLOT_LEFT + plot_w}' y2='{y(tick * MIB):.1f}' "
            "stroke='#e4e4e4'/>"
        )
    # Each version's band: from its figure up to what the gate allowed, until the next one.
    bands = "".join(
        f"<rect class='band' x='{x(i) - (step / 2 if i else 0):.1f}' y='{y(lim):.1f}' "
        f"width='{(step if 0 < i < len(history) - 1 else step / 2) if len(history) > 1 else 8:.1f}' "
        f"height='{max(y(v) - y(lim), 1):.1f}' fill='#cde' opacity='.6'/>"
        for i, (v, lim) in enumerate(zip(values, limits))
        if v is not None and lim is not None
    )
    every = max(1, -(-len(history) // LABELLED_POINTS))
    labels = "".join(
        f"<text class='commit' x='{x(i):.1f}' y='{PLOT_TOP + plot_h + 16}' "
        f"text-anchor='middle'>{html.escape(version.commit)}</text>"
        f"<text class='date' x='{x(i):.1f}' y='{PLOT_TOP + plot_h + 30}' "
        f"text-anchor='middle'>{html.escape(version.date)}</text>"
        for i, version in enumerate(history)
        if i % every == 0 or i == len(history) - 1
    )
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in known)
    dots = ""
    previous_limit: int | None = None
    for i, v in known:
        version = history[i]
        grown = previous_limit is not None and v > previous_limit
        said = f"{version.commit} {version.date} {version.subject}: {mib(v)}" + (
            f" (above the {mib(previous_limit)} the version before allowed)"
            if previous_limit is not None and grown
            else ""
        )
        dots += (
            f"<circle class='{'grown' if grown else 'point'}' cx='{x(i):.1f}' cy='{y(v):.1f}' "
            f"r='{6 if grown else 3}'><title>{html.escape(said)}</title></circle>"
        )
        previous_limit = limits[i]
    return (
        f"<h2>{html.escape(name)}</h2><svg viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='{html.escape(name)} over the baseline history'>{axis}{bands}{labels}"
        f"<polyline fill='none' stroke='#36c' stroke-width='2' points='{line}'/>{dots}</svg>"
    )


def _figures(data: dict[str, Any], environment: str, table: str) -> dict[str, int]:
    if "environments" in data:
        return dict(data["environments"].get(environment, {}).get(table, {}))
    old = f"{data.get('python')}-{data.get('platform')}"
    return dict(data.get(table, {})) if environment.startswith(old) else {}


def figures_from_any(data: dict[str, Any], environment: str) -> dict[str, int]:
    """An environment's figures from any version of the baseline file (older ones had one
    top-level ``[figures]`` table, with ``python`` and ``platform`` beside it)."""
    return _figures(data, environment, "figures")


def noise_from_any(data: dict[str, Any], environment: str) -> dict[str, int]:
    return _figures(data, environment, "noise")
