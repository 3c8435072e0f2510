"""memray captures recorded by the watch: one at a time, within a disk budget.

A capture is recorded under a hidden temporary name and renamed to ``watch-<pid>-<time>.bin``
once memray has closed it, so the folder never shows a half-written capture (a process killed
mid-capture leaves only a ``.partial`` file, which the budget ignores). The budget counts the
captures already in the folder, whichever process wrote them: several workers of one service
can share a folder and its limits.
"""

from __future__ import annotations

import importlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from memwise_runtime.sizes import mib
from memwise_runtime.tracking import tracker_slot

_log = logging.getLogger(__name__)
PATTERN = "watch-*.bin"


def memray_tracker() -> Any | None:
    """memray's Tracker class, or None when memray is not installed here."""
    try:
        return importlib.import_module("memray").Tracker
    except ImportError:
        return None


class CaptureFolder:
    """Where captures go, and whether one more fits in the budget."""

    def __init__(self, folder: Path, max_captures: int, max_bytes: int) -> None:
        self.folder = folder
        self.max_captures = max_captures
        self.max_bytes = max_bytes

    def existing(self) -> list[Path]:
        return sorted(self.folder.glob(PATTERN))

    def over_budget(self) -> str | None:
        """Why no capture may be added, or None."""
        found = self.existing()
        if len(found) >= self.max_captures:
            return f"{len(found)} captures already in {self.folder} (at most {self.max_captures})"
        used = sum(path.stat().st_size for path in found)
        if used >= self.max_bytes:
            return f"the captures in {self.folder} take {mib(used)} (at most {mib(self.max_bytes)})"
        return None

    def new_name(self) -> tuple[Path, Path]:
        """The temporary path memray writes and the final name of the capture: unique
        across restarts and containers sharing the folder (each one's service is PID 1).
        """
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        final = self.folder / f"watch-{os.getpid()}-{stamp}-{secrets.token_hex(4)}.bin"
        return self.folder / f".{final.name}.partial", final


class Capture:
    """A memray capture in progress; ``finish()`` closes it and gives it its name."""

    def __init__(self, tracker: Any, partial: Path, final: Path, until: float) -> None:
        self._tracker = tracker
        self.partial = partial
        self.final = final
        self.until = until

    @classmethod
    def start(cls, folder: CaptureFolder, until: float, tracker_class: Any) -> Capture:
        """Start recording until the clock reads ``until``; RuntimeError when another tracker
        holds the process's one slot, OSError when memray cannot open the file."""
        if not tracker_slot.acquire(blocking=False):
            raise RuntimeError(
                "memray's one tracker is in use (track_memory, or the live view)"
            )
        try:
            folder.folder.mkdir(parents=True, exist_ok=True)
            partial, final = folder.new_name()
            tracker = tracker_class(partial)
            tracker.__enter__()
        except BaseException:
            tracker_slot.release()
            raise
        return cls(tracker, partial, final, until)

    def finish(self) -> Path:
        """Close the capture and name it; the process's tracker slot is free again whatever
        memray or the disk do (an OSError of the rename is the caller's to log)."""
        try:
            self._tracker.__exit__(None, None, None)
        finally:
            tracker_slot.release()
        self.partial.replace(self.final)
        return self.final
