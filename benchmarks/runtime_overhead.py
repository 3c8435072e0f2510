"""What the memory watch (memwise_runtime.watch_memory) costs a running service.

Run it with `nox -s benchmark -- runtime` (or `python benchmarks/runtime_overhead.py`). It
renders the default project, builds its flamegraph environment (the example service with
memray and the runtime) and adds the Prometheus client and the OpenTelemetry SDK to it, as a
service exporting its metrics would have them. Then, in that environment:

- the sampling thread's CPU: an idle service with the watch on at 1 Hz for `--idle` seconds,
  the watch thread's own CPU clock read at the end, as a share of one core;
- the example workload's wall time (`--requests` events) with the watch off, on at 1 Hz with
  no capture, and on with a capture running for the whole run, interleaved `--runs` times;
  medians and the ratios to "off". docs/benchmarks.md quotes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))
from tests.helpers import memory_environment, render, session_env

IDLE_SERVICE = """\
import json, sys, threading, time
from prometheus_client import CollectorRegistry
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from memwise_runtime import watch_memory

watch = watch_memory(enabled=True, interval=1.0, registry=CollectorRegistry(),
                     meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))
thread = next(t for t in threading.enumerate() if t.name == "memwise-watch")
clock = time.pthread_getcpuclockid(thread.ident)
time.sleep(float(sys.argv[1]))
print(json.dumps({"cpu": time.clock_gettime(clock), "samples": int(float(sys.argv[1]))}))
"""

MODES = {
    "off": {},
    "on, no capture": {"MEMWISE_WATCH": "1", "MEMWISE_WATCH_INTERVAL": "1"},
    "on, capturing": {"MEMWISE_WATCH": "1", "MEMWISE_WATCH_INTERVAL": "1",
                      "MEMWISE_WATCH_THRESHOLD": "1 MB", "MEMWISE_WATCH_CAPTURE_SECONDS": "600"},
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs of each mode")
    parser.add_argument("--requests", type=int, default=100_000, help="the workload's events")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle service")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="memwise-runtime-"))
    env = session_env()
    project = render(work / "service")
    print("building the example service's environment (nox -s flamegraph) ...", flush=True)
    subprocess.run([sys.executable, "-m", "nox", "-s", "flamegraph", "--", "src/my_service/workload.py",
                    "--requests", "100"], cwd=project, env=env, check=True, capture_output=True)  # fmt: skip
    python = memory_environment(project) / "bin" / "python"
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "pip", "install", "-q", "-p", str(python), "prometheus-client",
                    "opentelemetry-sdk"], check=True, env=env)  # fmt: skip

    print(f"idle service, watch at 1 Hz for {args.idle:g} s ...", flush=True)
    idle = subprocess.run([str(python), "-c", IDLE_SERVICE, str(args.idle)], cwd=project,
                          env=env, check=True, capture_output=True, text=True)  # fmt: skip
    cpu = json.loads(idle.stdout)["cpu"]
    share = cpu / args.idle

    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    workload = [str(python), "src/my_service/workload.py", "--requests", str(args.requests)]
    for number in range(args.runs):
        for mode, variables in MODES.items():
            captures = work / f"captures-{number}-{len(times[mode])}"
            run_env = {**env, **variables, "MEMWISE_CAPTURES": str(captures)}
            started = time.perf_counter()
            subprocess.run(workload, cwd=project, env=run_env, check=True, capture_output=True)
            times[mode].append(time.perf_counter() - started)
            if mode == "on, capturing":
                assert list(captures.glob("watch-*.bin")), "the capture was not written"
        print(f"  run {number + 1} of {args.runs} done", flush=True)

    off = statistics.median(times["off"])
    print(f"\nmemory watch overhead ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, Python of the flamegraph environment):")  # fmt: skip
    print(f"sampling thread at 1 Hz: {cpu * 1000:.1f} ms CPU in {args.idle:g} s = "
          f"{share:.3%} of one core")  # fmt: skip
    print(f"example workload, {args.requests} events, medians of {args.runs}:")
    for mode, found in times.items():
        median = statistics.median(found)
        spread = max(found) - min(found)
        print(f"  {mode:16} {median:6.2f} s ({median / off:.2f}x off; range {spread:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
