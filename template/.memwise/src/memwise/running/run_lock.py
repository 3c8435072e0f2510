"""One memory run at a time in a project.

Two memory sessions at once would share one environment (one reinstalling it while the other
measures) and one reports folder (one emptying it while the other writes): the damage then
looks like a property of the tests (a crashed ``memray run``, tests "run without memory
tracking"). Every session that builds or uses memwise's shared environments, or writes a
reports folder, holds this lock; a second run waits, saying which run it waits for.

The lock is an advisory ``flock`` on ``.nox/memwise-run.lock``, released by the operating
system when the holding process ends, however it ends (no stale lock after a crash or a
kill). It is held once per process: a session that measures another commit inside memgate
already holds it. Windows has no ``fcntl``; memray (so every measuring session) does not run
there, and the lock is skipped.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import nox

from memwise.running.shared_env import ignore_in_git

LOCK_FILE = Path(".nox") / "memwise-run.lock"
_held: list[int] = []  # how deep this process holds it


@contextlib.contextmanager
def one_run(session: nox.Session, root: Path) -> Iterator[None]:
    """Hold the project's memory-run lock while the session runs; wait (and say for what)
    while another run holds it."""
    if sys.platform == "win32" or _held:
        _held.append(1)
        try:
            yield
        finally:
            _held.pop()
        return
    import fcntl  # not on Windows (above)

    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore_in_git(path.parent)
    with path.open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another memory session"
            session.log(
                f"waiting for {holder} to finish: one memory run at a time in this project "
                "(they share one environment and one reports folder)"
            )
            waited = time.monotonic()
            fcntl.flock(lock, fcntl.LOCK_EX)
            session.log(f"the other run ended; {session.name} starts after "
                        f"{time.monotonic() - waited:.0f} s")  # fmt: skip
        lock.seek(0)
        lock.truncate()
        lock.write(
            f"`nox -s {session.name}` (process {os.getpid()}, started "
            f"{time.strftime('%H:%M:%S')})\n"
        )
        lock.flush()
        _held.append(1)
        try:
            yield
        finally:
            _held.pop()
            lock.seek(0)
            lock.truncate()
            fcntl.flock(lock, fcntl.LOCK_UN)
