"""memray's live view of the running service, for an operator (off unless a port is set).

memray's ``SocketDestination`` opens a server socket and waits for one reader (``memray live
PORT`` on the operator's side) before tracking starts, so it waits in a thread of its own. The
socket has no authentication: it is bound to 127.0.0.1 unless told otherwise, and an operator
reaches it through an SSH tunnel or ``kubectl port-forward``. While the view is served it holds
the process's one memray tracker, so the watch records no capture.
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from memwise_runtime.tracking import tracker_slot

_log = logging.getLogger(__name__)


def serve_live_view(port: int, address: str) -> threading.Thread:
    """Start waiting for ``memray live PORT`` in a daemon thread; return that thread."""
    thread = threading.Thread(
        target=_serve, args=(port, address), name="memwise-live-view", daemon=True
    )
    thread.start()
    return thread


def _serve(port: int, address: str) -> None:
    try:
        memray = importlib.import_module("memray")
    except ImportError:
        _log.error(
            "memwise watch: the live view needs memray (memwise-runtime[capture])"
        )
        return
    if not tracker_slot.acquire(blocking=False):
        _log.error(
            "memwise watch: live view not served, a memray tracker is already running"
        )
        return
    try:
        _log.warning(
            "memwise watch: live view waiting on %s:%d (run `memray live %d` there; no "
            "authentication, keep it on localhost)", address, port, port,
        )  # fmt: skip
        destination = memray.SocketDestination(server_port=port, address=address)
        tracker: Any = memray.Tracker(destination=destination)
        tracker.__enter__()  # held until the process ends: the reader follows it to the end
        _log.warning("memwise watch: a live view reader connected on port %d", port)
    except Exception:  # noqa: BLE001 (a live view that fails must not stop the service)
        tracker_slot.release()
        _log.exception(
            "memwise watch: the live view could not be served on port %d", port
        )
