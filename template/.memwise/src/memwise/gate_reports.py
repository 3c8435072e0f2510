"""What the gate writes for people and for other tools: the job summary (Markdown), an
offline HTML report, the figures' history as an offline HTML plot, and the figures in
Bencher Metric Format and github-action-benchmark's ``customSmallerIsBetter`` JSON."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from memwise.gate import Comparison, SiteChange, Tolerance
from memwise.sizes import MIB, mib

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".REGRESSION{color:#b00;font-weight:bold}.grew{color:#a60}"
    "svg{background:#fafafa;border:1px solid #ddd}"
)


def _size(value: int | None) -> str:
    return mib(value) if value is not None else "-"


def summary_markdown(
    comparisons: Sequence[Comparison],
    tolerance: Tolerance,
    sites: Sequence[SiteChange],
    environment: str,
    graphs: Sequence[Path] = (),
    before: str = "baseline",
    judged: bool = True,
) -> str:
    """The CI job summary: verdict, every figure against its limit, where memory grew, and
    the differential flamegraphs (files beside the summary, in the same artifact). memdiff
    passes ``before="ref"`` and ``judged=False``: it reports growth, it fails nothing.
    """
    rows = [
        f"| {c.name} | {_size(c.baseline)} | {_size(c.now)} | {_size(c.limit)} "
        f"| {_status(c, judged)} |"
        for c in comparisons
    ]
    grown = [
        f"| `{s.site}` | {mib(s.before)} | {mib(s.after)} | {s.growth / MIB:+.2f} MiB |"
        for s in sites
    ]
    lines = [
        f"## {_heading(comparisons, judged)}",
        "",
        f"Environment `{environment}`. Tolerance: {tolerance}. {PEAK_SENTENCE}",
        "",
        f"| figure | {before} | now | allowed | status |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]
    if grown:
        lines += [
            "Where the workload's allocations grew most (call sites, bytes allocated):",
            "",
            f"| call site | {before} | now | growth |",
            "| --- | --- | --- | --- |",
            *grown,
            "",
        ]
    if graphs:
        lines += [
            "What grew, drawn against the baseline's commit (differential flamegraphs):",
            "",
            *(f"- [{graph.name}]({graph.name})" for graph in graphs),
            "",
        ]
    return "\n".join(lines)


PEAK_SENTENCE = (
    "A peak is memray's high-water mark of the program or test, measured with the C allocator "
    "(PYTHONMALLOC=malloc): the most memory it held at one moment, as `nox -s flamegraph` "
    "shows it."
)


def _heading(comparisons: Sequence[Comparison], judged: bool) -> str:
    """The verdict line: the gate's, or memdiff's account of growth (which fails nothing)."""
    if not judged:
        grew = [c for c in comparisons if c.status == "REGRESSION"]
        return (
            f"Memory, ref -> now: {len(grew)} figure(s) grew past the gate's tolerance"
        )
    failing = [c for c in comparisons if c.fails]
    if failing:
        return f"Memory gate failed: {len(failing)} figure(s) grew or went missing"
    return "Memory gate passed"


def _status(comparison: Comparison, judged: bool) -> str:
    if not judged and comparison.status == "REGRESSION":
        return "grew past tolerance"
    return comparison.status


def report_html(
    markdown_title: str,
    comparisons: Sequence[Comparison],
    sites: Sequence[SiteChange],
    tolerance: Tolerance | None = None,
    graphs: Sequence[Path] = (),
    before: str = "baseline",
    judged: bool = True,
) -> str:
    """The same as the summary, as a self-contained page that opens offline: the verdict and
    the tolerance rule first, then the figures, the call sites and links to the graphs.
    """
    rows = "".join(
        f"<tr class='{c.status if judged else 'grew'}'><td>{html.escape(c.name)}</td>"
        f"<td>{_size(c.baseline)}</td><td>{_size(c.now)}</td><td>{_size(c.limit)}</td>"
        f"<td>{_status(c, judged)}</td></tr>"
        for c in comparisons
    )
    grown = "".join(
        f"<tr><td><code>{html.escape(s.site)}</code></td><td>{mib(s.before)}</td>"
        f"<td>{mib(s.after)}</td><td>{s.growth / MIB:+.2f} MiB</td></tr>"
        for s in sites
    )
    sites_table = (
        "<h2>Where the workload's allocations grew most</h2><table><tr><th>call site</th>"
        f"<th>{before}</th><th>now</th><th>growth</th></tr>{grown}</table>"
        if grown
        else ""
    )
    verdict = (
        f"<p class='verdict'>{html.escape(_heading(comparisons, judged))}. Tolerance: "
        f"{html.escape(str(tolerance))}.</p>"
        if tolerance is not None
        else ""
    )
    links = "".join(
        f"<li><a href='{html.escape(graph.name)}'>{html.escape(graph.name)}</a></li>"
        for graph in graphs
    )
    graphs_list = (
        f"<h2>What grew, drawn against the {before}</h2><ul class='graphs'>{links}</ul>"
        if links
        else ""
    )
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(markdown_title)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(markdown_title)}</h1>{verdict}"
        f"<p>{html.escape(PEAK_SENTENCE)}</p><table><tr><th>figure</th>"
        f"<th>{before}</th><th>now</th><th>allowed</th><th>status</th></tr>{rows}</table>"
        f"{graphs_list}{sites_table}\n"
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
    """Each figure over the baseline file's git history, as inline SVG plots (no scripts).

    ``history`` holds (commit, date, figures) from oldest to newest.
    """
    names = sorted({name for _, _, figures in history for name in figures})
    plots = [
        _plot(name, [(f"{c} {d}", f.get(name)) for c, d, f in history])
        for name in names
    ]
    body = "".join(plots) or "<p>No figures recorded for this environment yet.</p>"
    title = f"Memory figures over time: {environment}"
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>"
        f"<p>{len(history)} version(s) of the baseline file.</p>{body}\n"
    )


def _plot(
    name: str, points: list[tuple[str, int | None]], width: int = 640, height: int = 180
) -> str:
    known = [(label, value) for label, value in points if value is not None]
    if not known:
        return ""
    low, high = min(v for _, v in known), max(v for _, v in known)
    span = (high - low) or max(high, 1)
    step = (width - 80) / max(len(points) - 1, 1)

    def y(value: int) -> float:
        return height - 30 - (value - low) / span * (height - 60)

    coords = [(40 + i * step, y(v)) for i, (_, v) in enumerate(points) if v is not None]
    line = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords)
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{yy:.1f}' r='3'><title>{html.escape(label)}: {mib(v)}</title></circle>"
        for (x, yy), (label, v) in zip(coords, known)
    )
    return (
        f"<h2>{html.escape(name)}</h2><svg width='{width}' height='{height}' role='img'>"
        f"<text x='4' y='14'>{mib(high)}</text><text x='4' y='{height - 8}'>{mib(low)}</text>"
        f"<polyline fill='none' stroke='#36c' stroke-width='2' points='{line}'/>{dots}</svg>"
    )


def figures_from_any(data: dict[str, Any], environment: str) -> dict[str, int]:
    """An environment's figures from any version of the baseline file (older ones had one
    top-level ``[figures]`` table, with ``python`` and ``platform`` beside it)."""
    if "environments" in data:
        return dict(data["environments"].get(environment, {}).get("figures", {}))
    old = f"{data.get('python')}-{data.get('platform')}"
    return dict(data.get("figures", {})) if environment.startswith(old) else {}
