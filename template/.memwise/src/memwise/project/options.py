"""The options of the memory sessions (after nox's ``--``), parsed with argparse.

``nox -s flamegraph -- --help`` prints them. A session's own options come first; the first
word that is not one of them starts the program to run (a script, or ``-m module``) and
everything after it is the program's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import nox

from memwise.plugin.shards import Shard, ShardError

Parsed = TypeVar("Parsed")


class OptionsError(Exception):
    """Bad options: the message says what is wrong, followed by the session's usage."""


class HelpShown(Exception):
    """--help was asked for and printed."""


@dataclass
class Program:
    """What a session runs: a script or ``-m module``, with its arguments."""

    target: str
    module: bool = False
    args: list[str] = field(default_factory=list)

    @property
    def command(self) -> list[str]:
        return [*(["-m"] if self.module else []), self.target, *self.args]


@dataclass
class Options:
    """A session's parsed options and, unless it reports on a capture, its program."""

    program: Program | None
    native: bool = False
    follow_fork: bool = False
    capture: Path | None = None
    all_allocations: bool = False
    tool_args: list[str] = field(default_factory=list)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise OptionsError(f"{message}\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise HelpShown


PROGRAM_HELP = (
    "then the program: a Python script or `-m module` (default: [tool.memwise] workload), "
    "followed by its own arguments"
)


def flamegraph_parser(session: str = "flamegraph") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"nox -s {session} --",
        usage=f"nox -s {session} -- [options] [program.py | -m module] [program arguments]",
        description="Record a program with memray; write flamegraphs (peak, leaks) and a summary.",
        epilog=PROGRAM_HELP,
    )
    parser.add_argument("--native", action="store_true", help="record C/C++ frames too")
    if session == "flamegraph":
        parser.add_argument(
            "--follow-fork", action="store_true",
            help="also record forked worker processes (one capture and report set each)",
        )  # fmt: skip
        parser.add_argument(
            "--all-allocations", action="store_true",
            help="record every allocation, not only those alive at the peak and at exit: adds "
            "memray stats (stats.json: totals, top allocators) and allows `memray flamegraph "
            "--temporal`, for a capture about a hundred times larger and slower reports",
        )  # fmt: skip
        parser.add_argument(
            "--capture", type=Path, metavar="FILE",
            help="report on an existing memray capture (e.g. from memwise_runtime) instead",
        )  # fmt: skip
    return parser


def profile_parser() -> argparse.ArgumentParser:
    return _Parser(
        prog="nox -s profile --",
        usage="nox -s profile -- [scalene options] [program.py [program arguments]]",
        description=(
            "Profile CPU and memory line by line with scalene 2. memwise runs `scalene run "
            "--no-async --program-path <project root>` (an asyncio workload profiles in seconds, "
            "and the project's code is attributed wherever the script lives); scalene options "
            "given here come after those defaults, so `--async` or `--program-path DIR` win. "
            "List them with `scalene run --help-advanced`."
        ),
        epilog="The program is the first argument that names a .py file; without one, the workload.",
    )


def parse_program_options(session: str, words: list[str]) -> Options:
    """Options of flamegraph and live: ours, then the program."""
    parser = flamegraph_parser(session)
    ours = _leading_options(words, {"--capture"})
    parsed = parser.parse_args(ours)
    program = _program(words[len(ours) :])
    capture = getattr(parsed, "capture", None)
    if capture is not None and program is not None:
        raise OptionsError(
            f"--capture reports on a file: give no program as well\n{parser.format_usage()}"
        )
    if capture is not None and getattr(parsed, "all_allocations", False):
        raise OptionsError(
            "--all-allocations chooses how a program is recorded, and --capture is drawn as it "
            f"was recorded: give one or the other\n{parser.format_usage()}"
        )
    if capture is not None and not capture.is_file():
        raise OptionsError(f"no such capture file: {capture}")
    return Options(
        program,
        parsed.native,
        getattr(parsed, "follow_fork", False),
        capture,
        getattr(parsed, "all_allocations", False),
    )


# scalene 2.4's options that take a value (`scalene run --help-advanced`): a value ending in
# .py (`--profile-exclude store.py`) is not the program.
SCALENE_VALUED = frozenset(
    {
        "--allocation-sampling-window", "--cpu-percent-threshold", "--cpu-sampling-rate",
        "--malloc-threshold", "--profile-exclude", "--profile-interval", "--profile-only",
        "--program-path", "-c", "--config", "-o", "--outfile",
    }
)  # fmt: skip


def parse_profile_options(words: list[str]) -> Options:
    """Options of profile: scalene's own options, then a .py program and its arguments."""
    if words[:1] in (["--help"], ["-h"]):
        profile_parser().print_help()
        raise HelpShown
    start = next(
        (
            i
            for i, word in enumerate(words)
            if word.endswith(".py") and (i == 0 or words[i - 1] not in SCALENE_VALUED)
        ),
        len(words),
    )
    if words[start : start + 1] == [] and "-m" in words:
        raise OptionsError(
            "scalene profiles a file: give the path of a script, not `-m module`"
        )
    program = (
        Program(words[start], args=words[start + 1 :]) if start < len(words) else None
    )
    return Options(program, tool_args=words[:start])


@dataclass(frozen=True)
class BaselineOptions:
    runs: int
    shard: Shard | None = None


def parse_baseline(words: list[str], default: int) -> BaselineOptions:
    """Options of baseline: `--runs N`, measuring runs this once (default: gate.runs), and
    `--shard K/N`, the K-th of N groups of the budgeted tests (as memgate measures them).
    """
    parser = _Parser(
        prog="nox -s baseline --",
        description="Measure the gate's figures and record their medians and noise.",
    )
    parser.add_argument(
        "--runs", type=int, default=default,
        help=f"measuring runs, 1 or more (default: [tool.memwise.gate] runs, here {default})",
    )  # fmt: skip
    parser.add_argument(
        "--shard", metavar="K/N", default=None,
        help="record only the K-th of N groups of the budgeted tests (the first group also the "
        "workload), keeping the other groups' figures of the file: run it for each K",
    )  # fmt: skip
    parsed = parser.parse_args(words)
    if parsed.runs < 1:
        raise OptionsError(
            f"--runs must be 1 or more, not {parsed.runs}\n{parser.format_usage()}"
        )
    try:
        shard = Shard.parse(parsed.shard) if parsed.shard is not None else None
    except ShardError as error:
        raise OptionsError(f"{error}\n{parser.format_usage()}") from None
    return BaselineOptions(parsed.runs, shard)


def parse_baseline_runs(words: list[str], default: int) -> int:
    """baseline's measuring runs (``parse_baseline``)."""
    return parse_baseline(words, default).runs


def _leading_options(words: list[str], with_value: set[str]) -> list[str]:
    """The session's own options at the start of words (up to the program)."""
    count = 0
    while count < len(words) and words[count].startswith("--"):
        count += 2 if words[count] in with_value else 1
    if words[:1] in (["-h"],):
        count = 1
    return words[:count]


def _program(words: list[str]) -> Program | None:
    if not words:
        return None
    if words[0] == "-m":
        if len(words) < 2:
            raise OptionsError("-m needs a module name, e.g. `-m mypackage.tool`")
        return Program(words[1], module=True, args=words[2:])
    return Program(words[0], args=words[1:])


def parse_shard_option(
    session: str, description: str, words: list[str]
) -> Shard | None:
    """A session whose one option is `--shard K/N`: the K-th of N groups of its tests."""
    parser = _Parser(prog=f"nox -s {session} --", description=description)
    parser.add_argument(
        "--shard", metavar="K/N", default=None,
        help="measure only the K-th of N groups of the budgeted tests (the first group also "
        "measures the workload); `nox -s memreport -- FOLDER...` merges the groups' reports",
    )  # fmt: skip
    spec: str | None = parser.parse_args(words).shard
    if spec is None:
        return None
    try:
        return Shard.parse(spec)
    except ShardError as error:
        raise OptionsError(f"{error}\n{parser.format_usage()}") from None


def parse_no_options(session: str, description: str, words: list[str]) -> None:
    """A session that takes no options: `--help` describes it, anything else is an error."""
    parser = _Parser(prog=f"nox -s {session} --", description=description)
    parser.parse_args(words)


def parse(session: nox.Session, parser: Callable[[list[str]], Parsed]) -> Parsed:
    """Run an options parser on the session's arguments; --help ends the session there."""
    try:
        options = parser(list(session.posargs))
    except HelpShown:
        session.skip("options shown")
    except OptionsError as error:
        session.error(str(error))
    return options
