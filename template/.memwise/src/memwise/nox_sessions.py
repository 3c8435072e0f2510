"""memwise's memory sessions. Importing this module declares them to nox.

The project's noxfile imports it (two lines, see .memwise/README.md); the bodies live in
``memwise.sessions``. Settings: [tool.memwise] in pyproject.toml (``memwise.project.settings``).
"""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path

import nox

# A session's body has the session's name: imported whole (`memwise.sessions.drift.drift`), so the
# session function that calls it can have that name too.
import memwise.sessions.drift
import memwise.sessions.memdiff
import memwise.sessions.memreport
from memwise.project import answers, interpreter_downloads, pythons
from memwise.project.settings import SettingsError, load
from memwise.running import environment
from memwise.sessions import gate_sessions, measure_sessions, updates

# .memwise/src/memwise/nox_sessions.py: the project is three folders up.
ROOT = Path(__file__).resolve().parents[3]
try:
    SETTINGS = load(ROOT)
except SettingsError as error:
    sys.exit(f"memwise: {error}")
# Interpreters: never downloaded unless the user's uv configuration says so; missing ones fail
# a session in CI and are skipped with a word locally (memwise.project.interpreter_downloads).
interpreter_downloads.forbid_unless_chosen(ROOT)
if os.environ.get("CI"):
    nox.options.error_on_missing_interpreters = True

MEMORY_PYTHON, MEMORY_SOURCE = pythons.memory_python_choice(
    ROOT, SETTINGS.project, SETTINGS.memory_python
)
PROFILE_PYTHON = pythons.profile_python(SETTINGS.project)
# What would do instead, named when the chosen one is missing.
MEMORY_FITTING = pythons.memory_candidates(SETTINGS.project)
PROFILE_FITTING = pythons.profile_candidates(SETTINGS.project)
MEMORY_PURPOSE = (
    f"the memory Python, from {MEMORY_SOURCE}: memtest, memgate, baseline, flamegraph and "
    "memdiff share it, and one environment on it"
)
PROFILE_PURPOSE = (
    "the newest supported Python with scalene wheels"
    if PROFILE_PYTHON
    else "scalene 2.4 has wheels only for CPython 3.9-3.14 on Linux x86_64 and macOS: no "
    "supported Python here has it. Profile CPU elsewhere, or use `nox -s flamegraph` for memory"
)


def memory(session: nox.Session) -> AbstractContextManager[object]:
    """The memory sessions' shared environment, on the memory Python
    (memwise.running.shared_env)."""
    return environment.shared_environment(
        session, SETTINGS, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING
    )


def profiling(session: nox.Session) -> AbstractContextManager[object]:
    """The profile sessions' shared environment, on the newest Python with scalene."""
    return environment.shared_environment(
        session,
        SETTINGS,
        PROFILE_PYTHON,
        PROFILE_PURPOSE,
        PROFILE_FITTING,
        kind="profile",
    )


# A project that adopted memwise keeps what a bare `nox` runs: memtest is a default session in
# a new project only.
ADOPTED = answers.adopted(ROOT)


# python=False: no environment of nox's; memwise keeps one shared by these sessions.
@nox.session(python=False, default=not ADOPTED)
def memtest(session: nox.Session) -> None:
    """Run the tests under pytest-memray: memory budgets enforced, failures' captures kept."""
    with memory(session):
        measure_sessions.memtest(session, SETTINGS)


@nox.session(python=False, default=False)
def memreport(session: nox.Session) -> None:
    """One verdict from the report folders of memtest's or memgate's shards (--shard K/N)."""
    memwise.sessions.memreport.memreport(session, SETTINGS)


@nox.session(python=False, default=False)
def profile(session: nox.Session) -> None:
    """Profile CPU and memory line by line with scalene (`-- --help` for its options)."""
    with profiling(session):
        measure_sessions.profile(session, SETTINGS)


@nox.session(name="profile_view", python=False, default=False)
def profile_view(session: nox.Session) -> None:
    """Open the last profile in scalene's browser view, with its AI suggestions (interactive)."""
    with profiling(session):
        measure_sessions.profile_view(session, SETTINGS)


@nox.session(python=False, default=False)
def flamegraph(session: nox.Session) -> None:
    """Record a program with memray: flamegraphs and its peak (`-- --help` for the options)."""
    with memory(session):
        measure_sessions.flamegraph(session, SETTINGS)


@nox.session(python=False, default=False)
def live(session: nox.Session) -> None:
    """Watch a program's memory live in memray's terminal view (interactive; never in CI)."""
    with memory(session):
        measure_sessions.live(session, SETTINGS)


@nox.session(python=False, default=False)
def memgate(session: nox.Session) -> None:
    """Fail when a memory figure grew past the committed baseline plus its tolerance."""
    with memory(session):
        gate_sessions.memgate(session, SETTINGS, MEMORY_PYTHON)


@nox.session(python=False, default=False)
def baseline(session: nox.Session) -> None:
    """Measure the gate's figures a few times; record medians and noise; commit the file."""
    with memory(session):
        gate_sessions.record_baseline(session, SETTINGS, MEMORY_PYTHON)


@nox.session(python=False, default=False)
def memdiff(session: nox.Session) -> None:
    """Compare the working tree's memory figures with a git ref's: `nox -s memdiff -- main`."""
    with memory(session):
        memwise.sessions.memdiff.memdiff(session, SETTINGS, MEMORY_PYTHON)


@nox.session(python=False, default=False)
def memhistory(session: nox.Session) -> None:
    """Plot each gate figure over the baseline file's git history (offline HTML, exports)."""
    gate_sessions.memhistory(session, SETTINGS, MEMORY_PYTHON)


@nox.session(default=False)
def drift(session: nox.Session) -> None:
    """Fail when a memwise-owned file differs from the release the answers file records."""
    memwise.sessions.drift.drift(session, SETTINGS)


@nox.session(default=False)
def check_update(session: nox.Session) -> None:
    """Say whether a newer memwise release is out than the one the answers file records."""
    updates.check_update(session, SETTINGS)
