"""Which tests started a child process: memray (so pytest-memray, so a memory budget) counts
only the process it runs in, and a child's memory is not in the test's peak.

Three public signals, because no one of them sees every way a child starts:
- audit events (PEP 578): ``os.fork``, ``subprocess.Popen``, ``os.system``, ``os.posix_spawn``
  ... and, from Python 3.12 on, ``_posixsubprocess.fork_exec`` (multiprocessing's spawn and
  forkserver start methods raise no event of their own before that);
- the resources of children the test waited for (``getrusage(RUSAGE_CHILDREN)``): any
  process that ran and was reaped adds CPU time or page faults;
- on Linux, the children still running when the test ends (``/proc/self/task/*/children``).
"""

from __future__ import annotations

import sys
from pathlib import Path

CHILD_EVENTS = {
    "os.fork": "fork",
    "os.forkpty": "fork",
    "os.system": "os.system",
    "os.posix_spawn": "spawn",
    "os.spawn": "spawn",
    "os.exec": "exec",
    "subprocess.Popen": "subprocess",
    "_posixsubprocess.fork_exec": "spawn",
}
_seen: list[str] = []
_watching = False
_hooked = False


def _on_event(event: str, _args: tuple[object, ...]) -> None:
    # Audit hooks run on every audited call of the process: the fast path is one lookup.
    if _watching and event in CHILD_EVENTS:
        _seen.append(CHILD_EVENTS[event])


class ChildProcesses:
    """Started at a test's call, ended after it: which kinds of child it started."""

    def __init__(self) -> None:
        global _hooked, _watching
        if not _hooked:  # an audit hook cannot be removed: one for the process
            sys.addaudithook(_on_event)
            _hooked = True
        _seen.clear()
        _watching = True
        self._before = _reaped_children()
        self._running = _running_children()

    def end(self) -> list[str]:
        """The kinds of child process the test started (empty: none seen)."""
        global _watching
        _watching = False
        seen = set(_seen)
        _seen.clear()
        # Popen itself spawns (posix_spawn, fork_exec): said once, as "subprocess".
        if "subprocess" in seen:
            seen.discard("spawn")
        kinds = sorted(seen)
        if not kinds and (
            _reaped_children() != self._before or _running_children() - self._running
        ):
            kinds = ["child process"]
        return kinds


def _reaped_children() -> tuple[float, ...]:
    if sys.platform == "win32":  # no resource module; memray does not run there either
        return ()
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime, usage.ru_stime, usage.ru_minflt, usage.ru_majflt)


def _running_children() -> set[str]:
    found: set[str] = set()
    for listing in Path("/proc/self/task").glob("*/children"):
        try:
            found.update(listing.read_text().split())
        except OSError:
            continue
    return found
