"""The project's own lock file, read so that the memory sessions install what it pins.

memwise installs a project the way it always did (the project, its test groups, extras or
requirements files, and memwise's toolkit on top), with the lock's pins as constraints: every
package the lock names gets exactly its locked version (as a wheel where the lock has one),
and memwise's own tools resolve around them (a project pinning pytest 7.4 gets the
pytest-memray that runs on it). Read here: `uv.lock`, `poetry.lock` and `pdm.lock`, which all
list `[[package]]` tables with a name and a version.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOCK_FILES = ("uv.lock", "poetry.lock", "pdm.lock")


class LockError(Exception):
    """A lock file that cannot be read; the message names it."""


@dataclass(frozen=True)
class Lock:
    """A lock file and the pins it holds for one Python version."""

    path: Path
    pins: dict[str, str]  # normalized name -> version
    # Pinned packages that have wheels, but none for this Python: name -> the Pythons they
    # have wheels for ("3.9", ...). uv would build them from source (often failing: a compiler,
    # Rust, a network the build needs).
    no_wheel: dict[str, list[str]] = field(default_factory=dict)

    def constraints(self) -> str:
        """The pins as a constraints file (`name==version` a line)."""
        return "".join(
            f"{name}=={version}\n" for name, version in sorted(self.pins.items())
        )


def find_lock(root: Path) -> Path | None:
    """The project's lock file, if it has one."""
    return next((root / name for name in LOCK_FILES if (root / name).is_file()), None)


def read_lock(path: Path, python: str) -> Lock:
    """The pins of a lock for a Python version ("3.14"): where a lock pins a package in
    several versions for several Pythons (uv's resolution markers), the one for this Python.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise LockError(f"{path} is not valid TOML: {error}") from error
    pins: dict[str, str] = {}
    no_wheel: dict[str, list[str]] = {}
    for package in data.get("package", []):
        if not isinstance(package, dict) or _is_the_project(package):
            continue
        name, version = package.get("name"), package.get("version")
        if not (isinstance(name, str) and isinstance(version, str)):
            continue
        if _applies(package.get("resolution-markers", []), python):
            pins[_normalize(name)] = version
            wheels = _wheel_names(package)
            if wheels and not any(_fits(wheel, python) for wheel in wheels):
                no_wheel[_normalize(name)] = sorted(
                    {found for wheel in wheels for found in _pythons_of(wheel)},
                    key=_minor,
                )
    return Lock(path, pins, no_wheel)


def _wheel_names(package: dict[str, Any]) -> list[str]:
    """The wheel file names a lock lists for a package (uv: ``wheels``' URLs; poetry and
    pdm: ``files``)."""
    names = []
    for entry in [*package.get("wheels", []), *package.get("files", [])]:
        if isinstance(entry, dict):
            where = str(
                entry.get("url") or entry.get("file") or entry.get("path") or ""
            )
            name = where.rsplit("/", 1)[-1].split("#", 1)[0]
            if name.endswith(".whl"):
                names.append(name)
    return names


_TAGS = re.compile(r"-(?P<python>[\w.]+)-(?P<abi>[\w.]+)-(?P<platform>[\w.]+)\.whl$")


def _fits(wheel: str, python: str) -> bool:
    """Whether a wheel installs on a CPython minor version (any platform)."""
    tags = _TAGS.search(wheel)
    if tags is None:
        return True  # a name we cannot read: not ours to judge
    minor = _minor(python.rstrip("t"))
    for tag in tags["python"].split("."):
        if tag in ("py3", "py2.py3") or tag.startswith("py3"):
            return True
        found = re.fullmatch(r"cp3(\d+)", tag)
        if found and (
            int(found[1]) == minor or ("abi3" in tags["abi"] and int(found[1]) <= minor)
        ):
            return True
    return False


def _pythons_of(wheel: str) -> list[str]:
    tags = _TAGS.search(wheel)
    return [f"3.{m}" for m in re.findall(r"cp3(\d+)", tags["python"])] if tags else []


def _minor(version: str) -> int:
    return int(version.split(".")[1]) if "." in version else 0


def _is_the_project(package: dict[str, Any]) -> bool:
    """The project itself (or a workspace member): installed from its folder, never pinned."""
    source = package.get("source", {})
    return isinstance(source, dict) and bool(
        {"editable", "virtual", "directory"} & set(source)
    )


def _applies(markers: list[str], python: str) -> bool:
    if not markers:
        return True
    environment = {
        "python_version": python.rstrip("t"),
        "python_full_version": f"{python.rstrip('t')}.0",
    }
    for text in markers:
        try:
            if Marker(text).evaluate(environment):
                return True
        except InvalidMarker:
            return True
    return False


def _normalize(name: str) -> str:
    return "-".join(name.lower().replace("_", "-").replace(".", "-").split("-"))
