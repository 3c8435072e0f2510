"""Memory sizes as pytest-memray reads them ("24 MB", where MB means MiB).

One parser for the markers, memwise's settings, the checks made before a run and the memory
watch's thresholds: it accepts exactly what pytest-memray 1.8-1.11 accepts
(``pytest_memray.utils.parse_memory_string``), so a size memwise lets through never aborts
pytest-memray's session, and a size pytest-memray would take is never refused. It lives in the
runtime (which the toolkit depends on) so that a service's thresholds read like its tests'
budgets.
"""

from __future__ import annotations

import re

MIB = 1024 * 1024
_MULTIPLIERS = {"B": 1, "KB": 1024, "MB": MIB, "GB": 1024 * MIB, "TB": MIB * MIB}
_MULTIPLIERS["PB"] = 1024 * _MULTIPLIERS["TB"]
# pytest-memray matches at the start of the text and ignores what follows the unit
# ("12 MBytes" is 12 MB): so does this, case-insensitively, as it does.
_SIZE = re.compile(r"(\+?\d*\.\d+|\+?\d+)\s*([KMGTP]B|B)", re.IGNORECASE)
ACCEPTED = "a number and one of B, KB, MB, GB, TB, PB (MB means MiB), e.g. '512 MB'"


def parse_size(text: object) -> int:
    """Bytes in a size such as ``"512 MB"``; ValueError saying what is accepted otherwise."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    if not match:
        msg = f"{text!r} is not a size: write {ACCEPTED}"
        raise ValueError(msg)
    return int(float(match[1]) * _MULTIPLIERS[match[2].upper()])


def mib(size: float) -> str:
    """A size in MiB for reports and logs, e.g. ``12.50 MiB``."""
    return f"{size / MIB:.2f} MiB"
