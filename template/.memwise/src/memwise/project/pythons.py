"""Which Python each session runs on.

Memory figures differ a lot between Python versions (an asyncio test peaked at 5.4 MiB on 3.11
and 12.4 MiB on 3.13), so memtest, memgate, baseline and flamegraph all run on ONE memory
Python, the one the service runs on, taken in this order (``memory_python_choice``):
``memory-python`` in [tool.memwise]; the project's ``.python-version``; the Python of its
Dockerfile (``FROM python:3.12-slim``); the one Python of its CI (a GitHub workflow's
``python-version``, a GitLab job's ``image: python:X.Y``) when it names exactly one; and only
then the newest supported version that has memray. A version memray has no wheels for is
passed over, and said. profile runs on the newest supported version that has scalene wheels.

``python -m memwise memory-python`` prints the memory Python (CI installs it that way).
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from memwise.plugin.manifest import running_python
from memwise.project import installed_pythons

# memray 1.20 has wheels for CPython 3.9 to 3.15; scalene 2.4 up to 3.14, and only for
# Linux x86_64 and macOS (its source build downloads from GitHub and fails elsewhere).
MEMRAY_PYTHONS = tuple(f"3.{minor}" for minor in range(9, 16))
SCALENE_PYTHONS = tuple(f"3.{minor}" for minor in range(9, 15))
NEWEST_KNOWN = MEMRAY_PYTHONS[-1]
_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)$")


def supported_pythons(project: dict[str, Any]) -> list[str]:
    """Supported versions: those of the classifiers that requires-python admits; without
    classifiers, every version requires-python admits up to the newest known.

    Empty when the project declares neither; callers then use the running Python.
    """
    metadata = project.get("project", {})
    from_classifiers = [
        match[1]
        for classifier in metadata.get("classifiers", [])
        if (match := _CLASSIFIER.match(classifier))
    ]
    requires = str(
        metadata.get("requires-python", "") or poetry_python(project)
    ).strip()
    candidates = sorted(set(from_classifiers), key=_minor) or (
        [f"3.{minor}" for minor in range(_minor(NEWEST_KNOWN) + 1)] if requires else []
    )
    return [version for version in candidates if admits(requires, version)]


def poetry_python(project: dict[str, Any]) -> str:
    """A poetry project's Python range (``python = "^3.11"``) as a PEP 440 specifier."""
    text = str(
        project.get("tool", {})
        .get("poetry", {})
        .get("dependencies", {})
        .get("python", "")
    )
    clauses = []
    for clause in filter(None, (part.strip() for part in text.split(","))):
        caret = re.fullmatch(r"\^\s*(\d+)(?:\.(\d+))?.*", clause)
        tilde = re.fullmatch(r"~\s*(\d+)\.(\d+).*", clause)
        if caret:
            clauses += [f">={caret[1]}.{caret[2] or 0}", f"<{int(caret[1]) + 1}"]
        elif tilde:
            clauses += [f">={tilde[1]}.{tilde[2]}", f"<{tilde[1]}.{int(tilde[2]) + 1}"]
        else:
            clauses.append(clause)
    return ",".join(clauses)


def admits(requires: str, version: str) -> bool:
    """Whether a requires-python specifier admits some release of a minor version."""
    if not requires:
        return True
    try:
        specifier = SpecifierSet(requires)
    except InvalidSpecifier:
        return True  # not ours to judge: pip and uv will say what is wrong with it
    return any(specifier.contains(f"{version}.{patch}") for patch in (0, 99))


def memory_candidates(project: dict[str, Any]) -> list[str]:
    """The versions the project supports that memray has wheels for, oldest first."""
    return [v for v in supported_pythons(project) if v in MEMRAY_PYTHONS]


def memory_python(project: dict[str, Any], configured: str | None) -> str:
    """The one Python of the memory sessions: configured, else the newest with memray."""
    if configured:
        return configured
    candidates = memory_candidates(project)
    return candidates[-1] if candidates else running_python()


_VERSION = (
    r"(3\.\d{1,2})(?![\d.]*t)"  # a minor version; free-threaded builds are not meant
)
_DOCKER_FROM = re.compile(
    rf"^\s*FROM\s+(?:\S*/)?python:{_VERSION}", re.IGNORECASE | re.MULTILINE
)
_WORKFLOW_VERSION = re.compile(
    rf"python-version:\s*[\"']?{_VERSION}[\"']?\s*$", re.MULTILINE
)
_WORKFLOW_ANY = re.compile(r"python-version:\s*(.+)$", re.MULTILINE)
_GITLAB_IMAGE = re.compile(rf"image:\s*[\"']?(?:\S*/)?python:{_VERSION}", re.MULTILINE)
DOCKERFILES = ("Dockerfile", "docker/Dockerfile", "Containerfile")


def memory_python_choice(
    root: Path, project: dict[str, Any], configured: str | None
) -> tuple[str, str]:
    """The memory Python and where it was taken from (said by the sessions)."""
    if configured:
        return configured, "memory-python in [tool.memwise]"
    passed_over: list[str] = []
    for version, source in _service_pythons(root):
        if version in MEMRAY_PYTHONS:
            said = f"; passed over: {', '.join(passed_over)}" if passed_over else ""
            return version, f"{source}{said}"
        passed_over.append(f"{source} (memray has no wheels for {version})")
    newest = memory_python(project, None)
    said = f"; passed over: {', '.join(passed_over)}" if passed_over else ""
    return newest, (
        "the newest version the project supports and memray has wheels for: no "
        ".python-version, Dockerfile or single CI Python names the service's; set "
        f"memory-python in [tool.memwise] to the one it runs on in production{said}"
    )


def _service_pythons(root: Path) -> list[tuple[str, str]]:
    """The Pythons the project says its service runs on, in memwise's order."""
    found = []
    pinned = _read(root / ".python-version")
    version = re.match(_VERSION, pinned.strip()) if pinned else None
    if version:
        found.append((version[1], ".python-version"))
    for name in DOCKERFILES:
        docker = _DOCKER_FROM.search(_read(root / name))
        if docker:
            found.append((docker[1], f"{name} (FROM python:{docker[1]})"))
            break
    ci = _one_ci_python(root)
    if ci:
        found.append(ci)
    return found


def _one_ci_python(root: Path) -> tuple[str, str] | None:
    """The one Python the project's CI names, if it names exactly one."""
    versions: dict[str, str] = {}
    for workflow in sorted((root / ".github" / "workflows").glob("*.y*ml")):
        every = [
            match.group(0).strip() for match in _WORKFLOW_ANY.finditer(_read(workflow))
        ]
        if any(not _WORKFLOW_VERSION.fullmatch(line) for line in every):
            return None  # a matrix or an expression: not one Python
        for line in every:
            found = _WORKFLOW_VERSION.fullmatch(line)
            if found:
                where = f".github/workflows/{workflow.name}"
                versions[found[1]] = f"{where} (python-version {found[1]})"
    gitlab = _GITLAB_IMAGE.findall(_read(root / ".gitlab-ci.yml"))
    for version in gitlab:
        versions.setdefault(version, f".gitlab-ci.yml (image python:{version})")
    if len(versions) == 1:
        return next(iter(versions.items()))
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def scalene_platform() -> bool:
    """Whether scalene has wheels for this operating system and processor."""
    machine = platform.machine().lower()
    return sys.platform == "darwin" or (
        sys.platform == "linux" and machine in {"x86_64", "amd64"}
    )


def profile_candidates(project: dict[str, Any]) -> list[str]:
    """The versions the project supports that scalene has wheels for here, oldest first."""
    supported = supported_pythons(project) or [running_python()]
    fitting = [version for version in supported if version in SCALENE_PYTHONS]
    return fitting if scalene_platform() else []


def profile_python(project: dict[str, Any]) -> str | None:
    """The newest supported Python with scalene wheels; None when there is none."""
    candidates = profile_candidates(project)
    return candidates[-1] if candidates else None


def one_session_python(supported: list[str]) -> str | None:
    """For a session that runs once: nox's own Python if supported (None), else the newest."""
    return None if not supported or running_python() in supported else supported[-1]


def installed_or_all(supported: list[str]) -> list[str]:
    """The supported versions installed here; all of them (nox then names the missing) if none.

    Remembered in .nox/ until an interpreter may have come or gone (installed_pythons).
    """
    return installed_pythons.installed(supported, find_interpreter) or supported


def find_interpreter(version: str) -> str | None:
    """The path of an interpreter of that version that really runs (PATH, then uv's), or None.

    A name on PATH is not enough: pyenv's shims answer `python3.13` for every version pyenv
    knows and then fail when that version is not selected.
    """
    found = shutil.which(f"python{version}")
    if found and runs_as(found, version):
        return found
    uv = shutil.which("uv")
    if uv is None:
        return None
    result = subprocess.run(
        [uv, "python", "find", "--no-python-downloads", version],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    path = result.stdout.strip() if result.returncode == 0 else ""
    return path if path and runs_as(path, version) else None


# Prints "3.13" or, for a free-threaded build, "3.13t": the names memwise's versions use.
VERSION_PROBE = (
    "import sys, sysconfig; print('%d.%d' % sys.version_info[:2] "
    "+ ('t' if sysconfig.get_config_var('Py_GIL_DISABLED') else ''))"
)


def runs_as(interpreter: str, version: str) -> bool:
    """Whether the interpreter starts and is that version."""
    try:
        result = subprocess.run(
            [interpreter, "-c", VERSION_PROBE], capture_output=True, text=True, timeout=30,
            check=False,
        )  # fmt: skip
    except OSError:
        return False
    return result.returncode == 0 and result.stdout.strip() == version


def _minor(version: str) -> int:
    return int(version.split(".")[1].rstrip("t"))
