"""Our gunicorn worker: the poller owns every connection until a whole request is in.

gunicorn's threaded worker gives each new connection to a thread, which waits up to 5 s
for its first byte and then reads the request with blocking calls: behind 1,000 sockets
that send nothing, ``/healthz`` took 55 s, and surviving that took 64 threads per worker,
which then fight over the GIL (a trivial route under 1,000/s per worker). Here the main
thread's poller does all the waiting:

- It accepts, reads without blocking into the connection's buffer and hands the
  connection to the thread pool only once :class:`~service.server_reading.RequestScan`
  finds one whole request (head, and body up to the app's ``MAX_CONTENT_LENGTH``), or an
  error a thread should answer at once (a body over the limit is a 413 without waiting
  for it). Idle and slow connections cost a buffer, never a thread, so a few threads per
  worker are enough: they only ever run requests that are ready.
- Deadlines are swept by the poller: a connection that has sent nothing is closed after
  the keep-alive timeout, a head not in within ``READ_DEADLINE`` closes the connection, a
  body not in by then goes to a thread, where Flask answers 408 in JSON.
- A connection that closes with its request body unread (a 413, a 408, an error) is
  half-closed after the answer and drained by the poller, a bounded amount for a bounded
  time, before the socket is closed: closing with unread bytes makes the kernel send a
  reset, which under load reached the client before it had read its 413.
- gunicorn's own refusals (400 bad request line, 414, 431, ...) are answered in the API's
  JSON error shape instead of its HTML pages.
- On SQLite, requests that may write go to one thread of their own
  (:class:`~service.server_writes.WriteThread`) instead of the pool.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import logging
import resource
import selectors
import socket
import time
from functools import partial
from http import HTTPStatus
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import TConn, ThreadWorker

from service.core.errors import describe, sane_request_id
from service.http.write_lane import may_write
from service.server_hotlane import HttpDate, PostgresChecks, hot_environ, response_bytes
from service.server_reading import (
    FIELD_LIMIT,
    FIELDS_LIMIT,
    HEAD_LIMIT,
    DeadlineSocket,
    RequestScan,
    Verdict,
)
from service.server_writes import WriteThread, settle

SWEEP_INTERVAL = 0.2  # seconds between two looks at the deadlines
# Past-deadline connections closed per round of the loop: a crowd of idle sockets opened
# together times out together, and closing 2,000 in one go held every answer for tens of
# milliseconds; the rest wait for the next rounds, which come at once, between answers.
SWEEP_BATCH = 64
LINGER_SECONDS = 2.0  # how long a closing connection's unread body is drained at most
LINGER_BYTES = 8 * 1024 * 1024  # and how much of it
ACCEPT_BATCH = 64  # connections accepted per readiness of the listener
RECV_SIZE = 64 * 1024
DEFAULT_BODY_LIMIT = 64 * 1024
# The hot lane runs its check query in the poller: one that takes longer than this (a
# database far away or struggling) turns the lane off for HOT_LANE_PAUSE, so that one slow
# check at a time cannot hold every connection; threads answer meanwhile.
HOT_LANE_SLOW = 0.25
HOT_LANE_PAUSE = 10.0
HOT_LANE_PG_CONNECTIONS = 4  # PostgreSQL checks in flight at once per worker (hot lane)

log = logging.getLogger("ranklet.server")


def _json_error(status: int, message: str, request_id: str) -> bytes:
    """An answer in the API's error shape, written by the worker outside Flask."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps({"code": status, "status": phrase, "message": message}).encode()
    head = [
        f"HTTP/1.1 {status} {phrase}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "X-Content-Type-Options: nosniff",
        f"X-Request-Id: {request_id}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def _header(req: Any, name: str) -> str | None:
    """A header of a request gunicorn parsed (as far as it got), or None."""
    for key, value in getattr(req, "headers", None) or ():
        if isinstance(key, str) and key.lower() == name.lower():
            return str(value)
    return None


# gunicorn's request errors, most specific first: (exception, status, message).
_REQUEST_ERRORS: tuple[
    tuple[type[BaseException] | tuple[type[BaseException], ...], int, str], ...
] = (
    (
        http_errors.LimitRequestLine,
        414,
        f"The request line is too long (at most {HEAD_LIMIT} bytes with the headers).",
    ),
    (
        http_errors.LimitRequestHeaders,
        431,
        f"Too many or too large header fields (at most {FIELDS_LIMIT} fields "
        f"of {FIELD_LIMIT} bytes).",
    ),
    (http_errors.UnsupportedTransferCoding, 501, "The transfer coding is not supported."),
    (http_errors.ExpectationFailed, 417, "The Expect header is not supported."),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden."),
    (
        (
            http_errors.InvalidRequestLine,
            http_errors.InvalidRequestMethod,
            http_errors.InvalidHTTPVersion,
            http_errors.InvalidHeader,
            http_errors.InvalidHeaderName,
            http_errors.InvalidProxyLine,
            http_errors.InvalidSchemeHeaders,
            http_errors.ObsoleteFolding,
            http_errors.InvalidChunkSize,
            http_errors.ChunkMissingTerminator,
            http_errors.InvalidChunkExtension,
        ),
        400,
        "The request is malformed (request line, headers or chunked body).",
    ),
)


class _Lingering:
    """A half-closed connection whose unread request bytes the poller drains, then closes."""

    def __init__(self, sock: socket.socket, until: float) -> None:
        self.sock = sock
        self.until = until
        self.budget = LINGER_BYTES


class RankletWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker whose threads only ever run whole requests."""

    _writes: WriteThread | None = None  # SQLite's requests that may write (load_wsgi)

    def init_process(self) -> None:
        self._watched: dict[int, Any] = {}  # fd -> TConn still being read by the poller
        self._lingering: dict[int, _Lingering] = {}
        self._next_sweep = 0.0
        self._expired: list[Any] = []  # found past their deadline, not yet closed
        self._idle_timeout = float(self.cfg.keepalive or 5)
        _raise_open_files(self.cfg.worker_connections + 64)
        super().init_process()

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = getattr(self.wsgi, "config", None)
        limit = config.get("MAX_CONTENT_LENGTH") if config is not None else None
        self._body_limit = int(limit) if limit else DEFAULT_BODY_LIMIT
        extensions = getattr(self.wsgi, "extensions", None) or {}
        self._hot = extensions.get("ranklet_hot_reads")  # the middleware, for the hot lane
        # With the write lane (SQLite), requests that may write run on one thread of their
        # own: they would run one at a time anyway (service.server_writes).
        lane = extensions.get("ranklet_write_lane")
        if lane is not None:
            self._writes = WriteThread(lane.timeout)
        self._date = _date_once_a_second()  # the hot lane's answers and gunicorn's alike
        self._scheme = "https" if self.cfg.is_ssl else "http"
        self._lane_closed_until = 0.0
        self._pg_checks: PostgresChecks | bool | None = False  # False: not decided yet
        _freeze_the_app()

    # --- the poller: accepting and reading until a request is whole ---------------------

    def accept(self, listener: socket.socket) -> None:
        for _ in range(ACCEPT_BATCH):
            if self.nr_conns >= self.worker_connections and not self._evict_idle():
                return
            try:
                client, address = listener.accept()
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            conn = TConn(self.cfg, client, address, listener.getsockname())  # non-blocking
            conn.sock = DeadlineSocket(client)
            conn.scan = RequestScan(self._body_limit)
            conn.complete = False
            self.enqueue_req(conn)

    def _evict_idle(self) -> bool:
        """At the cap, the connection idle the longest (nothing sent) makes room for a new
        one: a crowd of idle sockets cannot lock out the next reader."""
        idle = [conn for conn in self._watched.values() if not conn.sock.pending]
        if not idle:
            return False
        oldest = min(idle, key=lambda conn: conn.deadline)
        self._unwatch(oldest)
        self._drop(oldest)
        return True

    def set_accept_enabled(self, enabled: bool) -> None:
        """gunicorn stops accepting at ``worker_connections``; this worker goes on while an
        idle connection can make room (see :meth:`_evict_idle`)."""
        if not enabled and self.alive and any(not c.sock.pending for c in self._watched.values()):
            return
        super().set_accept_enabled(enabled)

    def enqueue_req(self, conn: Any) -> None:
        """Every path that would give gunicorn's threads a connection lands here: the poller
        reads it first, unless its buffer already holds a whole request."""
        sock: DeadlineSocket = conn.sock
        now = time.monotonic()
        if sock.pending:
            sock.start_request(now)
            verdict = conn.scan.feed(sock.pending)
            if verdict is not Verdict.WAIT:
                self._dispatch(conn, verdict)
                return
            conn.deadline = sock.deadline
        else:
            sock.deadline = None
            conn.deadline = now + self._idle_timeout
        sock.whole = False
        try:
            if sock.raw.gettimeout() != 0.0:  # already non-blocking after a whole request
                sock.raw.setblocking(False)
            fd = sock.raw.fileno()
            self.poller.register(fd, selectors.EVENT_READ, partial(self._readable, conn))
        except (OSError, ValueError):
            self._drop(conn)
            return
        self._watched[fd] = conn

    def _readable(self, conn: Any, _fd: Any) -> None:
        sock: DeadlineSocket = conn.sock
        try:
            data = sock.raw.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client left (or reset)
            self._unwatch(conn)
            self._drop(conn)
            return
        if not sock.pending:
            sock.start_request()  # the first byte of a request: its deadline runs from here
            conn.deadline = sock.deadline
        sock.pending += data
        verdict = conn.scan.feed(sock.pending)
        if verdict is Verdict.WAIT:
            scan = conn.scan
            if scan.expects_continue and scan.head_end >= 0 and not scan.sent_continue:
                scan.sent_continue = True  # a second 100 from gunicorn later is allowed
                with contextlib.suppress(OSError):
                    sock.raw.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        self._unwatch(conn)
        self._dispatch(conn, verdict)

    def _dispatch(self, conn: Any, verdict: Verdict) -> None:
        """A thread answers: the request is whole, or it gets its error at once. A plain
        repeat GET whose answer the worker holds is answered here (the hot lane)."""
        if verdict is Verdict.READY and self._hot is not None and self._hot_lane(conn):
            return
        self._to_thread(conn, verdict)

    def _to_thread(self, conn: Any, verdict: Verdict) -> None:
        conn.complete = verdict is Verdict.READY
        conn.sock.whole = conn.complete and not self.cfg.is_ssl
        conn.data_ready = True  # gunicorn's handle() must not wait for data again
        if self._writes is not None and may_write(conn.sock.pending[:16]):
            future = self._writes.submit(partial(self.handle, conn))
        else:
            future = self.tpool.submit(self.handle, conn)
        future.add_done_callback(
            lambda done: self.method_queue.defer(self.finish_request, conn, done)
        )

    # --- the hot lane (service.server_hotlane) --------------------------------------------

    def _hot_lane(self, conn: Any) -> bool:
        """Answer a whole plain GET from the middleware's memory without a thread: on
        SQLite the check runs here and the answer goes in one send; on PostgreSQL the check
        is sent and the answer written when its result comes (:meth:`_checked`). False
        when nothing was taken on: the request then takes the usual way."""
        end = conn.scan.head_end
        if end < 0 or conn.scan.has_body or not self.alive:
            return False
        began = time.monotonic()
        if began < self._lane_closed_until:
            return False
        answer, sent_check = None, False
        try:
            environ = hot_environ(bytes(conn.sock.pending[:end]), self._scheme)
            if environ is not None:
                checks = self._postgres_checks()
                if checks is not None:
                    sent_check = self._send_check(checks, conn, environ, end)
                else:
                    answer = self._hot.answer_now(environ)
        except Exception:  # the usual way answers, with its own error handling
            log.debug("hot lane passed a request on", exc_info=True)
            answer, sent_check = None, False
        took = time.monotonic() - began
        if took > HOT_LANE_SLOW:
            self._lane_closed_until = began + took + HOT_LANE_PAUSE
            log.warning(
                "hot lane closed for %.0f s: a check took %.0f ms", HOT_LANE_PAUSE, took * 1e3
            )
        if sent_check:
            return True
        if answer is None:
            return False
        self._write_hot(conn, end, answer)
        return True

    def _postgres_checks(self) -> PostgresChecks | None:
        """The worker's non-blocking check connections when the checks run on PostgreSQL
        (decided at the first hot-lane request, once the app's engine is known)."""
        if self._pg_checks is False:
            if self._hot.checks_on_postgres():
                self._pg_checks = PostgresChecks(
                    self._hot.open_postgres, self.poller, HOT_LANE_PG_CONNECTIONS
                )
            else:
                self._pg_checks = None
        return self._pg_checks  # type: ignore[return-value]

    def _send_check(
        self, checks: PostgresChecks, conn: Any, environ: dict[str, Any], end: int
    ) -> bool:
        found = self._hot.stored(environ)
        if found is None:
            return False
        key, entry = found
        name, params = self._hot.postgres_check(entry)
        return checks.start(
            name, params, partial(self._checked, conn, environ, end, key, entry, name)
        )

    def _checked(
        self,
        conn: Any,
        environ: dict[str, Any],
        end: int,
        key: Any,
        entry: Any,
        name: str,
        result: Any,
    ) -> None:
        """A PostgreSQL check's result came: the stored answer if it confirms the entry,
        else the usual way (a thread and Flask, which store the new answer)."""
        answer = None
        try:
            if (
                result is not None
                and self.alive
                and self._hot.confirmed_by(key, entry, name, result)
            ):
                answer = self._hot.answer_of(entry, environ)
        except Exception:
            log.debug("hot lane passed a request on", exc_info=True)
        if answer is None:
            self._to_thread(conn, Verdict.READY)
            return
        self._write_hot(conn, end, answer)

    def _write_hot(self, conn: Any, end: int, answer: tuple[str, list[Any], bytes]) -> None:
        """Write a hot-lane answer in one send (a thread sends what the socket would not
        take at once), then keep the connection alive."""
        sock: DeadlineSocket = conn.sock
        data = response_bytes(*answer, self._date.now())
        del sock.pending[:end]
        conn.scan.reset()
        conn.complete = False
        try:
            sent = sock.raw.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:  # the client left
            self._drop(conn)
            return
        if sent < len(data):  # a client reading slowly: a thread sends the rest
            future = self.tpool.submit(self._send_rest, conn, memoryview(data)[sent:])
            future.add_done_callback(
                lambda done: self.method_queue.defer(self.finish_request, conn, done)
            )
        elif sock.pending:  # pipelined requests: the next one in the loop's next round
            self.method_queue.defer(self.enqueue_req, conn)
        else:
            self.enqueue_req(conn)

    @staticmethod
    def _send_rest(conn: Any, rest: memoryview) -> bool:
        """The rest of a hot-lane answer, bounded by the send timeout; True: kept alive."""
        conn.sock.raw.setblocking(True)
        conn.sock.sendall(rest)
        return True

    def _unwatch(self, conn: Any) -> None:
        fd = conn.sock.raw.fileno()
        self._watched.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(fd)

    def _drop(self, conn: Any) -> None:
        self.nr_conns -= 1
        with contextlib.suppress(OSError):
            conn.sock.raw.close()

    def handle_request(self, req: Any, conn: Any) -> bool:
        """gunicorn's, with the answer's head sent together with its body's first bytes
        (:meth:`DeadlineSocket.hold_next_write`): one send and one packet, not two."""
        sock: DeadlineSocket = conn.sock
        sock.hold_next_write()
        try:
            keep = bool(super().handle_request(req, conn))
        except BaseException:
            sock.discard_held()
            raise
        sock.flush()
        return keep

    def _move_overdue_writes(self) -> None:
        """Writes waiting behind one that has run past the lane's timeout go to the pool."""
        if self._writes is None:
            return
        for call, future, queued in self._writes.overdue():
            self.tpool.submit(settle, future, call, queued)

    def run(self) -> None:
        try:
            super().run()
        finally:
            if self._writes is not None:
                self._writes.shutdown()

    def handle_quit(self, sig: Any, frame: Any) -> None:
        if self._writes is not None:
            self._writes.shutdown()
        super().handle_quit(sig, frame)

    # --- after the answer ----------------------------------------------------------------

    def _keepalive_after(self, conn: Any, keepalive: bool) -> bool:
        """Kept alive only when the whole request was read before it ran: then any body the
        app left is already buffered and dropping it cannot wait on the client."""
        if not keepalive or not conn.complete:
            return False
        return bool(conn.parser.finish_body(deadline=time.monotonic() + 1.0))

    def finish_request(self, conn: Any, future: Any) -> None:
        try:
            keep = bool(future.result()) if not future.cancelled() else False
        except Exception:
            keep = False
        if keep and self.alive:
            ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
            if ahead:  # the next request's first bytes, read with this one
                conn.sock.unread(ahead)
            conn.scan.reset()
            conn.complete = False
            self.enqueue_req(conn)
            return
        self.nr_conns -= 1
        self._linger(conn.sock.raw)

    def _linger(self, sock: socket.socket) -> None:
        """Half-close after the answer, then drain what the client still sends (see the
        module's docstring), without a thread."""
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
            fd = sock.fileno()
            self.poller.register(fd, selectors.EVENT_READ, partial(self._drain, fd))
        except (OSError, ValueError):
            _close(sock)
            return
        self._lingering[fd] = _Lingering(sock, time.monotonic() + LINGER_SECONDS)

    def _drain(self, fd: int, _fileobj: Any) -> None:
        lingering = self._lingering.get(fd)
        if lingering is None:
            return
        try:
            while lingering.budget > 0:
                data = lingering.sock.recv(RECV_SIZE)
                if not data:
                    break
                lingering.budget -= len(data)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._end_linger(fd)

    def _end_linger(self, fd: int) -> None:
        lingering = self._lingering.pop(fd)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(fd)
        _close(lingering.sock)

    # --- deadlines, swept from gunicorn's loop ------------------------------------------

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        if self._expired:
            timeout = 0.0  # more to close: only what is ready now, then the next batch
        elif self._watched or self._lingering:
            timeout = min(timeout, SWEEP_INTERVAL)
        super().wait_for_and_dispatch_events(timeout)

    def murder_pending(self) -> None:
        """Called by gunicorn's loop after each round of events: past deadlines, at most
        ``SWEEP_BATCH`` connections a round while the worker serves (all when it stops)."""
        now = time.monotonic()
        if not self._expired:
            if now < self._next_sweep and self.alive:
                return
            self._next_sweep = now + SWEEP_INTERVAL
            self._move_overdue_writes()
            self._expired = [c for c in self._watched.values() if self._past_deadline(c, now)]
        batch = len(self._expired) if not self.alive else SWEEP_BATCH
        chosen, self._expired = self._expired[:batch], self._expired[batch:]
        for conn in chosen:
            if self._watched.get(conn.sock.raw.fileno()) is not conn:
                continue  # gone or handed on since it was found
            if not self._past_deadline(conn, now):
                continue  # its request began meanwhile: a new deadline
            self._unwatch(conn)
            if conn.scan.head_end >= 0:
                self._dispatch(conn, Verdict.NOW)  # a late body: the app answers 408
            else:
                self._drop(conn)  # idle, or a head still not in: closed without a word
        for fd in [fd for fd, lingering in self._lingering.items() if lingering.until <= now]:
            self._end_linger(fd)

    def _past_deadline(self, conn: Any, now: float) -> bool:
        """Whether the sweep closes (or answers) ``conn`` now: its deadline has passed, or
        the worker is stopping and it is idle."""
        return bool(conn.deadline <= now or not (self.alive or conn.sock.pending))

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        # In English: a request refused here was not understood far enough to know its
        # language (no site, often no headers), and a 500 here is not the reader's doing.
        request_id = sane_request_id(_header(req, "X-Request-Id"))
        for kinds, status, message in _REQUEST_ERRORS:
            if isinstance(exc, kinds):
                log.info(
                    "refused a request (%s, request id %s): %s",
                    status,
                    request_id,
                    type(exc).__name__,
                )
                answer = _json_error(status, message, request_id)
                break
        else:
            log.error("error handling a request (request id %s)", request_id, exc_info=exc)
            answer = _json_error(500, describe("internal"), request_id)
        try:
            client.setblocking(False)
            client.sendall(answer)
        except OSError:
            log.debug("could not send the error answer")


def _date_once_a_second() -> HttpDate:
    """gunicorn formats every answer's ``Date`` anew (``email.utils.formatdate``, about 3 %
    of a served post's CPU); in this worker process it is formatted once a second, by the
    one ``HttpDate`` the hot lane uses too (returned). A caller that passes its own time
    still gets that time formatted."""
    own = gunicorn_util.http_date
    installed: HttpDate | None = getattr(own, "ranklet_date", None)
    if installed is not None:
        return installed
    formatted = HttpDate()

    def http_date(timestamp: float | None = None) -> str:
        return formatted.now() if timestamp is None else str(own(timestamp))

    http_date.ranklet_date = formatted  # type: ignore[attr-defined]
    gunicorn_util.http_date = http_date
    return formatted


def _freeze_the_app() -> None:
    """The app's own objects, built once at load, out of the garbage collector's sight
    (``gc.freeze``): every full collection walked all of them, about 60 ms with every
    answer waiting, and a crowd of new connections makes enough new objects to start one
    (``/healthz``'s p99 behind 2,000 idle sockets: 16 to 38 ms; frozen, 14 to 17 ms; 12
    to 14 ms without them)."""
    gc.collect()
    gc.freeze()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


def _raise_open_files(wanted: int) -> None:
    """Each connection is a descriptor: allow as many as the hard limit lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            log.warning("could not raise the open files limit to %s", target)
