"""The manifest of a memory run: what pytest knew about each test, written by the plugin.

memtest and the gate read it instead of guessing capture file names from node ids
(pytest-memray shortens long names with a digest, so guessed names miss them).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from memwise.plugin.forked_children import WITH_FORKS


def running_python() -> str:
    """The Python this process runs, as a manifest (and the rest of memwise) names it."""
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def function_of_test(nodeid: str) -> str:
    """The test function of a node id, as a stack names it: ``tests/a.py::TestA::test_b[::1]``
    is ``test_b`` (parameters first, as their ids may hold ``::``)."""
    return nodeid.split("[", 1)[0].rsplit("::", 1)[-1]


@dataclass
class TestRecord:
    """One test: its node id, final outcome and, when it was measured, peak and capture."""

    __test__ = False  # not a test class, whatever pytest's naming rules say

    nodeid: str
    outcome: str = "passed"
    # "pytest-memray", "memwise" (unittest), "memwise-run" (the run's Tracker),
    # "memwise-forks" (with the processes it forked) or None
    measured_by: str | None = None
    peak_bytes: int | None = None
    forked_bytes: int | None = None  # of the peak: what the processes it forked held
    capture: str | None = None
    limit: str | None = None
    failure: str | None = None  # "memory" (over a budget) or "error" (anything else)
    # Kinds of child process the test started ("fork", "subprocess" ...): in its peak only
    # when it was measured with its forks.
    children: list[str] = field(default_factory=list)


@dataclass
class Problem:
    """Why pytest could not run (some) tests: a collection or import error, an internal error."""

    kind: str  # "collection", "conftest" or "internal"
    where: str  # the file, or "" when pytest does not say
    message: str  # the error's last line, e.g. "SyntaxError: invalid syntax (test_x.py, line 3)"


@dataclass
class Manifest:
    """All tests of one pytest run, the Python they ran on, pytest's exit status, and what
    kept tests from running."""

    python: str
    platform: str
    exit_status: int = 0
    tests: list[TestRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def failed(self) -> list[TestRecord]:
        return [test for test in self.tests if test.outcome == "failed"]

    @property
    def over_budget(self) -> list[TestRecord]:
        return [test for test in self.failed if test.failure == "memory"]

    @property
    def failed_otherwise(self) -> list[TestRecord]:
        return [test for test in self.failed if test.failure != "memory"]

    @property
    def ran(self) -> list[TestRecord]:
        """Tests that ran (skipped ones did not, and are never counted as measured)."""
        return [test for test in self.tests if test.outcome != "skipped"]

    @property
    def measured(self) -> list[TestRecord]:
        return [test for test in self.ran if test.measured_by is not None]

    @property
    def unmeasured(self) -> list[TestRecord]:
        """Tests that passed without memory tracking (not a test function pytest-memray sees).

        A test that failed is a failure, reported as one: pytest-memray keeps no result for a
        test function that raised, so it would look unmeasured although it ran tracked.
        """
        return [
            test
            for test in self.ran
            if test.measured_by is None and test.outcome != "failed"
        ]

    @property
    def budgeted_with_children(self) -> list[TestRecord]:
        """Tests held to a memory limit that started child processes memray could not follow
        (anything but a fork, or a fork not measured with it): their budget holds the test's
        own process only."""
        return [
            test
            for test in self.ran
            if test.limit
            and test.children
            and (test.measured_by != WITH_FORKS or set(test.children) - {"fork"})
        ]

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        tests = [TestRecord(**test) for test in data.pop("tests")]
        problems = [Problem(**problem) for problem in data.pop("problems", [])]
        return cls(**data, tests=tests, problems=problems)
