"""Settings of the memory sessions: ``[tool.memwise]`` in pyproject.toml, every key optional.

A new project gets the table filled in; an existing project may have none at all. Whatever
is missing falls back to a default that works with the project as it is, and what is wrong
(an unknown key, a wrong type, a file that does not exist) is reported as a SettingsError
naming the key and the fix, never as a traceback.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memwise.sizes import parse_size

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - nox itself depends on tomli there
    import tomli as tomllib

DEFAULT_LIMIT = "512 MB"
DEFAULT_LIMIT_MAX = 1024**4  # 1 TB: more is a typo, not a budget
TEST_GROUP_NAMES = ("test", "tests", "testing", "dev")
TEST_REQUIREMENTS_FILES = (
    "requirements-test.txt",
    "requirements-tests.txt",
    "test-requirements.txt",
    "requirements-dev.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/dev.txt",
)
KNOWN_KEYS = {
    "workload", "package", "memory-python", "default-limit", "memory-group", "profile-group",
    "test-groups", "test-extras", "test-requirements", "env", "pytest-args", "profile-args", "reports",
    "baseline", "gate", "workers", "allow-unmeasured", "seed-pip",
}  # fmt: skip
GATE_KEYS = {"relative", "absolute-kib", "noise-factor", "runs", "allow-missing"}
# Keys of earlier releases that would change the gate's meaning if they were silently ignored.
REMOVED_GATE_KEYS = {
    "absolute-mib": (
        "absolute-mib (memwise 0.2 added 1 MiB to every peak's tolerance, as pymalloc moved peaks "
        "in 1 MiB steps) is gone: the gate now measures with the C allocator, and a small "
        "test's growth of 25% passed under it. Remove the key; absolute-kib (default 16) sets "
        "the smallest tolerance, and `nox -s baseline` records the figures again"
    ),
}


class SettingsError(Exception):
    """A setting that cannot be used; the message names the key and what to write instead."""


@dataclass(frozen=True)
class Settings:
    """What the memory sessions need to know about the project, defaults filled in.

    A field's default is the setting's default: ``load`` reads it from here, and
    .memwise/README.md's settings table states it (tests/test_toolkit.py ties the two).
    """

    root: Path
    project: dict[str, Any]
    workload: str | None = None
    package: str | None = None
    memory_python: str | None = None
    default_limit: str | None = DEFAULT_LIMIT
    memory_group: str | None = None
    profile_group: str | None = None
    test_groups: tuple[str, ...] = ()
    test_extras: tuple[str, ...] = ()
    test_requirements: tuple[str, ...] = ()
    test_packages: tuple[
        str, ...
    ] = ()  # a poetry or pdm test group's packages, by name
    env: dict[str, str] = field(default_factory=dict)
    pytest_args: tuple[str, ...] = ()
    profile_args: tuple[str, ...] = ()  # scalene options of every profile
    reports: Path = Path("reports")
    baseline: Path = Path("memory-baseline.toml")
    # pytest-xdist's -n for memtest; None: one process, as a project that never ran its suite
    # under workers expects (its tests may share a database file, its plugins may not start).
    workers: str | None = None
    allow_unmeasured: tuple[str, ...] = ()  # node id patterns that may run unmeasured
    seed_pip: bool = (
        False  # pip in the environments, as tox and virtualenv put it there
    )
    gate_relative: float = 0.01
    gate_absolute_kib: float = 16.0
    gate_noise_factor: float = 4.0
    gate_runs: int = 5
    gate_allow_missing: tuple[
        str, ...
    ] = ()  # figure name patterns that may go unmeasured

    @property
    def installable(self) -> bool:
        """Whether the project builds (a [build-system] table): else it is not installed."""
        return "build-system" in self.project

    @property
    def extras_from_backend(self) -> bool:
        """Whether the test extra is the build backend's to tell (dynamic extras, none named
        in test-extras): ``memwise.running.backend_extras`` asks it."""
        dynamic = self.project.get("project", {}).get("dynamic", [])
        return (
            self.installable
            and not self.test_extras
            and "optional-dependencies" in dynamic
        )

    @property
    def import_paths(self) -> list[Path]:
        """Folders a program of an uninstallable project imports the project's code from."""
        return [folder for folder in (self.root / "src", self.root) if folder.is_dir()]


def load(root: Path) -> Settings:
    """Read pyproject.toml at root; SettingsError with a clear message when it cannot be used."""
    path = root / "pyproject.toml"
    if not path.is_file():
        msg = (
            f"no pyproject.toml in {root}: memwise reads the project's metadata from it"
        )
        raise SettingsError(msg)
    try:
        project = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"{path} is not valid TOML: {error}") from error
    table = project.get("tool", {}).get("memwise", {})
    if not isinstance(table, dict):
        raise SettingsError("[tool.memwise] in pyproject.toml must be a table")
    _refuse_unknown_keys(table, KNOWN_KEYS, "[tool.memwise]")
    return _settings(root, project, table)


def _refuse_unknown_keys(table: dict[str, Any], known: set[str], name: str) -> None:
    """A misspelt key would be ignored without a word: name it, and the keys there are."""
    unknown = sorted(set(table) - known)
    if unknown:
        msg = (
            f"{name} has unknown key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join(sorted(known))} (see .memwise/README.md)"
        )
        raise SettingsError(msg)


def _settings(root: Path, project: dict[str, Any], table: dict[str, Any]) -> Settings:
    groups = project.get("dependency-groups", {})
    extras = project.get("project", {}).get("optional-dependencies", {})
    gate = _table(table, "gate")
    for key, why in REMOVED_GATE_KEYS.items():
        if key in gate:
            raise SettingsError(f"[tool.memwise.gate] {why}")
    _refuse_unknown_keys(gate, GATE_KEYS, "[tool.memwise.gate]")
    settings = Settings(
        root=root,
        project=project,
        workload=_optional_string(table, "workload"),
        package=_optional_string(table, "package") or _guess_package(root, project),
        memory_python=_python_version(table),
        default_limit=_default_limit(table),
        memory_group=_group(table, "memory-group", groups, ""),
        profile_group=_group(table, "profile-group", groups, "[profile]"),
        test_groups=_names(
            table, "test-groups", [g for g in TEST_GROUP_NAMES if g in groups][:1]
        ),
        test_extras=_names(
            table, "test-extras", [e for e in TEST_GROUP_NAMES if e in extras][:1]
        ),
        test_requirements=_names(table, "test-requirements", _requirement_files(root)),
        test_packages=_tool_group_packages(project),
        env=_env(table),
        pytest_args=_names(table, "pytest-args", []),
        profile_args=_names(table, "profile-args", []),
        reports=_project_path(root, table, "reports", str(Settings.reports)),
        baseline=_project_path(root, table, "baseline", str(Settings.baseline)),
        workers=_workers(table),
        allow_unmeasured=_names(table, "allow-unmeasured", []),
        seed_pip=_flag(table, "seed-pip", _uses_tox_or_setup_py(root, project)),
        gate_relative=_number(gate, "relative", Settings.gate_relative, RELATIVE_MAX),
        gate_absolute_kib=_number(
            gate, "absolute-kib", Settings.gate_absolute_kib, ABSOLUTE_KIB_MAX
        ),
        gate_noise_factor=_number(
            gate, "noise-factor", Settings.gate_noise_factor, NOISE_FACTOR_MAX
        ),
        gate_runs=_runs(gate),
        gate_allow_missing=_names(gate, "allow-missing", [], "[tool.memwise.gate]"),
    )
    _check_references(settings, groups, extras)
    return settings


def _tool_group_packages(project: dict[str, Any]) -> tuple[str, ...]:
    """The packages of a poetry or pdm test group (the first of TEST_GROUP_NAMES), by name:
    their versions come from the project's lock (``memwise.project.locks``)."""
    tool = project.get("tool", {})
    poetry = tool.get("poetry", {})
    groups: dict[str, Any] = {
        name: group.get("dependencies", {})
        for name, group in poetry.get("group", {}).items()
    }
    if "dev-dependencies" in poetry:  # poetry 1.0 and 1.1
        groups.setdefault("dev", poetry["dev-dependencies"])
    for name, entries in tool.get("pdm", {}).get("dev-dependencies", {}).items():
        groups.setdefault(
            name, {re.split(r"[\s<>=!~;\[]", str(e), maxsplit=1)[0]: e for e in entries}
        )
    for name in TEST_GROUP_NAMES:
        if isinstance(groups.get(name), dict):
            return tuple(package for package in groups[name] if package != "python")
    return ()


def _uses_tox_or_setup_py(root: Path, project: dict[str, Any]) -> bool:
    """Whether the project's own environments come from tox or setuptools, which put pip in
    them (and code may import pip at run time)."""
    tox = any((root / name).is_file() for name in ("tox.ini", "tox.toml", "setup.py"))
    return tox or "tox" in project.get("tool", {})


def _flag(table: dict[str, Any], key: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise SettingsError(
            f"[tool.memwise] {key} must be true or false, not {value!r}"
        )
    return value


def _requirement_files(root: Path) -> list[str]:
    return [name for name in TEST_REQUIREMENTS_FILES if (root / name).is_file()][:1]


def _table(table: dict[str, Any], key: str) -> dict[str, Any]:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise SettingsError(
            f"[tool.memwise] {key} must be a table, e.g. [tool.memwise.{key}]"
        )
    return value


def _optional_string(table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise SettingsError(
            f'[tool.memwise] {key} must be a non-empty string, e.g. {key} = "..."'
        )
    return value


def _names(
    table: dict[str, Any], key: str, default: list[str], where: str = "[tool.memwise]"
) -> tuple[str, ...]:
    value = table.get(key, default)
    if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
        raise SettingsError(
            f'{where} {key} must be a list of strings, e.g. {key} = ["..."]'
        )
    return tuple(value)


def _env(table: dict[str, Any]) -> dict[str, str]:
    value = _table(table, "env")
    if not all(isinstance(item, str) for item in value.values()):
        raise SettingsError(
            '[tool.memwise.env] values must be strings, e.g. TOKEN = "dummy"'
        )
    return dict(value)


def _python_version(table: dict[str, Any]) -> str | None:
    value = _optional_string(table, "memory-python")
    if value is not None and not re.fullmatch(r"3\.\d+t?", value):
        raise SettingsError(
            f'[tool.memwise] memory-python must be a version like "3.13", not {value!r}'
        )
    return value


def _default_limit(table: dict[str, Any]) -> str | None:
    value = table.get("default-limit", DEFAULT_LIMIT)
    if value is False or value == "off":
        return None
    if not isinstance(value, str):
        raise SettingsError(
            '[tool.memwise] default-limit must be a size such as "512 MB", or "off"'
        )
    try:
        size = parse_size(value)
    except ValueError as error:
        raise SettingsError(
            f"[tool.memwise] default-limit: {error}, or 'off'"
        ) from error
    if not 0 < size <= DEFAULT_LIMIT_MAX:
        raise SettingsError(
            f"[tool.memwise] default-limit = {value!r} is not a budget a test can be held to: "
            f'write a size above 0 and at most 1 TB (the default is "{DEFAULT_LIMIT}"), or "off"'
        )
    return value


# The gate's numbers beyond which a tolerance stops meaning anything: a gate that lets a figure
# grow tenfold, or by a terabyte, gates nothing.
RELATIVE_MAX = 10.0
NOISE_FACTOR_MAX = 100.0
ABSOLUTE_KIB_MAX = 1024.0 * 1024 * 1024


def _number(gate: dict[str, Any], key: str, default: float, most: float) -> float:
    """A finite number from 0 to ``most`` (NaN and infinity are refused: the gate's arithmetic
    would fail after measuring, or pass everything)."""
    value = gate.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= most
    ):
        raise SettingsError(
            f"[tool.memwise.gate] {key} must be a number from 0 to {most:g}, not {value!r}"
            f" (the default is {default:g})"
        )
    return float(value)


def _project_path(root: Path, table: dict[str, Any], key: str, default: str) -> Path:
    """A path inside the project, relative to its root (memwise writes there)."""
    value = _optional_string(table, key) or default
    path = Path(value)
    inside = (root / path).resolve()
    if (
        path.is_absolute()
        or inside == root.resolve()
        or not inside.is_relative_to(root.resolve())
    ):
        raise SettingsError(
            f"[tool.memwise] {key} = {value!r} must be a path inside the project, relative to "
            f'its root, e.g. {key} = "{default}"'
        )
    return path


def _workers(table: dict[str, Any]) -> str | None:
    """memtest's pytest-xdist workers: "auto" (one per core), a number, or "off" (default)."""
    value = table.get("workers", "off")
    if value in ("off", 1, False):
        return None
    if value == "auto" or (
        isinstance(value, int) and not isinstance(value, bool) and value > 1
    ):
        return str(value)
    raise SettingsError(
        f'[tool.memwise] workers must be "auto", "off" or a number of processes, not {value!r}'
    )


def _runs(gate: dict[str, Any]) -> int:
    value = gate.get("runs", Settings.gate_runs)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SettingsError(
            f"[tool.memwise.gate] runs must be a whole number of at least 1, not {value!r} "
            "(5 or more give the noise estimate something to stand on)"
        )
    return value


def _group(
    table: dict[str, Any], key: str, groups: dict[str, Any], extra: str
) -> str | None:
    """The dependency group that installs memwise's toolkit (with the extra), if there is one.

    A project that lists ``memwise`` in a group (with a uv path source) gets the toolkit and
    the memory tools from its own lock; otherwise the sessions install them on top.
    """
    if key in table:
        return _optional_string(table, key)
    for name, entries in groups.items():
        for entry in entries:
            match = isinstance(entry, str) and _TOOLKIT.match(entry)
            if match and (match[1] or "") == extra:
                return str(name)
    return None


_TOOLKIT = re.compile(r"\s*memwise\s*(\[[^\]]*\])?\s*(;|$)")


def _guess_package(root: Path, project: dict[str, Any]) -> str | None:
    """The import name of the project's package, when it follows its distribution name."""
    name = str(project.get("project", {}).get("name", ""))
    module = re.sub(r"[-_.]+", "_", name).lower()
    found = [
        folder for folder in (root / "src" / module, root / module) if folder.is_dir()
    ]
    return module if module and found else None


def _check_references(
    settings: Settings, groups: dict[str, Any], extras: dict[str, Any]
) -> None:
    for group in (settings.memory_group, settings.profile_group, *settings.test_groups):
        if group is not None and group not in groups:
            msg = f"[tool.memwise] names the dependency group {group!r}, which pyproject.toml does not have"
            raise SettingsError(msg)
    dynamic = settings.project.get("project", {}).get("dynamic", [])
    for extra in settings.test_extras:
        # Extras the build backend computes (setup.py, requirements files) are its to check.
        if extra not in extras and "optional-dependencies" not in dynamic:
            msg = f"[tool.memwise] test-extras names {extra!r}, which [project.optional-dependencies] does not have"
            raise SettingsError(msg)
    for requirements in settings.test_requirements:
        if not (settings.root / requirements).is_file():
            raise SettingsError(
                f"[tool.memwise] test-requirements: no file {requirements}"
            )
    if (
        settings.workload is not None
        and not (settings.root / settings.workload).is_file()
    ):
        msg = (
            f"[tool.memwise] workload = {settings.workload!r}: no such file. Name the script "
            "that exercises your service (relative to the project root), or remove the key"
        )
        raise SettingsError(msg)
