"""The memory regression gate: figures, baseline file, tolerance, verdict.

`nox -s memgate` measures the figures and compares them with the baseline file;
`nox -s baseline` writes it. Figures are the workload's peak and total allocated (when the
project names a workload) and each memory test's peak, keyed by pytest node id from the run's
manifest. This module is plain data handling, tested without running anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from memwise.manifest import Manifest
from memwise.sizes import MIB, mib

BASELINE_HEADER = """\
# Memory figures checked by `nox -s memgate`, written by `nox -s baseline`. Commit this file:
# a change of these numbers in a review is a change of the service's memory.
# Sizes in bytes (MiB in the comments). Tolerance: [tool.memwise.gate] in pyproject.toml.
# Figures belong to one interpreter and platform: the gate checks them only there.
"""


@dataclass(frozen=True)
class Tolerance:
    """How far above its baseline a figure may go: baseline x (1 + relative) + absolute."""

    relative: float
    absolute_bytes: int

    @classmethod
    def from_settings(cls, relative: float, absolute_mib: float) -> Tolerance:
        return cls(relative, int(absolute_mib * MIB))

    def limit(self, baseline: int) -> int:
        return int(baseline * (1 + self.relative)) + self.absolute_bytes

    def __str__(self) -> str:
        return f"{self.relative:.0%} + {mib(self.absolute_bytes)}"


@dataclass(frozen=True)
class Comparison:
    """One figure measured now against its baseline."""

    name: str
    baseline: int | None
    now: int | None
    limit: int | None

    @property
    def status(self) -> str:
        if self.baseline is None:
            return "new"
        if self.now is None:
            return "not measured"
        return "REGRESSION" if self.limit is not None and self.now > self.limit else "ok"

    def describe(self) -> str:
        if self.baseline is None or self.now is None:
            return f"{self.name}: {self.status}"
        change = (self.now - self.baseline) / self.baseline if self.baseline else 0.0
        return (
            f"{self.name}: {mib(self.baseline)} -> {mib(self.now)} ({change:+.1%}), "
            f"allowed up to {mib(self.limit or 0)}"
        )


def compare(
    baseline: dict[str, int], now: dict[str, int], tolerance: Tolerance
) -> list[Comparison]:
    """Every figure of the baseline and of this run, each with its verdict."""
    names = sorted(set(baseline) | set(now))
    return [
        Comparison(
            name,
            baseline.get(name),
            now.get(name),
            tolerance.limit(baseline[name]) if name in baseline else None,
        )
        for name in names
    ]


def baseline_text(figures: dict[str, int], python: str, platform: str) -> str:
    """The baseline file: a header, where it was recorded, and one figure per line.

    Names are written as JSON strings, whose escapes are also TOML's (ensure_ascii=False: JSON's
    surrogate-pair escapes of emoji are not valid TOML).
    """
    lines = [BASELINE_HEADER, f'python = "{python}"', f'platform = "{platform}"', "", "[figures]"]
    lines += [
        f"{json.dumps(name, ensure_ascii=False)} = {size}  # {mib(size)}"
        for name, size in sorted(figures.items())
    ]
    return "\n".join(lines) + "\n"


def summary_markdown(
    comparisons: list[Comparison], tolerance: Tolerance, stats: dict[str, Any]
) -> str:
    """A short report for a CI job summary: the gate's table and the workload's top allocators."""
    regressions = [c for c in comparisons if c.status == "REGRESSION"]
    verdict = f"failed: {len(regressions)} regression(s)" if regressions else "passed"
    rows = [
        f"| {c.name} | {mib(c.baseline) if c.baseline is not None else '-'} "
        f"| {mib(c.now) if c.now is not None else '-'} "
        f"| {mib(c.limit) if c.limit is not None else '-'} | {c.status} |"
        for c in comparisons
    ]
    top = [
        f"- `{entry['location']}`: {mib(entry['size'])}"
        for entry in stats.get("top_allocations_by_size", [])[:5]
    ]
    peak = stats.get("metadata", {}).get("peak_memory")
    workload = f" Workload peak memory: {mib(peak)}." if peak is not None else ""
    return "\n".join(
        [
            f"## Memory gate {verdict}",
            "",
            f"Tolerance: {tolerance}.{workload}",
            "",
            "| figure | baseline | now | allowed | status |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            *(["Top allocating locations of the workload:", "", *top, ""] if top else []),
        ]
    )


def figures_of_tests(manifest: Manifest) -> dict[str, int]:
    """Each measured test's peak, named by node id (the manifest knows; nothing is guessed)."""
    return {
        f"{test.nodeid} peak": test.peak_bytes
        for test in manifest.tests
        if test.peak_bytes is not None and test.outcome != "skipped"
    }


def workload_figures(stats: dict[str, Any]) -> dict[str, int]:
    """The workload's figures from `memray stats --json`."""
    return {
        "workload peak": int(stats["metadata"]["peak_memory"]),
        "workload total allocated": int(stats["total_bytes_allocated"]),
    }
