"""Memory budgets of ``unittest.TestCase`` methods, which pytest-memray never tracks.

pytest-memray hooks ``pytest_pyfunc_call``, which pytest does not call for TestCase methods:
their markers would be ignored without a word. memwise records them with memray's public API
(``Tracker``, ``FileReader``) and applies ``limit_memory`` and ``limit_leaks`` (with
``current_thread_only`` and ``filter_fn``) the way pytest-memray applies them to functions:
with or without ``--memray``. ``limit_leaked_objects`` is refused on them before the run
(``memwise.plugin.markers``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from memwise.plugin.markers import memory_markers, size_argument
from memwise.sizes import mib, parse_size

TOP_ALLOCATIONS = 5


class StackFrame(NamedTuple):
    """One frame, with the attributes pytest-memray's documented ``filter_fn`` reads."""

    function: str
    filename: str
    lineno: int


@dataclass(frozen=True)
class Stack:
    """A leak's stack, as a ``limit_leaks(filter_fn=...)`` function receives it."""

    frames: tuple[StackFrame, ...]


@dataclass(frozen=True)
class Verdict:
    """What one TestCase method held at its peak, and why it failed, if it did."""

    peak_bytes: int
    capture: Path
    limit: str | None
    failure: str | None


def capture_path(folder: Path, nodeid: str, prefix: str = "unittest") -> Path:
    """A capture file name that fits any file system, unique per node id."""
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:16]
    # A function's id ends in its file's path: no folder separator may reach the name.
    name = re.sub(r"[^\w.-]", "-", "-".join(nodeid.rsplit("::", 2)[-2:]))[:80]
    return folder / f"{prefix}-{name}-{digest}.bin"


def needs_leak_tracing(item: pytest.Item) -> bool:
    """limit_leaks needs native frames and Python's own allocators, as pytest-memray does."""
    return any(mark.name == "limit_leaks" for mark in memory_markers(item))


def judge(item: pytest.Item, capture: Path) -> Verdict:
    """Read the method's capture and apply its memory marker, if it has one."""
    from memray import FileReader

    reader = FileReader(capture)
    try:
        marks = memory_markers(item)
        mark = marks[0] if marks else None
        own_thread = bool(mark and mark.kwargs.get("current_thread_only"))
        main = reader.metadata.main_thread_id
        peak_records = [
            record
            for record in reader.get_high_watermark_allocation_records(
                merge_threads=not own_thread
            )
            if not own_thread or record.tid == main
        ]
        peak = sum(record.size for record in peak_records) if own_thread else None
        verdict = Verdict(
            peak if peak is not None else int(reader.metadata.peak_memory),
            capture,
            f"{mark.name}({size_argument(mark)!r})" if mark else None,
            None,
        )
        if mark is None:
            return verdict
        if mark.name == "limit_memory":
            failure = _over_limit(item, mark, peak_records)
        else:
            leaks = [
                record
                for record in reader.get_leaked_allocation_records(
                    merge_threads=not own_thread
                )
                if not own_thread or record.tid == main
            ]
            failure = _leaked(item, mark, leaks)
        return Verdict(verdict.peak_bytes, capture, verdict.limit, failure)
    finally:
        reader.close()  # an unclosed reader warns at exit, an error under -W error


def _over_limit(item: pytest.Item, mark: pytest.Mark, records: list[Any]) -> str | None:
    used = sum(record.size for record in records)
    limit = parse_size(size_argument(mark))
    if used < limit:
        return None
    return _message(
        f"Test {item.nodeid} is using {mib(used)} out of its limit of {mib(limit)}",
        mark, "Largest allocations at the peak:", records,
    )  # fmt: skip


def _leaked(item: pytest.Item, mark: pytest.Mark, records: list[Any]) -> str | None:
    limit = parse_size(size_argument(mark))
    keep: Callable[[Stack], bool] | None = mark.kwargs.get("filter_fn")
    leaks = [
        record
        for record in records
        if record.size >= limit
        and (keep is None or keep(_stack(record.hybrid_stack_trace())))
    ]
    if not leaks:
        return None
    return _message(
        f"Test {item.nodeid} leaked {mib(sum(r.size for r in leaks))} from "
        f"{len(leaks)} location(s) at or over the limit of {mib(limit)} per location",
        mark, "Leaking locations:", leaks,
    )  # fmt: skip


def _stack(frames: Iterable[tuple[str, str, int]]) -> Stack:
    return Stack(tuple(StackFrame(*frame) for frame in frames))


def _message(headline: str, mark: pytest.Mark, title: str, records: list[Any]) -> str:
    lines = [
        f"{headline} ({mark.name}({size_argument(mark)!r}); a unittest test, measured by memwise)",
        title,
    ]
    largest = sorted(records, key=lambda record: record.size, reverse=True)
    for record in [r for r in largest if r.size >= 1024][:TOP_ALLOCATIONS]:
        frames = record.stack_trace(max_stacks=1)
        where = (
            f"{frames[0][0]} at {frames[0][1]}:{frames[0][2]}"
            if frames
            else "(no Python frame)"
        )
        lines.append(
            f"  {mib(record.size)} in {record.n_allocations} allocation(s): {where}"
        )
    return "\n".join(lines)
