"""The worker's write thread (service.server_writes): on SQLite, requests that may write run
on one thread of their own, in order; writes stuck behind a slow one go back to the pool.
Served: a burst of posts and reads on one worker, every post stored once, every read
answered."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import database_env, launch_server, post_json, wait_ready

from service.db.types import lane_wait_so_far
from service.http.write_lane import READ_METHODS, WriteLane, may_write
from service.server_worker import RankletWorker
from service.server_writes import WriteThread, settle

ORIGIN = "https://blog.example.com"


@pytest.mark.parametrize(
    ("head", "writes"),
    [
        (b"POST /api/v1/sites/a/comments HTTP/1.1\r\n", True),
        (b"PUT /x HTTP/1.1", True),
        (b"PATCH /x", True),
        (b"DELETE /x", True),
        (b"GET /api/v1/sites/a/counts", False),
        (b"HEAD / HTTP/1.1", False),
        (b"OPTIONS * HTTP/1.1", False),
        (b"", False),
        (b"GET", False),  # no space yet: not known to write
        (b"GETTER /x", True),  # not a read method (gunicorn refuses it on the pool's side)
    ],
)
def test_may_write_reads_the_method_from_the_first_bytes(head: bytes, writes: bool) -> None:
    assert may_write(head) is writes
    assert may_write(bytearray(head)) is writes


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10))
def test_may_write_agrees_with_the_lane(method: str) -> None:
    """The worker routes by the same methods as the lane (``WriteLane``) lets through."""
    assert may_write(f"{method} /x HTTP/1.1".encode()) is (method not in READ_METHODS)


def test_calls_run_in_order_on_one_thread_never_two_at_once() -> None:
    writes = WriteThread(patience=5)
    seen: list[tuple[int, str]] = []
    running = []

    def job(number: int) -> int:
        running.append(number)
        assert len(running) == 1
        time.sleep(0.001)
        seen.append((number, threading.current_thread().name))
        running.remove(number)
        return number * 2

    try:
        done = [writes.submit(lambda n=n: job(n)) for n in range(50)]
        assert [f.result(timeout=10) for f in done] == [n * 2 for n in range(50)]
    finally:
        writes.shutdown()
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"ranklet-write"}


def test_an_exception_reaches_the_future_and_the_thread_goes_on() -> None:
    writes = WriteThread(patience=5)

    def failing() -> None:
        raise RuntimeError("boom")

    try:
        failed = writes.submit(failing)
        after = writes.submit(lambda: "next")
        with pytest.raises(RuntimeError, match="boom"):
            failed.result(timeout=5)
        assert after.result(timeout=5) == "next"
    finally:
        writes.shutdown()


def test_waiting_calls_are_taken_back_only_behind_a_call_past_patience() -> None:
    writes = WriteThread(patience=0.2)
    release = threading.Event()
    try:
        slow = writes.submit(lambda: release.wait(10))
        waiting = [writes.submit(lambda n=n: (n, lane_wait_so_far())) for n in range(3)]
        time.sleep(0.05)
        assert writes.overdue() == []  # the one running is still within its patience
        time.sleep(0.25)
        taken = writes.overdue()
        assert [future for _, future, _ in taken] == waiting
        assert writes.overdue() == []  # taken once
        with ThreadPoolExecutor(2) as pool:  # what the worker does with them: its pool
            for call, future, queued in taken:
                pool.submit(settle, future, call, queued)
            done = [f.result(timeout=5) for f in waiting]
        assert [n for n, _ in done] == [0, 1, 2]
        # Their time in the queue counts as waited in the lane (off their wait for the gate).
        assert all(waited >= 0.3 for _, waited in done), done
        assert not slow.done()
        release.set()
        assert slow.result(timeout=5) is True
        assert writes.submit(lambda: "again").result(timeout=5) == "again"
    finally:
        release.set()
        writes.shutdown()


def test_time_in_the_queue_counts_as_waited_in_the_lane() -> None:
    """A write queued behind a slow one waits that much less for the write gate, and the
    lane adds its own wait to it: a writer still gives up within the one busy timeout."""
    writes = WriteThread(patience=5)
    seen: list[float] = []

    def through_the_lane(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(lane_wait_so_far())
        return [b""]

    lane = WriteLane(through_the_lane, timeout=5)
    try:
        writes.submit(lambda: time.sleep(0.3))
        later = writes.submit(lambda: lane({"REQUEST_METHOD": "POST"}, None))
        later.result(timeout=5)
        assert lane_wait_so_far() == 0.0  # nothing leaks out of the thread's call
    finally:
        writes.shutdown()
    assert len(seen) == 1 and 0.25 <= seen[0] < 2.0, seen


def test_nothing_waiting_means_nothing_taken_however_long_the_call_runs() -> None:
    writes = WriteThread(patience=0.05)
    release = threading.Event()
    try:
        writes.submit(lambda: release.wait(10))
        time.sleep(0.15)
        assert writes.overdue() == []
    finally:
        release.set()
        writes.shutdown()


def test_a_cancelled_future_is_not_run() -> None:
    ran = []
    future: futures.Future[Any] = futures.Future()
    assert future.cancel()
    settle(future, lambda: ran.append(1), time.monotonic())
    assert ran == []


def test_after_shutdown_no_new_call_starts() -> None:
    writes = WriteThread(patience=5)
    writes.shutdown()
    writes._thread.join(timeout=5)
    assert not writes._thread.is_alive()
    late = writes.submit(lambda: 1)
    with pytest.raises(futures.TimeoutError):
        late.result(timeout=0.2)


def test_the_worker_moves_overdue_writes_to_its_pool() -> None:
    """The poller's sweep hands writes stuck behind a slow one to the pool, where the lane's
    timeout and the write gate decide as before."""
    worker = object.__new__(RankletWorker)
    worker._writes = WriteThread(patience=0.1)
    release = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        worker.tpool = pool
        try:
            worker._writes.submit(lambda: release.wait(10))
            stuck = worker._writes.submit(lambda: threading.current_thread().name)
            time.sleep(0.2)
            worker._move_overdue_writes()
            assert stuck.result(timeout=5) != "ranklet-write"
        finally:
            release.set()
            worker._writes.shutdown()


# --- served: one worker on SQLite, posts and reads at once --------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, Any]]:
    """One worker: on SQLite its writes run on the write thread, on PostgreSQL on the pool."""
    with database_env(request.param) as env:
        folder = tmp_path_factory.mktemp("writes")
        env = {**env, "RANKLET_COMMENT_RATE_LIMIT": ""}
        server = wait_ready(launch_server(folder, folder / "instance", workers=1, env=env))
        try:
            yield server, server.create_site("writes", ORIGIN)
        finally:
            server.stop()


@pytest.mark.slow
def test_a_burst_of_posts_and_reads_on_one_worker_loses_nothing(served: Any) -> None:
    server, site = served
    base = f"{server.base}/api/v1/sites/{site.slug}"
    headers = {"Origin": ORIGIN}

    def post(number: int) -> tuple[int, Any]:
        body = {"article": "/burst", "author": f"r{number}", "body": f"comment {number}"}
        return post_json(f"{base}/comments", body, headers)

    def read(_: int) -> int:
        request = urllib.request.Request(f"{base}/counts?article=/burst", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            json.loads(answer.read())
            return int(answer.status)

    with ThreadPoolExecutor(16) as pool:
        posted = pool.map(post, range(120))
        reads = pool.map(read, range(60))
        statuses = [status for status, _ in posted]
        assert list(reads) == [200] * 60
    assert statuses == [201] * 120
    request = urllib.request.Request(f"{base}/comments?article=/burst&limit=200", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        listed = json.loads(answer.read())
    authors = [comment["author"] for comment in listed["comments"]]
    assert sorted(authors) == sorted(f"r{number}" for number in range(120))  # each once
