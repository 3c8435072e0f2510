"""What a memory session needs before it runs anything: the right interpreter and platform, a
terminal for the interactive ones, the project's tests and memwise's toolkit installed, and
the environment variables of the project's programs.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import nox

from memwise.project.locks import Lock, LockError, find_lock, read_lock
from memwise.project.pythons import find_interpreter
from memwise.project.settings import Settings
from memwise.running import backend_extras, shared_env, stdlib_bytecode
from memwise.running.run_lock import one_run
from memwise.running.shared_env import SharedEnvironment


@contextmanager
def shared_environment(
    session: nox.Session,
    settings: Settings,
    version: str | None,
    purpose: str,
    fitting: Sequence[str] = (),
    *,
    kind: str = "memory",
) -> Iterator[SharedEnvironment]:
    """The session runs in memwise's shared environment of ``kind`` (``memwise.running.shared_env``)
    on Python ``version``; stop when the session cannot have it. ``fitting`` are the versions
    that would do (the project supports them and the tool has wheels); the memory Python is
    the one ``memory-python`` chooses, the profile Python is not settable."""
    require_memory_tools(session)  # first: on Windows, that is the reason
    if version is None:
        session.error(purpose)
    interpreter = find_interpreter(version)
    if interpreter is None:
        session.error(
            missing_python_message(
                session.name, version, purpose, fitting, settable=kind == "memory"
            )
        )
    session.log(f"{session.name} runs on Python {version} ({purpose})")
    where = shared_env.activated(settings.root, kind, version, interpreter)
    with one_run(session, settings.root), where as active:
        yield active


def missing_python_message(
    name: str,
    version: str,
    purpose: str,
    fitting: Sequence[str] = (),
    settable: bool = True,
) -> str:
    """Why the session has no interpreter, which would do, and the ways to get one."""
    shim = shutil.which(f"python{version}")
    found = (
        f"`python{version}` on PATH ({shim}) does not start as Python {version}: a pyenv shim "
        f"of a version pyenv does not select? (`pyenv global <its 3.X.Y> {sys.version_info.major}.{sys.version_info.minor}` "
        "selects several). "
        if shim
        else ""
    )
    installed = [other for other in fitting if find_interpreter(other)]
    others = (
        f"The project supports, and the tool has wheels for, Python {', '.join(fitting)}; "
        + (
            f"installed here: {', '.join(installed)}. "
            if installed
            else "none of them is installed here. "
        )
        if fitting
        else ""
    )
    choose = (
        f', or set memory-python = "{installed[-1] if installed else "3.X"}" in '
        "[tool.memwise] of pyproject.toml to a version you have"
        if settable
        else ""
    )
    return (
        f"`{name}` runs on Python {version} ({purpose}), which is not installed here. {found}"
        f"{others}Install it (`uv python install {version}`, which downloads from GitHub; "
        f"where that is unreachable, pyenv, your system's packages or python.org){choose}."
    )


def require_memory_tools(session: nox.Session) -> None:
    """Stop with advice where memray (and so every memory session) cannot run."""
    if sys.platform == "win32":
        session.error(
            f"`{session.name}` needs memray, which does not run on Windows. Run it in WSL or "
            "on Linux/macOS (CI runs it on Linux); your own test and lint sessions work here"
        )


def require_terminal(session: nox.Session) -> None:
    """Stop an interactive session at once where nobody can interact (CI, a pipe)."""
    if not (session.interactive and sys.stdout.isatty()):
        session.error(
            f"`{session.name}` is interactive and needs a terminal; none is attached (CI, a "
            "pipe or --non-interactive). Use `nox -s flamegraph` for a report instead"
        )


def install(session: nox.Session, settings: Settings, *, profile: bool = False) -> None:
    """Install the project's tests and memwise's toolkit (with scalene for ``profile``) into
    the session's shared environment, or reuse it when it was built from the same inputs.

    A project that lists memwise in a dependency group gets everything from its lock with
    ``uv sync``; any other project gets its own test dependencies (groups, extras,
    requirements files, a poetry or pdm test group) and the toolkit from ``.memwise`` with
    ``uv pip install``, which writes nothing into the project, constrained to the versions its
    lock file pins (``memwise.project.locks``).
    """
    environment = shared_env.active(session)
    group = settings.profile_group if profile else settings.memory_group
    command = sync_command(group) if group else pip_command(settings, profile)
    recorded = [*command, f"seed-pip={settings.seed_pip}"]
    built_from = shared_env.inputs(settings.root, environment, recorded)
    where = environment.location.relative_to(settings.root)
    if shared_env.is_current(environment, built_from):
        session.log(
            f"reusing {where}: built from the same Python, install command and project "
            "files (pyproject.toml, lock, requirements); delete it to rebuild"
        )
        require_code_from(session, settings)
        return
    elsewhere = shared_env.built_elsewhere(environment, built_from)
    if elsewhere:
        session.log(
            f"rebuilding {where}: it was built for the project at {elsewhere}, and this "
            f"project is at {settings.root.resolve()} (copied or moved), so it would measure "
            "that folder's code"
        )
    session.log(
        f"building {where}, shared by the sessions on Python {environment.version}"
    )
    shared_env.create(session, environment, settings.seed_pip)
    shared_env.ignore_in_git(environment.location.parent)
    seed_stdlib_bytecode(session, environment)
    if group:
        session.run(shared_env.uv(), *command, "--python", str(environment.python),
                    env={"UV_PROJECT_ENVIRONMENT": str(environment.location)})  # fmt: skip
    else:
        pinned = lock_constraints(session, settings, environment)
        shared_env.pip_install(session, environment, *command, *pinned)
        if settings.extras_from_backend:
            backend_extras.install_test_extra(session, settings, pinned)
    # Read again: `uv sync` may have written the project's uv.lock.
    shared_env.mark_current(
        environment, shared_env.inputs(settings.root, environment, recorded)
    )
    require_code_from(session, settings)


# Where the package's code is, found without running it (a package that needs settings to
# import, Django's, still answers): its file, or a namespace package's first folder.
WHERE_PACKAGE_IS = (
    "import importlib.util, sys; spec = importlib.util.find_spec(sys.argv[1]); "
    "print(spec and (spec.origin if spec.has_location else "
    "next(iter(spec.submodule_search_locations or []), None)))"
)


def require_code_from(
    session: nox.Session, settings: Settings, side: str = "this project"
) -> None:
    """Stop unless the project's package is imported from the project's own folder: what a
    session measures is this project's code, never a copy's or an older checkout's. Every
    measuring session checks it before measuring (``install``); memdiff checks each side.
    """
    if settings.package is None:
        session.log(
            f"not checked where {side} imports its code from: set [tool.memwise] package to "
            "the import name of your package to have it checked"
        )
        return
    found = session.run(
        "python", "-c", WHERE_PACKAGE_IS, settings.package,
        env=program_env(settings, session), silent=True,
    )  # fmt: skip
    lines = str(found).strip().splitlines()
    origin = lines[-1] if lines else "None"
    root = settings.root.resolve()
    if origin == "None" or not Path(origin).resolve().is_relative_to(root):
        where = "nowhere" if origin == "None" else origin
        session.error(
            f"{side}: the package {settings.package} is imported from {where}, not from "
            f"{root}: the session would measure other code than this project's. Delete "
            f"{shared_env.location(session).relative_to(settings.root)} to have it rebuilt, "
            "and check that no other installation of the package comes first on sys.path "
            "(PYTHONPATH, a .pth file)"
        )


def sync_command(group: str) -> list[str]:
    """uv's arguments for everything from the project's uv.lock: the group that lists
    memwise's toolkit."""
    return ["sync", "--no-default-groups", f"--group={group}"]


def pip_command(settings: Settings, profile: bool) -> list[str]:
    """The arguments of ``uv pip install``: the project and its test dependencies, and
    memwise's toolkit."""
    extras = ",".join(settings.test_extras)
    if settings.installable:
        project = ["-e", f".[{extras}]" if extras else "."]
    else:  # not buildable: its dependencies only; programs import it from the folder
        project = [
            "-r",
            "pyproject.toml",
            *(f"--extra={extra}" for extra in settings.test_extras),
        ]
    groups = [f"--group={group}" for group in settings.test_groups]
    requirements = [arg for name in settings.test_requirements for arg in ("-r", name)]
    toolkit = ".memwise[profile]" if profile else ".memwise"
    return [*project, *groups, *requirements, *settings.test_packages, "-e", toolkit]


def lock_constraints(
    session: nox.Session, settings: Settings, environment: SharedEnvironment
) -> list[str]:
    """``-c FILE`` with the pins of the project's lock for this Python, or nothing (said)."""
    path = find_lock(settings.root)
    if path is None:
        session.log(
            "no lock file (uv.lock, poetry.lock, pdm.lock): the project's dependencies are "
            "resolved afresh, at their newest allowed versions"
        )
        return []
    try:
        lock = read_lock(path, environment.version.rstrip("t"))
    except LockError as error:
        session.error(f"{error}: memwise installs the versions it pins")
    if lock.no_wheel:
        session.warn(
            no_wheel_message(
                path.name, lock, environment.version, settings.memory_python
            )
        )
    constraints = environment.location / "memwise-lock-constraints.txt"
    constraints.write_text(lock.constraints(), encoding="utf-8")
    session.log(f"installing the versions {path.name} pins ({len(lock.pins)} packages)")
    return ["-c", str(constraints)]


def no_wheel_message(
    lock: str, found: Lock, python: str, configured: str | None
) -> str:
    """The pinned packages without a wheel for the session's Python, and what to do."""
    rows = [
        f"  {name}=={found.pins[name]}: wheels for Python {', '.join(pythons) or 'none'}"
        for name, pythons in sorted(found.no_wheel.items())
    ]
    common = set.intersection(*(set(p) for p in found.no_wheel.values()))
    fix = (
        f'set memory-python = "{max(common, key=lambda v: int(v.split(".")[1]))}" in '
        "[tool.memwise] (the Python your service runs on)"
        if common
        else "set memory-python in [tool.memwise] to the Python your service runs on"
    )
    return (
        f"{lock} pins {len(rows)} package(s) with no wheel for Python {python}: uv will try "
        "to build them from source, which often fails (a compiler, Rust, a network the build "
        "needs):\n"
        + "\n".join(rows)
        + f"\nIf it fails, {fix}"
        + ("" if configured is None else f" (now {configured!r})")
        + ", or update those pins in the lock."
    )


# memray's terminal and report interfaces: memray imports textual when it starts, before it
# tracks anything, and pygments never, so a measured run imports them only for a project that
# uses them itself. They are most of what compiling a fresh environment costs.
TOOL_ONLY_PACKAGES = ("pygments", "textual")


def compile_bytecode(session: nox.Session, settings: Settings) -> None:
    """Write the bytecode of the environment's packages and the project's code, so that every
    measuring run imports the same way.

    A module imported without its bytecode is compiled first, and compiling allocates: a run
    right after a change (or in a fresh environment) would otherwise allocate megabytes more
    than the runs after it, which is neither growth nor noise of the code under test.
    Compiling is skipped for files whose bytecode is current, so this is quick after the first
    run; it writes bytecode even where PYTHONDONTWRITEBYTECODE is set, into the session's
    environment (``bytecode_env``), where the measuring runs read it.
    """
    skipped = {settings.reports.parts[0], "node_modules", "__pycache__"}
    folders = [
        str(path)
        for path in sorted(settings.root.iterdir())
        if path.is_dir() and not path.name.startswith(".") and path.name not in skipped
    ]
    toolkit = settings.root / ".memwise" / "src"
    folders += [
        str(shared_env.location(session)),
        *([str(toolkit)] if toolkit.is_dir() else []),
    ]
    # Named anywhere in the project's dependencies (or extras, or groups): compiled as well.
    dependencies = str(
        [
            settings.project.get("project", {}),
            settings.project.get("dependency-groups", {}),
        ]
    ).lower()
    tools = [name for name in TOOL_ONLY_PACKAGES if name not in dependencies]
    exclude = ["-x", rf"site-packages[\\/]({'|'.join(tools)})[\\/]"] if tools else []
    # A file that does not compile (test data, say) is the project's business: exit code 1.
    session.run("python", "-m", "compileall", "-q", "-j", "0", *exclude, *folders, silent=True,
                success_codes=[0, 1], env=bytecode_env(session))  # fmt: skip


def seed_stdlib_bytecode(session: nox.Session, environment: SharedEnvironment) -> None:
    """Give the environment's bytecode prefix the interpreter's own standard-library bytecode
    (``memwise.running.stdlib_bytecode``): otherwise each process of the first run compiles every
    standard module it imports again."""
    # -I: isolated, so that neither the script's folder nor PYTHON* variables change imports.
    script = stdlib_bytecode.__file__
    prefix = str(bytecode_prefix(environment))
    session.run(str(environment.python), "-I", script, prefix, silent=True)


def bytecode_prefix(environment: SharedEnvironment) -> Path:
    return environment.location / "memwise-bytecode"


def bytecode_env(session: nox.Session) -> dict[str, str | None]:
    """Bytecode of the sessions' runs in the session's environment, never beside the
    project's files (its docs/ or tests/ get no __pycache__ from memwise), and written even
    where PYTHONDONTWRITEBYTECODE is set (CI images often set it).

    Under a prefix Python reads no bytecode of the standard library from beside it: with
    writing forbidden as well, every run compiled each module it imported again (2 s of a
    4 s memtest), and a measuring run allocated for it, where a developer's did not.
    """
    return {
        "PYTHONPYCACHEPREFIX": str(bytecode_prefix(shared_env.active(session))),
        "PYTHONDONTWRITEBYTECODE": None,  # nox removes a variable given None
    }


def program_env(
    settings: Settings, session: nox.Session | None = None
) -> dict[str, str | None]:
    """The environment of a program or pytest: [tool.memwise.env], the project's folders on
    PYTHONPATH when the project is not installable (so a workload can import it), and, given
    the session, its bytecode kept in the session's environment (``bytecode_env``)."""
    env: dict[str, str | None] = {
        **settings.env,
        **(bytecode_env(session) if session is not None else {}),
    }
    if not settings.installable:
        paths = [str(path) for path in settings.import_paths]
        env["PYTHONPATH"] = os.pathsep.join(
            [*paths, os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep)
    return env
