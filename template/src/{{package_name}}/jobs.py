"""A job queue with a fixed pool of worker threads and a bounded backlog.

Background tasks are where services lose memory quietly: a producer faster than its
consumers grows an unbounded queue. Here the backlog has a maximum size, so a fast producer
blocks (back-pressure) instead of piling up work in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

Job = Callable[[], Any]
_STOP = object()


class JobQueue:
    """Run submitted callables on ``workers`` threads; keep their results until collected."""

    def __init__(self, workers: int = 2, max_backlog: int = 100) -> None:
        if workers < 1 or max_backlog < 1:
            msg = f"workers and max_backlog must be positive, got {workers} and {max_backlog}"
            raise ValueError(msg)
        self._backlog: queue.Queue[object] = queue.Queue(maxsize=max_backlog)
        self._results: queue.Queue[Any] = queue.Queue()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"job-worker-{index}", daemon=True)
            for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, job: Job) -> None:
        """Queue ``job``; blocks while the backlog is full."""
        self._backlog.put(job)

    def results(self) -> list[Any]:
        """Return and forget the results finished so far."""
        finished = []
        while True:
            try:
                finished.append(self._results.get_nowait())
            except queue.Empty:
                return finished

    def close(self) -> list[Any]:
        """Finish every queued job, stop the workers and return the remaining results."""
        if self._closed:
            return self.results()
        self._closed = True
        for _ in self._threads:
            self._backlog.put(_STOP)
        for thread in self._threads:
            thread.join()
        return self.results()

    def _work(self) -> None:
        while True:
            job = self._backlog.get()
            if job is _STOP:
                return
            self._results.put(job())  # type: ignore[operator]
