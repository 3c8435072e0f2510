"""Sessions of the memwise template repository itself. `nox -l` lists them.

The rendered project has its own noxfile (template/noxfile.py); these sessions render it and
test it. Tool versions live in pyproject.toml's dependency groups (and uv.lock).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2025.10.16"
nox.options.default_venv_backend = "uv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
DEMO = ROOT / "demo"
SITE = ROOT / "docs" / "_build" / "html"


def install(session: nox.Session, group: str) -> None:
    """Install one dependency group from the lock into the session's environment."""
    session.run_install(
        "uv", "sync", "--locked", "--no-default-groups", f"--group={group}",
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
    )  # fmt: skip


@nox.session
def tests(session: nox.Session) -> None:
    """Run the template's test suite (pytest args after --, e.g. -m "not slow").

    Two pytest-xdist workers per core, as most tests wait on subprocesses (copier, nox, uv, a
    terminal); each test module stays on one worker (its rendered projects are module
    fixtures, built once).
    """
    install(session, "test")
    workers = str(2 * (os.cpu_count() or 1))
    # Bytecode is written, as on a developer's machine, even on a CI image that forbids it:
    # otherwise every copier, nox and pytest start compiles its imports again (a fifth of the
    # suite's time on 2026-11-26).
    # The slowest tests are listed at the end of every run: where the suite's time goes.
    session.run(
        "pytest", "-n", workers, "--dist", "loadgroup", "--durations=25", *session.posargs,
        env={"PYTHONDONTWRITEBYTECODE": None},
    )  # fmt: skip


@nox.session
def locks(session: nox.Session) -> None:
    """Resolve the uv.lock a new render ships (locks/), after a dependency of the template
    changed (`-- --upgrade`: the newest allowed versions). Needs PyPI."""
    install(session, "test")
    session.run("python", "scripts/render_locks.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Lint this repository with its pre-commit hooks (the renders are linted by the tests)."""
    install(session, "lint")
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site, strict and offline (`-- --serve`: then serve it locally).

    Strict: a broken link, a missing page or a page outside the table of contents fails the
    build. The source folder is the repository's root (only README.md, CHANGELOG.md and docs/
    are pages: docs/conf.py), so links work alike here and on the forge.
    """
    serve = "--serve" in session.posargs
    unknown = [arg for arg in session.posargs if arg != "--serve"]
    if unknown:
        session.error(f"unknown argument(s) {unknown}: `nox -s docs` takes only --serve")
    install(session, "docs")
    shutil.rmtree(SITE, ignore_errors=True)
    session.run(
        "sphinx-build", "--conf-dir", "docs", "--fail-on-warning", "--keep-going",
        "--nitpicky", "--builder", "html", "--quiet", str(ROOT), str(SITE),
    )  # fmt: skip
    session.log(f"the site: {SITE / 'index.html'}")
    if serve:
        session.log("serving it on http://127.0.0.1:8000/ (Ctrl-C stops)")
        session.run(
            "python", "-m", "http.server", "8000", "--bind", "127.0.0.1", "--directory", str(SITE)
        )  # fmt: skip


@nox.session
def demo(session: nox.Session) -> None:
    """Render the template with its defaults into demo/ and run its memory sessions there."""
    install(session, "test")
    shutil.rmtree(DEMO, ignore_errors=True)
    session.run(
        "copier", "copy", "--defaults", "--vcs-ref=HEAD", "--quiet", str(ROOT), str(DEMO)
    )  # fmt: skip
    with session.chdir(DEMO):
        session.run("nox", "-s", "memtest", "profile", "flamegraph")
    written = sorted((DEMO / "reports").rglob("*.*"))
    reports = "\n".join(f"  {path}" for path in written if not path.name.startswith("."))
    session.log(f"demo project: {DEMO}\nits reports:\n{reports}")


@nox.session
def benchmark(session: nox.Session) -> None:
    """Speed (render, first green memtest, nox overhead): medians. `-- gate`: gate noise;
    `-- existing`: memtest against the existing-project fixtures' own plain pytest;
    `-- runtime`: what the production memory watch costs a service; `-- gatecost`: memgate and
    baseline against the measuring runs they make."""
    install(session, "test")
    if session.posargs[:1] == ["gate"]:
        session.run("python", "benchmarks/gate_noise.py", *session.posargs[1:])
    elif session.posargs[:1] == ["existing"]:
        session.run("python", "benchmarks/existing_ratio.py", *session.posargs[1:])
    elif session.posargs[:1] == ["runtime"]:
        session.run("python", "benchmarks/runtime_overhead.py", *session.posargs[1:])
    elif session.posargs[:1] == ["gatecost"]:
        session.run("python", "benchmarks/gate_cost.py", *session.posargs[1:])
    else:
        session.run("python", "benchmarks/speed.py", *session.posargs)
