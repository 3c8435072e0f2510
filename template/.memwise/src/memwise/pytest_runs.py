"""Running pytest for memtest and the gate, and reading what it did from the run's manifest
(written by memwise's plugin): exit codes told apart, captures of failures kept, tests that
ran unmeasured named.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import nox

from memwise.environment import program_env
from memwise.manifest import MANIFEST_NAME, Manifest
from memwise.reports import listing
from memwise.settings import Settings

PYTEST_EXIT_MESSAGES = {
    2: "pytest was interrupted (exit code 2) before the run completed; see its output above",
    3: "pytest stopped on an internal error (exit code 3), often a plugin or conftest.py "
    "failing; see the INTERNALERROR lines above",
    4: "pytest reported a usage error (exit code 4) and ran no test: check the arguments after "
    "`--` and [tool.memwise] pytest-args against pytest's message above",
    5: "pytest collected no test (exit code 5): check testpaths in your pytest configuration "
    "and the arguments after `--`",
}


def run_pytest(session: nox.Session, settings: Settings, *args: str) -> int:
    """Run pytest with the project's settings; its exit code (pytest's own meanings)."""
    # Set by an outer pytest-memray run, it would make capture names random uuids.
    env: dict[str, str | None] = {**program_env(settings), "MEMRAY_RESULT_PATH": None}
    try:
        session.run("pytest", *args, *settings.pytest_args, env=env)
    except nox.command.CommandFailed as error:
        return error.return_code if error.return_code is not None else 1
    return 0


def memtest_flags(settings: Settings, reports: Path, prefix: str) -> list[str]:
    """pytest-memray's flags and memwise's: pytest-memray ignores its ini keys, so flags."""
    limit = [f"--memwise-default-limit={settings.default_limit}"] if settings.default_limit else []
    return [
        "--memray", f"--memray-bin-path={reports / 'captures'}", f"--memray-bin-prefix={prefix}",
        f"--memwise-manifest={reports / MANIFEST_NAME}", *limit,
    ]  # fmt: skip


def workers(settings: Settings) -> list[str]:
    """pytest-xdist's options for memtest: one worker per core by default, none on one core.

    The gate does not use them: its figures are compared across runs, and worker processes
    add their own threads' allocations to a test's total.
    """
    if settings.workers is None or (settings.workers == "auto" and (os.cpu_count() or 1) < 2):
        return []
    return ["-n", settings.workers]


def read_manifest(
    session: nox.Session, reports: Path, code: int, *, may_select_none: bool = False
) -> Manifest:
    """The run's manifest; stop with pytest's reason when the run went wrong.

    ``may_select_none``: an empty selection (exit code 5) is fine, as for the gate, which runs
    only the tests that have a memory budget.
    """
    path = reports / MANIFEST_NAME
    empty_but_fine = code == 5 and may_select_none
    if (code in PYTEST_EXIT_MESSAGES and not empty_but_fine) or not path.is_file():
        session.error(PYTEST_EXIT_MESSAGES.get(code, f"pytest ended with exit code {code}"))
    return Manifest.read(path)


def keep_failing_captures(
    manifest: Manifest, reports: Path, also: Collection[str] = ()
) -> list[Path]:
    """Delete the captures of tests that passed; return those of the tests that failed (and
    of the tests named in ``also``, e.g. whose peak regressed)."""
    captures = reports / "captures"
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
    for leftover in sorted(captures.glob("**/*"), reverse=True) if captures.is_dir() else []:
        if leftover.suffix != ".bin":  # pytest-memray's own bookkeeping, not a report
            leftover.rmdir() if leftover.is_dir() else leftover.unlink()
    if captures.is_dir() and not any(captures.iterdir()):
        captures.rmdir()
    return kept


def warn_unmeasured(session: nox.Session, manifest: Manifest) -> None:
    unmeasured = manifest.unmeasured
    if unmeasured:
        names = listing([Path(test.nodeid) for test in unmeasured[:10]])
        more = f"\n  ... and {len(unmeasured) - 10} more" if len(unmeasured) > 10 else ""
        session.warn(
            f"{len(unmeasured)} of {len(manifest.tests)} tests ran WITHOUT memory tracking "
            f"(neither test functions nor unittest.TestCase methods):\n{names}{more}"
        )
