"""Memory sizes as pytest-memray writes them ("24 MB", where MB means MiB), and back."""

from __future__ import annotations

import re

MIB = 1024 * 1024
_UNITS = {"B": 1, "KB": 1024, "MB": MIB, "GB": 1024 * MIB, "TB": 1024 * 1024 * MIB}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?B)\s*")


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"512 MB"``; ValueError naming the accepted units otherwise.

    Only pytest-memray's units are accepted, so a budget means the same in a marker and in
    memwise's settings ("MiB" or "24M" would abort pytest-memray's whole session).
    """
    match = _SIZE.fullmatch(text)
    if not match:
        msg = f"{text!r} is not a size: write a number and one of B, KB, MB, GB (e.g. '512 MB')"
        raise ValueError(msg)
    return int(float(match[1]) * _UNITS[match[2]])


def mib(size: int) -> str:
    """A size in MiB for reports, e.g. ``12.50 MiB``."""
    return f"{size / MIB:.2f} MiB"
