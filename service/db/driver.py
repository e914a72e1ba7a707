"""Fixed statements of the posting path, run on SQLite's own connection.

A post runs five fixed statements besides its reads (the comment's INSERT, the site's and
the thread's counters, the spam counts' read and their upsert). Through SQLAlchemy's
execution path each cost about 20 µs of CPU beyond SQLite's own work (the execution
context, the parameters' processing, the result's wrapping): a tenth of a post. On SQLite
the write lane runs one post at a time per process, so that CPU is the post rate.

:func:`rows` compiles such a statement once per dialect (SQL, the order of its parameters
and their bind processors, as SQLAlchemy would apply them) and runs it with the driver's
``execute`` in the connection's current transaction; the rows come back as tuples. A
driver's error is raised as SQLAlchemy raises it (``DBAPIError.instance``: "database is
locked" stays an ``OperationalError``, a 503): :func:`on_sqlite`, which the write gate's
BEGIN uses too (``service.db.types``). Elsewhere (PostgreSQL), or when anything
listens to the engine's statements (a test counting them), it is ``connection.execute``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]  # the statement's own values (``version + 1``)
    processors: tuple[Callable[[Any], Any] | None, ...]
    # The result columns' processors (SQLAlchemy's, from their types), for ``typed`` rows.
    results: tuple[Callable[[Any], Any] | None, ...]


# (id(statement), its parameters' names) -> (statement, its SQLite form): the statements
# are module constants; an INSERT's columns are the parameters it is given.
_CACHE: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, _Compiled]] = {}


def _compile(statement: ClauseElement, keys: tuple[str, ...], connection: Connection) -> _Compiled:
    entry = _CACHE.get((id(statement), keys))
    if entry is not None and entry[0] is statement:
        return entry[1]
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(keys))
    names = tuple(compiled.positiontup or ())
    binds = {name: compiled.binds[name] for name in names}
    fixed = {
        name: bind.value
        for name, bind in binds.items()
        if not bind.required and bind.callable is None
    }
    processors = tuple(
        binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in compiled._result_columns
    )
    result = _Compiled(str(compiled), names, fixed, processors, results)
    _CACHE[(id(statement), keys)] = (statement, result)
    return result


def rows(
    connection: Connection,
    statement: ClauseElement,
    params: Mapping[str, Any],
    *,
    typed: bool = False,
) -> Sequence[Sequence[Any]]:
    """Run ``statement`` with ``params`` in ``connection``'s transaction; its rows (none
    for a statement without RETURNING). ``typed``: each value as its column's type gives it
    (a datetime, a bool, a list from JSON), as SQLAlchemy's result would; otherwise as the
    driver returns it (what the posting path's own statements read: integers, floats)."""
    dispatch = connection.dispatch
    if (
        connection.dialect.name != "sqlite"
        or dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
    ):
        result = connection.execute(statement, dict(params))
        return result.all() if result.returns_rows else []
    compiled = _compile(statement, tuple(params), connection)
    fixed = compiled.fixed
    args = []
    for name, process in zip(compiled.names, compiled.processors, strict=True):
        value = params[name] if name in params else fixed[name]
        args.append(value if process is None else process(value))
    found = on_sqlite(connection, compiled.sql, args)
    if typed and any(compiled.results):
        return [_typed(row, compiled.results) for row in found]
    return found


def _typed(
    row: Sequence[Any], processors: tuple[Callable[[Any], Any] | None, ...]
) -> tuple[Any, ...]:
    return tuple(
        value if process is None or value is None else process(value)
        for value, process in zip(row, processors, strict=True)
    )


def on_sqlite(connection: Connection, sql: str, args: Sequence[Any] = ()) -> list[Any]:
    """``sql`` on SQLite's own connection under ``connection``, in its transaction; its rows.
    A driver error is raised as SQLAlchemy raises one (``DBAPIError.instance``)."""
    dbapi = connection.connection.driver_connection
    try:
        return dbapi.execute(sql, args).fetchall()  # type: ignore[union-attr,no-any-return]
    except sqlite3.Error as error:
        raise DBAPIError.instance(sql, args, error, sqlite3.Error) from error
