"""Opt-in memory tracking of a critical path, in the running service (``memwise_runtime``).

Wrap the path in ``track_memory``::

    with track_memory("nightly-import"):
        run_import()

Nothing happens unless the environment variable ``MEMWISE_CAPTURES``
names a folder: then memray records the block into ``<folder>/<name>-<pid>-<n>.bin``, and
``nox -s flamegraph -- --capture <that file>`` turns it into the usual reports. When the
variable is unset, the cost is one environment lookup; memray is not even imported. memray is
not a runtime dependency of this package: install it where you want to capture (it does not
exist for Windows). memray allows one tracker per process at a time, so a block entered while
another is tracked (or under ``memray run`` or ``pytest --memray``) runs untracked, with a
warning in the log.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

CAPTURES_VARIABLE = "MEMWISE_CAPTURES"
_log = logging.getLogger(__name__)
# memray allows one Tracker per process: the blocks and the memory watch's captures take turns.
tracker_slot = threading.Lock()
_numbers = itertools.count()


def track_memory(name: str, *, native: bool = False) -> MemoryTracking:
    """Record the block's memory into a memray capture when tracking is switched on.

    ``with track_memory(name) as capture:`` gives the capture's path, or ``None`` when the
    block is not tracked. ``native=True`` also records C/C++ frames (for extension modules),
    at a higher cost.
    """
    if not re.fullmatch(r"[\w.-]+", name):
        msg = f"capture name {name!r} must use only letters, digits, '_', '.' and '-'"
        raise ValueError(msg)
    return MemoryTracking(name, native)


class MemoryTracking:
    """The context manager of ``track_memory``.

    A class, not a generator: memray reconstructs the Python stack from the frames it sees
    entered, and a generator suspended around the block would hide the block's frames.
    """

    def __init__(self, name: str, native: bool) -> None:
        self.name = name
        self.native = native
        self.path: Path | None = None
        self._tracker: Any = None
        self._holds_lock = False

    def __enter__(self) -> Path | None:
        folder = os.environ.get(CAPTURES_VARIABLE)
        if not folder:
            return None
        if not tracker_slot.acquire(blocking=False):
            _log.warning("%r runs untracked: another block is being tracked", self.name)
            return None
        self._holds_lock = True
        try:
            from memray import Tracker  # imported only when tracking is on
        except ImportError:
            _log.warning("%s is set, but memray is not installed: %r runs untracked",
                         CAPTURES_VARIABLE, self.name)  # fmt: skip
            self._release()
            return None
        Path(folder).mkdir(parents=True, exist_ok=True)
        path = Path(folder) / f"{self.name}-{os.getpid()}-{next(_numbers)}.bin"
        tracker = Tracker(path, native_traces=self.native)
        try:
            tracker.__enter__()
        except RuntimeError as error:  # another Tracker is active in this process
            _log.warning("%r runs untracked: %s", self.name, error)
            self._release()
            return None
        self._tracker, self.path = tracker, path
        return path

    def __exit__(self, *exc_info: object) -> None:
        if self._tracker is not None:
            self._tracker.__exit__(None, None, None)
            self._tracker = None
            _log.info("memory capture of %r written to %s", self.name, self.path)
        self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            tracker_slot.release()
