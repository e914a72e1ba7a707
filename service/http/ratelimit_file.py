"""The rate-limit store's SQLite file: one connection per thread and process, and write
transactions that take the write lock before they read.

Connections are opened lazily, one per thread and process (one inherited through ``fork`` is
never used in the child), with WAL journaling and a busy timeout. The file is created with
mode 0600 before SQLite opens it (its keys may contain client addresses). An instance can be
pickled: what belongs to one process (the connections, their lock) is made anew on unpickling.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any


def first_row(
    conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()
) -> tuple[Any, ...] | None:
    # fetchall() runs the statement to completion, so no read transaction lingers.
    rows = conn.execute(sql, params).fetchall()
    return tuple(rows[0]) if rows else None


class _Connection(sqlite3.Connection):
    """A connection that remembers its process and can be weakly referenced."""

    owner_pid: int


class SQLiteFile:
    """A SQLite file shared by the threads and processes of one host."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._init_runtime_state()

    def _init_runtime_state(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak, so that a finished thread's connection is closed with its thread-local data.
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_local", "_lock", "_connections"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime_state()

    def create(self, schema: Iterable[str]) -> None:
        """Create the file (owner-only) and run ``schema``; nothing stays open afterwards."""
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # Create the file owner-only before SQLite does; its -wal and -shm files inherit
        # the database file's permissions.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        with self.transaction() as conn:
            for statement in schema:
                conn.execute(statement)
        # Nothing stays open: the instance may be created before gunicorn forks.
        self.close()

    def _open(self) -> _Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.timeout,
            isolation_level=None,  # autocommit: transactions are explicit BEGIN IMMEDIATE
            check_same_thread=False,  # only its own thread uses it; close() may run elsewhere
            factory=_Connection,
        )
        conn.owner_pid = os.getpid()
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._ensure_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _ensure_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs an exclusive lock and may report "locked" without calling
        # the busy handler while other processes are opening the file: retry until timeout.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode").fetchall()[0][0]
                if str(mode).lower() == "wal":
                    return
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use in this process."""
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.owner_pid != os.getpid():
            # A connection inherited through fork is never used in the child.
            conn = self._open()
            self._local.conn = conn
            with self._lock:
                self._connections.add(conn)
        return conn

    def close(self) -> None:
        """Close this process's connections; they are reopened on next use.

        Call it when no other thread is using the file (e.g. at shutdown or in tests).
        """
        pid = os.getpid()
        with self._lock:
            mine = [conn for conn in self._connections if conn.owner_pid == pid]
            for conn in mine:
                self._connections.discard(conn)
        self._local = threading.local()
        for conn in mine:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the write lock before any read."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
