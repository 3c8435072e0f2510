"""Opt-in memory tracking of a critical path, in the running service (``memwise_runtime``).

Wrap the path in ``track_memory``::

    with track_memory("nightly-import"):
        run_import()

Nothing happens unless the environment variable ``MEMWISE_CAPTURES``
names a folder: then memray records the block into ``<folder>/<name>-<time>-<pid>-<random>.bin``
(unique across restarts and containers that share the folder: PID 1 of every container), and
``nox -s flamegraph -- --capture <that file>`` turns it into the usual reports. When the
variable is unset, the cost is one environment lookup; memray is not even imported. memray is
not a runtime dependency of this package: install it where you want to capture (it does not
exist for Windows). memray allows one tracker per process at a time, so a block entered while
another is tracked (or under ``memray run`` or ``pytest --memray``) runs untracked, with a
warning in the log. Nothing here raises into the service: a folder that cannot be made, a
disk that is full or a memray that fails is logged, and the block runs untracked.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

CAPTURES_VARIABLE = "MEMWISE_CAPTURES"
_log = logging.getLogger(__name__)
# memray allows one Tracker per process: the blocks and the memory watch's captures take turns.
tracker_slot = threading.Lock()


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
            self._tracker, self.path = self._start(Path(folder))
        # The service's block runs, tracked or not.
        except Exception as error:  # noqa: BLE001
            _log.warning("%r runs untracked: %s", self.name, error)
            self._tracker, self.path = None, None
            self._release()
        return self.path

    def _start(self, folder: Path) -> tuple[Any, Path]:
        try:
            from memray import Tracker  # imported only when tracking is on
        except ImportError:
            msg = f"{CAPTURES_VARIABLE} is set, but memray is not installed"
            raise RuntimeError(msg) from None
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / unique_name(self.name)
        tracker = Tracker(path, native_traces=self.native)
        tracker.__enter__()  # RuntimeError when another Tracker is active in this process
        return tracker, path

    def __exit__(self, *exc_info: object) -> None:
        tracker, self._tracker = self._tracker, None
        try:
            if tracker is not None:
                tracker.__exit__(None, None, None)
                _log.info("memory capture of %r written to %s", self.name, self.path)
        except Exception as error:  # noqa: BLE001 (the block's own outcome stands)
            _log.warning("memory capture of %r not written: %s", self.name, error)
        finally:
            self._release()

    def _release(self) -> None:
        if self._holds_lock:
            self._holds_lock = False
            tracker_slot.release()


def unique_name(name: str) -> str:
    """``<name>-<UTC time>-<pid>-<random>.bin``: a restarted process, or another container
    with the same PID on a shared volume, never meets an earlier capture's name (memray
    refuses to open an existing file)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{name}-{stamp}-{os.getpid()}-{secrets.token_hex(4)}.bin"
