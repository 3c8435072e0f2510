"""One memray Tracker for the whole pytest run, and each test's peak read from it afterwards.

pytest-memray starts a Tracker for every test it measures, and each start patches the
allocator symbols of every loaded library (about 8-11 ms a test here, whatever the test does).
memtest measures the tests without a memory marker of their own with one Tracker instead, in
memray's format of every allocation: before each test function runs, memwise maps one page
of its own (``mmap``) and unmaps it when the function returns. In the capture those two records
bound the test; its peak is then computed as pytest-memray's Tracker would have seen it: the
most bytes held at once by allocations made during the test (bytes allocated before it and
freed during it do not count, as they are unknown to a Tracker started at the test).

A test's peak can differ from pytest-memray's by what the allocator does around it: pymalloc
takes memory in arenas (1 MiB), and an arena left free by an earlier test is reused in one
way of measuring and taken anew in the other. memtest therefore measures again, under
pytest-memray, every test within ``RECHECK_MARGIN`` of its budget or over it, and pytest-memray's
figure decides (docs/benchmarks.md has the differences measured).

Only one memray Tracker can run at a time: a test that pytest-memray (or memwise's unittest
measuring) tracks itself pauses the run's Tracker, and the next test starts another segment.
"""

from __future__ import annotations

import ctypes
import mmap
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Three pages: one mapping of this size starts a test and its unmapping ends it. While it is
# mapped no other mapping can have its address, so the pair is found exactly.
MARK_BYTES = 3 * mmap.PAGESIZE
# The manifest's ``measured_by`` of a test measured by the run's Tracker.
RUN_TRACKER = "memwise-run"
# Four pymalloc arenas: the most the two ways of measuring were seen to differ by is two.
RECHECK_MARGIN = 4 * 1024 * 1024
# Made once: a ctypes array type is allocated where it is first made (about 2 KB), which
# inside a test's marks would count as the test's.
_FIRST_BYTE = ctypes.c_char * 1


class RunTrackerError(Exception):
    """The capture does not hold the marks memwise wrote: its figures cannot be trusted."""


@dataclass
class Mark:
    """Where one test's marking page was mapped, in the segment that recorded it."""

    nodeid: str
    address: int


@dataclass
class Segment:
    """One Tracker's capture and the tests it measured, in the order they ran."""

    capture: Path
    marks: list[Mark] = field(default_factory=list)


class RunTracker:
    """The run's Tracker: started at the first test it measures, paused for tests that are
    tracked by a Tracker of their own, read once at the end."""

    def __init__(self, folder: Path, prefix: str = "memwise-run") -> None:
        self.folder = folder
        self.prefix = prefix
        self.segments: list[Segment] = []
        self._tracker: Any = None

    @contextmanager
    def measuring(self, nodeid: str) -> Iterator[None]:
        """Around one test function's call: the marking page is mapped for its duration."""
        self._start()
        page, address = _marking_page()
        try:
            yield
        finally:
            page.close()
            self.segments[-1].marks.append(Mark(nodeid, address))

    def pause(self) -> None:
        """Stop the run's Tracker (another one is about to start); the next test resumes it."""
        if self._tracker is not None:
            self._tracker.__exit__(None, None, None)
            self._tracker = None

    def peaks(self) -> dict[str, int]:
        """Each measured test's peak in bytes; the captures are deleted once read."""
        from memray import FileReader

        self.pause()
        peaks: dict[str, int] = {}
        for segment in self.segments:
            if not segment.marks:
                segment.capture.unlink(missing_ok=True)
                continue
            reader = FileReader(segment.capture)
            try:
                peaks.update(
                    peaks_between_marks(reader.get_allocation_records(), segment.marks)
                )
            finally:
                reader.close()
            segment.capture.unlink(missing_ok=True)
        return peaks

    def _start(self) -> None:
        if self._tracker is not None:
            return
        from memray import FileFormat, Tracker

        # What ctypes allocates the first time it exports a buffer (about 600 bytes) would
        # count as the first test's: paid here, before the Tracker sees it.
        page, _ = _marking_page()
        page.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        capture = self.folder / f"{self.prefix}-{len(self.segments) + 1}.bin"
        capture.unlink(missing_ok=True)
        tracker = Tracker(capture, file_format=FileFormat.ALL_ALLOCATIONS)
        tracker.__enter__()
        self._tracker = tracker
        self.segments.append(Segment(capture))


def _marking_page() -> tuple[mmap.mmap, int]:
    """A new marking page and its address."""
    page = mmap.mmap(-1, MARK_BYTES)
    view = _FIRST_BYTE.from_buffer(page)
    address = ctypes.addressof(view)
    del view  # an exported buffer would keep the page from closing
    return page, address


def peaks_between_marks(
    records: Iterable[Any], marks: Sequence[Mark]
) -> dict[str, int]:
    """Each marked test's peak: the most bytes held at once by allocations made between its
    page's mapping and unmapping (memray's AllocationRecords, in the order recorded)."""
    from memray import AllocatorType

    frees = {AllocatorType.FREE, AllocatorType.PYMALLOC_FREE}
    pending = iter(marks)
    mark: Mark | None = next(pending, None)
    inside = False
    live: dict[int, int] = {}
    held = peak = 0
    peaks: dict[str, int] = {}
    for record in records:
        kind, address, size = record.allocator, record.address, record.size
        if mark is not None and address == mark.address and size == MARK_BYTES:
            if kind == AllocatorType.MMAP and not inside:
                inside, live, held, peak = True, {}, 0, 0
                continue
            if kind == AllocatorType.MUNMAP and inside:
                peaks[mark.nodeid] = peak
                inside, mark = False, next(pending, None)
                continue
        if not inside:
            continue
        if kind in frees:
            held -= live.pop(address, 0)
        elif kind == AllocatorType.MUNMAP:
            held -= _unmapped(live, address, size)
        else:
            held += size * record.n_allocations
            live[address] = live.get(address, 0) + size * record.n_allocations
            peak = max(peak, held)
    if mark is not None or inside:
        missing = len(marks) - len(peaks)
        raise RunTrackerError(
            f"the run's capture holds the marks of {len(peaks)} of {len(marks)} tests "
            f"({missing} missing)"
        )
    return peaks


def _unmapped(live: dict[int, int], address: int, size: int) -> int:
    """Bytes of mappings made during the test that ``munmap(address, size)`` gives back; a
    mapping partly unmapped from its start keeps its tail."""
    held = live.pop(address, None)
    if held is None:
        return 0
    if held > size:
        live[address + size] = held - size
        return size
    return held


def wrapped(
    call: Callable[..., Any], measuring: Callable[[], Any]
) -> Callable[..., Any]:
    """The test function, run inside ``measuring()`` (async functions stay async)."""
    import functools
    import inspect

    if inspect.iscoroutinefunction(call):

        @functools.wraps(call)
        async def measured_async(*args: Any, **kwargs: Any) -> Any:
            with measuring():
                return await call(*args, **kwargs)

        return measured_async

    @functools.wraps(call)
    def measured(*args: Any, **kwargs: Any) -> Any:
        with measuring():
            return call(*args, **kwargs)

    return measured
