"""Deprecated: ``track_memory`` moved to ``memwise_runtime`` (memwise 0.3).

A service imports it from the runtime, which brings none of the test tooling::

    from memwise_runtime import track_memory

This module re-exports it for one more release, with a DeprecationWarning.
"""

from __future__ import annotations

import warnings

from memwise_runtime.tracking import CAPTURES_VARIABLE, MemoryTracking, track_memory

__all__ = ["CAPTURES_VARIABLE", "MemoryTracking", "track_memory"]

warnings.warn(
    "memwise.tracking moved to memwise_runtime (install ./.memwise/runtime into the service "
    "and import track_memory from memwise_runtime); memwise.tracking goes in memwise 0.4",
    DeprecationWarning,
    stacklevel=2,
)
