"""memwise's pytest plugin (entry point ``memwise``): what pytest knows about each test's memory.

- registers the memory markers, so a suite with ``--strict-markers`` collects wherever its
  pytest configuration lives (pyproject.toml, setup.cfg, pytest.ini, tox.ini);
- ``--memwise-default-limit SIZE`` gives every test without a marker of its own a
  ``limit_memory(SIZE)`` budget (pytest-memray has no such setting: its issue #156);
- checks every memory marker before any test runs (``memwise.plugin.markers``): a size
  pytest-memray cannot read is a usage error naming the test, not an INTERNALERROR of the
  whole session;
- measures ``unittest.TestCase`` tests and enforces their markers
  (``memwise.plugin.unittest_memory``): pytest-memray tracks plain test functions only, so
  without this a TestCase suite passes unmeasured and its markers are silently ignored;
- ``--memwise-one-tracker`` measures every test without a memory marker of its own with one
  memray Tracker for the run (``memwise.plugin.run_tracker``) instead of a Tracker per test
  (one in each pytest-xdist worker; ``--memray`` asks for pytest-memray's Tracker per test instead):
  the manifest has their peaks, and memtest holds them to the default budget;
- ``--memwise-manifest PATH`` writes each test's node id, outcome, peak, capture and the kind
  of its failure as JSON (``memwise.plugin.manifest``), with what kept tests from running (a
  collection error, a conftest.py that did not import, an internal error); from the controller
  when pytest-xdist runs workers.

It uses memray's public API and pytest's hooks; what it reads of pytest-memray is read in
``memwise.plugin.pytest_memray_adapter``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import unittest
import warnings
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from memwise.plugin import forked_children, pytest_memray_adapter, unittest_memory
from memwise.plugin.children import ChildProcesses
from memwise.plugin.manifest import Manifest, Problem, TestRecord, running_python
from memwise.plugin.markers import (
    MARKERS_HEADLINE,
    SIGNATURES,
    marker_problems,
    memory_markers,
    size_argument,
)
from memwise.plugin.run_tracker import RUN_TRACKER, RunTracker, RunTrackerError, wrapped
from memwise.plugin.shards import (
    DURATIONS_KEY,
    Shard,
    ShardRecord,
    balance_of,
    recorded_durations,
)
from memwise.report_names import SHARD
from memwise.sizes import MIB, parse_size


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(
        "memwise", "memwise (memory budgets and the run's manifest)"
    )
    group.addoption(
        "--memwise-manifest", metavar="PATH", type=Path, default=None,
        help="write each test's node id, outcome, peak memory and capture to this JSON file",
    )  # fmt: skip
    group.addoption(
        "--memwise-shard", metavar="K/N", default=None,
        help="run only the K-th of N groups of the collected tests (memwise.plugin.shards)",
    )  # fmt: skip
    group.addoption(
        "--memwise-one-tracker", action="store_true", default=False,
        help="one memray Tracker for the run instead of one per test (memwise.plugin.run_tracker)",
    )  # fmt: skip
    group.addoption(
        "--memwise-follow-forks", metavar="FOLDER", type=Path, default=None,
        help="measure each test function with the processes it forks, captures in FOLDER "
        "(memwise.plugin.forked_children; run with -p no:memray)",
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


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config,
) -> Generator[None, None, None]:
    """A conftest.py that fails to import ends pytest as a usage error (exit code 4) before
    any plugin is configured: write it into the manifest, so the session says what it is.
    """
    try:
        return (yield)
    except Exception as error:
        path = getattr(early_config.known_args_namespace, "memwise_manifest", None)
        # pytest's ConftestImportFailure carries the conftest's path and the cause.
        if path is not None and hasattr(error, "cause") and hasattr(error, "path"):
            problem = Problem("conftest", str(error.path), last_line(error.cause))
            Manifest(running_python(), sys.platform, 4, [], [problem]).write(Path(path))
        raise


def last_line(error: object) -> str:
    """An error's one-line summary, e.g. "ModuleNotFoundError: No module named 'x'"."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".splitlines()[0]
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("E ")]
    return (errors or lines or [""])[-1].removeprefix("E ").strip()


def pytest_configure(config: pytest.Config) -> None:
    for signature in SIGNATURES.values():
        config.addinivalue_line("markers", signature.help)
    unsupported = pytest_memray_adapter.unsupported_version()
    if unsupported:
        raise pytest.UsageError(unsupported)
    if config.getoption("memwise_one_tracker") and config.getoption("memray", False):
        # --memray (a user's argument after memtest's own) asks for a Tracker per test.
        config.option.memwise_one_tracker = False
    if config.getoption("memray", False) or config.getoption("memwise_one_tracker"):
        for line in IGNORED_WARNINGS:
            config.addinivalue_line("filterwarnings", line)
        quiet_memray()
    limit = config.getoption("memwise_default_limit")
    if limit is not None:
        try:
            parse_size(limit)
        except ValueError as error:
            raise pytest.UsageError(f"--memwise-default-limit: {error}") from error
    config.pluginmanager.register(MemoryRecorder(config), "memwise_recorder")


def quiet_memray() -> None:
    """memray's own warnings off, its errors kept.

    On interpreters linked statically (uv's and python.org's builds), memray says "Correcting
    symbol for malloc from 0x... to 0x..." at the start of every tracked test: it found the
    allocator where it expected another address and uses the right one. Nothing is wrong, and
    a failing test's report showed it in place of its own output. (``memray.set_log_level``
    is memray's public API.)
    """
    import logging

    import memray

    # Public (memray.__all__), though memray's stub leaves it out: looked up, not imported.
    set_log_level = getattr(memray, "set_log_level", None)
    if callable(set_log_level):
        set_log_level(logging.ERROR)


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


def peaks_file(manifest: Path, worker: str) -> Path:
    """Where a pytest-xdist worker leaves its run Tracker's peaks for the controller."""
    return manifest.with_name(f".{manifest.stem}-run-peaks-{worker}.json")


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
        self.worker = str(getattr(config, "workerinput", {}).get("workerid", "main"))
        self.run_tracker = (
            RunTracker(self._capture_folder(create=False), f"memwise-run-{self.worker}")
            if config.getoption("memwise_one_tracker")
            else None
        )
        self.run_peaks: dict[str, int] = {}
        self.default_limit: str | None = config.getoption("memwise_default_limit")
        self.records: dict[str, TestRecord] = {}
        self.problems: list[Problem] = []
        self._unittest_results: dict[str, dict[str, Any]] = {}
        self.follow_forks: Path | None = config.getoption("memwise_follow_forks")
        self._forked_results: dict[str, dict[str, Any]] = {}
        self._children: dict[str, list[str]] = {}
        self._durations: dict[str, float] = {}

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        # Around every other implementation: -k and -m have deselected, and pytest-memray's
        # own refusal (limit_leaked_objects before Python 3.13.3) joins memwise's message.
        try:
            yield
            refused = None
        except pytest.UsageError as error:
            refused = str(error)
        wrong = marker_problems(
            items, {item.nodeid: is_unittest(item) for item in items}
        )
        if refused and not wrong:
            wrong = f"{MARKERS_HEADLINE}\n  {refused}"
        if wrong:
            self._stop_before_any_test(wrong, items)
        spec = self.config.getoption("memwise_shard")
        if spec is not None:
            self._keep_shard(Shard.parse(spec), items)
        if self.default_limit is not None and self.run_tracker is None:
            for item in items:
                if isinstance(item, pytest.Function) and not memory_markers(item):
                    item.add_marker(pytest.mark.limit_memory(self.default_limit))

    def _keep_shard(self, shard: Shard, items: list[pytest.Item]) -> None:
        """Deselect the tests of the other shards; record what this one collected and ran."""
        collected = [item.nodeid for item in items]
        durations = self._recorded_durations()
        owned = set(shard.owns(collected, durations))
        others = [item for item in items if item.nodeid not in owned]
        items[:] = [item for item in items if item.nodeid in owned]
        if others:
            self.config.hook.pytest_deselected(items=others)
        manifest = self.config.getoption("memwise_manifest")
        if manifest is not None:
            record = ShardRecord(
                shard, collected, [item.nodeid for item in items],
                balance_of(durations, collected),
            )  # fmt: skip
            record.write(Path(manifest).parent / SHARD)

    def _recorded_durations(self) -> dict[str, float]:
        cache = getattr(self.config, "cache", None)  # None under -p no:cacheprovider
        return recorded_durations(cache.get(DURATIONS_KEY, None)) if cache else {}

    def _record_durations(self) -> None:
        """Each test's time (setup, call and teardown), kept with earlier runs' for the tests
        this run did not run: what the next run's shards balance on. A shard records nothing:
        the shards run after it must see the durations it saw, or their groups would differ.
        """
        cache = getattr(self.config, "cache", None)
        if (
            cache is None
            or not self._durations
            or self.config.getoption("memwise_shard")
        ):
            return
        kept = {**self._recorded_durations(), **self._durations}
        # A cache pytest cannot write is a warning of its own, which a project's `-W error`
        # would make fatal: the next shards then balance by count, nothing else is lost.
        with warnings.catch_warnings(), contextlib.suppress(OSError):
            warnings.simplefilter("ignore", pytest.PytestCacheWarning)
            cache.set(DURATIONS_KEY, kept)

    def _stop_before_any_test(self, wrong: str, items: list[pytest.Item]) -> None:
        self.problems.append(Problem("markers", "", wrong))
        if not hasattr(self.config, "workerinput"):
            raise pytest.UsageError(wrong)
        # A usage error would crash a pytest-xdist worker: report it as a collection error
        # (which xdist passes to the controller, and stops the run for) and run nothing.
        report = pytest.CollectReport("", "failed", wrong, [])
        self.config.hook.pytest_collectreport(report=report)
        items.clear()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            # The markers' check, failed in a pytest-xdist worker.
            if report.longreprtext.startswith(MARKERS_HEADLINE):
                if not any(problem.kind == "markers" for problem in self.problems):
                    self.problems.append(Problem("markers", "", report.longreprtext))
                return
            where = str(report.fspath or report.nodeid)
            self.problems.append(
                Problem("collection", where, last_line(report.longreprtext))
            )

    def pytest_internalerror(self, excrepr: Any) -> None:
        self.problems.append(Problem("internal", "", last_line(str(excrepr))))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_pyfunc_call(
        self, pyfuncitem: pytest.Function
    ) -> Generator[None, None, Any]:
        """A test function without a marker runs inside the run's Tracker, measured exactly
        where pytest-memray would measure it (the function's own call)."""
        if self.follow_forks is not None:
            return (yield from self._with_forks(pyfuncitem))
        tracker = self.run_tracker
        if tracker is None:
            return (yield)
        if memory_markers(pyfuncitem):
            tracker.pause()  # pytest-memray starts its own Tracker for this one
            return (yield)
        call = pyfuncitem.obj
        pyfuncitem.obj = wrapped(call, lambda: tracker.measuring(pyfuncitem.nodeid))
        try:
            return (yield)
        finally:
            pyfuncitem.obj = call

    def _with_forks(self, item: pytest.Function) -> Generator[None, None, Any]:
        """The test function and every process it forks, held together to its peak budget
        (its limit_memory marker, else the default limit)."""
        assert self.follow_forks is not None
        marks = memory_markers(item)
        size = size_argument(marks[0]) if marks else self.default_limit
        if (marks and marks[0].name != "limit_memory") or not isinstance(size, str):
            return (
                yield
            )  # only a peak budget counts children (the session asks for no other)
        self.follow_forks.mkdir(parents=True, exist_ok=True)
        capture = unittest_memory.capture_path(self.follow_forks, item.nodeid, "forks")
        call = item.obj
        item.obj = wrapped(call, lambda: forked_children.following_forks(capture))
        try:
            result = yield
        finally:
            item.obj = call
        measured = forked_children.read(capture)
        if marks and marks[0].kwargs.get("current_thread_only"):
            # The budget leaves the test's other threads out: its own thread, and its children.
            measured = forked_children.WithChildren(
                own_thread_peak(capture), measured.children_bytes
            )
        failure = forked_children.over_budget(
            item.nodeid, size, parse_size(size), measured
        )
        self._forked_results[item.nodeid] = {
            "measured_by": forked_children.WITH_FORKS, "peak_bytes": measured.total_bytes,
            "forked_bytes": sum(measured.children_bytes), "capture": str(capture),
            "limit": f"limit_memory({size!r})", "failure": "memory" if failure else None,
        }  # fmt: skip
        if failure:
            pytest.fail(failure, pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, None, Any]:
        result = yield
        if self.run_tracker is not None:
            self._read_run_tracker()
        return result

    def _read_run_tracker(self) -> None:
        """Each test's peak from the run's Tracker. Holding them to the default budget is the
        session's: it measures again, under pytest-memray, those near or over it
        (``memwise.running.pytest_runs.measure_again``), and pytest-memray's figure decides.
        """
        assert self.run_tracker is not None
        try:
            self.run_peaks = self.run_tracker.peaks()
        except (RunTrackerError, OSError) as error:
            self.problems.append(
                Problem("internal", "", f"memwise's run Tracker: {error}")
            )
            raise pytest.UsageError(
                f"memwise could not read the run's memory capture: {error}. Run memtest again; "
                "if it fails the same way, report it with the capture's folder"
            ) from error
        manifest = self.config.getoption("memwise_manifest")
        if hasattr(self.config, "workerinput") and manifest is not None:
            # The controller writes the manifest: it reads each worker's peaks from here.
            peaks_file(Path(manifest), self.worker).write_text(
                json.dumps(self.run_peaks)
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # Outside pytest-memray's tracking: which child processes the test started (memray
        # counts only this process, so their memory is not in the test's peak).
        children = ChildProcesses()
        try:
            return (yield from self._tracked_call(item))
        finally:
            self._children[item.nodeid] = children.end()

    def _tracked_call(self, item: pytest.Item) -> Generator[None, None, None]:
        # As pytest-memray on functions: measured under --memray, or when a marker asks.
        if not is_unittest(item):
            return (yield)
        if self.run_tracker is not None and not memory_markers(item):
            with self.run_tracker.measuring(item.nodeid):
                return (yield)
        if not (self.tracking or memory_markers(item)):
            return (yield)
        if self.run_tracker is not None:
            self.run_tracker.pause()
        from memray import FileFormat, Tracker

        capture = unittest_memory.capture_path(self._capture_folder(), item.nodeid)
        capture.unlink(missing_ok=True)
        leaks = unittest_memory.needs_leak_tracing(item)
        with Tracker(
            capture, file_format=FileFormat.AGGREGATED_ALLOCATIONS,
            native_traces=leaks, trace_python_allocators=leaks,
        ):  # fmt: skip
            result = yield
        verdict = unittest_memory.judge(item, capture)
        self._unittest_results[item.nodeid] = {
            "peak_bytes": verdict.peak_bytes, "capture": str(capture), "limit": verdict.limit,
            "failure": "memory" if verdict.failure else None,
        }  # fmt: skip
        if verdict.failure:
            pytest.fail(verdict.failure, pytrace=False)
        return result

    def _capture_folder(self, *, create: bool = True) -> Path:
        folder = (
            Path(self.captures)
            if self.captures
            else Path(self.config.rootpath, ".memwise-captures")
        )
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # Outermost wrapper: pytest-memray has already turned a crossed limit into a failure.
        report = yield
        if call.when == "call":
            measurement = self._measurement(item)
            children = self._children.pop(item.nodeid, [])
            if children:
                measurement["children"] = children
            if report.failed:
                # The test itself ran clean and still failed: a memory marker failed it.
                memory = measurement.get("failure") == "memory" or call.excinfo is None
                measurement["failure"] = "memory" if memory else "error"
            report.user_properties.append(("memwise", measurement))
        elif report.failed:  # setup or teardown: a fixture failed, never a budget
            report.user_properties.append(("memwise", {"failure": "error"}))
        return report

    def _measurement(self, item: pytest.Item) -> dict[str, Any]:
        if is_unittest(item):
            found = self._unittest_results.pop(item.nodeid, None)
            return {"measured_by": "memwise", **found} if found else {}
        forked = self._forked_results.pop(item.nodeid, None)
        if forked is not None:
            return forked
        result = pytest_memray_adapter.measured(self.config, item.nodeid)
        if result is None:
            return {}
        marks = memory_markers(item)
        mark = marks[0] if marks else None
        peak = result.peak_bytes
        if mark is not None and mark.kwargs.get("current_thread_only"):
            # The budget leaves other threads out on purpose (their allocations vary from run
            # to run): so does the figure the gate compares.
            peak = own_thread_peak(result.capture)
        return {
            "measured_by": "pytest-memray",
            "peak_bytes": peak,
            "capture": str(result.capture),
            "limit": f"{mark.name}({mark.args[0]!r})" if mark and mark.args else None,
        }

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._durations[report.nodeid] = round(
            self._durations.get(report.nodeid, 0.0) + report.duration, 6
        )
        record = self.records.setdefault(report.nodeid, TestRecord(report.nodeid))
        if report.failed:
            record.outcome = "failed"
        elif report.skipped and record.outcome != "failed":
            record.outcome = "skipped"
        for name, value in report.user_properties:
            if name == "memwise" and isinstance(value, dict):
                for key, field_value in value.items():
                    if key != "failure" or record.failure != "memory":  # memory wins
                        setattr(record, key, field_value)

    def _add_run_peaks(self, manifest: Path | None) -> None:
        """The run's Tracker's figures (this process's and every worker's) for the tests no
        Tracker of their own measured afterwards."""
        peaks = dict(self.run_peaks)
        if manifest is not None:
            for found in sorted(manifest.parent.glob(peaks_file(manifest, "*").name)):
                peaks.update(json.loads(found.read_text()))
                found.unlink()
        limit = f"limit_memory({self.default_limit!r})" if self.default_limit else None
        for nodeid, peak in peaks.items():
            record = self.records.setdefault(nodeid, TestRecord(nodeid))
            if record.measured_by is None:
                record.measured_by = RUN_TRACKER
                record.peak_bytes = peak
                record.limit = limit

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput"):  # xdist workers: the controller writes
            return
        self._record_durations()
        path = self.config.getoption("memwise_manifest")
        if self.run_tracker is not None:
            self._add_run_peaks(None if path is None else Path(path))
        if path is None:
            return
        manifest = Manifest(
            running_python(), sys.platform, int(exitstatus), list(self.records.values()),
            self.problems,
        )  # fmt: skip
        manifest.write(Path(path))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not (self.tracking or self.run_tracker):
            return
        run = Manifest(
            running_python(), sys.platform, tests=list(self.records.values())
        )
        ran, unmeasured = run.ran, run.unmeasured
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
        if self.run_tracker is not None:
            self._write_largest(terminalreporter, run)

    def _write_largest(
        self, terminalreporter: Any, run: Manifest, count: int = 5
    ) -> None:
        """The tests that held the most at their peak: pytest-memray's own report of them
        (``--most-allocations``) covers only the tests its Tracker measured."""
        largest = sorted(
            (test for test in run.measured if test.peak_bytes),
            key=lambda test: -(test.peak_bytes or 0),
        )[:count]
        if not largest:
            return
        terminalreporter.write_sep(
            "=", f"memwise: the {len(largest)} tests that held the most at their peak"
        )
        for test in largest:
            terminalreporter.write_line(
                f"{(test.peak_bytes or 0) / MIB:10.2f} MiB  {test.nodeid}"
                f"  ({test.limit or 'no limit'}; measured by {test.measured_by})"
            )
