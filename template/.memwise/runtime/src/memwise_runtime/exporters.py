"""The samples, published through the metrics library the service already runs.

No endpoint of our own: the Prometheus client's gauges appear on whatever the service already
serves (``/metrics``), OpenTelemetry's observable gauges go through the service's meter
provider and exporter. Each library is used when it is installed; with neither, the watch
still samples, triggers and logs.

Metric names (Prometheus; OpenTelemetry uses the dotted names beside them):

- ``memwise_resident_memory_bytes`` / ``memwise.process.resident_memory`` (By)
- ``memwise_python_allocated_blocks`` / ``memwise.python.allocated_blocks`` ({block})
- ``memwise_memory_captures_total`` / ``memwise.memory.captures`` ({capture}): captures written
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any, Protocol

from memwise_runtime.sampling import Sample

_log = logging.getLogger(__name__)


class Exporter(Protocol):
    name: str

    def publish(self, sample: Sample) -> None: ...

    def count_capture(self) -> None: ...


class PrometheusExporter:
    """Gauges in a Prometheus registry (the client's default one unless given)."""

    name = "prometheus"

    def __init__(self, registry: Any) -> None:
        client = importlib.import_module("prometheus_client")
        self.resident = client.Gauge(
            "memwise_resident_memory_bytes",
            "Resident memory of the process, sampled by memwise's watch",
            registry=registry,
        )
        self.blocks = client.Gauge(
            "memwise_python_allocated_blocks",
            "Blocks held by Python's allocator (sys.getallocatedblocks)",
            registry=registry,
        )
        self.captures = client.Counter(
            "memwise_memory_captures",
            "memray captures the watch has written",
            registry=registry,
        )

    def publish(self, sample: Sample) -> None:
        self.resident.set(sample.resident_bytes)
        self.blocks.set(sample.python_blocks)

    def count_capture(self) -> None:
        self.captures.inc()


class OpenTelemetryExporter:
    """Observable gauges read at each collection from the latest sample."""

    name = "opentelemetry"

    def __init__(self, meter_provider: Any) -> None:
        metrics = importlib.import_module("opentelemetry.metrics")
        meter = metrics.get_meter("memwise_runtime", meter_provider=meter_provider)
        self._latest: Sample | None = None
        meter.create_observable_gauge(
            "memwise.process.resident_memory",
            callbacks=[self._observe(lambda sample: sample.resident_bytes)],
            unit="By",
            description="Resident memory of the process, sampled by memwise's watch",
        )
        meter.create_observable_gauge(
            "memwise.python.allocated_blocks",
            callbacks=[self._observe(lambda sample: sample.python_blocks)],
            unit="{block}",
            description="Blocks held by Python's allocator (sys.getallocatedblocks)",
        )
        self.captures = meter.create_counter(
            "memwise.memory.captures",
            unit="{capture}",
            description="memray captures the watch has written",
        )

    def _observe(self, value: Any) -> Any:
        observation = importlib.import_module("opentelemetry.metrics").Observation

        def callback(_options: Any) -> list[Any]:
            sample = self._latest
            return [] if sample is None else [observation(value(sample))]

        return callback

    def publish(self, sample: Sample) -> None:
        self._latest = sample

    def count_capture(self) -> None:
        self.captures.add(1)


# A registry refuses a second gauge of the same name: a watch started again in the same
# process (tests, a reloaded app) reuses the exporter made for that registry.
_made: dict[tuple[str, int], Exporter] = {}
_made_lock = threading.Lock()


def installed_exporters(
    registry: Any = None, meter_provider: Any = None
) -> list[Exporter]:
    """An exporter for each metrics library that can be imported."""
    exporters: list[Exporter] = []
    with _made_lock:
        try:
            prometheus_client = importlib.import_module("prometheus_client")
        except ImportError:
            _log.debug("prometheus_client is not installed: no Prometheus gauges")
        else:
            target = prometheus_client.REGISTRY if registry is None else registry
            key = ("prometheus", id(target))
            if key not in _made:
                _made[key] = PrometheusExporter(target)
            exporters.append(_made[key])
        try:
            importlib.import_module("opentelemetry.metrics")
        except ImportError:
            _log.debug("opentelemetry-api is not installed: no OpenTelemetry gauges")
        else:
            key = ("opentelemetry", id(meter_provider))
            if key not in _made:
                _made[key] = OpenTelemetryExporter(meter_provider)
            exporters.append(_made[key])
    return exporters
