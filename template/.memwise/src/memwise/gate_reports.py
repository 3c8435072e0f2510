"""What the gate writes for other tools and for the long view: the figures' history as an
offline HTML plot, and the figures in Bencher Metric Format and github-action-benchmark's
``customSmallerIsBetter`` JSON (the verdict itself: ``memwise.verdict``)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from memwise.sizes import mib
from memwise.verdict import PEAK_SENTENCE

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".REGRESSION{color:#b00;font-weight:bold}.grew{color:#a60}"
    "svg{background:#fafafa;border:1px solid #ddd;font-size:11px}.note{color:#666}"
)


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


def history_html(
    environment: str, history: Sequence[tuple[str, str, dict[str, int]]]
) -> str:
    """Each figure over the baseline file's git history, as inline SVG plots (no scripts):
    a value axis, and each version's commit and date written under its point.

    ``history`` holds (commit, date, figures) from oldest to newest.
    """
    names = sorted({name for _, _, figures in history for name in figures})
    plots = [
        _plot(name, [(c, d, f.get(name)) for c, d, f in history]) for name in names
    ]
    body = "".join(plots) or "<p>No figures recorded for this environment yet.</p>"
    title = f"Memory figures over time: {environment}"
    lonely = (
        "<p class='note'>One version of the baseline file so far: each plot is a single "
        "point. A line appears once the file has two or more commits (record with `nox -s "
        "baseline`, commit, repeat after a change).</p>"
        if len(history) == 1
        else ""
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>"
        f"<p>{len(history)} version(s) of the baseline file, oldest on the left. "
        f"{html.escape(PEAK_SENTENCE)}</p>{lonely}{body}\n"
    )


PLOT_LEFT, PLOT_BOTTOM, PLOT_TOP = (
    90,
    48,
    16,
)  # room for the value axis and commit labels
LABELLED_POINTS = (
    12  # with more versions, every n-th is labelled (the rest in tooltips)
)


def _plot(
    name: str,
    points: list[tuple[str, str, int | None]],
    width: int = 720,
    height: int = 220,
) -> str:
    known = [
        (i, commit, date, v)
        for i, (commit, date, v) in enumerate(points)
        if v is not None
    ]
    if not known:
        return ""
    low, high = min(v for *_, v in known), max(v for *_, v in known)
    if high == low:  # one value: an axis around it
        low, high = int(low * 0.95), int(high * 1.05) + 1
    plot_w, plot_h = width - PLOT_LEFT - 50, height - PLOT_TOP - PLOT_BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(index: int) -> float:
        return PLOT_LEFT + (index * step if len(points) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return PLOT_TOP + plot_h - (value - low) / (high - low) * plot_h

    axis = (
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP}' x2='{PLOT_LEFT}' y2='{PLOT_TOP + plot_h}' "
        "stroke='#888'/>"
        f"<line x1='{PLOT_LEFT}' y1='{PLOT_TOP + plot_h}' x2='{PLOT_LEFT + plot_w}' "
        f"y2='{PLOT_TOP + plot_h}' stroke='#888'/>"
    )
    for tick in (low, (low + high) / 2, high):
        axis += (
            f"<text class='tick' x='{PLOT_LEFT - 6}' y='{y(tick) + 4:.1f}' text-anchor='end'>"
            f"{mib(int(tick))}</text><line x1='{PLOT_LEFT - 3}' y1='{y(tick):.1f}' "
            f"x2='{PLOT_LEFT}' y2='{y(tick):.1f}' stroke='#888'/>"
        )
    every = max(1, -(-len(points) // LABELLED_POINTS))
    labels = "".join(
        f"<text class='commit' x='{x(i):.1f}' y='{PLOT_TOP + plot_h + 16}' "
        f"text-anchor='middle'>{html.escape(commit)}</text>"
        f"<text class='date' x='{x(i):.1f}' y='{PLOT_TOP + plot_h + 30}' "
        f"text-anchor='middle'>{html.escape(date)}</text>"
        for i, (commit, date, _) in enumerate(points)
        if i % every == 0 or i == len(points) - 1
    )
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, _, _, v in known)
    dots = "".join(
        f"<circle cx='{x(i):.1f}' cy='{y(v):.1f}' r='3'>"
        f"<title>{html.escape(f'{commit} {date}')}: {mib(v)}</title></circle>"
        for i, commit, date, v in known
    )
    return (
        f"<h2>{html.escape(name)}</h2><svg width='{width}' height='{height}' role='img' "
        f"aria-label='{html.escape(name)} over the baseline history'>{axis}{labels}"
        f"<polyline fill='none' stroke='#36c' stroke-width='2' points='{line}'/>{dots}</svg>"
    )


def figures_from_any(data: dict[str, Any], environment: str) -> dict[str, int]:
    """An environment's figures from any version of the baseline file (older ones had one
    top-level ``[figures]`` table, with ``python`` and ``platform`` beside it)."""
    if "environments" in data:
        return dict(data["environments"].get(environment, {}).get("figures", {}))
    old = f"{data.get('python')}-{data.get('platform')}"
    return dict(data.get("figures", {})) if environment.startswith(old) else {}
