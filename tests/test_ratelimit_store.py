"""The SQLite rate limit storage: unit behaviour, exactness across threads and processes,
and use through Flask-Limiter."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask_limiter import Limiter
from limits import RateLimitItemPerHour, RateLimitItemPerMinute
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from service.http.ratelimit_store import SQLiteStorage, default_storage_uri, storage_uri_for_path

STRATEGIES = {
    "fixed-window": FixedWindowRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


@pytest.fixture
def uri(tmp_path):
    return default_storage_uri(str(tmp_path))


@pytest.fixture
def storage(uri):
    store = storage_from_string(uri)
    yield store
    store.close()


def rows(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT key FROM {table}").fetchall()
    finally:
        conn.close()


# -- URIs and the file -------------------------------------------------------------------


def test_default_uri_points_into_the_instance_folder(tmp_path):
    uri = default_storage_uri(str(tmp_path))
    assert uri == f"ranklet-sqlite://{tmp_path}/ratelimit.db"
    store = storage_from_string(uri)
    try:
        assert isinstance(store, SQLiteStorage)
        assert store.path == str(tmp_path / "ratelimit.db")
        assert store.check()
    finally:
        store.close()


def test_uri_round_trips_awkward_paths_and_creates_folders(tmp_path):
    path = tmp_path / "new dir #1?" / "100%" / "limits.db"
    store = storage_from_string(storage_uri_for_path(path))
    try:
        assert store.path == str(path)
        assert path.is_file()
        assert store.incr("k", 60) == 1
    finally:
        store.close()


@pytest.mark.parametrize(
    "bad",
    [
        "ranklet-sqlite://",
        "ranklet-sqlite:///",
        "ranklet-sqlite://relative.db",
        "ranklet-sqlite://host:1/x.db",
        "ranklet-sqlite:///tmp/x.db?timeout=3",
    ],
)
def test_malformed_uris_are_configuration_errors(bad):
    with pytest.raises(ConfigurationError):
        storage_from_string(bad)


def test_file_is_private_and_in_wal_mode(storage):
    storage.incr("k", 60)
    assert stat.S_IMODE(os.stat(storage.path).st_mode) == 0o600
    conn = sqlite3.connect(storage.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_storage_options_are_accepted(uri):
    store = storage_from_string(uri, timeout=1, purge_interval=0, wrap_exceptions=True)
    try:
        assert store.timeout == 1.0
        assert store.purge_interval == 0.0
    finally:
        store.close()


# -- fixed window --------------------------------------------------------------------------


def test_incr_get_and_expiry(storage):
    before = time.time()
    assert storage.get("k") == 0
    assert storage.incr("k", 60) == 1
    assert storage.incr("k", 60, amount=3) == 4
    assert storage.get("k") == 4
    assert storage.get("other") == 0
    expires = storage.get_expiry("k")
    assert before + 60 <= expires <= time.time() + 60
    # Later increments do not move the window's end.
    time.sleep(0.01)
    storage.incr("k", 60)
    assert storage.get_expiry("k") == expires


def test_counter_expires_and_restarts(storage):
    assert storage.incr("k", 0.3) == 1
    assert storage.incr("k", 0.3) == 2
    time.sleep(0.4)
    assert storage.get("k") == 0
    assert storage.get_expiry("k") == pytest.approx(time.time(), abs=0.5)
    assert storage.incr("k", 0.3) == 1
    assert storage.get_expiry("k") == pytest.approx(time.time() + 0.3, abs=0.2)


def test_clear_and_reset(storage):
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.acquire_entry("c", 5, 60)
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.get("b") == 1
    assert storage.reset() == 2  # "b" and "c"
    assert storage.get("b") == 0
    assert storage.get_moving_window("c", 5, 60)[1] == 0
    assert storage.reset() == 0


def test_expired_rows_are_purged(uri):
    store = storage_from_string(uri, purge_interval=0)
    try:
        store.incr("old", 0.1)
        store.acquire_entry("old-events", 5, 0.1)
        store.incr("live", 60)
        time.sleep(0.2)
        store.incr("trigger", 60)
        assert sorted(rows(store.path, "counters")) == [("live",), ("trigger",)]
        assert rows(store.path, "events") == []
    finally:
        store.close()


def test_purge_is_rate_limited_per_process(storage):
    storage.incr("first", 60)  # purges (first write of the process)
    storage.incr("old", 0.05)
    time.sleep(0.1)
    storage.incr("trigger", 60)  # within purge_interval: nothing purged
    assert ("old",) in rows(storage.path, "counters")
    assert storage.get("old") == 0


def test_fixed_window_limiter(storage):
    limiter = FixedWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(3)
    assert [limiter.hit(item, "x") for _ in range(5)] == [True] * 3 + [False] * 2
    assert not limiter.test(item, "x")
    assert limiter.hit(item, "y")
    stats = limiter.get_window_stats(item, "x")
    assert stats.remaining == 0
    assert time.time() < stats.reset_time <= time.time() + 60
    limiter.clear(item, "x")
    assert limiter.hit(item, "x")


def test_storage_health_check(storage):
    assert storage.check()


def test_pickle_round_trip(storage):
    import pickle

    storage.incr("k", 60)
    copy = pickle.loads(pickle.dumps(storage))
    try:
        assert copy.get("k") == 1
    finally:
        copy.close()


# -- moving window and sliding window counter -----------------------------------------------


def test_moving_window(storage):
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(3)
    start = time.time()
    assert limiter.hit(item, "x", cost=2)
    assert not limiter.hit(item, "x", cost=2)
    assert limiter.hit(item, "x")
    assert not limiter.hit(item, "x")
    assert not limiter.test(item, "x")
    assert not storage.acquire_entry("x2", 3, 60, amount=4)
    stats = limiter.get_window_stats(item, "x")
    assert stats.remaining == 0
    assert start + 60 <= stats.reset_time <= time.time() + 60
    limiter.clear(item, "x")
    assert limiter.test(item, "x")


def test_moving_window_entries_expire(storage):
    assert storage.acquire_entry("k", 2, 0.3)
    assert storage.acquire_entry("k", 2, 0.3)
    assert not storage.acquire_entry("k", 2, 0.3)
    time.sleep(0.4)
    assert storage.get_moving_window("k", 2, 0.3)[1] == 0
    assert storage.acquire_entry("k", 2, 0.3)


def test_sliding_window_counter(storage):
    limiter = SlidingWindowCounterRateLimiter(storage)
    item = RateLimitItemPerHour(3)
    assert [limiter.hit(item, "x") for _ in range(4)] == [True] * 3 + [False]
    assert not limiter.test(item, "x")
    previous_count, _, current_count, current_ttl = storage.get_sliding_window(
        item.key_for("x"), item.get_expiry()
    )
    # Unless the test straddled the top of the hour, all hits are in the current window.
    assert previous_count + current_count == 3
    assert 0 < current_ttl <= 2 * 3600
    assert limiter.get_window_stats(item, "x").remaining == 0
    limiter.clear(item, "x")
    assert limiter.test(item, "x")
    assert not storage.acquire_sliding_window_entry("y", 3, 3600, amount=4)


def test_sliding_window_weights_the_previous_window(storage):
    expiry = 2
    # Start right after a window boundary, so that both windows are seen.
    time.sleep(expiry - time.time() % expiry + 0.05)
    assert storage.acquire_sliding_window_entry("k", 4, expiry, amount=4)
    assert not storage.acquire_sliding_window_entry("k", 4, expiry)
    time.sleep(expiry - time.time() % expiry + 0.05)  # into the next window
    previous_count, previous_ttl, current_count, _ = storage.get_sliding_window("k", expiry)
    assert (previous_count, current_count) == (4, 0)
    assert 1.5 < previous_ttl <= 2.0
    # The previous window still weighs 4 * ttl / 2, above 3: one more hit fits, not two.
    assert storage.acquire_sliding_window_entry("k", 4, expiry)
    assert not storage.acquire_sliding_window_entry("k", 4, expiry)


# -- exactness under concurrency --------------------------------------------------------------


def _sleep_out_of_window_edge(strategy: str, item) -> None:
    # The sliding window counter lets a few more hits through right after a window
    # boundary (the previous window weighs less); keep the burst inside one window.
    if strategy == "sliding-window-counter":
        left = item.get_expiry() - time.time() % item.get_expiry()
        if left < 30:
            time.sleep(left + 0.1)


def _hit_many(uri: str, strategy: str, per_hour: bool, barrier, hits: int) -> list[bool]:
    store = storage_from_string(uri)
    try:
        item = RateLimitItemPerHour(5) if per_hour else RateLimitItemPerMinute(5)
        limiter = STRATEGIES[strategy](store)
        barrier.wait(timeout=60)
        return [limiter.hit(item, "k") for _ in range(hits)]
    finally:
        store.close()


def _process_worker(uri, strategy, per_hour, barrier, queue) -> None:
    try:
        queue.put(_hit_many(uri, strategy, per_hour, barrier, 10))
    except BaseException as exc:
        queue.put(repr(exc))
        raise


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exact_across_processes(uri, strategy):
    per_hour = strategy == "sliding-window-counter"
    item = RateLimitItemPerHour(5) if per_hour else RateLimitItemPerMinute(5)
    storage_from_string(uri).close()  # create the file before the race
    _sleep_out_of_window_edge(strategy, item)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    queue = ctx.Queue()
    processes = [
        ctx.Process(target=_process_worker, args=(uri, strategy, per_hour, barrier, queue))
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    try:
        results = [queue.get(timeout=120) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=60)
        queue.close()
        queue.join_thread()
    assert all(isinstance(result, list) for result in results), results
    assert [process.exitcode for process in processes] == [0, 0, 0, 0]
    hits = [hit for result in results for hit in result]
    assert len(hits) == 40
    assert hits.count(True) == 5


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exact_across_threads(uri, strategy):
    per_hour = strategy == "sliding-window-counter"
    item = RateLimitItemPerHour(5) if per_hour else RateLimitItemPerMinute(5)
    _sleep_out_of_window_edge(strategy, item)
    store = storage_from_string(uri)
    try:
        limiter = STRATEGIES[strategy](store)
        barrier = threading.Barrier(8)

        def worker(_: int) -> list[bool]:
            barrier.wait(timeout=60)
            return [limiter.hit(item, "k") for _ in range(10)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(worker, range(8)))
    finally:
        store.close()
    hits = [hit for result in results for hit in result]
    assert hits.count(True) == 5


# -- Flask-Limiter ----------------------------------------------------------------------------


def _app(limiter: Limiter, config: dict[str, object] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    limiter.init_app(app)

    @app.post("/comments")
    @limiter.limit("2/minute")
    def post_comment() -> str:
        return "ok"

    return app


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_flask_limiter_accepts_the_uri(uri, strategy):
    limiter = Limiter(lambda: "client", storage_uri=uri, strategy=strategy)
    app = _app(limiter)
    assert isinstance(limiter.storage, SQLiteStorage)
    client = app.test_client()
    assert [client.post("/comments").status_code for _ in range(3)] == [200, 200, 429]
    limiter.storage.close()


def test_flask_limiter_instances_share_one_limit(uri):
    # Two apps with their own Limiter stand in for two gunicorn workers.
    first = Limiter(lambda: "client", storage_uri=uri)
    second = Limiter(lambda: "client")
    apps = [_app(first), _app(second, {"RATELIMIT_STORAGE_URI": uri})]
    clients = [app.test_client() for app in apps]
    codes = [clients[i % 2].post("/comments").status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]
    first.storage.close()
    second.storage.close()
