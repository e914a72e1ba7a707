"""The worker's write thread: on SQLite, requests that may write run on one thread of their own.

SQLite's write lane (``service.http.write_lane``) lets one request that may write run at a
time per process. With every request on the worker's shared pool, a burst of posts parked
most of its threads on the lane: each woke to parse its request and build its context
while the lane's holder ran, and the two handed the GIL back and forth on every SQLite
call the holder made (39 futex calls a post). Routed here, posts queue in order and the
one running shares the GIL with the poller only: one worker posting with 16 connections
went from 330 to 393 posts a second (eight paired rounds, docs/scaling.md "The write
thread"), and the pool's threads stay free for reads whatever the writes do.

A write that waits here is never stuck behind a slow one for long: once the request
running has taken longer than ``patience`` (the lane's own timeout), the ones waiting go
to the pool, where the lane's timeout and the database's write gate decide as before. And
the time a request waited in the queue counts as time waited in the lane
(:func:`service.db.types.lane_waited`): it comes off its wait for the write gate, so a
writer still gives up (503) within the one busy timeout however long the queue was.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent import futures
from typing import Any

from service.db.types import lane_waited

# (the call, its future, when it was queued)
_Job = tuple[Callable[[], Any], "futures.Future[Any]", float]


class WriteThread:
    """One thread running submitted calls in order; its waiting calls can be taken back."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self._queue: deque[_Job] = deque()
        self._ready = threading.Condition()
        self._stopped = False
        self._running_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name="ranklet-write", daemon=True)
        self._thread.start()

    def submit(self, call: Callable[[], Any]) -> futures.Future[Any]:
        future: futures.Future[Any] = futures.Future()
        with self._ready:
            self._queue.append((call, future, time.monotonic()))
            self._ready.notify()
        return future

    def overdue(self) -> list[_Job]:
        """The calls waiting, taken back, when the one running has run past ``patience``
        (the caller runs them elsewhere and settles their futures); else none."""
        with self._ready:
            since = self._running_since
            if since is None or time.monotonic() - since < self.patience or not self._queue:
                return []
            taken = list(self._queue)
            self._queue.clear()
        return taken

    def shutdown(self) -> None:
        """No new call starts; the one running finishes (the thread is a daemon)."""
        with self._ready:
            self._stopped = True
            self._ready.notify()

    def _loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                call, future, queued = self._queue.popleft()
                self._running_since = time.monotonic()
            try:
                settle(future, call, queued)
            finally:
                with self._ready:
                    self._running_since = None


def settle(future: futures.Future[Any], call: Callable[[], Any], queued: float) -> None:
    """Run ``call`` and give ``future`` its result or its exception; ``queued``: when it
    was queued (the time since counts as waited in the write lane)."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        with lane_waited(max(0.0, time.monotonic() - queued)):
            result = call()
    except BaseException as error:  # the future carries it to its callback, as a pool's does
        future.set_exception(error)
    else:
        future.set_result(result)
