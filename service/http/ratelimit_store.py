"""A SQLite-backed storage for the ``limits`` library, shared by the processes of one host.

Flask-Limiter's ``memory://`` storage lives inside one process, so with N gunicorn workers a
limit of 5/minute lets 5N requests through. :class:`SQLiteStorage` keeps the counters in a
small SQLite file of its own (not the application database) and does every
read-modify-write in a ``BEGIN IMMEDIATE`` transaction, so all processes that open the same
file count exactly. It is the embedded default of ``ranklet serve``; to share limits across
hosts, use ``redis://...`` instead.

URI: ``ranklet-sqlite:///absolute/path/to/ratelimit.db`` (the path is percent-decoded; build
it with :func:`default_storage_uri` or :func:`storage_uri_for_path`).

**Registration.** ``limits`` registers a storage class under its ``STORAGE_SCHEME`` when the
class is *defined*, so this module must be imported before ``limits.storage_from_string``
(or Flask-Limiter's ``Limiter.init_app``) sees a ``ranklet-sqlite://`` URI::

    import service.ratelimit_store  # noqa: F401  (registers "ranklet-sqlite")

    limiter = Limiter(key_func=..., storage_uri=default_storage_uri(app.instance_path))

Supported strategies: fixed window, moving window and sliding window counter; all three are
exact across processes because each decision is made inside one write transaction.

The file itself (connections per thread and process, WAL, the write transaction, mode 0600)
is handled by :class:`~service.ratelimit_file.SQLiteFile`. Expired rows are purged
opportunistically, at most once per ``purge_interval`` seconds per process.

Options (keyword arguments, e.g. Flask-Limiter's ``RATELIMIT_STORAGE_OPTIONS``):
``timeout`` (seconds to wait for the write lock, default 5) and ``purge_interval``
(seconds, default 60).
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
import urllib.parse
from typing import Any

from limits.errors import ConfigurationError
from limits.storage import MovingWindowSupport, SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

from service.http.ratelimit_file import SQLiteFile, first_row

SCHEME = "ranklet-sqlite"
DEFAULT_FILENAME = "ratelimit.db"

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS counters (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at)",
    """
    CREATE TABLE IF NOT EXISTS events (
        key TEXT NOT NULL,
        at REAL NOT NULL,
        amount INTEGER NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_key_at ON events (key, at)",
    "CREATE INDEX IF NOT EXISTS events_expires_at ON events (expires_at)",
)


def storage_uri_for_path(path: str | os.PathLike[str]) -> str:
    """Return the ``ranklet-sqlite://`` URI of the SQLite file at ``path``."""
    absolute = os.path.abspath(os.fspath(path))
    return f"{SCHEME}://{urllib.parse.quote(absolute)}"


def default_storage_uri(instance_path: str) -> str:
    """Return the URI of the default store, ``<instance_path>/ratelimit.db``."""
    return storage_uri_for_path(os.path.join(instance_path, DEFAULT_FILENAME))


def _path_from_uri(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != SCHEME:
        raise ConfigurationError(f"not a {SCHEME}:// URI: {uri!r}")
    if parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            f"{SCHEME} URIs take an absolute file path and nothing else, "
            f"e.g. {SCHEME}:///var/lib/ranklet/ratelimit.db (got {uri!r})"
        )
    path = urllib.parse.unquote(parts.path)
    if not path.strip("/"):
        raise ConfigurationError(f"{SCHEME} URI without a file path: {uri!r}")
    return path


class SQLiteStorage(
    Storage, MovingWindowSupport, SlidingWindowCounterSupport, TimestampedSlidingWindow
):
    """Rate limit storage in a SQLite file, exact across the processes of one host."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (the registry reads a list class attribute)

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        timeout: float | str = 5.0,
        purge_interval: float | str = 60.0,
        **options: float | str | bool,
    ) -> None:
        if uri is None:
            raise ConfigurationError(f"{type(self).__name__} needs a {SCHEME}:// URI")
        self.path = _path_from_uri(uri)
        self.timeout = float(timeout)
        self.purge_interval = float(purge_interval)
        self._file = SQLiteFile(self.path, self.timeout)
        self._last_purge = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._file.create(_SCHEMA)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._last_purge = 0.0  # this process has not purged yet

    def close(self) -> None:
        """Close this process's connections; they are reopened on next use.

        Call it when no other thread is using the storage (e.g. at shutdown or in tests).
        """
        self._file.close()

    def _maybe_purge(self, conn: sqlite3.Connection, now: float) -> None:
        if now - self._last_purge < self.purge_interval:
            return
        self._last_purge = now
        conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        conn.execute("DELETE FROM events WHERE expires_at <= ?", (now,))

    # -- fixed window -----------------------------------------------------------------------

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    @staticmethod
    def _live_counter(conn: sqlite3.Connection, key: str, now: float) -> tuple[int, float] | None:
        row = first_row(
            conn,
            "SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?",
            (key, now),
        )
        return None if row is None else (int(row[0]), float(row[1]))

    def _incr(
        self, conn: sqlite3.Connection, key: str, expiry: float, amount: int, now: float
    ) -> int:
        current = self._live_counter(conn, key, now)
        if current is None:
            # Absent or expired: a new window starts now.
            conn.execute(
                "INSERT OR REPLACE INTO counters (key, value, expires_at) VALUES (?, ?, ?)",
                (key, amount, now + expiry),
            )
            return amount
        value = current[0] + amount
        conn.execute("UPDATE counters SET value = ? WHERE key = ?", (value, key))
        return value

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Increment the counter of ``key``; a new counter expires ``expiry`` seconds from now.

        :return: the counter's value after the increment
        """
        with self._file.transaction() as conn:
            now = time.time()  # read under the write lock
            self._maybe_purge(conn, now)
            return self._incr(conn, key, expiry, amount, now)

    def get(self, key: str) -> int:
        """Return the counter of ``key`` (0 when absent or expired)."""
        current = self._live_counter(self._file.connection(), key, time.time())
        return 0 if current is None else current[0]

    def get_expiry(self, key: str) -> float:
        """Return when the counter of ``key`` expires (now when absent or expired)."""
        now = time.time()
        current = self._live_counter(self._file.connection(), key, now)
        return now if current is None else current[1]

    def check(self) -> bool:
        """Return whether the SQLite file can be read."""
        try:
            self._file.connection().execute("SELECT 1 FROM counters LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every limit; return the number of keys deleted."""
        with self._file.transaction() as conn:
            events = conn.execute("SELECT COUNT(DISTINCT key) FROM events").fetchall()[0][0]
            counters = conn.execute("DELETE FROM counters").rowcount
            conn.execute("DELETE FROM events")
            return int(counters) + int(events)

    def clear(self, key: str) -> None:
        """Delete the limit of ``key``."""
        with self._file.transaction() as conn:
            conn.execute("DELETE FROM counters WHERE key = ?", (key,))
            conn.execute("DELETE FROM events WHERE key = ?", (key,))

    # -- moving window ----------------------------------------------------------------------

    @staticmethod
    def _window(conn: sqlite3.Connection, key: str, expiry: float, now: float) -> tuple[float, int]:
        oldest, count = conn.execute(
            "SELECT MIN(at), COALESCE(SUM(amount), 0) FROM events WHERE key = ? AND at > ?",
            (key, now - expiry),
        ).fetchall()[0]
        return (now if oldest is None else float(oldest)), int(count)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Record ``amount`` entries if the last ``expiry`` seconds hold ``limit - amount``
        or fewer."""
        if amount > limit:
            return False
        with self._file.transaction() as conn:
            now = time.time()
            self._maybe_purge(conn, now)
            conn.execute("DELETE FROM events WHERE key = ? AND at <= ?", (key, now - expiry))
            _, count = self._window(conn, key, expiry, now)
            if count + amount > limit:
                return False
            conn.execute(
                "INSERT INTO events (key, at, amount, expires_at) VALUES (?, ?, ?, ?)",
                (key, now, amount, now + expiry),
            )
            return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """Return (time of the oldest entry in the window, number of entries in the window)."""
        return self._window(self._file.connection(), key, expiry, time.time())

    # -- sliding window counter -------------------------------------------------------------

    def _sliding_window_info(
        self, conn: sqlite3.Connection, key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous = self._live_counter(conn, previous_key, now)
        current = self._live_counter(conn, current_key, now)
        previous_count = 0 if previous is None else previous[0]
        current_count = 0 if current is None else current[0]
        # Seconds until the previous window stops counting (as in limits' MemoryStorage).
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous_count else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous_count, previous_ttl, current_count, current_ttl

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        """Count ``amount`` hits if the weighted count of both windows stays within ``limit``."""
        if amount > limit:
            return False
        with self._file.transaction() as conn:
            now = time.time()
            self._maybe_purge(conn, now)
            previous_count, previous_ttl, current_count, _ = self._sliding_window_info(
                conn, key, expiry, now
            )
            weighted = previous_count * previous_ttl / expiry + current_count
            if math.floor(weighted) + amount > limit:
                return False
            _, current_key = self.sliding_window_keys(key, expiry, now)
            # The current window's counter must outlive the next window, where it is the
            # previous one.
            self._incr(conn, current_key, 2 * expiry, amount, now)
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """Return (previous count, previous TTL, current count, current TTL)."""
        return self._sliding_window_info(self._file.connection(), key, expiry, time.time())

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Delete both windows' counters of ``key``."""
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        with self._file.transaction() as conn:
            conn.execute("DELETE FROM counters WHERE key IN (?, ?)", (previous_key, current_key))


__all__ = ["SCHEME", "SQLiteStorage", "default_storage_uri", "storage_uri_for_path"]
