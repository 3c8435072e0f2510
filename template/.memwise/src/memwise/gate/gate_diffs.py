"""Differential flamegraphs of a red gate: each regressed figure's capture now, drawn against
the same program or test measured at the commit that recorded the baseline.

The baseline stores figures, not captures (a capture of a workload is megabytes, and binary):
a red gate measures the baseline's commit again, here, in a temporary git worktree, with the
same environment. A green gate costs nothing more; a red one about one more measuring run. CI
needs that commit in its clone (the memory workflow checks out the whole history).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nox

from memwise.gate.measuring import tolerance_of
from memwise.gate.other_commit import measure_commit
from memwise.gate.rules import WORKLOAD_PEAK, Comparison
from memwise.plugin.manifest import Manifest, function_of_test
from memwise.project.settings import Settings
from memwise.report_names import WORKLOAD_CAPTURE

TEST_SUFFIX = " peak"


def baseline_commit(settings: Settings) -> tuple[str | None, str]:
    """The commit that last recorded the baseline file, or None and why there is none."""
    name = settings.baseline
    try:
        found = subprocess.run(
            ["git", "log", "-1", "--format=%H", "--", name],
            cwd=settings.root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        edited = subprocess.run(
            ["git", "status", "--porcelain", "--", name],
            cwd=settings.root, capture_output=True, text=True, check=False,
        )  # fmt: skip
    except OSError as error:
        return None, f"git could not be run ({error})"
    commit = found.stdout.strip()
    if found.returncode != 0 or not commit:
        return None, (
            f"{name} has no commit in this clone's history (a shallow clone? CI needs the "
            "whole history: fetch-depth: 0 on GitHub, GIT_DEPTH: 0 on GitLab)"
        )
    if edited.stdout.strip():
        return None, f"{name} has uncommitted changes: its figures come from no commit"
    if is_shallow_boundary(settings.root, commit):
        return None, (
            f"the commit that last changed {name} is older than this shallow clone's history "
            "(git names the clone's oldest commit instead). CI needs the whole history: "
            "fetch-depth: 0 on GitHub, GIT_DEPTH: 0 on GitLab"
        )
    return commit, ""


def is_shallow_boundary(root: Path, commit: str) -> bool:
    """Whether ``commit`` is where a shallow clone's history was cut: git shows it without
    parents, as if it had added every file, so `git log -- FILE` stops there. The cut commits
    are listed in the repository's `shallow` file (gitrepository-layout)."""
    found = subprocess.run(
        ["git", "rev-parse", "--git-path", "shallow"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    listed = root / found.stdout.strip() if found.returncode == 0 else None
    if listed is None or not listed.is_file():
        return False
    return commit in listed.read_text(encoding="utf-8").split()


def page_name(figure: str) -> str:
    """A file name for a figure's differential flamegraph."""
    return re.sub(r"[^\w.-]+", "_", figure).strip("_")[:120] + "-diff.html"


def captures_of(manifest: Manifest) -> dict[str, Path]:
    return {test.nodeid: Path(test.capture) for test in manifest.tests if test.capture}


def draw(
    session: nox.Session,
    settings: Settings,
    regressions: list[Comparison],
    now_manifest: Manifest,
    reports: Path,
) -> dict[str, Path]:
    """One page per regressed figure whose two captures exist (figure -> page), with its
    culprits beside it as JSON; a warning, never a failure, when the baseline's side cannot
    be measured."""
    if not any(c.name.endswith(TEST_SUFFIX) for c in regressions):
        return {}  # the workload's total only: its call sites say where it grew
    commit, why = baseline_commit(settings)
    if commit is None:
        session.warn(f"no differential flamegraph: {why}")
        return {}
    label = f"the baseline's commit {commit[:12]}"
    session.log(f"measuring {label} again, to draw what grew against it")
    before_folder = reports / "baseline-side"
    try:
        before = measure_commit(session, settings, commit, label, before_folder)
    # nox's session.error and a failed command both end up here: the picture is extra, and
    # must never take the place of the gate's verdict, which the caller reports next.
    except Exception as error:  # noqa: BLE001
        session.warn(f"no differential flamegraph: measuring {label} failed: {error}")
        return {}
    before_captures, now_captures = (
        captures_of(before.manifest),
        captures_of(now_manifest),
    )
    pairs: list[tuple[str, Path, Path, list[str]]] = []
    # The graphs draw memory at the peak; a grown total is told by call site (the summary's
    # table), as drawing it would read every allocation of both captures.
    if any(c.name == WORKLOAD_PEAK for c in regressions):
        pairs.append(
            (
                WORKLOAD_PEAK,
                before_folder / WORKLOAD_CAPTURE,
                reports / WORKLOAD_CAPTURE,
                [],
            )
        )
    for comparison in regressions:
        test = comparison.name.removesuffix(TEST_SUFFIX)
        if test in now_captures and test in before_captures:
            start = ["--from", function_of_test(test)]  # the runner's frames out
            pairs.append(
                (comparison.name, before_captures[test], now_captures[test], start)
            )
    pages = {}
    for figure, before_capture, now_capture, start in pairs:
        if not (before_capture.is_file() and now_capture.is_file()):
            session.warn(
                f"no differential flamegraph of {figure}: a capture is missing"
            )
            continue
        page = reports / page_name(figure)
        try:
            session.run("python", "-m", "memwise.views.diffgraph", str(before_capture),
                    str(now_capture), str(page), "--title",
                    f"What grew: {figure}, {label} -> now", "--names", "baseline", "now",
                    f"--floor={tolerance_of(settings).absolute_bytes}", *start,
                    silent=True)  # fmt: skip
        except nox.command.CommandFailed as error:
            session.warn(f"no differential flamegraph of {figure}: {error}")
            continue
        pages[figure] = page
    return pages
