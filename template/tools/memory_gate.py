"""The memory regression gate: figures, baseline file, tolerance, verdict.

`nox -s memgate` measures the figures and compares them with memory-baseline.toml;
`nox -s baseline` writes that file. This module holds the parts that are plain data handling,
so the noxfile stays a list of steps. Run as a script inside a session's environment,
`python tools/memory_gate.py peaks DIR` prints the peak memory of each memray capture in DIR
(using memray's public FileReader API) as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
BASELINE_HEADER = """\
# Memory figures checked by `nox -s memgate`, written by `nox -s baseline`. Commit this file:
# a change of these numbers in a review is a change of the service's memory.
# Sizes in bytes (MiB in the comments). Tolerance: [tool.memwise.gate] in pyproject.toml.
"""


@dataclass(frozen=True)
class Tolerance:
    """How far above its baseline a figure may go: baseline x (1 + relative) + absolute."""

    relative: float
    absolute_bytes: int

    @classmethod
    def from_config(cls, config: dict) -> Tolerance:
        relative = float(config.get("relative", 0.05))
        absolute_mib = float(config.get("absolute_mib", 0.25))
        if relative < 0 or absolute_mib < 0:
            msg = f"[tool.memwise.gate] tolerances must not be negative: {config}"
            raise ValueError(msg)
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
        return "REGRESSION" if self.now > self.limit else "ok"

    def describe(self) -> str:
        if self.baseline is None or self.now is None:
            return f"{self.name}: {self.status}"
        change = (self.now - self.baseline) / self.baseline if self.baseline else 0.0
        return (
            f"{self.name}: {mib(self.baseline)} -> {mib(self.now)} ({change:+.1%}), "
            f"allowed up to {mib(self.limit)}"
        )


def mib(size: int) -> str:
    return f"{size / MIB:.2f} MiB"


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


def summary_markdown(comparisons: list[Comparison], tolerance: Tolerance, stats: dict) -> str:
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
    peak = stats.get("metadata", {}).get("peak_memory", 0)
    return "\n".join(
        [
            f"## Memory gate {verdict}",
            "",
            f"Tolerance: {tolerance}. Workload peak memory: {mib(peak)}.",
            "",
            "| figure | baseline | now | allowed | status |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            "Top allocating locations of the workload:",
            "",
            *top,
            "",
        ]
    )


def capture_peaks(folder: Path, prefix: str) -> dict[str, int]:
    """Peak memory of each memray capture in folder, keyed by the capture's name."""
    from memray import FileReader  # only inside a session's environment

    return {
        capture.stem.removeprefix(f"{prefix}-"): FileReader(capture).metadata.peak_memory
        for capture in sorted(folder.glob("*.bin"))
    }


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "peaks":
        sys.exit("usage: python tools/memory_gate.py peaks FOLDER PREFIX")
    print(json.dumps(capture_peaks(Path(sys.argv[2]), sys.argv[3])))
