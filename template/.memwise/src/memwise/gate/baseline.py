"""The baseline file: the figures of each environment the project is measured in.

One file holds a table per environment (Python version, free-threaded or not, operating
system, processor), so CI's Linux figures and a developer's macOS figures live side by side
and `nox -s baseline` on one machine rewrites only its own table. Each table holds the
figures' medians, their spread over the baseline's runs (the gate's noise band) and the
workload's bytes per call site (what the gate diffs to say where memory grew).
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memwise.sizes import mib

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HEADER = """\
# Memory figures checked by `nox -s memgate`, written by `nox -s baseline`. Commit this file:
# a change of these numbers in a review is a change of the service's memory.
# One table per environment (figures differ between Pythons and platforms); sizes in bytes,
# MiB in the comments. Tolerance: [tool.memwise.gate] in pyproject.toml.
"""
# How the figures were measured; figures measured another way are not comparable, and the gate
# asks for a new baseline instead of comparing them. memwise 0.2 measured under pymalloc.
METHOD = "PYTHONMALLOC=malloc"


def method_of(shards: int | None) -> str:
    """How figures are measured: the allocator, and the number of shards when the budgeted
    tests were split (`--shard K/N`): a test's peak can depend on the tests that ran before it
    in its process, so figures of one split compare only with figures of the same split.
    """
    return METHOD if shards is None or shards == 1 else f"{METHOD}, {shards} shards"


class BaselineError(Exception):
    """A baseline file that cannot be read; the message names the file, the line and the fix."""


def environment(python: str) -> str:
    """This machine's environment name for a Python version, e.g. ``3.15-linux-x86_64``."""
    return f"{python}-{sys.platform}-{platform.machine().lower()}"


@dataclass
class Record:
    """What one environment's baseline holds."""

    figures: dict[str, int]
    noise: dict[str, int] = field(default_factory=dict)
    sites: dict[str, int] = field(default_factory=dict)
    runs: int = 1
    method: str = METHOD


def parse(text: str) -> dict[str, Any]:
    """A baseline file's data (of any version of the file, e.g. from git history)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise BaselineError(f"not valid TOML: {error}") from error


# The file's format: a file of a higher one was written by a newer memwise. Format 0 is the
# unnumbered file of memwise 0.3 and earlier (read, with its tables checked; no end marker).
FORMAT = 1
TABLES = ("figures", "noise", "sites")


def read(path: Path) -> dict[str, Record]:
    """Every environment's record; none for a missing file; BaselineError for a file that is
    not whole: every environment table complete (runs, method, figures, noise, sites), the
    noise of exactly the figures, sizes whole non-negative numbers of bytes, and (format 1) the
    end marker counting the environments, so that a file cut short is never read as fewer
    figures."""
    if not path.is_file():
        return {}
    fix = f"fix it, or record it again with `nox -s baseline` (git checkout {path.name} restores it)"
    try:
        data = parse(path.read_text(encoding="utf-8"))
    except (BaselineError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path} is {error}; {fix}") from error
    version = data.get("format", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise BaselineError(
            f"{path}: format must be a whole number, not {version!r}; {fix}"
        )
    if version > FORMAT:
        raise BaselineError(
            f"{path} was written by a newer memwise (baseline format {version}; this memwise "
            f"reads format {FORMAT} and older): update memwise (`copier update`), do not record "
            "it again"
        )
    environments = data.get("environments")
    if not isinstance(environments, dict) or not environments:
        raise BaselineError(
            f'{path} has no [environments."..."] table: it is empty or cut short; {fix}'
        )
    if version >= 1:
        end = data.get("end")
        count = end.get("environments") if isinstance(end, dict) else None
        if count != len(environments):
            raise BaselineError(
                f"{path} is cut short or was edited: its [end] table "
                + (
                    f"counts {count!r} environment(s), the file holds {len(environments)}"
                    if isinstance(end, dict)
                    else "is missing (nox -s baseline writes it last)"
                )
                + f"; {fix}"
            )
    return {
        name: _record(path, name, table, fix, version)
        for name, table in environments.items()
    }


def _record(path: Path, name: str, table: object, fix: str, version: int) -> Record:
    where = f"{path}, [environments.{json.dumps(name)}]"
    if not isinstance(table, dict):
        raise BaselineError(f"{where} must be a table; {fix}")
    if version == 0:  # memwise 0.2 wrote no method: it measured under pymalloc
        table = {"method": "pymalloc", **table}
    missing = [key for key in ("runs", "method", *TABLES) if key not in table]
    if missing:
        raise BaselineError(
            f"{where} has no {', '.join(missing)}: the file is cut short or was edited; {fix}"
        )
    parts = {}
    for key in TABLES:
        values = table[key]
        if not isinstance(values, dict):
            raise BaselineError(f"{where}.{key} must be a table; {fix}")
        for figure, size in values.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise BaselineError(
                    f"{where}.{key}: {json.dumps(figure)} = {size!r} is not a size in bytes "
                    f"(a whole number of at least 0); {fix}"
                )
        parts[key] = dict(values)
    if not parts["figures"]:
        raise BaselineError(
            f"{where}.figures is empty: the gate would compare nothing; {fix}"
        )
    if set(parts["noise"]) != set(parts["figures"]):
        odd = sorted(set(parts["noise"]) ^ set(parts["figures"]))
        raise BaselineError(
            f"{where}: figures and noise must name the same figures; only one of them has "
            f"{', '.join(json.dumps(n) for n in odd[:5])}{' ...' if len(odd) > 5 else ''}; {fix}"
        )
    runs = table["runs"]
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        raise BaselineError(
            f"{where}: runs must be a whole number of at least 1; {fix}"
        )
    method = table["method"]
    if not isinstance(method, str) or not method:
        raise BaselineError(f"{where}: method must be a string; {fix}")
    return Record(parts["figures"], parts["noise"], parts["sites"], runs, method)


def text(records: dict[str, Record]) -> str:
    """The file's text: a header, then each environment's tables, sorted, one value a line.

    Names are written as JSON strings, whose escapes are also TOML's (ensure_ascii=False:
    JSON's surrogate-pair escapes of emoji are not valid TOML).
    """
    lines = [HEADER.rstrip("\n"), "", f"format = {FORMAT}"]
    for name, record in sorted(records.items()):
        env = json.dumps(name)
        lines += ["", f"[environments.{env}]", f"runs = {record.runs}"]
        lines += [f"method = {json.dumps(record.method)}"]
        for table, values in (("figures", record.figures), ("noise", record.noise),
                              ("sites", record.sites)):  # fmt: skip
            lines += ["", f"[environments.{env}.{table}]"]
            lines += [
                f"{json.dumps(key, ensure_ascii=False)} = {size}  # {mib(size)}"
                for key, size in sorted(values.items())
            ]
    # Last, so that a file cut anywhere above it is refused rather than read as fewer figures.
    lines += ["", "[end]", f"environments = {len(records)}"]
    return "\n".join(lines) + "\n"


def write(path: Path, name: str, record: Record) -> None:
    """Record one environment's figures, keeping every other environment's."""
    records = read(path)
    records[name] = record
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # baseline = "perf/memory.toml"
        path.write_text(text(records), encoding="utf-8")
    except OSError as error:
        msg = (
            f"cannot write {path}: {error.strerror or error}; make its folder writable, or "
            "set [tool.memwise] baseline to a file you can write"
        )
        raise BaselineError(msg) from error
