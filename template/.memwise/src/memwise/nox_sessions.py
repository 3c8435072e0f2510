"""memwise's memory sessions. Importing this module declares them to nox.

The project's noxfile imports it (two lines, see .memwise/README.md); the bodies live in
``memwise.sessions``. Settings: [tool.memwise] in pyproject.toml (``memwise.settings``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

from memwise import drift as drift_session
from memwise import environment, gate_sessions, pythons, sessions, updates
from memwise import memdiff as memdiff_session
from memwise.settings import SettingsError, load

# .memwise/src/memwise/nox_sessions.py: the project is three folders up.
ROOT = Path(__file__).resolve().parents[3]
try:
    SETTINGS = load(ROOT)
except SettingsError as error:
    sys.exit(f"memwise: {error}")

MEMORY_PYTHON = pythons.memory_python(SETTINGS.project, SETTINGS.memory_python)
PROFILE_PYTHON = pythons.profile_python(SETTINGS.project)
# What would do instead, named when the chosen one is missing.
MEMORY_FITTING = pythons.memory_candidates(SETTINGS.project)
PROFILE_FITTING = pythons.profile_candidates(SETTINGS.project)
MEMORY_PURPOSE = "the memory Python: memtest, memgate, baseline and flamegraph share it"
PROFILE_PURPOSE = (
    "the newest supported Python with scalene wheels"
    if PROFILE_PYTHON
    else "scalene 2.4 has wheels only for CPython 3.9-3.14 on Linux x86_64 and macOS: no "
    "supported Python here has it. Profile CPU elsewhere, or use `nox -s flamegraph` for memory"
)


def interpreter(version: str | None) -> str | bool:
    """The version to declare, or False (no environment) so the session can explain."""
    return version if version and pythons.find_interpreter(version) else False


MEMORY = interpreter(MEMORY_PYTHON)
PROFILING = interpreter(PROFILE_PYTHON)
# pip in the environments where the project's own (tox, setuptools) has it: code may import it.
VENV = ["--seed"] if SETTINGS.seed_pip else []


@nox.session(venv_params=VENV, python=MEMORY)
def memtest(session: nox.Session) -> None:
    """Run the tests under pytest-memray: memory budgets enforced, failures' captures kept."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    sessions.memtest(session, SETTINGS)


@nox.session(venv_params=VENV, python=PROFILING, default=False)
def profile(session: nox.Session) -> None:
    """Profile CPU and memory line by line with scalene (`-- --help` for its options)."""
    environment.require_python(
        session, PROFILE_PYTHON, PROFILE_PURPOSE, PROFILE_FITTING, settable=False
    )
    sessions.profile(session, SETTINGS)


@nox.session(name="profile_view", venv_params=VENV, python=PROFILING, default=False)
def profile_view(session: nox.Session) -> None:
    """Open the last profile in scalene's browser view, with its AI suggestions (interactive)."""
    environment.require_python(
        session, PROFILE_PYTHON, PROFILE_PURPOSE, PROFILE_FITTING, settable=False
    )
    sessions.profile_view(session, SETTINGS)


@nox.session(venv_params=VENV, python=MEMORY, default=False)
def flamegraph(session: nox.Session) -> None:
    """Record a program with memray: flamegraphs and stats (`-- --help` for the options)."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    sessions.flamegraph(session, SETTINGS)


@nox.session(venv_params=VENV, python=MEMORY, default=False)
def live(session: nox.Session) -> None:
    """Watch a program's memory live in memray's terminal view (interactive; never in CI)."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    sessions.live(session, SETTINGS)


@nox.session(venv_params=VENV, python=MEMORY, default=False)
def memgate(session: nox.Session) -> None:
    """Fail when a memory figure grew past the committed baseline plus its tolerance."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    gate_sessions.memgate(session, SETTINGS, MEMORY_PYTHON)


@nox.session(venv_params=VENV, python=MEMORY, default=False)
def baseline(session: nox.Session) -> None:
    """Measure the gate's figures a few times; record medians and noise; commit the file."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    gate_sessions.baseline_session(session, SETTINGS, MEMORY_PYTHON)


@nox.session(venv_params=VENV, python=MEMORY, default=False)
def memdiff(session: nox.Session) -> None:
    """Compare the working tree's memory figures with a git ref's: `nox -s memdiff -- main`."""
    environment.require_python(session, MEMORY_PYTHON, MEMORY_PURPOSE, MEMORY_FITTING)
    memdiff_session.memdiff(session, SETTINGS, MEMORY_PYTHON)


@nox.session(python=False, default=False)
def memhistory(session: nox.Session) -> None:
    """Plot each gate figure over the baseline file's git history (offline HTML, exports)."""
    gate_sessions.memhistory(session, SETTINGS, MEMORY_PYTHON)


@nox.session(default=False)
def drift(session: nox.Session) -> None:
    """Fail when a memwise-owned file differs from the release the answers file records."""
    drift_session.drift(session, SETTINGS)


@nox.session(default=False)
def check_update(session: nox.Session) -> None:
    """Say whether a newer memwise release is out than the one the answers file records."""
    updates.check_update(session, SETTINGS)
