"""The memory regression gate's arithmetic: figures, tolerance from measured noise, verdicts,
and which call sites grew.

`nox -s baseline` measures each figure several times and records its median and noise (a
robust spread: the median absolute deviation); `nox -s memgate` measures once and allows each
figure its own noise band (a multiple of its noise) or a small floor, whichever is larger.
Figures are the workload's peak and total allocated (when the project names a workload) and
each memory test's peak, named by pytest node id. Every run is measured with the C allocator
(``PYTHONMALLOC=malloc``): memray then sees each object, and a peak no longer moves in whole
1 MiB pymalloc arenas from run to run. Plain data handling, unit-tested without running anything.
"""

from __future__ import annotations

import fnmatch
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memwise.plugin.manifest import Manifest
from memwise.sizes import MIB, mib


@dataclass(frozen=True)
class Tolerance:
    """How far above its baseline a figure may go before the gate fails.

    ``noise_factor`` times the figure's noise over the baseline's runs, or the floor if that
    is larger: ``relative`` of the baseline, and at least ``absolute_bytes`` (so that a figure
    of a few KiB is not held to a few bytes).
    """

    relative: float
    absolute_bytes: int
    noise_factor: float

    @classmethod
    def from_settings(
        cls, relative: float, absolute_kib: float, noise_factor: float
    ) -> Tolerance:
        return cls(relative, int(absolute_kib * 1024), noise_factor)

    def limit(self, name: str, baseline: int, spread: int) -> int:
        floor = max(baseline * self.relative, self.absolute_bytes)
        return baseline + int(max(self.noise_factor * spread, floor))

    def __str__(self) -> str:
        least = (
            f" and {self.absolute_bytes / 1024:g} KiB" if self.absolute_bytes else ""
        )
        return f"{self.noise_factor:g} x measured noise, at least {self.relative:.1%}{least}"


@dataclass(frozen=True)
class Comparison:
    """One figure measured now against its baseline."""

    name: str
    baseline: int | None
    now: int | None
    limit: int | None
    missing_allowed: bool = False

    @property
    def status(self) -> str:
        if self.baseline is None:
            return "new"
        if self.now is None:
            return "not measured (allowed)" if self.missing_allowed else "MISSING"
        if self.limit is not None and self.now > self.limit:
            return "REGRESSION"
        if self.limit is not None and self.now < 2 * self.baseline - self.limit:
            return "improved"
        return "ok"

    @property
    def fails(self) -> bool:
        return self.status in FAILING

    def describe(self) -> str:
        if self.baseline is None or self.now is None:
            return f"{self.name}: {self.status}"
        change = (self.now - self.baseline) / self.baseline if self.baseline else 0.0
        return (
            f"{self.name}: {mib(self.baseline)} -> {mib(self.now)} ({change:+.2%}), "
            f"allowed up to {mib(self.limit or 0)}"
        )


# A figure above its limit, and a figure of the baseline this run did not measure (a budgeted
# test renamed, skipped or deselected), fail the gate.
FAILING = ("REGRESSION", "MISSING")


def compare(
    baseline: dict[str, int],
    noise: dict[str, int],
    now: dict[str, int],
    tolerance: Tolerance,
    allow_missing: Sequence[str] = (),
) -> list[Comparison]:
    """Every figure of the baseline and of this run, each with its verdict."""
    return [
        Comparison(
            name,
            baseline.get(name),
            now.get(name),
            (
                tolerance.limit(name, baseline[name], noise.get(name, 0))
                if name in baseline
                else None
            ),
            any(fnmatch.fnmatchcase(name, pattern) for pattern in allow_missing),
        )
        for name in sorted(set(baseline) | set(now))
    ]


# The median absolute deviation times this estimates a normal spread's standard deviation.
MAD_TO_SIGMA = 1.4826


def median_and_noise(
    runs: list[dict[str, int]],
) -> tuple[dict[str, int], dict[str, int]]:
    """Each figure's median over the runs, and its noise: the scaled median absolute
    deviation, which one odd run among five cannot inflate as it would the range."""
    names = sorted(set().union(*runs)) if runs else []
    values = {name: [run[name] for run in runs if name in run] for name in names}
    medians = {name: statistics.median(found) for name, found in values.items()}
    noise = {
        name: round(
            MAD_TO_SIGMA * statistics.median(abs(v - medians[name]) for v in found)
        )
        for name, found in values.items()
    }
    return {name: int(median) for name, median in medians.items()}, noise


# A figure whose noise band is wider than this share of it is worth a word at baseline time.
UNSTEADY = 0.05


def unsteady_figures(
    figures: dict[str, int], noise: dict[str, int], tolerance: Tolerance
) -> list[str]:
    """Warnings for the figures that vary so much between runs that the gate would let them
    grow by more than ``UNSTEADY`` unnoticed: such a workload or test usually does an amount
    of work that depends on the clock (a loop for N seconds), the network or unseeded
    randomness, and the cure is in the project, not in a wider tolerance."""
    warnings = []
    for name, value in sorted(figures.items()):
        band = tolerance.noise_factor * noise.get(name, 0)
        if value > 0 and band > max(UNSTEADY * value, tolerance.absolute_bytes):
            warnings.append(
                f"{name} varied between runs by {mib(noise[name])} (noise), so the gate lets "
                f"it grow by {band / value:.0%} ({mib(int(band))}) unnoticed: give it a fixed "
                "amount of work (a count rather than a time limit, seeded randomness, no "
                "network) and record the baseline again"
            )
    return warnings


def figures_of_tests(manifest: Manifest) -> dict[str, int]:
    """Each measured test's peak, named by node id (the manifest knows; nothing is guessed)."""
    return {
        f"{test.nodeid} peak": test.peak_bytes
        for test in manifest.tests
        if test.peak_bytes is not None and test.outcome != "skipped"
    }


def shard_figures(
    names: Iterable[str], first: bool, selected: Iterable[str], collected: Iterable[str]
) -> set[str]:
    """The figures one shard of the budgeted tests answers for: its group's tests' peaks, and
    with the first group every other figure no shard collected (the workload's, and those of
    tests that are gone, named missing once). The shards' parts add up to the whole."""
    ran = {f"{node} peak" for node in selected}
    anywhere = {f"{node} peak" for node in collected}
    return {name for name in names if name in ran or (first and name not in anywhere)}


WORKLOAD_PEAK = "workload peak"
WORKLOAD_TOTAL = "workload total allocated"


def workload_figures(stats: dict[str, Any]) -> dict[str, int]:
    """The workload's figures from `memray stats --json`."""
    return {
        WORKLOAD_PEAK: int(stats["metadata"]["peak_memory"]),
        WORKLOAD_TOTAL: int(stats["total_bytes_allocated"]),
    }


_LOCATION = re.compile(r"(?P<function>.*?):(?P<file>.*):(?P<line>\d+)$")
# Where the interpreter and installed packages live differs between machines of one
# environment (a developer's, CI's): their files are named from their library folder on.
_INSTALLED = re.compile(r"^.*/(?:lib/python3\.\d+t?/(?:site-packages/)?)")


def call_sites(stats: dict[str, Any], root: Path) -> dict[str, int]:
    """Bytes allocated per call site of the workload, from `memray stats --json -n N`.

    A site is "function (file)", the file relative to the project: line numbers move with
    every edit above them, so they would turn one grown site into a vanished and a new one.
    """
    sites: dict[str, int] = {}
    for key, _, size in _located(stats, root):
        sites[key] = sites.get(key, 0) + size
    return sites


def call_site_lines(stats: dict[str, Any], root: Path) -> dict[str, str]:
    """Each call site with the line that allocated the most there, for people to read:
    ``"f (src/a.py)": "f (src/a.py:12)"``."""
    best: dict[str, tuple[int, str]] = {}
    for key, line, size in _located(stats, root):
        if size > best.get(key, (-1, ""))[0]:
            best[key] = (size, f"{key[:-1]}:{line})")
    return {key: shown for key, (_, shown) in best.items()}


def _located(stats: dict[str, Any], root: Path) -> list[tuple[str, str, int]]:
    found = []
    for entry in stats.get("top_allocations_by_size", []):
        match = _LOCATION.match(str(entry["location"]))
        if match:
            file = _INSTALLED.sub("", match["file"].removeprefix(f"{root}/"))
            found.append(
                (f"{match['function']} ({file})", match["line"], int(entry["size"]))
            )
    return found


@dataclass(frozen=True)
class SiteChange:
    """A call site's allocated bytes in the baseline and now."""

    site: str
    before: int
    after: int

    @property
    def growth(self) -> int:
        return self.after - self.before

    def describe(self) -> str:
        return f"{self.site}: {mib(self.before)} -> {mib(self.after)} ({self.growth / MIB:+.2f} MiB)"


def grown_sites(
    before: dict[str, int], after: dict[str, int], more_than: int = 0, count: int = 5
) -> list[SiteChange]:
    """The call sites whose allocations grew by more than ``more_than`` bytes (the total's
    allowed growth), most first; a site that is new counts from zero, and a site that did not
    change is never one."""
    changes = [
        SiteChange(site, before.get(site, 0), after.get(site, 0))
        for site in set(before) | set(after)
    ]
    grown = (c for c in changes if c.growth > max(more_than, 0))
    return sorted(grown, key=lambda c: -c.growth)[:count]


def allowed_growth(comparisons: Sequence[Comparison], name: str) -> int:
    """How many bytes a figure may grow before it fails (0 when it is not compared)."""
    for comparison in comparisons:
        if comparison.name == name and comparison.limit is not None:
            return comparison.limit - (comparison.baseline or 0)
    return 0
