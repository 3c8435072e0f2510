"""Render the template and run commands in the result, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import copier

TEMPLATE = Path(__file__).parents[1]


def render(destination: Path, **answers: object) -> Path:
    """Render the working tree of the template (uncommitted edits included) with copier."""
    copier.run_copy(
        str(TEMPLATE),
        destination,
        data=answers,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return destination


def session_env() -> dict[str, str]:
    """The environment for nox in a render: our tools first, and every installed Python.

    pyenv's shims answer `python3.12` even when that version is not selected, and then fail;
    putting each pyenv version's own bin/ ahead of them lets the render's `tests` session find
    the interpreters that really exist.
    """
    env = dict(os.environ)
    extra = [str(Path(sys.executable).parent)]
    pyenv_versions = Path(env.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    extra += [str(path / "bin") for path in sorted(pyenv_versions.glob("3.*"))]
    env["PATH"] = os.pathsep.join([*extra, env.get("PATH", "")])
    env["COLUMNS"] = "200"  # memray and pytest summaries truncate to the terminal width
    return env


def run(
    args: list[str], cwd: Path, *, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command in a render; on an unexpected exit show everything it printed."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=session_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
    return result


def nox(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the render's nox (the nox of this test environment) with the given arguments."""
    return run([sys.executable, "-m", "nox", *args], project, check=check)
