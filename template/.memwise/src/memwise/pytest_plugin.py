"""memwise's pytest plugin (entry point ``memwise``): what pytest knows about each test's memory.

- registers the memory markers, so a suite with ``--strict-markers`` collects wherever its
  pytest configuration lives (pyproject.toml, setup.cfg, pytest.ini, tox.ini);
- ``--memwise-default-limit SIZE`` gives every test without a marker of its own a
  ``limit_memory(SIZE)`` budget (pytest-memray has no such setting: its issue #156);
- measures ``unittest.TestCase`` tests under ``--memray``: pytest-memray tracks plain test
  functions only (it hooks ``pytest_pyfunc_call``), so without this a TestCase suite passes
  unmeasured and its ``limit_memory`` markers are silently ignored;
- ``--memwise-manifest PATH`` writes each test's node id, outcome, peak and capture as JSON
  (``memwise.manifest``), from the controller when pytest-xdist runs workers.

It uses memray's public API (Tracker, FileReader) and pytest's hooks; of pytest-memray it
reads only the result it keeps per node id, to learn which capture belongs to which test.
"""

from __future__ import annotations

import hashlib
import sys
import unittest
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from memwise.manifest import Manifest, TestRecord
from memwise.pythons import running_python
from memwise.sizes import mib, parse_size

LIMIT_MARKERS = ("limit_memory", "limit_leaks", "limit_leaked_objects")
MARKER_HELP = {
    "limit_memory": "limit_memory(size, current_thread_only=False): fail when the test's peak memory exceeds size",
    "limit_leaks": "limit_leaks(size, filter_fn=None, current_thread_only=False): fail when the test leaks more than size per location",
    "limit_leaked_objects": "limit_leaked_objects(filter_fn=None): fail when an object created by the test survives it (Python 3.13.3+)",
}  # fmt: skip
TOP_ALLOCATIONS = 5


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("memwise", "memwise (memory budgets and the run's manifest)")
    group.addoption(
        "--memwise-manifest", metavar="PATH", type=Path, default=None,
        help="write each test's node id, outcome, peak memory and capture to this JSON file",
    )  # fmt: skip
    group.addoption(
        "--memwise-default-limit", metavar="SIZE", default=None,
        help="limit_memory(SIZE) for every test without a memory marker of its own, e.g. '512 MB'",
    )  # fmt: skip


# pytest-memray's limit_memory stores each test's total under .pytest_cache/v/memray/<node id>:
# a node id too long for a file name makes pytest warn, and `filterwarnings = error` turns that
# into an INTERNALERROR of the whole run. The entry only serves --fail-on-increase.
IGNORED_WARNINGS = [
    "ignore:(could not create cache path|cache could not write path) .*memray:pytest.PytestCacheWarning",
]


def pytest_configure(config: pytest.Config) -> None:
    for help_text in MARKER_HELP.values():
        config.addinivalue_line("markers", help_text)
    if config.getoption("memray", False):
        for line in IGNORED_WARNINGS:
            config.addinivalue_line("filterwarnings", line)
    limit = config.getoption("memwise_default_limit")
    if limit is not None:
        try:
            parse_size(limit)
        except ValueError as error:
            raise pytest.UsageError(f"--memwise-default-limit: {error}") from error
    config.pluginmanager.register(MemoryRecorder(config), "memwise_recorder")


def own_thread_peak(capture: Path) -> int:
    """Bytes the test's own thread held at the capture's high watermark."""
    from memray import FileReader

    reader = FileReader(capture)
    try:
        main = reader.metadata.main_thread_id
        records = reader.get_high_watermark_allocation_records(merge_threads=False)
        return sum(record.size for record in records if record.tid == main)
    finally:
        reader.close()


def is_unittest(item: pytest.Item) -> bool:
    """A unittest.TestCase method: pytest-memray never tracks these."""
    cls = getattr(item, "cls", None)
    return isinstance(cls, type) and issubclass(cls, unittest.TestCase)


class MemoryRecorder:
    """Keeps what the hooks learn about each test and writes the manifest at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tracking = bool(config.getoption("memray", False))
        self.captures = config.getoption("memray_bin_path", None)
        self.default_limit: str | None = config.getoption("memwise_default_limit")
        self.records: dict[str, TestRecord] = {}
        self._unittest_results: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if self.default_limit is None:
            return
        for item in items:
            if isinstance(item, pytest.Function) and not any(
                item.get_closest_marker(name) for name in LIMIT_MARKERS
            ):
                item.add_marker(pytest.mark.limit_memory(self.default_limit))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not (self.tracking and is_unittest(item)):
            return (yield)
        from memray import FileFormat, Tracker

        capture = self._unittest_capture(item)
        capture.unlink(missing_ok=True)
        with Tracker(capture, file_format=FileFormat.AGGREGATED_ALLOCATIONS):
            result = yield
        failure = self._check_unittest_limit(item, capture)
        if failure:
            pytest.fail(failure, pytrace=False)
        return result

    def _unittest_capture(self, item: pytest.Item) -> Path:
        folder = (
            Path(self.captures)
            if self.captures
            else Path(self.config.rootpath, ".memwise-captures")
        )
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(item.nodeid.encode()).hexdigest()[:16]
        name = item.nodeid.rsplit("::", 2)[-2:]
        return folder / f"unittest-{'-'.join(name)[:80]}-{digest}.bin"

    def _check_unittest_limit(self, item: pytest.Item, capture: Path) -> str | None:
        """Enforce limit_memory on a TestCase test the way pytest-memray does on functions."""
        from memray import FileReader

        reader = FileReader(capture)
        try:
            return self._enforce_limit(item, capture, reader)
        finally:
            reader.close()  # an unclosed reader warns at exit, an error under -W error

    def _enforce_limit(self, item: pytest.Item, capture: Path, reader: Any) -> str | None:
        marker = item.get_closest_marker("limit_memory")
        result: dict[str, Any] = {
            "peak_bytes": reader.metadata.peak_memory,
            "capture": str(capture),
            "limit": str(marker.args[0]) if marker and marker.args else None,
        }
        self._unittest_results[item.nodeid] = result
        if marker is None or not marker.args:
            return None
        records = list(reader.get_high_watermark_allocation_records(merge_threads=True))
        used = sum(record.size for record in records)
        limit = parse_size(str(marker.args[0]))
        if used < limit:
            return None
        lines = [
            (
                f"Test {item.nodeid} is using {mib(used)} out of its limit of {mib(limit)} "
                f"(limit_memory({marker.args[0]!r}); a unittest test, measured by memwise)"
            ),
            "Largest allocations at the peak:",
        ]
        largest = sorted(records, key=lambda record: record.size, reverse=True)
        for record in [r for r in largest if r.size >= 1024][:TOP_ALLOCATIONS]:
            frames = record.stack_trace(max_stacks=1)
            where = (
                f"{frames[0][0]} at {frames[0][1]}:{frames[0][2]}"
                if frames
                else "(no Python frame)"
            )
            lines.append(f"  {mib(record.size)} in {record.n_allocations} allocation(s): {where}")
        return "\n".join(lines)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Outermost wrapper: pytest-memray has already turned a crossed limit into a failure.
        report = yield
        if call.when == "call":
            report.user_properties.append(("memwise", self._measurement(item)))
        return report

    def _measurement(self, item: pytest.Item) -> dict[str, Any]:
        if is_unittest(item):
            found = self._unittest_results.pop(item.nodeid, None)
            return {"measured_by": "memwise", **found} if found else {}
        manager = self.config.pluginmanager.get_plugin("memray_manager")
        result = getattr(manager, "results", {}).get(item.nodeid)
        if result is None:
            return {}
        marker = next(filter(None, (item.get_closest_marker(n) for n in LIMIT_MARKERS)), None)
        peak = int(result.peak_memory)
        if marker is not None and marker.kwargs.get("current_thread_only"):
            # The budget leaves other threads out on purpose (their allocations vary from run
            # to run): so does the figure the gate compares.
            peak = own_thread_peak(Path(result.result_file))
        return {
            "measured_by": "pytest-memray",
            "peak_bytes": peak,
            "capture": str(result.result_file),
            "limit": f"{marker.name}({marker.args[0]!r})" if marker and marker.args else None,
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        record = self.records.setdefault(report.nodeid, TestRecord(report.nodeid))
        if report.failed:
            record.outcome = "failed"
        elif report.skipped and record.outcome != "failed":
            record.outcome = "skipped"
        for name, value in report.user_properties:
            if name == "memwise" and isinstance(value, dict):
                for key, field_value in value.items():
                    setattr(record, key, field_value)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        path = self.config.getoption("memwise_manifest")
        if path is None or hasattr(self.config, "workerinput"):  # xdist workers: controller writes
            return
        manifest = Manifest(
            running_python(), sys.platform, int(exitstatus), list(self.records.values())
        )
        manifest.write(Path(path))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.tracking:
            return
        ran = [r for r in self.records.values() if r.outcome != "skipped"]
        unmeasured = [r for r in ran if r.measured_by is None]
        if unmeasured:
            terminalreporter.write_sep(
                "=", "memwise: tests run WITHOUT memory tracking", yellow=True
            )
            terminalreporter.write_line(
                f"{len(unmeasured)} of {len(ran)} tests were not measured (not a test function or "
                "unittest.TestCase method, e.g. doctests):"
            )
            for record in unmeasured[:20]:
                terminalreporter.write_line(f"  {record.nodeid}")
            if len(unmeasured) > 20:
                terminalreporter.write_line(f"  ... and {len(unmeasured) - 20} more")
