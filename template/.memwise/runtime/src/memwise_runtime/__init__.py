"""memwise's runtime: watch a running service's memory, and record the blocks that matter.

- ``watch_memory()``: at the service's start; samples, exports, captures when memory grows
  (off unless ``MEMWISE_WATCH=1``).
- ``track_memory(name)``: a memray capture of one block (when ``MEMWISE_CAPTURES`` is set).

Nothing here imports memray, the Prometheus client or OpenTelemetry until it is used.
"""

from __future__ import annotations

from memwise_runtime.settings import WatchSettingError, WatchSettings
from memwise_runtime.tracking import track_memory
from memwise_runtime.watch import Watch, watch_memory

__all__ = [
    "Watch",
    "WatchSettingError",
    "WatchSettings",
    "track_memory",
    "watch_memory",
]
