"""memdiff: the gate's figures of a git ref against the working tree's, on this machine.

The ref is checked out in a temporary git worktree. Before each side is measured, the project
is installed from that side's folder (without its dependencies: both sides use the working
tree's), and the session checks where the project's package is really imported from: an
editable install of the working tree would otherwise hand the ref the working tree's code and
report no change (seen with `-R`). Both sides run on the memory Python; memdiff reports,
memgate fails.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nox

from memwise.gate import rules
from memwise.gate.measuring import measure, tolerance_of
from memwise.gate.other_commit import measure_commit
from memwise.gate.rules import WORKLOAD_PEAK, WORKLOAD_TOTAL
from memwise.project.options import HelpShown, OptionsError, parse
from memwise.project.settings import Settings
from memwise.report_names import SUMMARY, WORKLOAD_CAPTURE
from memwise.running.environment import install, require_code_from
from memwise.running.report_files import fresh_folder
from memwise.views.verdict import (
    Verdict,
    culprits_of,
    markdown,
    report_page,
    terminal,
)


def memdiff(session: nox.Session, settings: Settings, python: str) -> None:
    """Measure a git ref (in a temporary worktree) and the working tree on this machine, and
    print the gate's comparison of the two: figures, and where the workload's memory grew.
    """
    ref = parse(session, parse_memdiff_ref)
    reports = fresh_folder(session, settings.root / settings.reports / "memdiff")
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", ref + "^{commit}"],
        cwd=settings.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if found.returncode != 0:
        session.error(
            f"git could not check out {ref!r}: no commit, branch or tag of that name"
        )
    ref_commit = found.stdout.strip()
    head = git_output(session, settings.root, "rev-parse", "HEAD")
    dirty = git_output(
        session, settings.root, "status", "--porcelain", "--untracked-files=no"
    )
    now_side = (
        f"the working tree ({head[:12]}{' with uncommitted changes' if dirty else ''})"
    )
    install(session, settings)  # one environment: the working tree's dependencies
    interpreter = str(session.run("python", "-c", INTERPRETER, silent=True)).strip()
    session.log(f"measuring {ref} ({ref_commit[:12]}) on {interpreter}")
    before = measure_commit(
        session, settings, ref_commit, f"{ref} ({ref_commit[:12]})", reports / "ref"
    )
    require_code_from(session, settings, now_side)
    session.log(f"measuring {now_side} on {interpreter}")
    after = measure(session, settings, fresh_folder(session, reports / "now"))
    for side, run in ((f"{ref} ({ref_commit[:12]})", before), (now_side, after)):
        # A test that failed (not over its budget: its peak still counts) measured a run
        # that stopped early: its figure is not its memory.
        failed = run.manifest.failed_otherwise
        if failed:
            session.error(
                f"{side}: {len(failed)} budgeted test(s) failed there, so its figures do not "
                "compare: "
                + ", ".join(test.nodeid for test in failed[:5])
                + ". The tests' output is above; a file or variable that side lacks is the "
                "usual cause (memdiff carries over the files git ignores at the root)."
            )
    tolerance = tolerance_of(settings)
    comparisons = rules.compare(before.figures, {}, after.figures, tolerance)
    total = rules.allowed_growth(comparisons, WORKLOAD_TOTAL)
    sites = rules.grown_sites(before.sites, after.sites, more_than=total)
    title = f"ref {ref} ({ref_commit[:12]}) -> now, {now_side}"
    graph = reports / "workload-diff.html"
    if settings.workload:  # both sides' captures: where the workload's peak grew, drawn
        session.run("python", "-m", "memwise.views.diffgraph",
                    str(reports / "ref" / WORKLOAD_CAPTURE),
                    str(reports / "now" / WORKLOAD_CAPTURE), str(graph), "--title",
                    f"The workload's memory at its peak: {title}", "--names", "ref", "now",
                    f"--floor={tolerance.absolute_bytes}", silent=True)  # fmt: skip
    graphs = {WORKLOAD_PEAK: graph} if graph.is_file() else {}
    verdict = Verdict(
        comparisons, tolerance, f"{title}, {interpreter.rsplit(' ', 1)[0]}", sites,
        culprits=culprits_of(comparisons, graphs, sites, after.site_lines),
        graphs={figure: page.name for figure, page in graphs.items()},
        before=f"ref {ref}", judged=False,
    )  # fmt: skip
    page = reports / "memdiff.html"
    page.write_text(report_page(verdict, f"Memory: {title}"), "utf-8")
    summary = reports / SUMMARY
    summary.write_text(markdown(verdict), encoding="utf-8")
    for comparison in comparisons:
        session.log(comparison.describe())
    session.log(terminal(verdict, reports))
    drawn = f"; differential flamegraph: {graph}" if graph.is_file() else ""
    session.log(
        f"ref {ref} ({ref_commit[:12]}) -> now, {now_side}, both on {interpreter}: "
        f"{len(verdict.failing)} figure(s) above the gate's tolerance; report: {page}{drawn}"
    )


INTERPRETER = (
    "import platform, sys; print('Python', platform.python_version(), sys.executable)"
)


def parse_memdiff_ref(words: list[str]) -> str:
    """memdiff's one argument, a git ref; `--help` explains the session."""
    if words[:1] in (["--help"], ["-h"]):
        print(MEMDIFF_USAGE)
        raise HelpShown
    if len(words) != 1 or words[0].startswith("-"):
        raise OptionsError(
            f"give one git ref to compare the working tree with\n{MEMDIFF_USAGE}"
        )
    return words[0]


MEMDIFF_USAGE = """\
usage: nox -s memdiff -- REF

Measure the gate's figures of a git ref (checked out in a temporary worktree, its code imported
ahead of the working tree's install) and of the working tree, on the memory Python, and print
the comparison and the call sites whose allocations grew. Both sides use the working tree's
dependencies. memdiff reports; it does not fail on growth (memgate does)."""


def git_output(session: nox.Session, root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        session.error(f"git {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result.stdout.strip()
