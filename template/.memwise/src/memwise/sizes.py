"""Memory sizes as pytest-memray reads them ("24 MB", where MB means MiB), and back.

They live in memwise_runtime.sizes, the one home of the parser (a service's watch thresholds
read like its tests' budgets); it accepts exactly what pytest-memray 1.8-1.11 accepts.
"""

from __future__ import annotations

from memwise_runtime.sizes import ACCEPTED, MIB, mib, parse_size

__all__ = ["ACCEPTED", "MIB", "mib", "parse_size"]
