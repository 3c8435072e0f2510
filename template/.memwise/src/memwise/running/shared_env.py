"""One environment for the memory sessions, and one for the profile sessions.

memtest, baseline, memgate, flamegraph, memdiff and live need the same packages on the same
Python; nox would give each session its own environment and install everything again (a
first `nox -s baseline memgate` after memtest installed it all twice more). These sessions are
declared without an environment of nox's (``python=False``) and share one that memwise keeps
at ``.nox/memwise-memory-<version>`` (``.nox/memwise-profile-<version>`` for profile and
profile_view, which add scalene).

The environment is reused when what it was built from is unchanged: the interpreter, the
install command, and the project's files that decide what gets installed (pyproject.toml, its
lock, setup.py/setup.cfg, requirements files, memwise's own pyproject.toml files). Anything
else rebuilds it; deleting the folder does too. The record of those inputs is written only
after a complete install, so an interrupted one is redone.

While a session runs, the environment's ``bin`` comes first on PATH (``activated``): nox finds
a command of a session without its own environment on the process's PATH.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nox

# Files whose content decides what an install puts in the environment.
INPUT_FILES = (
    "pyproject.toml", "uv.lock", "poetry.lock", "pdm.lock", "setup.py", "setup.cfg",
    ".memwise/pyproject.toml", ".memwise/runtime/pyproject.toml",
)  # fmt: skip
RECORD = "memwise-environment.json"


@dataclass(frozen=True)
class SharedEnvironment:
    """A shared environment of the memory (or profile) sessions, and its interpreter."""

    location: Path
    interpreter: str  # the Python it is made with (a path)
    version: str  # "3.13"

    @property
    def bin(self) -> Path:
        return self.location / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"


_ACTIVE: list[SharedEnvironment] = []


def active(session: nox.Session) -> SharedEnvironment:
    """The environment of the running memory session (``activated``)."""
    if not _ACTIVE:  # a programming error of memwise's, said as one
        session.error("memwise: no shared environment is active in this session")
    return _ACTIVE[-1]


def location(session: nox.Session) -> Path:
    return active(session).location


@contextmanager
def activated(
    root: Path, kind: str, version: str, interpreter: str
) -> Iterator[SharedEnvironment]:
    """Put the shared environment of ``kind`` ("memory", "profile") first on PATH for the
    session's commands; PATH and VIRTUAL_ENV are restored when the session ends."""
    environment = SharedEnvironment(
        root / ".nox" / f"memwise-{kind}-{version}", interpreter, version
    )
    saved = {name: os.environ.get(name) for name in ("PATH", "VIRTUAL_ENV")}
    os.environ["PATH"] = os.pathsep.join([str(environment.bin), saved["PATH"] or ""])
    os.environ["VIRTUAL_ENV"] = str(environment.location)
    _ACTIVE.append(environment)
    try:
        yield environment
    finally:
        _ACTIVE.pop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def inputs(root: Path, environment: SharedEnvironment, command: Sequence[str]) -> str:
    """What the environment is built from, as one comparable text."""
    files = [
        *INPUT_FILES,
        *(
            str(path.relative_to(root))
            for path in sorted(root.glob("requirements*.txt"))
        ),
        *(str(path.relative_to(root)) for path in sorted(root.glob("requirements/*"))),
        # and any file the command names (test-requirements may point anywhere)
        *(argument for argument in command if (root / argument).is_file()),
    ]
    digests = {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in files
        if (root / name).is_file()
    }
    interpreter = os.path.realpath(environment.interpreter)
    # The project's own folder: a copied or moved project's environment still imports the
    # first folder's code (editable installs and script shebangs hold absolute paths).
    return json.dumps(
        {"interpreter": interpreter, "version": environment.version,
         "command": list(command), "files": digests, "project": str(root.resolve())},
        indent=1, sort_keys=True,
    )  # fmt: skip


def is_current(environment: SharedEnvironment, built_from: str) -> bool:
    record = environment.location / RECORD
    return (
        environment.python.exists()
        and record.is_file()
        and record.read_text(encoding="utf-8") == built_from
    )


def built_elsewhere(environment: SharedEnvironment, built_from: str) -> str | None:
    """The project folder the environment was built for, when that is another folder (the
    project was copied or moved)."""
    record = environment.location / RECORD
    try:
        recorded = (
            json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
        )
    except ValueError:  # an interrupted write: rebuilt anyway
        return None
    project = recorded.get("project") if isinstance(recorded, dict) else None
    here = json.loads(built_from)["project"]
    return str(project) if project and project != here else None


def mark_current(environment: SharedEnvironment, built_from: str) -> None:
    (environment.location / RECORD).write_text(built_from, encoding="utf-8")


def create(
    session: nox.Session, environment: SharedEnvironment, seed_pip: bool
) -> None:
    """A fresh environment (pip in it for ``seed_pip``) made with the session's Python."""
    shutil.rmtree(environment.location, ignore_errors=True)
    session.run(
        uv(), "venv", "--quiet", "--no-python-downloads", "--python",
        environment.interpreter, *(["--seed"] if seed_pip else []),
        str(environment.location), silent=True,
    )  # fmt: skip


def pip_install(
    session: nox.Session,
    environment: SharedEnvironment,
    *args: str,
    silent: bool = False,
) -> None:
    """``uv pip install`` into the shared environment (run even under nox's -R, which skips
    ``session.install``: the environment is memwise's to keep current)."""
    session.run(uv(), "pip", "install", "--python", str(environment.python), *args,
                silent=silent)  # fmt: skip


@contextmanager
def other_code_installed(environment: SharedEnvironment) -> Iterator[None]:
    """While another commit's code is installed into the environment (memdiff, a red
    memgate's differential graphs), it is not what its record says: an interrupted swap
    leaves it to be rebuilt by the next session; a completed one keeps the record."""
    record = environment.location / RECORD
    saved = record.read_text(encoding="utf-8") if record.is_file() else None
    record.unlink(missing_ok=True)
    yield
    if saved is not None:
        record.write_text(saved, encoding="utf-8")


def ignore_in_git(folder: Path) -> None:
    """Let nox's folder of environments ignore itself in git, as .pytest_cache does: a
    project without `.nox/` in its .gitignore stays clean (and `copier update` can run).
    """
    marker = folder / ".gitignore"
    if folder.is_dir() and not marker.exists():
        marker.write_text(
            "# written by memwise: nox's environments are not committed\n*\n"
        )


def uv() -> str:
    """uv, found the two ways nox finds it (the noxfile stops early when neither does)."""
    found = shutil.which("uv")
    if found:
        return found
    package: Any = importlib.import_module("uv")  # nox installed with its uv extra
    return str(package.find_uv_bin())
