"""Idle, trickling and oversized clients against one real worker (issue 18 items 1 and 11).

gunicorn's threaded worker gave every new connection a thread that waited up to 5 s for
its first byte: behind 1,000 sockets that never sent anything, ``/healthz`` took 55 s.
Our worker's poller holds such connections itself, so a few threads serve whole requests
while thousands of sockets sit idle or trickle their heads. And a POST over 64 KiB gets
its 413 read by the client even under load: the connection is half-closed and its unread
body drained before it is closed, instead of being reset under the answer.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from support import launch_server, wait_ready
from test_raw_http import connect, read_answer

from service.server_reading import READ_DEADLINE, RequestScan, Verdict

pytestmark = pytest.mark.slow

SLUG = "idleblog"
CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
IDLE = 2000
TRICKLING = 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One worker, so that every socket below lands on the same process."""
    folder = tmp_path_factory.mktemp("idle")
    started = wait_ready(
        launch_server(
            folder, folder / "instance", workers=1, env={"RANKLET_COMMENT_RATE_LIMIT": ""}
        )
    )
    try:
        started.create_site(SLUG)
        yield started
    finally:
        started.stop()


def healthz_ms(server: Any) -> float:
    """One /healthz on a new connection, from connect to the end of the answer."""
    began = time.perf_counter()
    with connect(server.base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = read_answer(sock, timeout=60)
    took = (time.perf_counter() - began) * 1000
    assert answer.status == 200 and answer.json() == {"status": "ok"}
    return took


def open_idle(server: Any, count: int) -> list[socket.socket]:
    port = int(server.base.rsplit(":", 1)[1])
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        held.append(sock)
    return held


def test_healthz_stays_fast_behind_2000_idle_and_200_trickling_sockets(server):
    before = [healthz_ms(server) for _ in range(10)]
    idle = open_idle(server, IDLE)
    trickling = open_idle(server, TRICKLING)
    try:
        for sock in trickling:  # a head that never ends, a few bytes at a time
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)  # every socket accepted: none may hold a thread now
        during = []
        for round_ in range(20):
            for sock in trickling[round_ % 4 :: 4]:
                sock.sendall(b"X")
            during.append(healthz_ms(server))
            time.sleep(0.05)
        print(
            f"/healthz ms, median (max): alone {statistics.median(before):.1f} "
            f"({max(before):.1f}); with {IDLE} idle and {TRICKLING} trickling sockets "
            f"{statistics.median(during):.1f} ({max(during):.1f})"
        )
        # gunicorn's own worker took 55 s here. The median shows the poller's speed; the
        # bound on 19 of 20 leaves room for the test processes beside this one on 2 cores
        # (two samples of 50 to 60 ms were seen under a load of 10), far below a wait on a
        # thread held by an idle socket (seconds).
        assert statistics.median(during) < 50, during
        assert sorted(during)[-2] < 250, during
        # The poller still enforces the deadlines: idle sockets are closed after the
        # keep-alive time, trickled heads after the read deadline, without a word.
        deadline = time.monotonic() + READ_DEADLINE + 5
        for sock in (idle[0], idle[-1], trickling[0], trickling[-1]):
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(1024) == b""
    finally:
        for sock in idle + trickling:
            sock.close()


def test_idle_sockets_do_not_keep_kept_alive_requests_waiting(server):
    """A request on a kept-alive connection is served at once while sockets sit idle."""
    idle = open_idle(server, 500)
    try:
        with connect(server.base) as sock:
            for _ in range(20):
                began = time.perf_counter()
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert read_answer(sock).json() == {"status": "ok"}
                assert time.perf_counter() - began < 1.0
    finally:
        for sock in idle:
            sock.close()


def oversized_post(port: int) -> tuple[int, dict[str, Any] | None, str]:
    """A 600 KB comment sent in pieces, as a busy client or a slow link sends it, the
    answer read after the last piece: (status, JSON answer, error)."""
    body = json.dumps({"article": "/big", "body": "x" * 600_000}).encode()
    head = (
        f"POST /api/v1/sites/{SLUG}/comments HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(head)
            for start in range(0, len(body), 64 * 1024):
                time.sleep(0.01)
                sock.sendall(body[start : start + 64 * 1024])
            answer = read_answer(sock, timeout=20)
            return answer.status, answer.json(), ""
    except OSError as error:
        return 0, None, type(error).__name__


def test_a_413_is_read_by_the_client_under_load(server):
    port = int(server.base.rsplit(":", 1)[1])
    widget = f"{server.base}/api/v1/sites/{SLUG}/widget?article=/big"
    stop = threading.Event()
    loaded = []

    def load() -> None:
        while not stop.is_set():
            with urllib.request.urlopen(widget, timeout=20) as answer:
                loaded.append(answer.status)

    readers = [threading.Thread(target=load, daemon=True) for _ in range(6)]
    for reader in readers:
        reader.start()
    results: list[tuple[int, dict[str, Any] | None, str]] = []
    lock = threading.Lock()

    def post_many() -> None:
        for _ in range(15):
            found = oversized_post(port)
            with lock:
                results.append(found)

    try:
        posters = [threading.Thread(target=post_many) for _ in range(4)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join(timeout=120)
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=30)
    assert len(loaded) > 50, "the readers did not load the server"
    lost = [error for status, _, error in results if status != 413]
    assert not lost, f"{len(lost)} of {len(results)} answers lost: {lost[:5]}"
    for _, document, _ in results:
        assert document is not None
        assert document["code"] == 413
        assert document["message"]


@pytest.mark.parametrize(
    ("raw", "verdict"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", Verdict.WAIT),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Verdict.READY),
        (b"GET / HTTP/1.1\nHost: x\n\n", Verdict.READY),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc", Verdict.WAIT),
        (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde", Verdict.READY),
        (b"POST / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n", Verdict.NOW),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Verdict.NOW),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", Verdict.NOW),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", Verdict.NOW),
        (CHUNKED + b"3\r\nabc\r\n", Verdict.WAIT),
        (CHUNKED + b"3\r\nabc\r\n0\r\n\r\n", Verdict.READY),
        (CHUNKED + b"3;x=1\r\nabc\r\n0\r\nA: b\r\n\r\n", Verdict.READY),
        (CHUNKED + b"ZZ\r\n", Verdict.NOW),
        (CHUNKED + b"20000\r\n", Verdict.NOW),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * (700 * 1024), Verdict.NOW),
    ],
    ids=[
        "head-partial", "head", "bare-lf", "body-partial", "body", "body-too-large",
        "two-lengths", "bad-length", "unknown-coding", "chunk-partial", "chunked",
        "chunked-ext-trailer", "bad-chunk", "chunk-too-large", "head-too-large",
    ],
)  # fmt: skip
def test_the_poller_knows_when_a_request_is_whole(raw, verdict):
    assert RequestScan(64 * 1024).feed(bytearray(raw)) is verdict


def test_a_request_fed_byte_by_byte_is_whole_exactly_at_its_last_byte():
    raw = CHUNKED + b"3\r\nabc\r\n0\r\n\r\n"
    scan, buffer = RequestScan(64 * 1024), bytearray()
    seen = []
    for byte in raw:
        buffer.append(byte)
        seen.append(scan.feed(buffer))
    assert seen[-1] is Verdict.READY
    assert set(seen[:-1]) == {Verdict.WAIT}


# --- an answer's head goes out with its body -------------------------------------------------


class RecordingSocket:
    """A client socket that records each write (blocking, as a worker thread's is)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def gettimeout(self) -> float | None:
        return None

    def settimeout(self, _timeout: float | None) -> None:
        pass

    def send(self, data: bytes, *_flags: int) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def sendall(self, data: bytes, *_flags: int) -> None:
        self.writes.append(bytes(data))

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        self.writes.append(b"<file>")
        return 0


def held(*writes: bytes, flush: bool = True) -> list[bytes]:
    """What the socket saw when gunicorn wrote ``writes`` after ``hold_next_write``."""
    from service.server_reading import DeadlineSocket

    raw = RecordingSocket()
    sock = DeadlineSocket(raw)  # type: ignore[arg-type]
    sock.hold_next_write()
    for data in writes:
        sock.sendall(data)
    if flush:
        sock.flush()
    return raw.writes


def test_the_head_goes_out_with_the_first_body_bytes_in_one_send():
    assert held(b"HEAD\r\n\r\n", b"body", b"more") == [b"HEAD\r\n\r\nbody", b"more"]


def test_an_answer_without_body_sends_its_head_at_the_end():
    assert held(b"HEAD\r\n\r\n", flush=False) == []
    assert held(b"HEAD\r\n\r\n") == [b"HEAD\r\n\r\n"]


def test_a_large_body_or_head_is_not_copied_to_join_them():
    from service.server_reading import HOLD_LIMIT, MERGE_LIMIT

    large = b"x" * (MERGE_LIMIT + 1)
    assert held(b"HEAD\r\n\r\n", large) == [b"HEAD\r\n\r\n", large]
    head = b"h" * (HOLD_LIMIT + 1)
    assert held(head, b"body") == [head, b"body"]


def test_other_writes_and_a_failed_answer():
    from service.server_reading import DeadlineSocket

    raw = RecordingSocket()
    sock = DeadlineSocket(raw)  # type: ignore[arg-type]
    sock.hold_next_write()
    sock.sendall(b"HEAD\r\n\r\n")
    sock.sendfile(None)  # a file body: the head first
    assert raw.writes == [b"HEAD\r\n\r\n", b"<file>"]
    sock.hold_next_write()
    sock.sendall(b"HEAD\r\n\r\n")
    sock.discard_held()  # the answer failed: its head is not sent after all
    sock.flush()
    sock.sendall(b"error")  # an error answer written afterwards goes alone, at once
    assert raw.writes[2:] == [b"error"]


# --- a whole request: the thread leaves its socket non-blocking ------------------------


def whole_request_socket() -> tuple[Any, socket.socket]:
    """A DeadlineSocket as a thread gets it for a whole request: non-blocking, the request
    in ``pending``, ``whole`` set by the poller."""
    from service.server_reading import DeadlineSocket

    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    sock = DeadlineSocket(ours)
    sock.pending += b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    sock.whole = True
    return sock, theirs


def test_gunicorns_blocking_calls_leave_a_whole_requests_socket_as_it_is():
    sock, peer = whole_request_socket()
    with sock.raw, peer:
        sock.setblocking(True)  # gunicorn's handle()
        sock.settimeout(0.5)  # its bounded drain of an unread body
        assert sock.raw.gettimeout() == 0.0
        assert sock.recv(1024).startswith(b"GET / ")  # from the buffer
        sock.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        assert peer.recv(100) == b"HTTP/1.1 200 OK\r\n\r\n"
        sock.whole = False  # any other request: the socket's own calls
        sock.setblocking(True)
        assert sock.raw.gettimeout() is None


def test_an_answer_larger_than_the_socket_takes_is_sent_whole_and_the_socket_stays_put():
    sock, peer = whole_request_socket()
    big = os.urandom(4 * 1024 * 1024)  # far more than a socket buffer holds
    received = bytearray()

    def read() -> None:
        while len(received) < len(big):
            data = peer.recv(1 << 16)
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=read)
    with sock.raw, peer:
        reader.start()
        sock.sendall(big)  # waits for the reader (bounded by SEND_TIMEOUT), then returns
        reader.join(timeout=30)
        assert bytes(received) == big
        assert sock.raw.gettimeout() == 0.0  # non-blocking again, for the poller


def test_a_read_past_a_whole_request_blocks_as_usual_with_its_deadline():
    sock, peer = whole_request_socket()
    with sock.raw, peer:
        sock.recv(1024)  # the request, from the buffer
        sock.start_request()
        peer.sendall(b"more")
        assert sock.recv(1024) == b"more"  # waited for, not BlockingIOError
        assert sock.raw.gettimeout() is None


# --- the deadline sweep: a crowd that times out together is closed a batch a round ------


def sweeping_worker() -> Any:
    """A worker with a poller and nothing else: what its deadline sweep reads and changes."""
    import selectors

    from service import server_worker

    worker = server_worker.RankletWorker.__new__(server_worker.RankletWorker)
    worker.alive = True
    worker.poller = selectors.DefaultSelector()
    worker._watched = {}
    worker._lingering = {}
    worker._next_sweep = 0.0
    worker._expired = []
    worker.nr_conns = 0
    return worker


def watched(worker: Any, deadline: float, pending: bytes = b"") -> tuple[Any, socket.socket]:
    """A connection the poller watches, idle (or with ``pending`` bytes of a head in)."""
    from types import SimpleNamespace

    from service.server_reading import DeadlineSocket

    ours, theirs = socket.socketpair()
    conn = SimpleNamespace(sock=DeadlineSocket(ours), scan=RequestScan(1024), deadline=deadline)
    conn.sock.pending += pending
    worker.poller.register(ours.fileno(), 1, None)
    worker._watched[ours.fileno()] = conn
    worker.nr_conns += 1
    return conn, theirs


def test_a_crowd_past_its_deadline_is_closed_a_batch_a_round():
    from service.server_worker import SWEEP_BATCH

    worker = sweeping_worker()
    past = time.monotonic() - 1
    crowd = [watched(worker, past) for _ in range(SWEEP_BATCH * 2 + 10)]
    busy, busy_peer = watched(worker, past, pending=b"GET / HTTP/1.1\r\n")
    fresh, fresh_peer = watched(worker, time.monotonic() + 60)
    try:
        rounds = []
        while True:
            before = worker.nr_conns
            worker.murder_pending()
            rounds.append(before - worker.nr_conns)
            if not worker._expired:
                break
            # More to close: the loop's next wait only takes what is ready, it does not sleep.
            began = time.monotonic()
            worker.wait_for_and_dispatch_events(timeout=1.0)
            assert time.monotonic() - began < 0.5
        assert rounds == [SWEEP_BATCH, SWEEP_BATCH, 11]  # the crowd and the late head
        assert list(worker._watched.values()) == [fresh]
        assert all(peer.recv(1) == b"" for _, peer in crowd)  # closed without a word
        assert busy.sock.raw.fileno() == -1
        worker.murder_pending()  # the next sweep waits for its interval: nothing to do
        assert list(worker._watched.values()) == [fresh]
    finally:
        for _, peer in crowd:
            peer.close()
        busy_peer.close()
        fresh_peer.close()
        fresh.sock.raw.close()
        worker.poller.close()


def test_a_connection_whose_request_began_after_the_sweep_found_it_stays():
    worker = sweeping_worker()
    past = time.monotonic() - 1
    crowd = [watched(worker, past) for _ in range(100)]
    try:
        worker.murder_pending()  # the first batch closed, the rest found expired
        waiting = worker._expired[-1]
        waiting.sock.pending += b"GET / HTTP/1.1\r\n"  # its first bytes came meanwhile
        waiting.deadline = time.monotonic() + READ_DEADLINE
        while worker._expired:
            worker.murder_pending()
        assert list(worker._watched.values()) == [waiting]
    finally:
        for conn, peer in crowd:
            peer.close()
            conn.sock.raw.close()
        worker.poller.close()


def test_a_stopping_worker_closes_every_idle_connection_at_once():
    worker = sweeping_worker()
    worker.alive = False
    later = time.monotonic() + 60
    crowd = [watched(worker, later) for _ in range(200)]
    reading, reading_peer = watched(worker, later, pending=b"GET / HTTP/1.1\r\n")
    try:
        worker.murder_pending()
        assert list(worker._watched.values()) == [reading]  # its request may still finish
        assert not worker._expired
    finally:
        for conn, peer in crowd:
            peer.close()
            conn.sock.raw.close()
        reading_peer.close()
        reading.sock.raw.close()
        worker.poller.close()


def test_the_app_loaded_is_out_of_the_collectors_sight():
    import gc

    from service import create_app
    from service.server_worker import _freeze_the_app

    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x" * 32})
    try:
        _freeze_the_app()
        assert gc.get_freeze_count() > 10_000  # the app, its extensions and their imports
        assert not any(o is app for o in gc.get_objects())  # not walked by collections
    finally:
        gc.unfreeze()
