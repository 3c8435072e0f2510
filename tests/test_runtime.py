"""memwise_runtime: the memory watch of a running service, in real processes.

A small service (below) leaks slowly in a function of its own while the watch runs with the
real Prometheus client, the OpenTelemetry SDK's in-memory reader and real memray; the tests
read back what a team's monitoring would read: the text exposition, the metric data, the
captures in the folder and memray's own flamegraph of them.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from memwise_runtime import settings as watch_settings
from memwise_runtime import watch_memory
from memwise_runtime.settings import WatchSettingError

from tests.helpers import TOOLKIT

RUNTIME = TOOLKIT / "runtime"
MIB = 1024 * 1024

# argv: chunk bytes, rounds, pause seconds, what to do ("plain", "failing" sampler, "bare":
# no metrics library imported).
SERVICE = """\
import json, logging, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
chunk, rounds, pause, mode = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
import memwise_runtime
from memwise_runtime import sampling, watch_memory

if mode == "failing":  # the watch's sampling breaks after three rounds
    real, calls = sampling.take_sample, []
    def take_sample(resident, *clock):
        calls.append(1)
        if len(calls) > 3:
            raise OSError("injected: /proc went away")
        return real(resident, *clock)
    sampling.take_sample = take_sample

kept = []
def leak_slowly():
    kept.append(bytearray(chunk))

report = {}
if mode == "bare":  # the default registry, if the Prometheus client is there at all
    watch = watch_memory()
    time.sleep(0.3)
else:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry, generate_latest
    registry, reader = CollectorRegistry(), InMemoryMetricReader()
    watch = watch_memory(registry=registry, meter_provider=MeterProvider(metric_readers=[reader]))
    time.sleep(0.3)
    report["early"] = generate_latest(registry).decode()
for _ in range(rounds):
    leak_slowly()
    time.sleep(pause)
time.sleep(0.3)
report["running"] = watch.running
watch.stop()
report["captures"] = [str(path) for path in watch.captures_written]
if mode == "bare":
    try:
        from prometheus_client import REGISTRY, generate_latest
    except ImportError:
        pass
    else:
        report["late"] = generate_latest(REGISTRY).decode()
else:
    report["late"] = generate_latest(registry).decode()
    metrics = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                metrics[metric.name] = [point.value for point in metric.data.data_points]
    report["otel"] = metrics
print(json.dumps(report))
"""


def run_service(
    tmp_path: Path,
    settings: dict[str, str],
    *,
    chunk: int = MIB,
    rounds: int = 150,
    pause: float = 0.02,
    mode: str = "plain",
    python: str = sys.executable,
) -> tuple[dict, str]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMWISE_")}
    env.update(settings, PYTHONPATH=str(RUNTIME / "src"))
    if python != sys.executable:
        env.pop("PYTHONPATH")
    result = subprocess.run(
        [python, str(script), str(chunk), str(rounds), str(pause), mode],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def gauge(exposition: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", exposition, re.MULTILINE)
    assert match, exposition
    return float(match[1])


def watching(folder: Path, **more: str) -> dict[str, str]:
    return {"MEMWISE_WATCH": "1", "MEMWISE_WATCH_INTERVAL": "0.1", "MEMWISE_CAPTURES": str(folder),
            **more}  # fmt: skip


@pytest.mark.slow
def test_a_slow_leak_leaves_one_capture_naming_the_leak_and_the_gauges_show_it(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "captures"
    settings = watching(folder, MEMWISE_WATCH_GROWTH="40 MB", MEMWISE_WATCH_CAPTURE_SECONDS="1")
    report, log = run_service(tmp_path, settings)
    (capture,) = folder.iterdir()  # exactly one, and no half-written file beside it
    assert re.fullmatch(r"watch-\d+-\d{8}T\d{6}Z-[0-9a-f]{8}\.bin", capture.name)
    assert report["captures"] == [str(capture)]
    assert f"capture written to {capture}" in log
    assert "grew by" in log
    flamegraph = tmp_path / "flamegraph.html"
    subprocess.run([sys.executable, "-m", "memray", "flamegraph", "--no-web", "-o", str(flamegraph),
                    str(capture)], check=True, capture_output=True)  # fmt: skip
    assert "leak_slowly" in flamegraph.read_text(encoding="utf-8")
    # The exported gauge grew with the leak (150 MiB in all); the capture was counted.
    grown = gauge(report["late"], "memwise_resident_memory_bytes") - gauge(
        report["early"], "memwise_resident_memory_bytes"
    )
    assert grown > 100 * MIB
    assert gauge(report["late"], "memwise_memory_captures_total") == 1.0
    assert gauge(report["late"], "memwise_python_allocated_blocks") > 0
    (resident,) = report["otel"]["memwise.process.resident_memory"]
    assert resident >= gauge(report["late"], "memwise_resident_memory_bytes") - 10 * MIB
    assert report["otel"]["memwise.memory.captures"] == [1]


@pytest.mark.slow
def test_a_service_under_its_threshold_leaves_no_capture(tmp_path: Path) -> None:
    folder = tmp_path / "captures"
    report, log = run_service(tmp_path, watching(folder, MEMWISE_WATCH_THRESHOLD="4 GB"), rounds=30)
    assert list(folder.iterdir()) == []
    assert report["captures"] == []
    assert gauge(report["late"], "memwise_resident_memory_bytes") > 20 * MIB
    assert "resident memory at 4096.00 MiB" in log  # the trigger, as the start line says it


@pytest.mark.slow
@pytest.mark.parametrize(
    ("budget", "expected", "reason"),
    [
        ({"MEMWISE_WATCH_MAX_CAPTURES": "2"}, 2, "2 captures already in"),
        ({"MEMWISE_WATCH_MAX_CAPTURE_BYTES": "1 B"}, 1, "(at most 0.00 MiB)"),
        ({"MEMWISE_WATCH_COOLDOWN": "60"}, 1, None),
    ],
)
def test_cooldown_and_disk_budget_hold_under_a_leak_that_keeps_growing(
    tmp_path: Path, budget: dict[str, str], expected: int, reason: str | None
) -> None:
    folder = tmp_path / "captures"
    settings = watching(
        folder, MEMWISE_WATCH_THRESHOLD="10 MB", MEMWISE_WATCH_CAPTURE_SECONDS="0.3",
        **{"MEMWISE_WATCH_COOLDOWN": "0.5", **budget},
    )  # fmt: skip
    # Over the threshold from the start to the end, 4 seconds: room for 4 captures at least.
    report, log = run_service(tmp_path, settings, chunk=256 * 1024, rounds=200)
    written = sorted(folder.glob("watch-*.bin"))
    assert len(written) == expected
    assert sorted(report["captures"]) == [str(path) for path in written]
    assert sorted(folder.iterdir()) == written  # nothing half-written left beside them
    assert len(re.findall(r"recording [\d.]+s of memory", log)) == expected
    if reason:
        assert log.count(reason) == 1  # the budget is said once, not at every sample


@pytest.mark.slow
def test_the_watch_thread_failing_leaves_the_service_running(tmp_path: Path) -> None:
    report, log = run_service(tmp_path, watching(tmp_path / "c"), rounds=120, mode="failing")
    assert "injected: /proc went away" in log  # logged with its traceback
    assert "a round failed (1 in a row)" in log
    assert "stopped after 5 failed rounds in a row; the service goes on without it" in log
    assert report["running"] is False  # the watch ended; the service finished its work


@pytest.mark.slow
def test_the_runtime_installs_without_the_test_tooling_and_samples_without_memray(
    tmp_path: Path,
) -> None:
    uv = str(Path(sys.executable).parent / "uv")
    venv = tmp_path / "image"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # The runtime and the metrics library a service has; neither memray nor any test tooling.
    subprocess.run([uv, "pip", "install", "-q", "-p", python, f"{RUNTIME}[prometheus]"],
                   check=True)  # fmt: skip
    listed = subprocess.run([uv, "pip", "list", "-p", python, "--format", "json"], check=True,
                            capture_output=True, text=True).stdout  # fmt: skip
    assert {package["name"] for package in json.loads(listed)} == {
        "memwise-runtime", "prometheus-client"
    }  # fmt: skip
    folder = tmp_path / "captures"
    report, log = run_service(
        tmp_path, watching(folder, MEMWISE_WATCH_GROWTH="20 MB"), rounds=60, mode="bare",
        python=python,
    )  # fmt: skip
    assert "captures are off, memray is not installed" in log
    assert "exporting to prometheus" in log
    assert gauge(report["late"], "memwise_resident_memory_bytes") > 20 * MIB  # sampled, exported
    assert report["captures"] == []
    assert not folder.exists() or list(folder.iterdir()) == []


def test_the_watch_is_off_unless_switched_on(tmp_path: Path) -> None:
    watch = watch_memory(captures_folder=tmp_path / "never")  # MEMWISE_WATCH unset here
    assert not watch.running
    assert not (tmp_path / "never").exists()
    # Off, its other settings are not even read: a service never fails over a watch it skips.
    for switch in ({}, {"MEMWISE_WATCH": "0"}):
        off = watch_settings.read_settings({}, {**switch, "MEMWISE_WATCH_INTERVAL": "-1"})
        assert not off.enabled


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MEMWISE_WATCH_INTERVAL": "-1"}, "MEMWISE_WATCH_INTERVAL = '-1': write a positive"),
        ({"MEMWISE_WATCH_THRESHOLD": "200"}, "MEMWISE_WATCH_THRESHOLD = '200' is not a size"),
        ({"MEMWISE_WATCH": "maybe"}, "MEMWISE_WATCH = 'maybe': write 1 to switch the watch on"),
        ({"MEMWISE_WATCH_LIVE_PORT": "70000"}, "write a TCP port between 1 and 65535"),
        ({"MEMWISE_WATCH_MAX_CAPTURES": "0"}, "MEMWISE_WATCH_MAX_CAPTURES = '0'"),
        ({"MEMWISE_WATCH_THRESHOLD": "200 MB", "MEMWISE_CAPTURES": ""},
         "MEMWISE_CAPTURES is not set: a threshold or growth records a capture"),
        ({"MEMWISE_WATCH_GROWTH": "10 MB", "MEMWISE_WATCH_WINDOW": "1"},
         "MEMWISE_WATCH_WINDOW = 1 is shorter than the interval"),
    ],
)  # fmt: skip
def test_bad_settings_stop_the_start_naming_the_setting(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    given = {"MEMWISE_WATCH": "1", "MEMWISE_CAPTURES": str(tmp_path), **environ}
    with pytest.raises(WatchSettingError) as raised:
        watch_settings.read_settings({}, given)
    assert message in str(raised.value)


def test_a_folder_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WatchSettingError, match="the folder cannot be written") as raised:
        watch_memory(enabled=True, threshold="1 GB", captures_folder=blocker / "captures")
    assert str(blocker / "captures") in str(raised.value)
    assert list(tmp_path.iterdir()) == [blocker]  # nothing half-made


def test_arguments_in_code_win_over_the_environment(tmp_path: Path) -> None:
    environ = {"MEMWISE_WATCH": "1", "MEMWISE_WATCH_INTERVAL": "5", "MEMWISE_CAPTURES": "/x"}
    read = watch_settings.read_settings(
        {"interval": 0.5, "captures_folder": str(tmp_path), "threshold": "2 GB"}, environ
    )
    assert (read.interval, read.captures_folder, read.threshold) == (0.5, tmp_path, 2 * 1024 * MIB)
    assert read.enabled
    off = watch_settings.read_settings({"enabled": False}, environ)
    assert not off.enabled


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_live_view_is_served_on_localhost_to_a_memray_reader(tmp_path: Path) -> None:
    from memray import SocketReader

    port = free_port()
    script = tmp_path / "live.py"
    script.write_text(
        "import logging, time\nlogging.basicConfig(level=logging.INFO)\n"
        "from memwise_runtime import watch_memory\nwatch = watch_memory()\nkept = []\n"
        "def leak_slowly():\n    kept.append(bytearray(100_000))\n"
        "end = time.time() + 6\nwhile time.time() < end:\n    leak_slowly()\n"
        "    time.sleep(0.01)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(RUNTIME / "src"), "MEMWISE_WATCH": "1",
           "MEMWISE_WATCH_LIVE_PORT": str(port)}  # fmt: skip
    service = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    assert service.stderr is not None
    try:
        for line in service.stderr:  # the port is open once this is said
            if "live view waiting" in line:
                assert f"on 127.0.0.1:{port} " in line
                break
        with SocketReader(port=port) as reader:
            time.sleep(1.0)
            snapshot = list(reader.get_current_snapshot(merge_threads=True))
        assert any("leak_slowly" in str(record.stack_trace()) for record in snapshot)
    finally:
        service.kill()
        service.communicate()
