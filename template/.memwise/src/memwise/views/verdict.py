"""The gate's verdict as people read it: the terminal, the report page, summary.md and the
pull-request comment all lead with what failed, by how much, and the function and line that
grew, failing figures first and sorted by growth; figures within tolerance are folded away.

The culprits come from the differential capture (``memwise.views.diffgraph`` writes them beside each
page, as JSON): the functions whose own memory at the peak grew, with the line that held the
most. A grown total is told by call site (memray stats' bytes allocated per function), keeping
only sites that grew past the figure's tolerance.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from memwise.gate.rules import (
    WORKLOAD_TOTAL,
    Comparison,
    SiteChange,
    Tolerance,
    allowed_growth,
)
from memwise.sizes import MIB, mib, parse_size

CULPRITS_SHOWN = 3


@dataclass(frozen=True)
class Culprit:
    """A function whose own memory grew: ``render_report (svc/handler.py:42)``, and by how
    many bytes."""

    frame: str
    change: int


@dataclass(frozen=True)
class OverBudget:
    """A test that went over its memory marker: its limit, peak, and what held the most."""

    nodeid: str
    limit: str  # the marker, e.g. "limit_memory('4 MB')"
    peak: int | None
    held_most: str | None = None  # "function (file:line), 3.20 MiB"
    pages: tuple[str, ...] = ()  # report file names, beside the summary

    @property
    def over_by(self) -> int | None:
        budget = _marker_bytes(self.limit)
        return None if budget is None or self.peak is None else self.peak - budget


def _marker_bytes(limit: str) -> int | None:
    """The bytes of a marker's size, ``limit_memory('4 MB')`` -> 4 MiB."""
    found = re.search(r"\('([^']+)'", limit)
    try:
        return parse_size(found[1]) if found else None
    except ValueError:
        return None


GATE_ALLOCATOR = "Under it memray sees object by object: the figures are steady to a few bytes between runs."
MEMTEST_ALLOCATOR = (
    "Measured with Python's own allocator (pymalloc), as the tests run every day: a peak can "
    "move by a whole 1 MiB arena between runs, and is not the gate's figure of the same test "
    "(memgate measures with PYTHONMALLOC=malloc, steady to a few bytes)."
)


@dataclass
class Verdict:
    """What the gate (or memdiff, ``judged=False``) found, ready to be said."""

    comparisons: Sequence[Comparison]
    tolerance: Tolerance | None
    environment: str
    sites: Sequence[SiteChange] = ()
    culprits: dict[str, list[Culprit]] = field(default_factory=dict)
    graphs: dict[str, str] = field(default_factory=dict)  # figure -> page file name
    over_budget: Sequence[OverBudget] = ()
    # Tests that failed for another reason than memory (an assertion, a fixture).
    failed_otherwise: Sequence[str] = ()
    before: str = "baseline"
    judged: bool = True
    name: str = "Memory gate"
    allocator: str = GATE_ALLOCATOR

    @property
    def failing(self) -> list[Comparison]:
        """Figures over their limit, most growth first; then missing ones."""
        return sorted(
            (c for c in self.comparisons if self._counts(c)),
            key=lambda c: (c.status != "REGRESSION", -_share(c)),
        )

    def _counts(self, comparison: Comparison) -> bool:
        return comparison.fails if self.judged else comparison.status == "REGRESSION"

    @property
    def within(self) -> list[Comparison]:
        return [c for c in self.comparisons if not self._counts(c)]

    @property
    def shrank(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.status == "improved"]

    @property
    def passed(self) -> bool:
        return not self.failing and not self.over_budget and not self.failed_otherwise

    def headline(self) -> str:
        """One line: the verdict and the worst figure."""
        failing = self.failing
        if not self.judged:
            if not failing:
                return f"Memory, {self.before} -> now: nothing grew past the gate's tolerance"
            return (
                f"Memory, {self.before} -> now: {len(failing)} figure(s) grew past "
                f"tolerance, most {short(failing[0].name)} {change_text(failing[0])}"
            )
        if failing:
            worst = failing[0]
            more = f" (and {len(failing) - 1} more)" if len(failing) > 1 else ""
            what = (
                f"{short(worst.name)} {change_text(worst)}"
                if worst.status == "REGRESSION"
                else f"{short(worst.name)} not measured"
            )
            return f"{self.name} failed: {what}{more}"
        if self.over_budget:
            first = self.over_budget[0]
            more = (
                f" (and {len(self.over_budget) - 1} more)"
                if len(self.over_budget) > 1
                else ""
            )
            return (
                f"{self.name} failed: {short(first.nodeid)} over its budget, "
                f"{_budget_line(first, held=False)}{more}"
            )
        if self.failed_otherwise:
            return f"{self.name} failed: {len(self.failed_otherwise)} test(s) failed"
        return f"{self.name} passed: {len(self.comparisons)} figure(s) within tolerance"


def _share(comparison: Comparison) -> float:
    if comparison.baseline is None or comparison.now is None:
        return 0.0
    return (comparison.now - comparison.baseline) / max(comparison.baseline, 1)


def short(name: str) -> str:
    """A figure's name without its test's path: ``test_x[200k] peak`` (the path cut before
    the parameters, whose ids may hold ``::``)."""
    head, bracket, parameters = name.partition("[")
    return head.rsplit("::", 1)[-1] + bracket + parameters


def change_text(comparison: Comparison) -> str:
    """``+0.31 MiB (+96.9%)``."""
    if comparison.baseline is None or comparison.now is None:
        return "-"
    change = comparison.now - comparison.baseline
    return f"{change / MIB:+.2f} MiB ({_share(comparison):+.2%})"


def _size(value: int | None) -> str:
    return mib(value) if value is not None else "-"


def culprits_from(page: Path, allowed: int) -> list[Culprit]:
    """The culprits ``memwise.views.diffgraph`` wrote beside a differential page: the one that grew
    most, and any other whose own growth is past the figure's tolerance on its own."""
    found = page.with_suffix(".json")
    if not found.is_file():
        return []
    data = json.loads(found.read_text(encoding="utf-8"))
    entries = [
        entry
        for rank, entry in enumerate(data.get("culprits", []))
        if rank == 0 or int(entry["change"]) > allowed
    ]
    return [Culprit(str(e["frame"]), int(e["change"])) for e in entries]


def site_culprits(
    sites: Sequence[SiteChange], lines: dict[str, str] | None = None
) -> list[Culprit]:
    """Grown call sites as culprits, each with its line where this run knows it."""
    return [
        Culprit((lines or {}).get(site.site, site.site), site.growth) for site in sites
    ]


def held_most(page: Path) -> str | None:
    """What held most at a test's peak, from its ``-test.json`` (``memwise.views.diffgraph``)."""
    found = page.with_suffix(".json")
    if not found.is_file():
        return None
    held = json.loads(found.read_text(encoding="utf-8")).get("held", [])
    return f"{held[0]['frame']}, {mib(int(held[0]['held']))}" if held else None


def culprits_of(
    comparisons: Sequence[Comparison],
    graphs: dict[str, Path],
    sites: Sequence[SiteChange],
    lines: dict[str, str] | None = None,
) -> dict[str, list[Culprit]]:
    """What grew in each regressed figure: the functions of its differential capture, or for
    the workload's total, its call sites."""
    found = {}
    for comparison in comparisons:
        if comparison.status != "REGRESSION":
            continue
        allowed = allowed_growth(comparisons, comparison.name)
        if comparison.name in graphs:
            found[comparison.name] = culprits_from(graphs[comparison.name], allowed)
        elif comparison.name == WORKLOAD_TOTAL:
            found[comparison.name] = site_culprits(sites, lines)
    return found


# --- the terminal -----------------------------------------------------------------------------


def terminal(verdict: Verdict, folder: Path | None = None) -> str:
    """The lines that end a red session: each failing figure with its culprits (pages named
    in ``folder``, the reports folder)."""
    lines = [verdict.headline()]
    for comparison in verdict.failing:
        lines.append(f"  {comparison.name}: {_figure_line(comparison)}")
        for culprit in verdict.culprits.get(comparison.name, [])[:CULPRITS_SHOWN]:
            lines.append(f"      grew: {culprit.frame} {culprit.change / MIB:+.2f} MiB")
        graph = verdict.graphs.get(comparison.name)
        if graph:
            lines.append(f"      drawn: {folder / graph if folder else graph}")
    for test in verdict.over_budget:
        lines.append(f"  {test.nodeid}: {_budget_line(test)}")
        lines += [f"      drawn: {folder / p if folder else p}" for p in test.pages[:1]]
    return "\n".join(lines)


def _figure_line(comparison: Comparison) -> str:
    if comparison.status == "MISSING":
        return f"not measured (the {_size(comparison.baseline)} of the baseline)"
    return (
        f"{_size(comparison.baseline)} -> {_size(comparison.now)}, {change_text(comparison)}, "
        f"allowed up to {_size(comparison.limit)}"
    )


def _budget_line(test: OverBudget, *, held: bool = True) -> str:
    over = f", over by {mib(test.over_by)}" if test.over_by is not None else ""
    most = f"; held most: {test.held_most}" if held and test.held_most else ""
    return f"{test.limit}, peak {_size(test.peak)}{over}{most}"


def _peak_over(test: OverBudget) -> str:
    """``3.00 MiB (+2.00)``: the peak, and by how many MiB it passed the limit."""
    over = f" (+{test.over_by / MIB:.2f})" if test.over_by is not None else ""
    return f"{_size(test.peak)}{over}"


def _line_of(held_most: str | None) -> str:
    """The file:line of what held the most (``f (tests/t.py:6), 3.00 MiB`` -> ``tests/t.py:6``):
    the table's narrow column; the function is the test's, or named on its page."""
    found = re.search(r"\(([^()]+)\), [\d.]+ MiB$", held_most or "")
    return f"`{found[1]}`" if found else "-"


# --- Markdown (summary.md, the pull-request comment) ------------------------------------------


def _md_heading(text: str) -> str:
    """Text in a heading: no link can start there, so brackets stay as they are."""
    return re.sub(r"([\\*`<>])", r"\\\1", text)


def _md(text: str) -> str:
    """Text in a Markdown table cell or link: pipes and brackets escaped."""
    return re.sub(r"([|\[\]\\*`<>])", r"\\\1", text)


def markdown(verdict: Verdict) -> str:
    """summary.md: the verdict, the failing figures and their culprits first; every figure
    within tolerance folded in a <details> block (with the full test ids)."""
    mark = "❌" if verdict.judged and not verdict.passed else "✅"
    lines = [f"## {mark} {_md_heading(verdict.headline())}", ""]
    failing = verdict.failing
    if failing:
        lines += [
            f"| figure | change | {verdict.before} → now | allowed |",
            "| --- | --- | --- | --- |",
            *(_md_row(verdict, c) for c in failing),
            "",
        ]
        for comparison in failing:
            culprits = verdict.culprits.get(comparison.name, [])[:CULPRITS_SHOWN]
            if culprits:
                lines.append(f"**What grew in {_md(short(comparison.name))}**:")
                lines += [f"- `{c.frame}` {c.change / MIB:+.2f} MiB" for c in culprits]
                lines.append("")
    if verdict.over_budget:
        lines += [
            "| over its budget | limit | peak (over by) | held most at |",
            "| --- | --- | --- | --- |",
            *(
                f"| {_linked_name(t.nodeid, t.pages[0] if t.pages else None)} | "
                f"`{t.limit}` | {_peak_over(t)} | "
                f"{_line_of(t.held_most)} |"
                for t in verdict.over_budget
            ),
            "",
        ]
    if verdict.failed_otherwise:
        lines += [
            f"{len(verdict.failed_otherwise)} test(s) failed for another reason than memory "
            "(their tracebacks are in the job's log): "
            + ", ".join(f"`{short(t)}`" for t in verdict.failed_otherwise[:10]),
            "",
        ]
    if verdict.shrank:
        lines += [
            (
                f"{len(verdict.shrank)} figure(s) shrank past their tolerance: record a new "
                "baseline (`nox -s baseline`) so the gate holds the gain."
            ),
            "",
        ]
    within = verdict.within
    if verdict.comparisons:
        lines += [
            (
                f"<details><summary>{len(within)} figure(s) within tolerance; full names, "
                "environment, tolerance</summary>"
            ),
            "",
            (
                f"Environment `{verdict.environment}`. {_tolerance(verdict)}{PEAK_SENTENCE} "
                f"{verdict.allocator}"
            ),
            "",
            f"| figure | {verdict.before} | now | change | allowed | status |",
            "| --- | --- | --- | --- | --- | --- |",
            *(
                f"| {_md(c.name)} | {_size(c.baseline)} | {_size(c.now)} | "
                f"{change_text(c)} | {_size(c.limit)} | {c.status} |"
                for c in [*failing, *within]
            ),
            "",
        ]
        if verdict.sites:
            lines += [
                "Call sites whose allocations grew past the total's tolerance:",
                "",
                *(f"- `{s.site}` {s.growth / MIB:+.2f} MiB" for s in verdict.sites),
                "",
            ]
        lines += ["</details>", ""]
    elif verdict.over_budget:
        lines += [
            "<details><summary>full test ids, environment, allocator</summary>",
            "",
            f"{verdict.environment}. {verdict.allocator}",
            "",
            *(f"- `{t.nodeid}`" for t in verdict.over_budget),
            "",
            "</details>",
            "",
        ]
    if verdict.graphs:
        lines += [
            "Reports: "
            + ", ".join(f"[{_md(page)}]({page})" for page in verdict.graphs.values()),
            "",
        ]
    return "\n".join(lines)


def _tolerance(verdict: Verdict) -> str:
    return f"Tolerance: {verdict.tolerance}. " if verdict.tolerance else ""


NAME_WIDTH = 40  # a failing figure's name in the comment's table; the full id on hover


def _cell_name(name: str) -> str:
    """A figure's or test's short name for a table cell, cut to NAME_WIDTH."""
    name = short(name)
    return _md(name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…")


def _linked_name(name: str, page: str | None) -> str:
    """A table cell's short name, linked to its page with the full name on hover. The page's
    name is quoted: a test id's parameters can hold spaces and parentheses, which would end
    a Markdown link."""
    title = name.replace('"', "'")
    if not page:
        return _cell_name(name)
    return f'[{_cell_name(name)}]({quote(page)} "{_md(title)}")'


def _md_row(verdict: Verdict, comparison: Comparison) -> str:
    shown = _linked_name(comparison.name, verdict.graphs.get(comparison.name))
    return (
        f"| {shown} | {change_text(comparison)} | {_mib_pair(comparison)} | "
        f"{_size(comparison.limit)} |"
    )


def _mib_pair(comparison: Comparison) -> str:
    """``0.32 → 0.90 MiB``: the unit once."""
    if comparison.baseline is None or comparison.now is None:
        return f"{_size(comparison.baseline)} → {_size(comparison.now)}"
    return f"{comparison.baseline / MIB:.2f} → {comparison.now / MIB:.2f} MiB"


PEAK_SENTENCE = (
    "A peak is memray's high-water mark of the program or test, measured with the C allocator "
    "(PYTHONMALLOC=malloc): the most memory it held at one moment, as nox -s flamegraph "
    "shows it."
)


# --- the report page --------------------------------------------------------------------------

STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em;max-width:90em}"
    "table{border-collapse:collapse;margin:.5em 0 1em}"
    "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}"
    ".REGRESSION,.MISSING{color:#b00;font-weight:bold}.grew{color:#a60}"
    ".verdict{font-size:1.3em;font-weight:bold}.failed{color:#b00}.passed{color:#070}"
    "code{background:#f4f4f4;padding:0 .2em}.culprits li{margin:.2em 0}"
    ".fold{margin-top:2em;color:#444}"
)


def _row(c: Comparison, judged: bool, full: bool) -> str:
    status = (
        "grew past tolerance" if not judged and c.status == "REGRESSION" else c.status
    )
    kind = c.status if judged else ("grew" if c.status == "REGRESSION" else "")
    name = c.name if full else short(c.name)
    return (
        f"<tr class='{kind}'><td title='{html.escape(c.name)}'>{html.escape(name)}</td>"
        f"<td>{_size(c.baseline)}</td><td>{_size(c.now)}</td><td>{change_text(c)}</td>"
        f"<td>{_size(c.limit)}</td><td>{status}</td></tr>"
    )


def report_page(verdict: Verdict, title: str) -> str:
    """The report page: the verdict, failing figures and their culprits in the first screen;
    the figures within tolerance below the fold."""
    if verdict.judged:
        state = "passed" if verdict.passed else "failed"
    else:  # memdiff says what grew; it fails nothing
        state = "grew" if verdict.failing else "passed"
    head = (
        "<tr><th>figure</th>"
        f"<th>{html.escape(verdict.before)}</th><th>now</th><th>change</th><th>allowed</th>"
        "<th>status</th></tr>"
    )
    parts = [f"<p class='verdict {state}'>{html.escape(verdict.headline())}</p>"]
    failing = verdict.failing
    if failing:
        parts.append(
            f"<table class='failing'>{head}"
            + "".join(_row(c, verdict.judged, False) for c in failing)
            + "</table>"
        )
    for comparison in failing:
        culprits = verdict.culprits.get(comparison.name, [])[:CULPRITS_SHOWN]
        graph = verdict.graphs.get(comparison.name)
        if culprits or graph:
            items = "".join(
                f"<li><code>{html.escape(c.frame)}</code> {c.change / MIB:+.2f} MiB</li>"
                for c in culprits
            )
            link = (
                f" <a href='{html.escape(graph)}'>differential flamegraph</a>"
                if graph
                else ""
            )
            parts.append(
                f"<h2>What grew in {html.escape(short(comparison.name))}{link}</h2>"
                f"<ul class='culprits'>{items}</ul>"
            )
    if verdict.over_budget:
        rows = "".join(
            f"<tr><td title='{html.escape(t.nodeid)}'>{html.escape(short(t.nodeid))}</td>"
            f"<td><code>{html.escape(t.limit)}</code></td><td>{_size(t.peak)}</td>"
            f"<td>{_size(t.over_by)}</td><td><code>{html.escape(t.held_most or '-')}</code></td>"
            + "".join(
                f"<td><a href='{html.escape(p)}'>{html.escape(p)}</a></td>"
                for p in t.pages[:1]
            )
            + "</tr>"
            for t in verdict.over_budget
        )
        parts.append(
            "<h2>Over their memory budget</h2><table class='over'><tr><th>test</th>"
            "<th>limit</th><th>peak</th><th>over by</th><th>held most</th><th>page</th></tr>"
            f"{rows}</table>"
        )
    if verdict.failed_otherwise:
        parts.append(
            f"<p>{len(verdict.failed_otherwise)} test(s) failed for another reason than "
            "memory (their tracebacks are in the session's log): "
            + ", ".join(
                f"<code title='{html.escape(t)}'>{html.escape(short(t))}</code>"
                for t in verdict.failed_otherwise
            )
            + "</p>"
        )
    if verdict.shrank:
        parts.append(
            f"<p>{len(verdict.shrank)} figure(s) shrank past their tolerance: record a new "
            "baseline (<code>nox -s baseline</code>) so the gate holds the gain.</p>"
        )
    fold = [
        (
            f"<p>Environment {html.escape(verdict.environment)}. "
            f"{html.escape(_tolerance(verdict))}{html.escape(PEAK_SENTENCE)} "
            f"{html.escape(verdict.allocator)}</p>"
        )
    ]
    if verdict.within:
        fold.append(
            f"<h2>{len(verdict.within)} figure(s) within tolerance</h2><table class='within'>"
            f"{head}"
            + "".join(_row(c, verdict.judged, True) for c in verdict.within)
            + "</table>"
        )
    if verdict.sites:
        fold.append(
            "<h2>Call sites whose allocations grew past the total's tolerance</h2><ul>"
            + "".join(
                f"<li><code>{html.escape(s.site)}</code> {s.growth / MIB:+.2f} MiB</li>"
                for s in verdict.sites
            )
            + "</ul>"
        )
    return (
        f"<!doctype html><html lang='en'><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(title)}</h1>{''.join(parts)}"
        f"<div class='fold'>{''.join(fold)}</div>\n"
    )
