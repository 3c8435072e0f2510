"""One sample of the process's memory: its resident set, and Python's own heap where cheap.

Resident memory is what the operating system charges the process (what an OOM killer and a
container limit see). Linux gives it in ``/proc/self/statm`` for one small read; elsewhere
psutil does (the ``psutil`` extra). Python's heap is ``sys.getallocatedblocks()``: the number
of blocks its allocator holds, a counter read for free, which grows with leaked objects even
when the resident set hides them in freed pages.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_STATM = Path("/proc/self/statm")


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    resident_bytes: int
    python_blocks: int


class SamplingUnavailable(RuntimeError):
    """This platform gives no resident memory without psutil."""


def resident_reader() -> Callable[[], int]:
    """The cheapest reader of resident memory here, checked once; or SamplingUnavailable."""
    if _STATM.is_file():
        page = os.sysconf("SC_PAGE_SIZE")

        def from_statm() -> int:
            return int(_STATM.read_bytes().split()[1]) * page

        from_statm()
        return from_statm
    try:
        psutil = importlib.import_module("psutil")
    except ImportError:
        raise SamplingUnavailable(
            f"resident memory on {sys.platform} needs psutil: install "
            "memwise-runtime[psutil] (or psutil) into the service"
        ) from None
    process = psutil.Process()

    def from_psutil() -> int:
        return int(process.memory_info().rss)

    from_psutil()
    return from_psutil


def take_sample(
    resident: Callable[[], int], clock: Callable[[], float] = time.monotonic
) -> Sample:
    return Sample(clock(), resident(), sys.getallocatedblocks())
