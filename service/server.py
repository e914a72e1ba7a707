"""Running the app under gunicorn, the production server, from the ``ranklet`` command.

What gunicorn does not bound by itself is bounded here, in our own worker class (not by
patching the library):

- **A deadline for reading each request.** gunicorn's threads read the request head and
  body with blocking sockets and no timeout, so a client that sends less than its
  ``Content-Length`` (or trickles its headers) held a thread for as long as it liked, and
  140 such connections starved ``/healthz``. Every request must now arrive whole within
  ``READ_DEADLINE`` seconds of its first byte: a late head closes the connection, a late
  body answers 408 in the JSON error shape. A slow reader of the answer is cut off after
  ``SEND_TIMEOUT`` seconds per write.
- **JSON for the errors gunicorn answers itself** (400 bad request line, 414, 431, ...),
  the one error shape of the API, instead of its HTML pages.
- **A request line long enough for the contract**: ``/counts`` with 100 articles of 512
  characters, percent-encoded (up to 12 bytes per character), is about 616 KB. gunicorn
  caps its own limit at 8,190 bytes, so its limit is off and ours applies to the whole head.
- **No forwarded headers from gunicorn**: it would take ``X-Forwarded-Proto`` from any
  peer on 127.0.0.1. Ranklet trusts proxies only as ``RANKLET_TRUSTED_PROXIES`` says
  (``service.client``), and builds no URL from the request.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestTimeout

from service.core.errors import describe, sane_request_id

READ_DEADLINE = 5.0  # seconds from a request's first byte to its last (head and body)
SEND_TIMEOUT = 15.0  # seconds one write of the answer may block on a client not reading
HEAD_LIMIT = 640 * 1024  # bytes of request line and headers together
FIELD_LIMIT = 8190  # bytes of one header field (gunicorn's own limit, kept)
FIELDS_LIMIT = 100  # header fields per request

log = logging.getLogger("ranklet.server")


class ReadDeadlineExceeded(http_errors.NoMoreData):
    """The request did not arrive within ``READ_DEADLINE``.

    A ``NoMoreData`` so that gunicorn treats a late head as a client gone (the connection
    is closed, nothing logged above debug); a late body reaches the app, where
    :class:`BodyDeadline` turns it into a 408.
    """


class HeadTooLarge(http_errors.LimitRequestLine):
    """More than ``HEAD_LIMIT`` bytes arrived before the request's body was asked for."""

    def __init__(self) -> None:
        super().__init__(HEAD_LIMIT + 1, HEAD_LIMIT)


class DeadlineSocket:
    """A client socket whose blocking reads share one deadline per request.

    ``socket.settimeout`` bounds each ``recv`` on its own, so a client sending one byte
    every few seconds would never trip it; this keeps the time left for the whole request
    and gives each ``recv`` only that. Writes get ``SEND_TIMEOUT`` each. Everything else
    (``fileno`` for the poller, ``close``, ``shutdown``...) is the socket's own.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._deadline: float | None = None
        self._head_bytes = 0
        self._in_body = False

    def start_request(self) -> None:
        self._deadline = time.monotonic() + READ_DEADLINE
        self._head_bytes = 0
        self._in_body = False

    def reading_body(self) -> None:
        """The app runs: what arrives now is the body, not part of the head."""
        self._in_body = True

    def recv(self, size: int, *flags: int) -> bytes:
        if self._deadline is None or self._sock.gettimeout() is not None:
            # Non-blocking (the poller), or a caller's own bound (gunicorn's drain, close).
            return self._sock.recv(size, *flags)
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise ReadDeadlineExceeded()
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(size, *flags)
        except TimeoutError:
            raise ReadDeadlineExceeded() from None
        finally:
            self._sock.settimeout(None)
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:
                raise HeadTooLarge()
        return data

    def _bounded_write(self, write: Callable[..., Any], *args: Any) -> Any:
        own_timeout = self._sock.gettimeout()
        if own_timeout is not None:  # non-blocking, or a timeout of the caller's
            return write(*args)
        self._sock.settimeout(SEND_TIMEOUT)
        try:
            return write(*args)
        finally:
            self._sock.settimeout(own_timeout)

    def send(self, data: bytes, *flags: int) -> int:
        return int(self._bounded_write(self._sock.send, data, *flags))

    def sendall(self, data: bytes, *flags: int) -> None:
        self._bounded_write(self._sock.sendall, data, *flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        return int(self._bounded_write(self._sock.sendfile, file, offset, count))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


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


class RankletWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker with a read deadline per request and JSON errors."""

    def enqueue_req(self, conn: Any) -> None:
        if not isinstance(conn.sock, DeadlineSocket):  # a new connection, not yet read
            conn.sock = DeadlineSocket(conn.sock)
        super().enqueue_req(conn)

    def handle(self, conn: Any) -> Any:
        conn.sock.start_request()  # the clock runs while this thread waits on the client
        return super().handle(conn)

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


class _DeadlineInput:
    """``wsgi.input`` whose failures are HTTP errors the app answers in its JSON shape: a
    late body is a 408, a malformed chunked body a 400, a client gone mid-body a 400."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _guarded(self, read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except ReadDeadlineExceeded:
            raise RequestTimeout(
                f"The request body did not arrive within {READ_DEADLINE:g} seconds."
            ) from None
        except http_errors.NoMoreData:
            raise ClientDisconnected("The request body ended before it was complete.") from None
        except http_errors.ParseException:
            raise BadRequest("The request body is malformed (chunked encoding).") from None

    def read(self, *args: Any) -> bytes:
        return bytes(self._guarded(self._stream.read, *args))

    def readline(self, *args: Any) -> bytes:
        return bytes(self._guarded(self._stream.readline, *args))

    def readlines(self, *args: Any) -> list[bytes]:
        return list(self._guarded(self._stream.readlines, *args))

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return bytes(self._guarded(self._stream.__next__))


class BodyDeadline:
    """WSGI middleware: marks the socket's head as read and guards ``wsgi.input``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        sock = environ.get("gunicorn.socket")
        if isinstance(sock, DeadlineSocket):
            sock.reading_body()
        if "wsgi.input" in environ:
            environ["wsgi.input"] = _DeadlineInput(environ["wsgi.input"])
        return self.app(environ, start_response)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with our settings; each worker builds its own app (nothing shared by fork)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from service import create_app
        from service.notify.sender import start_sender

        app = create_app()
        app.wsgi_app = BodyDeadline(app.wsgi_app)  # type: ignore[method-assign]
        start_sender(app)  # in the worker, after the fork: outbox rows go out without traffic
        return app


def serve(host: str, port: int, workers: int, threads: int = 64) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        # Threads, not processes, absorb slow clients: a thread waiting on a client costs
        # ~nothing, and READ_DEADLINE bounds how long it waits (RankletWorker). With
        # --threads 1 it is the same worker with one thread: the deadline still applies.
        # Behind nginx (deploy/), the proxy buffers whole requests and none reach us slowly.
        "worker_class": f"{__name__}.RankletWorker",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 5,
        # One control socket per user by default; two servers on one host would collide.
        "control_socket_disable": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "ranklet",
        # 0 is gunicorn's "no limit" (its largest is 8,190 bytes, too short for /counts):
        # DeadlineSocket bounds the head to HEAD_LIMIT instead.
        "limit_request_line": 0,
        "limit_request_fields": FIELDS_LIMIT,
        "limit_request_field_size": FIELD_LIMIT,
        # Trust no peer's X-Forwarded-* or Forwarded headers, 127.0.0.1 included.
        "forwarded_allow_ips": "",
        "secure_scheme_headers": {},
    }
    GunicornServer(options).run()


def port_in_use(host: str, port: int) -> bool:
    """Whether another process listens on ``host:port`` (gunicorn would retry, then fail).

    Bound with SO_REUSEADDR as gunicorn binds, so a port left in TIME_WAIT by a server that
    just stopped counts as free, while a live listener does not.
    """
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # gunicorn says what is wrong with the address
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False
