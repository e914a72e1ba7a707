"""Column types and engine settings shared by every model and database."""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator

from service.db.driver import on_sqlite

# Set for requests that write, so SQLite opens their transaction with BEGIN IMMEDIATE and a
# second writer waits on the busy timeout instead of failing with SQLITE_BUSY mid-transaction.
write_intent: contextvars.ContextVar[bool] = contextvars.ContextVar("write_intent", default=False)


# How long the current request waited in the write lane before it ran: that much comes off
# each of its waits for the write gate, so a writer waits for the busy timeout at most in all.
_lane_waited: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "lane_waited", default=None
)


def lane_wait_so_far() -> float:
    """What the current request has waited before its work so far (0 outside a lane)."""
    return _lane_waited.get() or 0.0


@contextlib.contextmanager
def lane_waited(seconds: float) -> Iterator[None]:
    """Writers begun inside wait for the write gate ``seconds`` less than its timeout."""
    token = _lane_waited.set(seconds)
    try:
        yield
    finally:
        _lane_waited.reset(token)


@contextlib.contextmanager
def transaction_intent(writing: bool) -> Iterator[None]:
    """Transactions begun inside are writers (BEGIN IMMEDIATE, the write gate) or readers."""
    token = write_intent.set(writing)
    try:
        yield
    finally:
        write_intent.reset(token)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that comes back aware on SQLite too (which drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


BUSY_TIMEOUT_MS = 5000
# A writer the gate (and the write lane before it) let in within this many seconds keeps
# SQLite's whole busy timeout: two statements fewer per write; the wait in all may then
# exceed the timeout by this much. (Under a load of posts each waits a few ms in the lane.)
GATE_SLACK = 0.25
GATE = "ranklet_write_gate"
WRITING = "ranklet_writing"  # the connection's transaction began as a writer


class WriteGate:
    """One writing transaction at a time per SQLite file: a lock per process, then ``flock``
    on ``<database>-writer.lock`` across the processes of the host.

    SQLite allows one writer anyway. Without the gate, writers queue in SQLite's busy
    handler, which sleeps 1, 2, 5, 10 ... 100 ms between tries whatever the holder does: 16
    concurrent posts then took ~170 a second with a p99 over a second. Queued on a lock,
    each writer starts as soon as the one before it has committed. A writer that cannot get
    the gate within the busy timeout fails like SQLite would ("database is locked": a 503).
    Processes that do not take the gate (the sqlite3 shell, say) are still handled by
    SQLite's own busy timeout.
    """

    def __init__(self, database: str | None, timeout: float = BUSY_TIMEOUT_MS / 1000) -> None:
        # No lock file beside an in-memory database or a ``file:`` URI (not a plain path).
        plain_file = bool(database) and database != ":memory:" and not database.startswith("file:")
        self.path = f"{database}-writer.lock" if plain_file else None
        self.timeout = timeout
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            # Per process: a descriptor inherited through a fork shares its lock.
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError:  # a read-only folder: SQLite's busy timeout alone, as before
                self.path = None
                return None
            self._pid = os.getpid()
        return self._fd

    def acquire(self) -> float:
        """Take the gate within the timeout; the seconds of it left, for SQLite's own wait."""
        deadline = time.monotonic() + self.timeout - (_lane_waited.get() or 0.0)
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise _locked()
        try:
            fd = self._file()
            pause = 0.00005
            while fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise _locked() from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.0002)
        except BaseException:
            self._lock.release()
            raise
        return deadline - time.monotonic()

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._lock.release()

    def forget_inherited(self) -> None:
        """In a forked child: close the parent's descriptor, never unlock it.

        A ``flock`` belongs to the open file, shared by every copy of the descriptor: a child
        that kept its copy would hold the parent's lock after the parent died (an import's
        render workers did, and every write on the live server answered 503). Closing a copy
        leaves the parent's lock as it is; the child opens its own file if it ever writes."""
        if self._fd is not None and self._pid != os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._pid = 0
        self._lock = threading.Lock()  # a copy may have been held by another thread


# Each SQLite engine's gate (for tests and diagnostics).
GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def _forget_gates_in_child() -> None:
    for gate in list(GATES.values()):
        gate.forget_inherited()


# Every fork, whoever makes it (gunicorn, an import's render workers, multiprocessing):
# the child starts without the parent's write-gate descriptors.
os.register_at_fork(after_in_child=_forget_gates_in_child)


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))


def _begin(conn: Any, statement: str) -> None:
    """``statement`` (a BEGIN) on the driver's own connection: through SQLAlchemy's execution
    path it cost about 30 µs of CPU, twice a post. A failure is raised as SQLAlchemy raises
    a driver's error (an ``OperationalError`` for "database is locked": a 503)."""
    on_sqlite(conn, statement)


def writing_transaction(session: Any) -> bool:
    """Whether the session's current transaction on SQLite began as a writer (BEGIN
    IMMEDIATE, the write gate held): it may write without ending its reads first."""
    if not session.in_transaction():
        return False
    record = session.connection().connection._connection_record
    return bool(record is not None and record.info.get(WRITING))


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and explicit BEGINs, so several gunicorn workers share one file;
    writing transactions queue on a :class:`WriteGate`, held from BEGIN to the connection's
    return to the pool (the session gives it back right after COMMIT or ROLLBACK)."""
    gate = GATES[engine] = WriteGate(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")
        mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        if mode != "wal" and mode != "memory":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        info = conn.connection._connection_record.info
        writing = info[WRITING] = write_intent.get()
        if not writing:
            _begin(conn, "BEGIN")
            return
        if info.get(GATE):
            _begin(conn, "BEGIN IMMEDIATE")
            return
        left = gate.acquire()
        info[GATE] = True
        if left > gate.timeout - GATE_SLACK:  # in at once: SQLite's own timeout stands
            _begin(conn, "BEGIN IMMEDIATE")
            return
        # One wait in all: what the gate took comes off SQLite's busy timeout, so a writer
        # behind another process's lock gives up (503) within the timeout, not twice it.
        conn.exec_driver_sql(f"PRAGMA busy_timeout = {max(1, int(left * 1000))}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _release(record: Any) -> None:
        if record is not None and record.info.pop(GATE, False):
            gate.release()

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _release(record)

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _error: Any) -> None:
        _release(record)
