"""Running pytest for memtest and the gate, and reading what it did from the run's manifest
(written by memwise's plugin): exit codes told apart, captures of failures kept, tests that
ran unmeasured named.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import nox

from memwise.plugin.forked_children import WITH_FORKS
from memwise.plugin.manifest import Manifest, TestRecord
from memwise.plugin.pytest_memray_adapter import remove_bookkeeping
from memwise.plugin.run_tracker import RECHECK_MARGIN, RUN_TRACKER
from memwise.project.settings import Settings
from memwise.report_names import CAPTURES, MANIFEST
from memwise.running import run_endings
from memwise.running.environment import bytecode_env, program_env
from memwise.running.report_files import listing
from memwise.sizes import parse_size


def run_pytest(
    session: nox.Session,
    settings: Settings,
    *args: str,
    env: dict[str, str | None] | None = None,
) -> int:
    """Run pytest with the project's settings; its exit code (pytest's own meanings).

    ``env``: the program's environment, by default ``program_env(settings)``.
    """
    # Set by an outer pytest-memray run, it would make capture names random uuids.
    run_env: dict[str, str | None] = {
        **(program_env(settings) if env is None else env), **bytecode_env(session),
        "MEMRAY_RESULT_PATH": None,
    }  # fmt: skip
    try:
        # Exit code 5 (nothing collected) is not nox's to call a failure: the manifest says
        # it was 5, and the session decides (the gate runs only the budgeted tests).
        with own_basetemp() as basetemp:
            session.run(
                "pytest", *args, f"--basetemp={basetemp}", *settings.pytest_args,
                *MEASURING_WARNINGS_IGNORED, env=run_env, success_codes=[0, 5],
            )  # fmt: skip
    except nox.command.CommandFailed as error:
        return exit_code(error)
    return 0


@contextmanager
def own_basetemp() -> Iterator[Path]:
    """A folder of its own for the run's tmp_path, removed after it.

    By default every pytest run of a user shares one numbered-folder root and, at exit, removes
    the old folders of the others. Two runs doing that at once (memtest beside a plain pytest,
    or the suite's parallel renders) race, and on Python 3.14 and later the loser drops an open
    scandir iterator: a ResourceWarning that a project's `-W error` turns into a red run with no
    test failed (docs/questions.md has the reproduction). A ``--basetemp`` has no numbered
    folders, so nothing is cleaned up at exit. Given after the project's addopts, it wins over
    theirs; a ``--basetemp`` in ``pytest-args`` comes later still and wins over this one.
    """
    # pytest empties a given --basetemp and makes it again, but not its parents: the folder
    # itself, so the command the log shows still runs when copied after the session.
    folder = Path(tempfile.mkdtemp(prefix="memwise-pytest-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Warnings the measuring itself causes, which a project's `-W error` (its addopts, or
# PYTEST_ADDOPTS) would turn into failures of tests that did nothing wrong. Filters given last
# on the command line win over the project's own.
# - pytest-memray's limit_memory (memwise's default budget too) stores each test's result in
#   pytest's cache under a key built from its id: an id longer than a file name makes pytest
#   warn, which was an INTERNALERROR of the whole run.
# - memray's Tracker runs a thread of its own, so from Python 3.12 every fork under it warns
#   that "this process is multi-threaded", in a test whose own process has one thread.
MEASURING_WARNINGS_IGNORED = (
    "-W", "ignore:could not create cache path:pytest.PytestCacheWarning",
    "-W", "ignore:cache could not write path:pytest.PytestCacheWarning",
    "-W", "ignore:This process (pid=:DeprecationWarning",
)  # fmt: skip


def exit_code(error: nox.command.CommandFailed) -> int:
    """The failed command's exit code. nox before 2026.7.11 gives no ``return_code`` (a
    project may pin such a nox in its noxfile's script block): then 1."""
    code = getattr(error, "return_code", None)
    return code if isinstance(code, int) else 1


def memtest_flags(
    settings: Settings,
    reports: Path,
    prefix: str,
    *,
    one_tracker: bool = False,
    manifest: Path | None = None,
) -> list[str]:
    """pytest-memray's flags and memwise's: pytest-memray ignores its ini keys, so flags.

    ``one_tracker``: the tests without a marker of their own are measured by one Tracker for
    the run (``memwise.plugin.run_tracker``), not one each; memtest's choice in one process. The
    gate keeps a Tracker per test: its figures are compared with a baseline recorded that way.
    """
    limit = (
        [f"--memwise-default-limit={settings.default_limit}"]
        if settings.default_limit
        else []
    )
    tracking = "--memwise-one-tracker" if one_tracker else "--memray"
    return [
        tracking, f"--memray-bin-path={reports / CAPTURES}", f"--memray-bin-prefix={prefix}",
        f"--memwise-manifest={manifest or reports / MANIFEST}", *limit,
    ]  # fmt: skip


def near_budget(manifest: Manifest, default_limit: str | None) -> list[str]:
    """Tests the run's Tracker measured within ``RECHECK_MARGIN`` of the default budget, or
    over it, that passed otherwise: pytest-memray measures them again and decides."""
    if default_limit is None:
        return []
    floor = parse_size(default_limit) - RECHECK_MARGIN
    return [
        test.nodeid
        for test in manifest.tests
        if test.measured_by == RUN_TRACKER
        and test.outcome == "passed"
        and (test.peak_bytes or 0) >= floor
    ]


def measure_again(
    session: nox.Session, settings: Settings, reports: Path, manifest: Manifest
) -> Manifest:
    """The run's manifest, with the tests near or over the default budget measured again
    under pytest-memray (a Tracker each, in one process): its figure and verdict replace the
    run Tracker's, and their captures join the run's for the failure report."""
    again = near_budget(manifest, settings.default_limit)
    if not again:
        return manifest
    session.log(
        f"{len(again)} test(s) within {RECHECK_MARGIN // 2**20} MiB of the default budget "
        f"({settings.default_limit}) or over it in the run's Tracker: measured again under "
        "pytest-memray, whose figure decides"
    )
    folder = reports / "again"
    flags = memtest_flags(settings, reports, "memtest", manifest=folder / MANIFEST)
    junit = f"--junitxml={reports / 'junit-again.xml'}"
    code = run_pytest(
        session, settings, *flags, "-p", "no:cacheprovider", junit, *again
    )
    measured = {
        test.nodeid: test
        for test in read_manifest(session, settings, folder, code).tests
    }
    missing = sorted(set(again) - set(measured))
    if missing:
        session.error(
            f"pytest did not run {len(missing)} test(s) again by their node id: "
            + ", ".join(missing[:5])
            + ". Their figures in the run's Tracker are in reports/memtest/manifest.json; give "
            "them a limit_memory marker of their own, so pytest-memray measures them in the run"
        )
    merged = [measured.get(test.nodeid, test) for test in manifest.tests]
    return _with_measured_again(manifest, merged, reports, folder)


def _with_measured_again(
    manifest: Manifest, merged: list[TestRecord], reports: Path, folder: Path
) -> Manifest:
    """The run's manifest with some tests' records replaced by a second measurement (red when
    one of them failed there), written over the first; the second run's folder goes."""
    status = (
        1 if any(test.outcome == "failed" for test in merged) else manifest.exit_status
    )
    result = Manifest(
        manifest.python, manifest.platform, status, merged, manifest.problems
    )
    result.write(reports / MANIFEST)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def forked_under_budget(manifest: Manifest) -> list[str]:
    """Tests held to a peak budget (limit_memory or the default) that forked and passed; a
    TestCase (measured by memwise's own Tracker) is not followed into its forks."""
    return [
        test.nodeid
        for test in manifest.tests
        if "fork" in test.children
        and test.outcome == "passed"
        and (test.limit or "").startswith("limit_memory(")
        and test.measured_by != "memwise"
    ]


def measure_forks(
    session: nox.Session, settings: Settings, reports: Path, manifest: Manifest
) -> Manifest:
    """The run's manifest, with each budgeted test that forked measured again together with
    the processes it forked (``memwise.plugin.forked_children``): pytest-memray off, since it
    cannot follow a fork; that figure and verdict replace the first."""
    forked = forked_under_budget(manifest)
    if not forked:
        return manifest
    session.log(
        f"{len(forked)} budgeted test(s) forked child processes: measured again with them, "
        "each child's peak added to the test's"
    )
    folder = reports / "forks"
    limit = (
        [f"--memwise-default-limit={settings.default_limit}"]
        if settings.default_limit
        else []
    )
    flags = [
        "-p", "no:memray", "-p", "no:cacheprovider",
        f"--memwise-follow-forks={reports / CAPTURES}",
        f"--memwise-manifest={folder / MANIFEST}", *limit,
        f"--junitxml={reports / 'junit-forks.xml'}",
    ]  # fmt: skip
    code = run_pytest(session, settings, *flags, *forked)
    measured = {
        test.nodeid: test
        for test in read_manifest(session, settings, folder, code).tests
        if test.measured_by == WITH_FORKS
    }
    for capture in (reports / CAPTURES).glob("forks-*.bin.*"):
        capture.unlink()  # the children's own captures: their peaks are in the figure
    missing = sorted(set(forked) - set(measured))
    if missing:
        session.error(
            f"memwise could not measure {len(missing)} test(s) again with the processes they "
            "forked: " + ", ".join(missing[:5]) + f". pytest's output is above; "
            f"{reports / 'junit-forks.xml'} has its report"
        )
    merged = [
        (
            _with_children_kinds(measured[test.nodeid], test)
            if test.nodeid in measured
            else test
        )
        for test in manifest.tests
    ]
    return _with_measured_again(manifest, merged, reports, folder)


def _with_children_kinds(again: TestRecord, first: TestRecord) -> TestRecord:
    """The second measurement, keeping every kind of child the first run saw."""
    again.children = sorted(set(again.children) | set(first.children))
    return again


def workers(settings: Settings) -> list[str]:
    """pytest-xdist's options for memtest: one worker per core by default, none on one core.

    The gate does not use them: its figures are compared across runs, and worker processes
    add their own threads' allocations to a test's total.
    """
    if settings.workers is None or (
        settings.workers == "auto" and (os.cpu_count() or 1) < 2
    ):
        return []
    return ["-n", settings.workers]


def read_manifest(
    session: nox.Session,
    settings: Settings,
    reports: Path,
    code: int,
    *,
    may_select_none: bool = False,
) -> Manifest:
    """The run's manifest, once it is certain the run measured what it says; otherwise the
    session stops and names what went wrong (``memwise.running.run_endings``).

    Tests that failed are the caller's to report (exit code 1); every other ending that is
    not a clean run is an error here. ``may_select_none``: an empty selection (exit code 5)
    is fine, as for the gate, which runs only the tests that have a memory budget.
    """
    path = reports / MANIFEST
    manifest = Manifest.read(path) if path.is_file() else None
    if code == 0 and manifest is not None:
        code = manifest.exit_status  # 0, or 5 (see run_pytest)
    problem = run_endings.problem(manifest, code, may_select_none=may_select_none)
    if problem is None and manifest is not None:
        problem = run_endings.unmeasured_problem(manifest, settings.allow_unmeasured)
    if problem is not None or manifest is None:
        session.error(
            problem or f"pytest ended with exit code {code} and wrote no manifest"
        )
    return manifest


def keep_failing_captures(
    manifest: Manifest, reports: Path, also: Collection[str] = ()
) -> list[Path]:
    """Delete the captures of tests that passed; return those of the tests that failed (and
    of the tests named in ``also``, e.g. whose peak regressed)."""
    captures = reports / CAPTURES
    failing = {
        Path(test.capture).resolve()
        for test in manifest.tests
        if test.capture and (test.outcome == "failed" or test.nodeid in also)
    }
    kept = []
    for capture in sorted(captures.glob("*.bin")) if captures.is_dir() else []:
        if capture.resolve() in failing:
            kept.append(capture)
        else:
            capture.unlink()
    remove_bookkeeping(captures)
    if captures.is_dir() and not any(captures.iterdir()):
        captures.rmdir()
    return kept


def note_unmeasured(session: nox.Session, manifest: Manifest) -> None:
    """Name the tests that ran unmeasured and were allowed to ([tool.memwise] allow-unmeasured)."""
    unmeasured = manifest.unmeasured
    if unmeasured:
        names = listing([Path(test.nodeid) for test in unmeasured[:10]])
        more = (
            f"\n  ... and {len(unmeasured) - 10} more" if len(unmeasured) > 10 else ""
        )
        session.warn(
            f"{len(unmeasured)} of {len(manifest.ran)} tests ran WITHOUT memory tracking, "
            f"as [tool.memwise] allow-unmeasured allows:\n{names}{more}"
        )


def note_children(session: nox.Session, manifest: Manifest) -> None:
    """Name the budgeted tests whose child processes are in no budget: memray follows a fork
    (``measure_forks`` counts those), never a new program (.memwise/README.md says how to
    budget it)."""
    found = manifest.budgeted_with_children
    if found:
        names = listing(
            [Path(f"{test.nodeid} ({', '.join(test.children)})") for test in found[:20]]
        )
        more = f"\n  ... and {len(found) - 20} more" if len(found) > 20 else ""
        session.warn(
            f"{len(found)} budgeted test(s) started child processes; their child processes' "
            "memory is not counted (memray measures the test's own process and follows a fork, "
            "which memtest counts toward a limit_memory budget, never a new program started by "
            f"subprocess, multiprocessing's spawn or exec):\n{names}{more}\n"
            "To budget a child, give the child's own code a limit_memory test, or wrap its "
            "work in track_memory (.memwise/README.md, 'Child processes')."
        )


_MISSING = (
    re.compile(r"No module named '([\w.]+)'"),
    re.compile(r"No such file or directory: '([\w.+-]+)'"),
    re.compile(r"(?:command not found|not found): ([\w.+-]+)"),
)


def missing_tools(junit: Path) -> set[str]:
    """Modules and commands the failed tests could not find, from pytest's JUnit report."""
    try:
        text = junit.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {found for pattern in _MISSING for found in pattern.findall(text)}


def _distribution(requirement: str) -> str:
    name = re.split(r"[\s<>=!~;\[@(]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def groups_holding(settings: Settings, tool: str) -> list[str]:
    """The project's dependency groups and extras that list ``tool`` (a module or a command,
    as its distribution is usually named) and that memwise does not install."""
    # A module ("ruamel.yaml") is looked up as its distribution's name, whole or its top level.
    wanted = {
        re.sub(r"[-_.]+", "-", name).lower() for name in (tool, tool.split(".")[0])
    }
    installed = {*settings.test_groups, *settings.test_extras}
    lists = {
        **{f"dependency group {name!r}": entries
           for name, entries in settings.project.get("dependency-groups", {}).items()},
        **{f"extra {name!r}": entries for name, entries in
           settings.project.get("project", {}).get("optional-dependencies", {}).items()},
    }  # fmt: skip
    return [
        where
        for where, entries in lists.items()
        if where.split("'")[1] not in installed
        and any(isinstance(e, str) and _distribution(e) in wanted for e in entries)
    ]


def missing_tools_hint(settings: Settings, junit: Path) -> str:
    """Where a tool the failed tests missed is listed, and the setting that installs it."""
    hints = []
    for tool in sorted(missing_tools(junit)):
        for where in groups_holding(settings, tool):
            name = where.rsplit(" ", 1)[1]
            key = "test-groups" if where.startswith("dependency") else "test-extras"
            hints.append(
                f"\nTests failed without {tool}, which the project's {where} lists and memwise "
                f"does not install: add {name} to [tool.memwise] {key} in pyproject.toml."
            )
    return "".join(hints)
