"""Another commit's gate figures, measured in a temporary git worktree with the working tree's
environment and the files git ignores but the project needs (memdiff and a red gate's
differential flamegraph both measure one)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nox

from memwise.gate.measuring import Measurement, measure
from memwise.project.settings import Settings, SettingsError, load
from memwise.running import shared_env
from memwise.running.environment import require_code_from
from memwise.running.report_files import fresh_folder


def measure_commit(
    session: nox.Session, settings: Settings, commit: str, label: str, into: Path
) -> Measurement:
    """The gate's figures of a commit's code, measured in a temporary git worktree with the
    working tree's environment (its dependencies); the working tree's code is installed back
    afterwards. ``into`` receives the captures and the worktree while it lives."""
    worktree = into.parent / f"{into.name}-worktree"
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", "--force", str(worktree), commit],
        cwd=settings.root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if added.returncode != 0:
        session.error(f"git could not check out {label}: {added.stderr.strip()}")
    carry_local_files(session, settings, worktree, label)
    try:
        side = load(worktree)
        with shared_env.other_code_installed(shared_env.active(session)):
            try:
                with session.chdir(worktree):
                    install_code_of(session, side)
                    require_code_from(session, side, label)
                    return measure(session, side, fresh_folder(session, into))
            finally:
                install_code_of(session, settings)
    except SettingsError as error:
        session.error(f"{label}: {error}")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)],
                       cwd=settings.root, capture_output=True, check=False)  # fmt: skip


LOCAL_FILE_MAX = 1024 * 1024  # a settings file, not data
# Ignored folders that are tools' caches and environments, never the project's settings.
NOT_SETTINGS = {
    ".nox", ".tox", ".venv", "venv", "env", ".cache", "__pycache__", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", "build", "dist", "htmlcov", "node_modules", ".memwise-captures",
}  # fmt: skip


def carry_local_files(
    session: nox.Session, settings: Settings, worktree: Path, label: str
) -> None:
    """Give another commit's worktree the files git ignores at the project's root that its
    code may read (``.env``, local settings), as the working tree has them; the environment
    variables are the session's own on both sides. Ignored folders are not copied: named,
    unless they are tools' caches or environments."""
    root = settings.root
    skipped = {*NOT_SETTINGS, settings.reports.parts[0]}
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "--directory"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    carried: list[str] = []
    left: list[str] = []
    for name in listed.stdout.splitlines():
        entry = name.rstrip("/")
        source = root / entry
        if "/" in entry or entry in skipped or entry.endswith(".egg-info"):
            continue
        if name.endswith("/") or not source.is_file():
            left.append(entry)
        elif (
            source.stat().st_size <= LOCAL_FILE_MAX and not (worktree / entry).exists()
        ):
            shutil.copy2(source, worktree / entry)
            carried.append(entry)
    if carried:
        session.log(
            f"{label}: carried over what git ignores here: {', '.join(carried)} (the "
            "working tree's copy)"
        )
    if left:
        session.log(
            f"{label}: not carried over (ignored folders): {', '.join(left)}; if its code "
            "needs one, that side may fail where the working tree does not"
        )


def install_code_of(session: nox.Session, settings: Settings) -> None:
    """Install the project from its root (editable, without dependencies): each side of the
    comparison runs its own code. A project that does not build is imported from its folders
    instead (``program_env``)."""
    if settings.installable:
        shared_env.pip_install(
            session, shared_env.active(session), "--no-deps", "--reinstall", "-e",
            str(settings.root), silent=True,
        )  # fmt: skip
