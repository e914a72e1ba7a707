"""Reading requests off client sockets: what the worker's poller and its threads share.

The poller (``service.server_worker``) reads each connection without blocking until a whole
request is in, and only then gives it to a thread: a client that sends nothing, trickles
its head or stops halfway through its body costs a few hundred bytes of buffer, never a
thread. :class:`RequestScan` tells when the bytes read so far hold one whole request;
:class:`DeadlineSocket` hands them to gunicorn's parser first, then reads the socket with
what is left of the request's deadline.

The deadlines themselves:

- **A deadline for reading each request.** Every request must arrive whole within
  ``READ_DEADLINE`` seconds of its first byte: a late head closes the connection, a late
  body answers 408 in the JSON error shape (Flask answers it, in the site's language). A
  slow reader of the answer is cut off after ``SEND_TIMEOUT`` seconds per write.
- **A request head of at most ``HEAD_LIMIT`` bytes**: ``/counts`` with 100 articles of 512
  characters, percent-encoded, is about 616 KB, longer than gunicorn's own cap of 8,190
  bytes, so its limit is off and this one applies to the whole head.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from typing import Any

from gunicorn.http import errors as http_errors
from werkzeug.exceptions import BadRequest, ClientDisconnected, RequestTimeout

READ_DEADLINE = 5.0  # seconds from a request's first byte to its last (head and body)
SEND_TIMEOUT = 15.0  # seconds one write of the answer may block on a client not reading
HEAD_LIMIT = 640 * 1024  # bytes of request line and headers together
FIELD_LIMIT = 8190  # bytes of one header field (gunicorn's own limit, kept)
FIELDS_LIMIT = 100  # header fields per request
# gunicorn sends an answer's head and body in two writes: on an accepted socket (which has
# TCP_NODELAY) two packets, two wake-ups of the client. The head waits for the body's first
# write instead, when the head is at most HOLD_LIMIT and that write at most MERGE_LIMIT.
HOLD_LIMIT = 16 * 1024
MERGE_LIMIT = 256 * 1024
CHUNK_LINE_LIMIT = 4096  # bytes of one chunk-size line (with extensions) in a chunked body


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


class Verdict(Enum):
    """What the poller does with a connection after reading from it."""

    WAIT = "wait"  # not a whole request yet: keep reading, without a thread
    READY = "ready"  # one whole request (head and body) is buffered: a thread answers it
    NOW = "now"  # a thread answers at once without waiting for the rest: an error (400,
    # 413, 414...) that gunicorn or Flask words; the connection closes afterwards


def _head_end(buffer: bytearray, start: int) -> int:
    """Offset just past the blank line ending the head, or -1 (bare LF lines allowed, so
    gunicorn, not the poller, is the one to refuse them)."""
    crlf = buffer.find(b"\r\n\r\n", start)
    lf = buffer.find(b"\n\n", start)
    ends = [at + 4 for at in (crlf,) if at >= 0] + [at + 2 for at in (lf,) if at >= 0]
    return min(ends) if ends else -1


class RequestScan:
    """Whether the bytes read on a connection hold one whole request, read incrementally.

    Only framing is read here (``Content-Length``, ``Transfer-Encoding``, ``Expect``):
    anything odd about it (two lengths, an unknown coding, a bad chunk line, a body over
    ``body_limit``) is :attr:`Verdict.NOW`, and gunicorn's parser or Flask answer it with
    the usual error, exactly as if the poller were not there.
    """

    def __init__(self, body_limit: int) -> None:
        self.body_limit = body_limit
        self.reset()

    def reset(self) -> None:
        self.head_end = -1
        self._searched = 0
        self._length = 0
        self._chunked = False
        self._chunk_at = 0  # where the next chunk-size line starts
        self._chunk_total = 0
        self.expects_continue = False
        self.sent_continue = False

    @property
    def has_body(self) -> bool:
        """The request's head announced a body (a length above 0, or chunks)."""
        return self._chunked or self._length > 0

    def feed(self, buffer: bytearray) -> Verdict:
        """Read what came in since the last call (``buffer`` holds everything so far)."""
        if self.head_end < 0:
            end = _head_end(buffer, max(0, self._searched - 3))
            if end < 0:
                self._searched = len(buffer)
                return Verdict.NOW if len(buffer) > HEAD_LIMIT else Verdict.WAIT
            self.head_end = end
            odd = self._read_head(bytes(buffer[:end]))
            if odd is not None:
                return odd
        if self._chunked:
            return self._chunks(buffer)
        return Verdict.READY if len(buffer) >= self.head_end + self._length else Verdict.WAIT

    def _read_head(self, head: bytes) -> Verdict | None:
        lengths: list[bytes] = []
        codings: list[bytes] = []
        for line in head.split(b"\n")[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.strip().lower()
            if name == b"content-length":
                lengths.append(value.strip())
            elif name == b"transfer-encoding":
                codings.append(value.strip().lower())
            elif name == b"expect":
                self.expects_continue = value.strip().lower() == b"100-continue"
        if codings:
            if lengths or codings != [b"chunked"]:
                return Verdict.NOW
            self._chunked = True
            self._chunk_at = self.head_end
            return None
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            return Verdict.NOW
        self._length = int(lengths[0]) if lengths else 0
        return Verdict.NOW if self._length > self.body_limit else None

    def _chunks(self, buffer: bytearray) -> Verdict:
        while True:
            line_end = buffer.find(b"\n", self._chunk_at)
            if line_end < 0:
                too_long = len(buffer) - self._chunk_at > CHUNK_LINE_LIMIT
                return Verdict.NOW if too_long else Verdict.WAIT
            size_text = bytes(buffer[self._chunk_at : line_end]).split(b";")[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                return Verdict.NOW
            if size < 0:
                return Verdict.NOW
            if size == 0:  # the last chunk: then trailers, up to a blank line
                rest = line_end + 1
                if buffer[rest : rest + 2] == b"\r\n" or buffer[rest : rest + 1] == b"\n":
                    return Verdict.READY
                if _head_end(buffer, rest) >= 0:
                    return Verdict.READY
                return Verdict.NOW if len(buffer) - rest > HEAD_LIMIT else Verdict.WAIT
            self._chunk_total += size
            if self._chunk_total > self.body_limit:
                return Verdict.NOW
            data_end = line_end + 1 + size + 2  # the chunk and its CRLF
            if len(buffer) < data_end:
                return Verdict.WAIT
            self._chunk_at = data_end


class DeadlineSocket:
    """A client socket that serves what the poller read first, then reads with a deadline.

    ``pending`` holds bytes the poller read ahead; gunicorn's parser gets them before the
    socket's. Once they are used up, ``socket.settimeout`` alone would bound each ``recv``
    on its own (a client sending one byte every few seconds would never trip it), so this
    keeps the time left for the whole request and gives each ``recv`` only that. Writes get
    ``SEND_TIMEOUT`` each. Everything else (``fileno``, ``close``, ``shutdown``...) is the
    socket's own.

    After :meth:`hold_next_write`, the next ``sendall`` (gunicorn's response head) is kept
    and goes out with the write after it (the body's first bytes) in one send; whatever
    is still kept goes at :meth:`flush`, or before any other kind of write.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.raw = sock
        self.pending = bytearray()
        # Set by the poller when ``pending`` holds the whole request: then the socket stays
        # non-blocking in the thread (nothing is read from it, and writes are sent without
        # waiting first), so that no ``setblocking``/``settimeout`` system call, each a
        # release of the GIL to the other threads, is made around a plain request.
        self.whole = False
        self.deadline: float | None = None
        self._head_bytes = 0
        self._in_body = False
        self._holding = False
        self._held = b""

    def start_request(self, now: float | None = None) -> None:
        """The first byte of a request arrived: its clock runs from here."""
        self.deadline = (time.monotonic() if now is None else now) + READ_DEADLINE
        self._head_bytes = 0
        self._in_body = False

    def unread(self, data: bytes) -> None:
        """Bytes the parser read ahead (the next request's), back in front."""
        self.pending[:0] = data

    def reading_body(self) -> None:
        """The app runs: what arrives now is the body, not part of the head."""
        self._in_body = True

    def _counted(self, data: bytes) -> bytes:
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > HEAD_LIMIT:
                raise HeadTooLarge()
        return data

    def recv(self, size: int, *flags: int) -> bytes:
        if self.pending:
            data = bytes(self.pending[:size])
            del self.pending[:size]
            return self._counted(data)
        if self._kept_nonblocking(self.raw.gettimeout()):
            self.raw.setblocking(True)  # read past the request after all: as usual
        if self.deadline is None or self.raw.gettimeout() is not None:
            # Non-blocking, or a caller's own bound (gunicorn's drain, close).
            return self.raw.recv(size, *flags)
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ReadDeadlineExceeded()
        self.raw.settimeout(left)
        try:
            data = self.raw.recv(size, *flags)
        except TimeoutError:
            raise ReadDeadlineExceeded() from None
        finally:
            self.raw.settimeout(None)
        return self._counted(data)

    def _kept_nonblocking(self, timeout: float | None) -> bool:
        """Whether a socket with this timeout is non-blocking only because ``whole`` kept
        it so (a write that must wait then waits with ``SEND_TIMEOUT``)."""
        return timeout == 0.0 and self.whole

    def setblocking(self, flag: bool) -> None:
        """The socket's own, except that a thread answering a whole request leaves it
        non-blocking (see ``whole``)."""
        if flag and self.whole:
            return
        self.raw.setblocking(flag)

    def settimeout(self, value: float | None) -> None:
        """The socket's own, except around a whole request (gunicorn's bounded drain of an
        unread body, which reads it from the buffer)."""
        if self.whole:
            return
        self.raw.settimeout(value)

    def _bounded_write(self, write: Callable[..., Any], *args: Any) -> Any:
        own_timeout = self.raw.gettimeout()
        if own_timeout is not None and not self._kept_nonblocking(own_timeout):
            return write(*args)  # non-blocking, or a timeout of the caller's
        self.raw.settimeout(SEND_TIMEOUT)
        try:
            return write(*args)
        finally:
            self.raw.settimeout(own_timeout)

    def hold_next_write(self) -> None:
        """Keep the next ``sendall`` for the one after it (see the class's docstring)."""
        self._holding = True
        self._held = b""

    def flush(self) -> None:
        """Send what is kept, if anything."""
        self._holding = False
        if self._held:
            held, self._held = self._held, b""
            self._sendall(held)

    def discard_held(self) -> None:
        """Forget what is kept (the answer failed: the connection is closed without it)."""
        self._holding = False
        self._held = b""

    def send(self, data: bytes, *flags: int) -> int:
        self.flush()
        return int(self._bounded_write(self.raw.send, data, *flags))

    def sendall(self, data: bytes, *flags: int) -> None:
        if self._holding:
            self._holding = False
            if not flags and len(data) <= HOLD_LIMIT:
                self._held = bytes(data)
                return
        if self._held:
            if flags or len(data) > MERGE_LIMIT:
                self.flush()
            else:
                data, self._held = self._held + data, b""
        self._sendall(data, *flags)

    def _sendall(self, data: bytes, *flags: int) -> None:
        timeout = self.raw.gettimeout()
        if not flags and (timeout is None or self._kept_nonblocking(timeout)):
            # Most answers fit the socket's buffer: one non-blocking send, instead of
            # switching the socket to a timeout and back around a polled send.
            try:
                sent = self.raw.send(data, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent == len(data):
                return
            data = memoryview(data)[sent:]  # type: ignore[assignment]
        self._bounded_write(self.raw.sendall, data, *flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self.flush()
        return int(self._bounded_write(self.raw.sendfile, file, offset, count))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


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
