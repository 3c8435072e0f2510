"""``watch_memory()``: one call at the service's start that watches its memory in production.

It does nothing unless switched on (``MEMWISE_WATCH=1``, or ``enabled=True`` in code). Switched
on, a daemon thread samples the process's memory every ``interval`` seconds, publishes the
samples through the Prometheus client and OpenTelemetry when they are installed, and when
memory crosses the threshold (or grows by ``growth`` within ``window`` seconds) records a
memray capture of the next ``capture_seconds`` into ``MEMWISE_CAPTURES``: one at a time, none
within ``cooldown`` seconds of the last, never beyond the folder's budget. The thread never
raises into the service: what goes wrong is logged (logger ``memwise_runtime``), and after
``FAILURES_IN_A_ROW`` failed rounds the watch stops itself and says so. ``watch_memory()``
called again while a watch runs returns that watch: one thread a process.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable

from memwise_runtime import captures, exporters, live, sampling
from memwise_runtime.settings import WatchSettingError, WatchSettings, read_settings
from memwise_runtime.sizes import mib

_log = logging.getLogger("memwise_runtime.watch")
FAILURES_IN_A_ROW = 5
# The process's running watch: a second watch_memory() returns it rather than start another.
_running: Watch | None = None
_starting = threading.Lock()


class Watch:
    """The handle ``watch_memory()`` returns.

    ``stop()`` ends the watch (and a capture in progress, which is then written out);
    ``running`` says whether its thread is alive.
    """

    def __init__(self, settings: WatchSettings) -> None:
        self.settings = settings
        self.latest: sampling.Sample | None = None
        self.captures_written: list[Path] = []
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _start(self, loop: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=loop, name="memwise-watch", daemon=True)
        self._thread.start()
        atexit.register(self.stop)


def watch_memory(
    *,
    enabled: bool | None = None,
    threshold: object | None = None,
    growth: object | None = None,
    window: float | None = None,
    interval: float | None = None,
    capture_seconds: float | None = None,
    cooldown: float | None = None,
    max_captures: int | None = None,
    max_capture_bytes: object | None = None,
    captures_folder: object | None = None,
    live_port: int | None = None,
    live_address: str | None = None,
    registry: Any = None,
    meter_provider: Any = None,
) -> Watch:
    """Watch this process's memory when switched on; return the handle that stops it.

    Every argument left ``None`` is read from its ``MEMWISE_WATCH_*`` variable
    (``captures_folder`` from ``MEMWISE_CAPTURES``); sizes take "200 MB" as the memory
    markers do, or bytes as an int. ``registry`` is a Prometheus ``CollectorRegistry`` (the
    client's default one when not given), ``meter_provider`` an OpenTelemetry one (the
    global one when not given).
    Raises WatchSettingError, naming the setting, when a setting cannot be used. Called again
    while a watch runs, it returns that watch (its settings stand; the call's are logged).
    """
    with _starting:
        global _running
        if _running is not None and _running.running:
            _log.info(
                "memwise watch: already running; watch_memory() returns that watch"
            )
            return _running
        watch = _new_watch(
            enabled=enabled, threshold=threshold, growth=growth, window=window,
            interval=interval, capture_seconds=capture_seconds, cooldown=cooldown,
            max_captures=max_captures, max_capture_bytes=max_capture_bytes,
            captures_folder=captures_folder, live_port=live_port,
            live_address=live_address, registry=registry, meter_provider=meter_provider,
        )  # fmt: skip
        if watch.running:
            _running = watch
        return watch


def _new_watch(*, registry: Any, meter_provider: Any, **arguments: Any) -> Watch:
    settings = read_settings(arguments)
    watch = Watch(settings)
    if not settings.enabled:
        return watch
    try:
        resident = sampling.resident_reader()
    except sampling.SamplingUnavailable as error:
        raise WatchSettingError(f"MEMWISE_WATCH = 1, but {error}") from None
    tracker_class = captures.memray_tracker() if settings.triggers else None
    if settings.triggers and tracker_class is None:
        _log.warning(
            "memwise watch: captures are off, memray is not installed (memwise-runtime"
            "[capture]); memory is still sampled and exported"
        )
    if settings.live_port is not None:
        live.serve_live_view(settings.live_port, settings.live_address)
    published = exporters.installed_exporters(registry, meter_provider)
    watcher = _Watcher(watch, resident, published, tracker_class)
    watch._start(watcher.run)
    _log.info(
        "memwise watch: sampling every %gs, exporting to %s%s", settings.interval,
        ", ".join(e.name for e in published) or "no metrics library (logs only)",
        _describe_triggers(settings),
    )  # fmt: skip
    return watch


def _describe_triggers(settings: WatchSettings) -> str:
    if not settings.triggers:
        return "; no threshold set, so no captures"
    parts = []
    if settings.threshold is not None:
        parts.append(f"resident memory at {mib(settings.threshold)}")
    if settings.growth is not None:
        parts.append(f"growth of {mib(settings.growth)} within {settings.window:g}s")
    return (
        f"; a capture of {settings.capture_seconds:g}s into {settings.captures_folder} on "
        + (" or ".join(parts))
    )


class _Watcher:
    """The watch thread's work: sample, publish, decide, capture."""

    def __init__(
        self,
        watch: Watch,
        resident: Callable[[], int],
        published: list[exporters.Exporter],
        tracker_class: Any,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = watch.settings
        self.clock = clock
        self.watch = watch
        self.settings = settings
        self.resident = resident
        self.published = published
        self.tracker_class = tracker_class
        self.folder = (
            captures.CaptureFolder(
                settings.captures_folder,
                settings.max_captures,
                settings.max_capture_bytes,
            )
            if settings.captures_folder is not None
            else None
        )
        self.recent: collections.deque[tuple[float, int]] = collections.deque()
        self.capture: captures.Capture | None = None
        self.quiet_until = 0.0  # the cooldown's end
        self.said_budget = False

    def run(self) -> None:
        failures = 0
        while True:
            try:
                self.round()
                failures = 0
            except Exception:  # noqa: BLE001 (the watch never raises into the service)
                failures += 1
                _log.exception("memwise watch: a round failed (%d in a row)", failures)
                if failures >= FAILURES_IN_A_ROW:
                    _log.error(
                        "memwise watch: stopped after %d failed rounds in a row; the "
                        "service goes on without it", failures,
                    )  # fmt: skip
                    break
            if self.watch._stopping.wait(self.settings.interval):
                break
        try:
            self.end_capture()
        except Exception:  # noqa: BLE001 (the watch never raises into the service)
            _log.exception("memwise watch: the last capture could not be written")

    def round(self) -> None:
        sample = sampling.take_sample(self.resident, self.clock)
        self.watch.latest = sample
        for exporter in self.published:
            exporter.publish(sample)
        if self.capture is not None and sample.at >= self.capture.until:
            self.end_capture()
        reason = self.reason_to_capture(sample)
        if reason and self.capture is None:
            self.begin_capture(reason, sample.at)

    def reason_to_capture(self, sample: sampling.Sample) -> str | None:
        settings = self.settings
        self.recent.append((sample.at, sample.resident_bytes))
        while self.recent and self.recent[0][0] < sample.at - settings.window:
            self.recent.popleft()
        if (
            settings.threshold is not None
            and sample.resident_bytes >= settings.threshold
        ):
            return (
                f"resident memory {mib(sample.resident_bytes)}, at or above the threshold "
                f"of {mib(settings.threshold)}"
            )
        if settings.growth is not None:
            lowest = min(value for _, value in self.recent)
            if sample.resident_bytes - lowest >= settings.growth:
                return (
                    f"resident memory grew by {mib(sample.resident_bytes - lowest)} within "
                    f"{settings.window:g}s (growth setting: {mib(settings.growth)})"
                )
        return None

    def begin_capture(self, reason: str, now: float) -> None:
        if self.tracker_class is None or self.folder is None or now < self.quiet_until:
            return
        full = self.folder.over_budget()
        if full:
            if not self.said_budget:
                _log.warning("memwise watch: %s, but no capture: %s", reason, full)
                self.said_budget = True
            return
        try:
            self.capture = captures.Capture.start(
                self.folder, now + self.settings.capture_seconds, self.tracker_class
            )
        # memray's one tracker is taken, a full disk: the service goes on.
        except Exception as error:  # noqa: BLE001
            _log.warning("memwise watch: %s, but no capture: %s", reason, error)
            self.quiet_until = now + self.settings.cooldown
            return
        _log.warning(
            "memwise watch: %s; recording %gs of memory into %s", reason,
            self.settings.capture_seconds, self.capture.final,
        )  # fmt: skip

    def end_capture(self) -> None:
        if self.capture is None:
            return
        capture, self.capture = self.capture, None
        self.quiet_until = self.clock() + self.settings.cooldown
        path = capture.finish()
        self.watch.captures_written.append(path)
        for exporter in self.published:
            exporter.count_capture()
        _log.warning(
            "memwise watch: capture written to %s (reports: nox -s flamegraph -- --capture %s)",
            path, path,
        )  # fmt: skip
