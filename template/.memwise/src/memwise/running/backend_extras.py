"""The test extra of a project whose build backend computes its extras.

A project with ``dynamic = ["optional-dependencies"]`` (setup.py reading requirements files,
say) has no extras pyproject.toml could show: only its build backend knows them. memwise
asks it the standard way, by installing the project editable (the backend writes the
project's metadata) and reading the installed metadata's ``Provides-Extra`` and
``Requires-Dist``, then installs the requirements of the first extra named like a test
extra, within the lock's constraints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import nox
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from memwise.project.settings import TEST_GROUP_NAMES, Settings
from memwise.running import shared_env

# Run in the session's environment: the installed project's metadata, as its backend wrote it.
READ_METADATA = """\
import importlib.metadata, json, sys
try:
    metadata = importlib.metadata.metadata(sys.argv[1])
    found = {"extras": metadata.get_all("Provides-Extra") or [],
             "requires": metadata.get_all("Requires-Dist") or []}
except importlib.metadata.PackageNotFoundError:
    found = {}
print(json.dumps(found))
"""


def install_test_extra(
    session: nox.Session, settings: Settings, constraints: Sequence[str]
) -> None:
    """Install the requirements of the project's test extra, as its build backend lists
    them for the session's Python, into its shared environment; say which extra it was, or
    that the project has none of the usual names."""
    environment = shared_env.active(session)
    name = settings.project.get("project", {}).get("name", "")
    output = session.run("python", "-c", READ_METADATA, name, silent=True, log=False)
    extras, requires = parse_metadata(str(output or ""))
    extra = named_test_extra(extras)
    if extra is None:
        listed = ", ".join(extras) or "none"
        session.log(
            f"the build backend computes {name}'s extras (dynamic optional-dependencies): "
            f"{listed}; none is named {', '.join(TEST_GROUP_NAMES)}. If the tests need one, "
            'set test-extras = ["<name>"] in [tool.memwise]'
        )
        return
    packages = extra_requirements(requires, extra, environment.version.rstrip("t"))
    session.log(
        f"the `{extra}` extra, from {name}'s build backend (dynamic optional-dependencies): "
        + (", ".join(packages) or "no packages")
    )
    if packages:
        shared_env.pip_install(session, environment, *packages, *constraints)


def parse_metadata(output: str) -> tuple[list[str], list[str]]:
    """Extras and requirements from READ_METADATA's line (the last line printed)."""
    lines = output.strip().splitlines()
    try:
        found = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        found = {}
    if not isinstance(found, dict):
        found = {}
    return list(found.get("extras", [])), list(found.get("requires", []))


def named_test_extra(extras: Sequence[str]) -> str | None:
    """The first extra named like a test extra (names compared as packaging normalizes)."""
    by_name: dict[str, str] = {canonicalize_name(extra): extra for extra in extras}
    return next((by_name[name] for name in TEST_GROUP_NAMES if name in by_name), None)


def extra_requirements(
    requires: Sequence[str], extra: str, python: str = ""
) -> list[str]:
    """The requirements that apply with ``extra`` and not without it, on the session's Python
    version ("3.14"; nox's own where not given), markers evaluated here and removed."""
    environment = {"extra": extra, **({"python_version": python} if python else {})}
    chosen = []
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None:
            continue  # a base dependency: installed with the project already
        applies = marker.evaluate(environment)
        if applies and not marker.evaluate({**environment, "extra": ""}):
            requirement.marker = None
            chosen.append(str(requirement))
    return chosen
