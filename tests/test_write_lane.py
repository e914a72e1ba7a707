"""The write lane (service.http.write_lane): on SQLite, one request that may write at a time
per process; reads never wait for it; a long wait goes on without it, within one timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from service.db.types import WriteGate, _lane_waited, lane_waited
from service.http.write_lane import WriteLane


class Overlap:
    """A WSGI app that takes ``pause`` seconds and records how many calls overlapped."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.running = 0
        self.most = 0
        self.waited: list[float | None] = []
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.waited.append(_lane_waited.get())
        time.sleep(self.pause)
        with self._lock:
            self.running -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ["REQUEST_METHOD"].encode()]


def call(app: Any, method: str) -> bytes:
    return b"".join(app({"REQUEST_METHOD": method}, lambda *_: None))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_requests_that_may_write_run_one_at_a_time(method: str) -> None:
    inner = Overlap(0.01)
    lane = WriteLane(inner, timeout=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: call(lane, method), range(24)))
    assert answers == [method.encode()] * 24
    assert inner.most == 1
    assert all(w is not None for w in inner.waited)  # each gate wait is shortened by it


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_never_take_the_lane(method: str) -> None:
    inner = Overlap(0.05)
    lane = WriteLane(inner, timeout=5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: call(lane, method), range(8)))
    assert inner.most > 1
    assert inner.waited == [None] * 8


def test_a_read_goes_on_while_a_writer_holds_the_lane() -> None:
    inner = Overlap(0.5)
    lane = WriteLane(inner, timeout=5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        writing = pool.submit(call, lane, "POST")
        time.sleep(0.1)
        inner.pause = 0.0  # the read's own work: none
        started = time.monotonic()
        assert call(lane, "GET") == b"GET"
        assert time.monotonic() - started < 0.3
        assert inner.running == 1  # the writer still held the lane
        assert writing.result() == b"POST"


def test_a_writer_that_waited_the_timeout_goes_on_without_the_lane() -> None:
    inner = Overlap(0.6)
    lane = WriteLane(inner, timeout=0.1)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(call, lane, "POST")
        time.sleep(0.05)
        started = time.monotonic()
        second = pool.submit(call, lane, "POST")
        assert second.result() == b"POST" and first.result() == b"POST"
    assert inner.most == 2  # the second ran beside the first once its wait was over
    assert time.monotonic() - started < 1.0
    # The lane was given back by the one that held it and not by the other.
    assert not lane._lock.locked()
    assert call(lane, "POST") == b"POST"


def test_the_lane_is_given_back_when_the_app_fails() -> None:
    def failing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("boom")

    lane = WriteLane(failing, timeout=5)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            call(lane, "POST")
    assert not lane._lock.locked()


def test_a_forked_child_gets_a_lane_of_its_own() -> None:
    lane = WriteLane(Overlap(0), timeout=0.05)
    lane._lock.acquire()  # held by a thread of the parent at the fork
    lane._pid = -1  # as seen from the child
    started = time.monotonic()
    assert call(lane, "POST") == b"POST"
    assert time.monotonic() - started < 0.04  # no wait for the parent's holder
    assert not lane._lock.locked()


def test_the_gate_waits_no_longer_than_what_the_lane_left(tmp_path: Path) -> None:
    """What a writer waited in the lane comes off its wait for the gate: one timeout in all,
    for each of the request's writing transactions, however long its work took between."""
    database = str(tmp_path / "x.db")
    holder, waiter = WriteGate(database, timeout=5), WriteGate(database, timeout=5)
    holder.acquire()
    try:
        with lane_waited(4.8):
            for work in (0.0, 0.3):  # a second transaction, after 0.3 s of the request's work
                time.sleep(work)
                started = time.monotonic()
                with pytest.raises(Exception, match="database is locked"):
                    waiter.acquire()
                assert 0.15 <= time.monotonic() - started < 1.0
        # A writer that waited the whole timeout in the lane is refused at once.
        started = time.monotonic()
        with lane_waited(6.0), pytest.raises(Exception, match="database is locked"):
            waiter.acquire()
        assert time.monotonic() - started < 0.1
    finally:
        holder.release()
    with lane_waited(4.8):
        left = waiter.acquire()
    waiter.release()
    assert 0 < left <= 0.2


def _wrapped(app: Any) -> list[type]:
    found, layer = [], app.wsgi_app
    while layer is not None:
        found.append(type(layer))
        layer = getattr(layer, "wsgi_app", None)
    return found


def test_the_lane_is_there_on_sqlite_only(app: Any) -> None:
    """PostgreSQL's writers run in parallel, each waiting on its own round trips."""
    from service.core.extensions import db

    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    assert (WriteLane in _wrapped(app)) == sqlite
