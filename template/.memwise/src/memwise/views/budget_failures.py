"""The tests that failed a memory run, as memtest and the gate both tell them: each test over
its budget with its pages and the line that held the most, then those that failed otherwise.
"""

from __future__ import annotations

from pathlib import Path

import nox

from memwise.plugin.manifest import Manifest
from memwise.plugin.shards import Shard
from memwise.report_names import MEMTEST_PAGE, SUMMARY
from memwise.running.report_files import flamegraphs, listing
from memwise.sizes import mib
from memwise.views.verdict import (
    MEMTEST_ALLOCATOR,
    OverBudget,
    Verdict,
    held_most,
    markdown,
    report_page,
    terminal,
)


def over_budget_tests(
    session: nox.Session, manifest: Manifest, kept: list[Path], reports: Path
) -> list[OverBudget]:
    """Each test over its budget, with its pages drawn (from the test function: what held its
    peak, or for limit_leaks what it never freed) and what held the most there."""
    captures = {Path(capture).resolve(): capture for capture in map(str, kept)}
    found = []
    for test in manifest.over_budget:
        pages: list[Path] = []
        if test.capture and Path(test.capture).resolve() in captures:
            capture = Path(test.capture)
            leaks = (test.limit or "").startswith("limit_leaks")
            pages = flamegraphs(session, capture, reports / capture.stem, test.nodeid,
                                leaks=leaks)  # fmt: skip
        most = held_most(pages[0]) if pages else None
        if test.forked_bytes and 2 * test.forked_bytes > (test.peak_bytes or 0):
            # The page draws the test's own process; most of the peak was its children's.
            most = f"the processes it forked, {mib(test.forked_bytes)}"
        found.append(
            OverBudget(
                test.nodeid,
                test.limit or "its marker",
                test.peak_bytes,
                most,
                tuple(str(page.relative_to(reports)) for page in pages),
            )
        )
    return found


def failures_message(
    session: nox.Session,
    manifest: Manifest,
    kept: list[Path],
    reports: Path,
    shard: Shard | None = None,
) -> str:
    """The failed tests, those over their memory budget apart from the others: the verdict
    (``memwise.views.verdict``) in the terminal, and summary.md and index.html beside the reports
    (the page's title names its shard: a merged run links to each red shard's page).
    """
    verdict = Verdict(
        (), None, f"Python {manifest.python} on {manifest.platform}",
        over_budget=over_budget_tests(session, manifest, kept, reports),
        failed_otherwise=[test.nodeid for test in manifest.failed_otherwise],
        name="memtest", allocator=MEMTEST_ALLOCATOR,
    )  # fmt: skip
    index = reports / MEMTEST_PAGE
    (reports / SUMMARY).write_text(markdown(verdict), encoding="utf-8")
    of_shard = f", shard {shard}" if shard is not None else ""
    title = f"memtest{of_shard}: tests over their memory budget"
    index.write_text(report_page(verdict, title), "utf-8")
    return "\n".join(
        [
            terminal(verdict, reports),
            *failed_tests_lines(verdict, manifest.python),
            f"summary: {reports / SUMMARY}\nreport: {index}",
        ]
    )


def failed_tests_lines(verdict: Verdict, python: str) -> list[str]:
    """How many tests went over their budget, and which failed otherwise (memtest's and the
    gate's verdicts end with them)."""
    lines = []
    if verdict.over_budget:
        lines.append(
            f"{len(verdict.over_budget)} test(s) went over their memory budget on Python "
            f"{python}; pytest's report above names what each allocated."
        )
    if verdict.failed_otherwise:
        lines.append(
            f"{len(verdict.failed_otherwise)} test(s) failed for another reason than memory "
            "(an assertion, an exception, a fixture); pytest's report above has their "
            "tracebacks:\n" + listing([Path(name) for name in verdict.failed_otherwise])
        )
    return lines
