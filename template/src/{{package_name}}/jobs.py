"""Background tasks on asyncio: a fixed number of workers fed by a bounded queue.

Background tasks are where services lose memory quietly: a producer faster than its
consumers grows an unbounded queue, and tasks created with ``asyncio.create_task`` and never
awaited keep their results (and exceptions) alive. Here the backlog has a maximum size, so a
fast producer waits (back-pressure), and ``close`` drains the queue and stops every worker.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

Job = Callable[[], Any]  # a function, or a coroutine function


class BackgroundTasks:
    """Run jobs on ``workers`` asyncio tasks; keep their results until collected."""

    def __init__(self, workers: int, max_backlog: int) -> None:
        if workers < 1 or max_backlog < 1:
            msg = f"workers and max_backlog must be positive, got {workers}, {max_backlog}"
            raise ValueError(msg)
        self._queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max_backlog)
        self._results: list[Any] = []
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]
        self._closed = False

    async def submit(self, job: Job) -> None:
        """Queue a job; waits while the backlog is full."""
        if self._closed:
            raise RuntimeError("the background tasks are closed")
        await self._queue.put(job)

    def results(self) -> list[Any]:
        """The results finished since the last call (and forget them)."""
        done, self._results = self._results, []
        return done

    async def close(self) -> list[Any]:
        """Finish every queued job, stop the workers, return the remaining results."""
        self._closed = True
        await self._queue.join()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        return self.results()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                result = job()
                if inspect.isawaitable(result):
                    result = await result
                self._results.append(result)
            finally:
                self._queue.task_done()
