"""memray's own flamegraph of a test's capture, starting at the test function.

A test's capture holds pytest's and pluggy's frames above the test (about thirty of them): in
the page `memray flamegraph` draws, they fill the first screen, and the leaks view of a
`limit_leaks` failure starts in pluggy. `memray flamegraph` has no option to start at a
function, so this draws memray's page itself, through memray's reporter, from the same
records, with each stack cut at the test function. What the test's stacks never reach
(pytest, its fixtures, the interpreter) stays on the page as one frame, so the page's total is
still the test's whole peak.

memray publishes its reader (``FileReader``) but not its reporter: that is read here and
nowhere else, for the memray versions memwise was tested with (TESTED; tests/test_verdict.py
and tests/test_architecture.py tie it to the toolkit's floor and the shipped locks). Any
other version gets memray's own command's page, from the runner down, with a line on it that
says why. Run in an environment that has memray:
``python -m memwise.views.memray_pages CAPTURE OUT.html --from FUNCTION [--leaks]``.
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

# The memray versions whose reporter this module was tested with (oldest, newest), the same
# floor as .memwise/pyproject.toml's memray>=1.20.
TESTED = ((1, 20), (1, 20))
# The frame that holds what the test's stacks never reach.
OUTSIDE = ("(outside the test function: pytest, fixtures, interpreter)", "", 0)

Frame = tuple[str, str, int]  # memray's stack element: function, file, line


def cut_at(stack: Sequence[Frame], function: str) -> list[Frame]:
    """A stack (innermost first, as memray gives it) cut to end at its outermost call of
    ``function``; a stack that never reaches it becomes the one frame OUTSIDE."""
    calls = [index for index, frame in enumerate(stack) if frame[0] == function]
    return list(stack[: calls[-1] + 1]) if calls else [OUTSIDE]


class _FromFunction:
    """One of memray's allocation records, its stacks cut at the test function."""

    def __init__(self, record: Any, function: str) -> None:
        self._record = record
        self._function = function

    def __getattr__(self, name: str) -> Any:
        return getattr(self._record, name)

    def stack_trace(self, *args: Any) -> list[Frame]:
        return cut_at(self._record.stack_trace(*args), self._function)

    def hybrid_stack_trace(self, *args: Any) -> list[Frame]:
        return cut_at(self._record.hybrid_stack_trace(*args), self._function)


def memray_version() -> tuple[int, int]:
    major, minor = metadata.version("memray").split(".")[:2]
    return int(major), int(minor)


def draw(capture: Path, output: Path, function: str, *, leaks: bool) -> None:
    """memray's flamegraph page of ``capture``, its stacks starting at ``function``."""
    from memray import FileReader
    from memray.reporters.flamegraph import FlameGraphReporter

    reader = FileReader(os.fspath(capture))
    records = (
        reader.get_leaked_allocation_records(merge_threads=True)
        if leaks
        else reader.get_high_watermark_allocation_records(merge_threads=True)
    )
    # Stand-ins for memray's records: the reporter reads them only through their attributes.
    cut: list[Any] = [_FromFunction(record, function) for record in records]
    reporter = FlameGraphReporter.from_snapshot(
        cut,
        memory_records=tuple(reader.get_memory_snapshots()),
        native_traces=reader.metadata.has_native_traces,
    )
    with output.open("w", encoding="utf-8") as page:
        reporter.render(
            outfile=page,
            metadata=reader.metadata,
            show_memory_leaks=leaks,
            merge_threads=True,
            inverted=False,
            no_web=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m memwise.views.memray_pages", description=__doc__.splitlines()[0]
    )
    parser.add_argument("capture", type=Path, help="a test's memray capture")
    parser.add_argument("output", type=Path, help="the HTML page to write")
    parser.add_argument(
        "--from",
        dest="function",
        required=True,
        metavar="FUNCTION",
        help="the test function every stack starts at",
    )
    parser.add_argument(
        "--leaks", action="store_true", help="what was never freed, not the peak"
    )
    args = parser.parse_args(argv)
    version = memray_version()
    if TESTED[0] <= version <= TESTED[1]:
        draw(args.capture, args.output, args.function, leaks=args.leaks)
        return 0
    # Another memray: its own command, whose page starts at the runner. The page says why
    # (the session draws it silently): a line above memray's own.
    why = (
        f"memray {version[0]}.{version[1]} is not a version memwise has drawn test pages with "
        f"({TESTED[0][0]}.{TESTED[0][1]} to {TESTED[1][0]}.{TESTED[1][1]}): this is memray's "
        f"own page, from pytest's frames down; find {args.function} below them"
    )
    print(why, file=sys.stderr)
    flags = ["--leaks"] * args.leaks + ["--no-web", "-f", "-o", str(args.output)]
    command = [sys.executable, "-m", "memray", "flamegraph", *flags, str(args.capture)]
    drawn = subprocess.run(command, check=False).returncode
    if drawn == 0:
        page = args.output.read_text(encoding="utf-8")
        body = page.find(">", page.find("<body")) + 1
        if body > 0:
            banner = f'<p style="margin:8px 16px;font:14px sans-serif">{html.escape(why)}</p>'
            args.output.write_text(page[:body] + banner + page[body:], encoding="utf-8")
    return drawn


if __name__ == "__main__":
    raise SystemExit(main())
