"""The worker's hot lane: a repeat GET answered by the poller itself, from memory.

A page view of a blog sends two small GETs (``widget`` and ``counts``) that nearly always
ask for an answer the worker already holds (``service.http.hot_reads``). The middleware
answers those in about 0.1 ms, yet each cost the worker three to four times that around
it: gunicorn's request parser, a hand-off to a pool thread and back, and the WSGI
response machinery. Here the poller, which already holds the whole request in its buffer,
reads its head, asks the middleware for a confirmed stored answer (the same lookup and the
same one check query) and writes it in one send, without a thread.

Only plain requests take the lane: ``GET``, HTTP/1.1, CRLF line ends, no body, no
credentials, no ``Connection`` other than ``keep-alive``, a ``Host``, an origin-form
target, header names that are plain tokens with no underscore, no folded lines and no
repeated header the key uses. Anything else, and any request the middleware does not hold
or cannot confirm, goes the usual way (gunicorn's parser, a thread, Flask) and gets the
answer it always got. The bytes written are the ones gunicorn would write: its status
line, ``Server``, ``Date`` and ``Connection`` headers, then the stored headers.
"""

from __future__ import annotations

import contextlib
import re
import selectors
import time
from collections import OrderedDict
from collections.abc import Callable
from email.utils import formatdate
from functools import partial
from typing import Any
from urllib.parse import unquote_to_bytes

_TOKEN = re.compile(rb"[!#$%&'*+.^`|~0-9A-Za-z-]+")
# Headers whose repetition would change what the key or the answer means.
_SINGLE = frozenset({"HTTP_HOST", "HTTP_ORIGIN", "HTTP_ACCEPT_ENCODING", "HTTP_IF_NONE_MATCH"})
SERVER = "gunicorn"  # what gunicorn's own Server header says
QUEUE_LIMIT = 1024  # PostgreSQL checks waiting for a free connection, per worker


def hot_environ(head: bytes, scheme: str = "http") -> dict[str, Any] | None:
    """The WSGI environ a plain GET's head gives (the keys the middleware reads, spelled
    as gunicorn spells them), or None when the request must take the usual way."""
    lines = head.split(b"\r\n")
    if len(lines) < 3 or lines[-1] or lines[-2]:
        return None  # not CRLF-ended as parsed here
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET" or parts[2] != b"HTTP/1.1":
        return None
    target = parts[1]
    if not target.startswith(b"/") or target.startswith(b"//") or b"#" in target:
        return None
    path, _, query = target.partition(b"?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "wsgi.url_scheme": scheme,
    }
    for line in lines[1:-2]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or b"_" in name:
            return None
        key = "HTTP_" + name.decode("ascii").upper().replace("-", "_")
        if key in environ and key in _SINGLE:
            return None
        text = value.strip(b" \t").decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    if "HTTP_HOST" not in environ or "HTTP_CONTENT_LENGTH" in environ:
        return None
    if "HTTP_TRANSFER_ENCODING" in environ or "HTTP_EXPECT" in environ:
        return None
    connection = environ.get("HTTP_CONNECTION")
    if connection is not None and connection.strip().lower() != "keep-alive":
        return None
    return environ


class HttpDate:
    """The ``Date`` header's value, formatted once a second rather than once an answer."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._text = formatdate(second, localtime=False, usegmt=True)
            self._second = second
        return self._text


def response_bytes(status: str, headers: list[tuple[str, str]], body: bytes, date: str) -> bytes:
    """The whole answer as gunicorn writes a kept-alive HTTP/1.1 response."""
    lines = [
        f"HTTP/1.1 {status}\r\n",
        f"Server: {SERVER}\r\n",
        f"Date: {date}\r\n",
        "Connection: keep-alive\r\n",
    ]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    lines.append("\r\n")
    head = "".join(lines).encode("latin-1")
    return head + body if not status.startswith("304") else head


class PostgresChecks:
    """Hot-lane checks on PostgreSQL without waiting for the answer.

    On SQLite a check is a local read of a few microseconds, made in place. On PostgreSQL
    it is a round trip: made in place, the poller would wait on each and nothing would
    overlap (hot reads at half of SQLite's rate). Here the check is sent on one of a few
    connections of the worker's own (non-blocking libpq, the statements prepared when it
    opens) and the poller goes on; when the connection's socket turns readable, the result
    is read and ``done(result)`` runs in the poller (``done(None)``: the check failed, the
    connection was closed). Checks wait in a queue while every connection is busy; when
    none can be opened, :meth:`start` says no and the request takes the usual way.

    Identical checks that wait in the queue are sent once, and its result goes to each of
    them (a popular article read by many at once costs one query per free connection, not
    one per reader). Only waiting checks are joined, never one already sent: a check that
    left before a reader's request arrived could predate a write that reader has seen.

    Each connection's socket stays registered with the poller under the descriptor it had
    when it opened, and is unregistered before the connection is closed: a descriptor
    left registered after closing would be reused by the next accepted client and make
    the poller's registration of it fail.
    """

    def __init__(self, open_connection: Callable[[], Any], poller: Any, size: int) -> None:
        self._open_connection = open_connection
        self._poller = poller
        self._size = size
        self._free: list[_Checker] = []
        # (statement, arguments) -> the callbacks waiting for it, oldest check first
        self._queue: OrderedDict[tuple[str, tuple[bytes, ...]], list[Callable[[Any], None]]]
        self._queue = OrderedDict()
        self._queued = 0  # callbacks in the queue
        self._opened = 0

    def start(self, name: str, params: list[bytes], done: Callable[[Any], None]) -> bool:
        """Send one check, or queue it behind the others when every connection is busy;
        False when it could not be (nothing will be called)."""
        checker = self._free.pop() if self._free else self._open()
        if checker is None:
            if not self._opened or self._queued >= QUEUE_LIMIT:
                return False
            self._queue.setdefault((name, tuple(params)), []).append(done)
            self._queued += 1
            return True
        return self._send(checker, name, params, [done])

    def _send(
        self,
        checker: _Checker,
        name: str,
        params: list[bytes] | tuple[bytes, ...],
        done: list[Callable[[Any], None]],
    ) -> bool:
        pgconn = checker.connection.pgconn
        try:
            pgconn.send_query_prepared(name.encode(), list(params))
            while pgconn.flush():  # a check is small: this loop is not expected to turn
                pass
        except Exception:
            self._close(checker)
            return False
        checker.done = done
        return True

    def _open(self) -> _Checker | None:
        if self._opened >= self._size:
            return None
        connection = None
        try:
            connection = self._open_connection()
            connection.pgconn.nonblocking = 1
            checker = _Checker(connection, connection.pgconn.socket)
            self._poller.register(
                checker.fd, selectors.EVENT_READ, partial(self._readable, checker)
            )
        except Exception:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            return None
        self._opened += 1
        return checker

    def _readable(self, checker: _Checker, _key: Any) -> None:
        pgconn = checker.connection.pgconn
        try:
            pgconn.consume_input()
            if pgconn.is_busy():
                return
            result = pgconn.get_result()
            while pgconn.get_result() is not None:  # the end of this query's results
                pass
        except Exception:
            self._fail(checker)
            return
        done, checker.done = checker.done, None
        if done is None:  # nothing was asked: the server spoke (a notice, a goodbye)
            if result is not None:
                self._close(checker)
            return
        self._free.append(checker)
        self._next_queued()
        for each in done:
            each(result)

    def _next_queued(self) -> None:
        """Send queued checks on the free connections (opening one if none is left)."""
        while self._queue:
            checker = self._free.pop() if self._free else self._open()
            if checker is None and self._opened:
                return  # the next free connection sends the rest
            (name, params), done = self._queue.popitem(last=False)
            self._queued -= len(done)
            if checker is None or not self._send(checker, name, params, done):
                for each in done:  # nothing can send it: the usual way
                    each(None)

    def _fail(self, checker: _Checker) -> None:
        done, checker.done = checker.done, None
        self._close(checker)
        if done is not None:
            for each in done:
                each(None)
        self._next_queued()

    def _close(self, checker: _Checker) -> None:
        with contextlib.suppress(Exception):
            self._poller.unregister(checker.fd)
        with contextlib.suppress(Exception):
            checker.connection.close()
        if checker in self._free:
            self._free.remove(checker)
        self._opened -= 1


class _Checker:
    """One check connection: the psycopg connection, its socket's descriptor as
    registered, and the waiting check's callback."""

    def __init__(self, connection: Any, fd: int) -> None:
        self.connection = connection
        self.fd = fd
        self.done: list[Callable[[Any], None]] | None = None
