"""The memory markers checked before any test runs.

pytest-memray reads a marker's size only when the marked test has run, and a size it cannot
read ("24M", "1 MiB") or a missing one (a bare ``@pytest.mark.limit_leaks``) then aborts the
whole session with an INTERNALERROR per test; a run selected with ``-k`` could even end green
having measured nothing. memwise's plugin checks every collected test's markers first and stops
with one usage error that names each test, its marker and what is accepted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from memwise.sizes import ACCEPTED, parse_size


@dataclass(frozen=True)
class Signature:
    """A marker's arguments, as pytest-memray declares them, and its line in ``--markers``."""

    size: str | None  # the name of its size argument, if it takes one
    keywords: frozenset[str]
    usage: str
    help: str  # registered by the plugin; a new project's pyproject.toml repeats it (tested)


# The one place the memory markers are described: the plugin registers these lines, the usage
# errors quote ``usage``, and tests/test_render.py ties a new project's markers to them.
SIGNATURES = {
    "limit_memory": Signature(
        "limit", frozenset({"current_thread_only"}),
        'limit_memory("24 MB", current_thread_only=False)',
        "limit_memory(size, current_thread_only=False): fail when the test's peak memory exceeds size",
    ),
    "limit_leaks": Signature(
        "location_limit", frozenset({"filter_fn", "current_thread_only"}),
        'limit_leaks("1 MB", filter_fn=None, current_thread_only=False)',
        "limit_leaks(size, filter_fn=None, current_thread_only=False): fail when the test leaks more than size per location",
    ),
    "limit_leaked_objects": Signature(
        None, frozenset({"filter_fn"}), "limit_leaked_objects(filter_fn=None) (Python 3.13.3+)",
        "limit_leaked_objects(filter_fn=None): fail when an object created by the test survives it (Python 3.13.3+)",
    ),
}  # fmt: skip


def memory_markers(item: pytest.Item) -> list[pytest.Mark]:
    """The item's memory markers, closest first (function, class, module), as pytest-memray
    applies them."""
    return [mark for mark in item.iter_markers() if mark.name in SIGNATURES]


def size_argument(mark: pytest.Mark) -> object:
    """The size a marker was given, positionally or by name (None if none)."""
    signature = SIGNATURES[mark.name]
    if signature.size is None:
        return None
    return mark.args[0] if mark.args else mark.kwargs.get(signature.size)


def problems_of(item: pytest.Item, *, is_unittest: bool) -> list[str]:
    """What is wrong with the item's memory markers, one sentence each."""
    marks = memory_markers(item)
    found: list[str] = []
    names = sorted({mark.name for mark in marks})
    if len(names) > 1:
        found.append(
            f"has {' and '.join(names)}: pytest-memray takes one memory marker per test"
        )
    for mark in marks:
        signature = SIGNATURES[mark.name]
        wrong = _argument_problem(mark, signature)
        if wrong:
            found.append(f"@pytest.mark.{mark.name}: {wrong}; write {signature.usage}")
        elif is_unittest and mark.name == "limit_leaked_objects":
            found.append(
                "@pytest.mark.limit_leaked_objects is not enforced on a unittest.TestCase method "
                "(memray tracks object lifetimes only around a test function): write the test "
                "as a function, or use limit_leaks"
            )
        elif mark.name == "limit_leaked_objects" and sys.version_info < (3, 13, 3):
            found.append(
                "@pytest.mark.limit_leaked_objects needs Python 3.13.3 or later; this run is "
                f"on {'.'.join(map(str, sys.version_info[:3]))}"
            )
    return found


def _argument_problem(mark: pytest.Mark, signature: Signature) -> str | None:
    allowed = signature.keywords | ({signature.size} if signature.size else set())
    unknown = sorted(set(mark.kwargs) - allowed)
    if unknown:
        return f"unknown argument(s) {', '.join(unknown)}"
    if signature.size is None:
        return "takes no size" if mark.args else None
    if len(mark.args) > 1 or (mark.args and signature.size in mark.kwargs):
        return "takes one size"
    size = size_argument(mark)
    if size is None:
        return "needs a size"
    try:
        parse_size(size)
    except ValueError:
        return f"{size!r} is not a size pytest-memray reads ({ACCEPTED})"
    return None


MARKERS_HEADLINE = (
    "memwise: memory markers that pytest-memray cannot use (no test was run):"
)


def marker_problems(
    items: list[pytest.Item], is_unittest: dict[str, bool]
) -> str | None:
    """One message naming every test whose memory marker cannot work, or None."""
    lines = [
        f"  {item.nodeid}: {problem}"
        for item in items
        for problem in problems_of(
            item, is_unittest=is_unittest.get(item.nodeid, False)
        )
    ]
    if not lines:
        return None
    shown = lines[:20] + (
        [f"  ... and {len(lines) - 20} more"] if len(lines) > 20 else []
    )
    return "\n".join([MARKERS_HEADLINE, *shown])
