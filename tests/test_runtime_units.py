"""memwise_runtime in-process: nothing it does raises into the service, and the watch's
trigger, cooldown and budget logic, driven by a fake clock (no sleeps)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from memray import FileReader
from memwise_runtime import captures, track_memory, watch, watch_memory
from memwise_runtime.settings import WatchSettings
from memwise_runtime.tracking import tracker_slot


def a_block_is_tracked(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    monkeypatch.setenv("MEMWISE_CAPTURES", str(folder))
    with track_memory("block") as capture:
        kept = bytearray(1_000_000)
    del kept
    return capture


@pytest.mark.parametrize(
    "captures_folder",
    [
        "a-file/captures",  # a folder that cannot be made: a file is in its way
        "/proc/self",  # a folder memray cannot write a file into (even as root)
    ],
)
def test_a_capture_that_cannot_start_never_reaches_the_service_and_frees_the_slot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    captures_folder: str,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    folder = (
        tmp_path / captures_folder if not captures_folder.startswith("/") else Path(captures_folder)
    )
    with caplog.at_level(logging.WARNING):
        assert a_block_is_tracked(folder, monkeypatch) is None  # ran untracked, no exception
    assert "runs untracked" in caplog.text
    assert not tracker_slot.locked()  # the next block may capture
    written = a_block_is_tracked(tmp_path / "good", monkeypatch)
    assert written is not None
    assert written.is_file()


def test_captures_of_the_same_name_and_pid_never_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = a_block_is_tracked(tmp_path, monkeypatch)
    second = a_block_is_tracked(tmp_path, monkeypatch)
    assert first is not None
    assert second is not None
    assert first != second
    # A restarted container (same PID) keeps its older files: a new name each time.
    assert {path.name for path in tmp_path.glob("block-*.bin")} == {first.name, second.name}
    assert len(list(FileReader(second).get_high_watermark_allocation_records())) > 0


def test_watch_memory_twice_starts_one_watch(tmp_path: Path) -> None:
    first = watch_memory(enabled=True, interval=3600, captures_folder=tmp_path)
    try:
        second = watch_memory(enabled=True, interval=3600, captures_folder=tmp_path)
        assert second is first
        threads = [t for t in threading.enumerate() if t.name == "memwise-watch"]
        assert len(threads) == 1
    finally:
        first.stop()
    third = watch_memory(enabled=True, interval=3600, captures_folder=tmp_path)
    try:
        assert third is not first
        assert third.running
    finally:
        third.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Process:
    """The resident memory the watcher reads, set by the test."""

    def __init__(self) -> None:
        self.resident = 100 * 2**20

    def __call__(self) -> int:
        return self.resident


STARTED: list[watch._Watcher] = []


@pytest.fixture(autouse=True)
def _end_captures() -> Iterator[None]:
    """A capture a test leaves running holds the process's one memray tracker: end it."""
    yield
    while STARTED:
        STARTED.pop().end_capture()


def watcher(tmp_path: Path, **settings: object) -> tuple[watch._Watcher, FakeClock, Process]:
    from memray import Tracker

    clock, process = FakeClock(), Process()
    chosen = {"enabled": True, "interval": 10.0, "captures_folder": tmp_path, **settings}
    handle = watch.Watch(WatchSettings(**chosen))  # type: ignore[arg-type]
    STARTED.append(watch._Watcher(handle, process, [], Tracker, clock))
    return STARTED[-1], clock, process


def step(worker: watch._Watcher, clock: FakeClock, seconds: float) -> None:
    clock.now += seconds
    worker.round()


def test_a_threshold_starts_one_capture_that_ends_after_its_seconds(tmp_path: Path) -> None:
    worker, clock, process = watcher(tmp_path, threshold=200 * 2**20, capture_seconds=30.0)
    step(worker, clock, 10)
    assert worker.capture is None  # under the threshold
    process.resident = 250 * 2**20
    step(worker, clock, 10)
    assert worker.capture is not None
    step(worker, clock, 20)  # still inside its 30 s: the same capture
    assert worker.capture is not None
    assert not worker.watch.captures_written
    step(worker, clock, 10)  # 30 s passed: written, and no new one in the cooldown
    assert len(worker.watch.captures_written) == 1
    assert worker.capture is None
    assert worker.watch.captures_written[0].is_file()


def test_no_capture_within_the_cooldown_then_one_after_it(tmp_path: Path) -> None:
    worker, clock, process = watcher(
        tmp_path, threshold=200 * 2**20, capture_seconds=10.0, cooldown=100.0
    )
    process.resident = 300 * 2**20
    step(worker, clock, 1)
    step(worker, clock, 10)  # ends the first capture; the cooldown starts now
    assert len(worker.watch.captures_written) == 1
    for _ in range(9):  # 90 s of the 100 s cooldown, memory still high
        step(worker, clock, 10)
        assert worker.capture is None
    step(worker, clock, 11)
    assert worker.capture is not None


def test_growth_within_the_window_triggers_and_older_samples_do_not(tmp_path: Path) -> None:
    worker, clock, process = watcher(tmp_path, growth=50 * 2**20, window=60.0)
    step(worker, clock, 10)
    process.resident += 30 * 2**20
    step(worker, clock, 50)
    assert worker.capture is None  # 30 MiB within the window: under the growth setting
    process.resident += 30 * 2**20  # 60 MiB above a sample that left the window 70 s ago
    step(worker, clock, 20)
    assert worker.capture is None
    process.resident += 30 * 2**20  # 60 MiB above the oldest sample still in the window
    step(worker, clock, 10)
    assert worker.capture is not None


def test_the_folders_budget_stops_captures_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "watch-1-20260101T000000Z-aaaa.bin").write_bytes(b"x" * 2048)
    worker, clock, process = watcher(
        tmp_path, threshold=200 * 2**20, max_capture_bytes=1024, cooldown=0.0
    )
    process.resident = 300 * 2**20
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            step(worker, clock, 10)
    assert worker.capture is None
    assert caplog.text.count("but no capture") == 1


def test_a_capture_memray_cannot_open_is_logged_and_frees_the_slot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    worker, clock, _process = watcher(tmp_path, threshold=1, cooldown=5.0)
    assert worker.folder is not None
    worker.folder = captures.CaptureFolder(blocker / "captures", 5, 2**30)
    with caplog.at_level(logging.WARNING):
        step(worker, clock, 10)  # no exception: the round is not even a failed one
    assert worker.capture is None
    assert "but no capture" in caplog.text
    assert not tracker_slot.locked()
