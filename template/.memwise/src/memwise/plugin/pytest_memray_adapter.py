"""Everything memwise reads of pytest-memray beyond its published flags and markers.

pytest-memray does not publish which capture belongs to which test, the peak it measured, or
the bookkeeping it writes beside the captures; memwise needs the first two for its manifest.
They are read here and nowhere else, for the range of versions memwise is tested with (both
ends, tests/test_toolkit.py): the shape of its per-test result changed between 1.10 and 1.11.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# Keep in step with .memwise/pyproject.toml: pytest-memray>=1.8,<1.12 (1.8 still runs on
# pytest 7.2+, 1.9 and later need pytest 8).
OLDEST = (1, 8)
NEWEST = (1, 11)
SUPPORTED = "1.8 to 1.11"


@dataclass(frozen=True)
class Measured:
    """What pytest-memray measured of one test function."""

    peak_bytes: int
    capture: Path


def installed_version() -> tuple[int, int] | None:
    """pytest-memray's version as (major, minor), or None where it is not installed."""
    try:
        text = metadata.version("pytest-memray")
    except metadata.PackageNotFoundError:
        return None
    major, minor = (int(part) for part in text.split(".")[:2])
    return major, minor


def unsupported_version() -> str | None:
    """Why the installed pytest-memray cannot be read, or None when it can."""
    version = installed_version()
    if version is None or OLDEST <= version <= NEWEST:
        return None
    return (
        f"memwise reads pytest-memray {SUPPORTED}; this environment has "
        f"{version[0]}.{version[1]}. Pin pytest-memray{'>=1.8' if version < OLDEST else '<1.12'} "
        "in your test dependencies, or update memwise (`copier update`)"
    )


def measured(config: Any, nodeid: str) -> Measured | None:
    """The peak and capture pytest-memray recorded for a test function, if it tracked it."""
    manager = config.pluginmanager.get_plugin("memray_manager")
    result = getattr(manager, "results", {}).get(nodeid)
    if result is None:
        return None
    peak = getattr(result, "peak_memory", None)  # 1.11
    if peak is None:  # 1.8 to 1.10 keep memray's metadata
        peak = result.metadata.peak_memory
    return Measured(int(peak), Path(result.result_file))


def remove_bookkeeping(captures: Path) -> None:
    """Delete what pytest-memray keeps beside the captures for itself (not a report)."""
    for entry in captures.iterdir() if captures.is_dir() else []:
        if entry.is_dir():
            shutil.rmtree(entry)
        elif entry.suffix != ".bin":
            entry.unlink()
