"""A budgeted test's forked children, counted toward its budget.

memray's Tracker follows a fork when asked (``follow_fork=True``): each forked process records
into a file of its own beside the test's capture, ``<capture>.<pid>``, for as long as it runs
Python (an ``exec`` ends it: ``subprocess`` and multiprocessing's spawn start a new program,
which memray cannot follow). pytest-memray never asks for it (its issue #89), so memtest
measures again, with memwise's own Tracker, each budgeted test that forked
(``memwise.running.pytest_runs.measure_forks``): the test's own peak plus each forked child's peak.

The sum is an upper bound: it counts every child as if all peaked at the same moment as the
test. Children that run one after another are counted more than they hold at once; a budget
must never be green when the memory was there, so the failure message shows the parts.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from memwise.sizes import mib

# The manifest's ``measured_by`` of a test measured with its forked children.
WITH_FORKS = "memwise-forks"


@dataclass(frozen=True)
class WithChildren:
    """One test's peak in its own process, and each forked child's peak."""

    own_bytes: int
    children_bytes: tuple[int, ...]

    @property
    def total_bytes(self) -> int:
        return self.own_bytes + sum(self.children_bytes)


def children_captures(capture: Path) -> list[Path]:
    """The files memray wrote for the processes forked while ``capture`` was recorded."""
    return sorted(capture.parent.glob(f"{glob.escape(capture.name)}.*"))


@contextmanager
def following_forks(capture: Path) -> Iterator[None]:
    """Record the test function, and every process it forks, into ``capture`` and beside it."""
    from memray import FileFormat, Tracker

    for old in [capture, *children_captures(capture)]:
        old.unlink(missing_ok=True)
    # Every allocation as it happens: a child ends with os._exit (multiprocessing's fork
    # workers do), and the aggregated format writes nothing until its Tracker exits.
    with Tracker(capture, follow_fork=True, file_format=FileFormat.ALL_ALLOCATIONS):
        yield


def read(capture: Path) -> WithChildren:
    """The test's peak and its forked children's, from the capture and the files beside it."""
    children = (_peak(child) for child in children_captures(capture))
    return WithChildren(
        _peak(capture) or 0, tuple(peak for peak in children if peak is not None)
    )


def _peak(capture: Path) -> int | None:
    from memray import FileReader

    try:
        reader = FileReader(capture)
    # A child that called exec, or was killed, before memray wrote a header.
    except OSError:
        return None
    try:
        return int(reader.metadata.peak_memory)
    finally:
        reader.close()  # an unclosed reader warns at exit, an error under -W error


def over_budget(
    nodeid: str, limit: str, limit_bytes: int, measured: WithChildren
) -> str | None:
    """pytest's failure message when the test and its forked children together reach the
    budget (as pytest-memray: at or over the limit fails), else None."""
    if measured.total_bytes < limit_bytes:
        return None
    children = measured.children_bytes
    return (
        f"Test {nodeid} is using {mib(measured.total_bytes)} out of its limit of "
        f"{mib(limit_bytes)} (limit_memory({limit!r})), counting the processes it forked: "
        f"{mib(measured.own_bytes)} in the test's own process and {mib(sum(children))} in "
        f"{len(children)} forked child process(es) (largest {mib(max(children, default=0))}), "
        "their peaks added as if they peaked at once. Budget the child's work in a test of its "
        "own, or raise the limit if the children run one after another"
    )
