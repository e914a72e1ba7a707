"""On SQLite, one request that may write runs at a time in each process.

SQLite lets one transaction write at a time, and :class:`~service.db.types.WriteGate`
already queues writers on it. Letting several write requests run at once in one process
still gained nothing: their Python work (parsing, rendering, scoring) cannot run in
parallel under the GIL, and every short SQLite call releases the GIL, so two or more
threads in the post path handed it to each other on every statement. One worker on this
2-core machine, wrk posting with 16 connections (``bench/bench_vs_waline.py``'s post), took
3.2 ms of user and 0.7 ms of system CPU per post with 8 threads in the post path, 2.4 and
0.3 ms with one: 280 posts a second against 370.

So requests whose method may write (everything but GET, HEAD and OPTIONS) take this
process's lane for the whole time the app handles them; reads never wait for it, and the
other threads stay free for them. A request that waits for the lane longer than the
database's busy timeout goes on without it (the write gate then decides, as before); the
time it waited comes off each of its waits for the gate (:func:`service.db.types.lane_waited`),
so a writer still gives up within the one timeout.

Under ``ranklet serve`` the worker also routes these requests to one thread of their own
(``service.server_writes``), so they no longer park the pool's threads here; the lane stays
the guarantee for any other server (and for the writes sent back to the pool when one runs
long).

PostgreSQL writes run in parallel (each waits on its own round trips), so no lane there.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from service.db.types import lane_wait_so_far, lane_waited

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def may_write(head: bytes | bytearray) -> bool:
    """Whether a request whose first bytes are ``head`` may write (its method is not one of
    the read methods), for a server that routes by it before parsing (the worker's write
    thread); a start with no method yet counts as a read."""
    space = head.find(b" ", 0, 16)
    return space > 0 and head[:space].decode("latin-1") not in READ_METHODS


class WriteLane:
    """WSGI middleware: requests that may write run one at a time in this process."""

    def __init__(self, wsgi_app: WSGIApplication, timeout: float) -> None:
        self.wsgi_app = wsgi_app
        self.timeout = timeout
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _lane(self) -> threading.Lock:
        if self._pid != os.getpid():  # a forked child: the parent's lock may have been held
            self._lock = threading.Lock()
            self._pid = os.getpid()
        return self._lock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") in READ_METHODS:
            return self.wsgi_app(environ, start_response)
        lane = self._lane()
        started = time.monotonic()
        entered = lane.acquire(timeout=self.timeout)
        try:
            # Added to what it waited before the lane (queued for the worker's write thread).
            with lane_waited(lane_wait_so_far() + time.monotonic() - started):
                return self.wsgi_app(environ, start_response)
        finally:
            if entered:
                lane.release()
