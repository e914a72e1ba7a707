"""The embed's hot GETs answered before Flask runs, when this process already holds the answer.

A page view of a blog makes two data requests, ``widget`` and ``counts``; a post that goes
viral makes thousands a minute, nearly all for the same few answers. Routing, argument
parsing, the CORS, compression and header hooks cost several times the one indexed query
that tells whether an answer is still current, so a repeat of a request is answered here:

1. A public view that may be kept marks its request with a :class:`ReadCheck`: which
   versions (site and thread version counters) or which rows (counts) its answer was built
   from, read *before* it rendered, so a stored answer is never newer than its check says.
2. :class:`HotReads`, a WSGI middleware around Flask, keeps the complete 200 answer (status,
   headers as the hooks left them, body, compressed when it was) keyed by everything the
   answer can depend on: path, query string, Origin, Accept-Encoding, Host and scheme.
   The query is kept as sent, but the check's article keys are the view's canonical ones
   (``canonical_article``), so every spelling of an article is confirmed against its one
   thread and its answer names that thread.
3. On a repeat it runs the check's one query on the thread's own connection (see
   :class:`_RawQueries`). The same numbers give
   the stored answer (or a 304 for a matching ``If-None-Match``); anything else, or any
   error, goes through Flask as if this layer did not exist.

The database stays the only source of truth, so every worker and every host sees a new
comment at once: nothing is served that the database does not confirm as current.
Requests with credentials (``Authorization``, ``X-Edit-Token``) always go through Flask.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, String, and_, any_, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from werkzeug.http import parse_etags, unquote_etag

from service.core.errors import REQUEST_ID_HEADER, sane_request_id
from service.db.models import Site, Thread
from service.db.types import BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from sqlalchemy import Engine

ENVIRON_KEY = "ranklet.read_check"
BYPASS_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_X_EDIT_TOKEN")
NOT_MODIFIED_DROPS = frozenset({"content-type", "content-length", "content-encoding"})
# Never replayed: the server dates each answer itself (werkzeug's make_conditional adds one,
# and an old Date would make every cache think the answer is as old as the entry); and each
# answer carries its own request's id, never the one of the request that filled the entry.
NOT_KEPT = frozenset({"date", "x-request-id"})
MAX_COUNTS_ARTICLES = 100
VERSION_KINDS = ("thread", "thread+recent", "recent")  # checked with THREAD_VERSIONS

Row = tuple[Any, ...]


@dataclass(frozen=True)
class ReadCheck:
    """What a stored answer was built from, and the query that tells if it still holds.

    ``kind`` is ``"thread"`` (token: site id, site version, thread version of one article),
    ``"thread+recent"`` (the same and the site's comments version: a widget that also
    carries the recent comments), ``"recent"`` (site id, site version, -1, comments version)
    or ``"counts"`` (token: the rows of site id, article and approved count).
    """

    kind: str
    slug: str
    articles: tuple[str, ...]
    token: tuple[Any, ...] | frozenset[Row]


# --- the queries, shared by the views (through the session) and the middleware (raw) --------


THREAD_VERSIONS = (
    select(Site.id, Site.version, Thread.version, Site.comments_version)
    .outerjoin(Thread, and_(Thread.site_id == Site.id, Thread.article == bindparam("article")))
    .where(Site.slug == bindparam("slug"))
)


@functools.lru_cache(maxsize=MAX_COUNTS_ARTICLES)
def counts_statement(size: int) -> Select[Any]:
    """Site id and approved counts of ``size`` articles, joined on the slug: one query.

    A site without any of the articles gives one row with a NULL article; no row means no
    such site. Parameters: ``slug`` and ``a0`` .. ``a{size-1}``.
    """
    names = [bindparam(f"a{index}") for index in range(size)]
    return (
        select(Site.id, Thread.article, Thread.approved_count)
        .outerjoin(Thread, and_(Thread.site_id == Site.id, Thread.article.in_(names)))
        .where(Site.slug == bindparam("slug"))
    )


# The counts check as the middleware runs it on PostgreSQL: the articles as one array
# parameter, where 50 separate ones cost psycopg as much as the round trip itself.
COUNTS_BY_ARRAY = (
    select(Site.id, Thread.article, Thread.approved_count)
    .outerjoin(
        Thread,
        and_(
            Thread.site_id == Site.id,
            Thread.article == any_(bindparam("articles", type_=ARRAY(String))),
        ),
    )
    .where(Site.slug == bindparam("slug"))
)


@functools.lru_cache(maxsize=MAX_COUNTS_ARTICLES)
def counts_in_one_row(size: int) -> Select[Any]:
    """:func:`counts_statement` as the middleware runs it on SQLite: the same rows, as one
    row of JSON. Python's sqlite3 gives the GIL up around each step of a statement, so 50
    rows were 50 waits to take it back behind the other threads (the counts check had the
    worst tail of the hot reads, worse with more threads)."""
    names = [bindparam(f"a{index}") for index in range(size)]
    pair = func.json_array(Thread.article, Thread.approved_count)
    return (
        select(Site.id, func.json_group_array(pair))
        .outerjoin(Thread, and_(Thread.site_id == Site.id, Thread.article.in_(names)))
        .where(Site.slug == bindparam("slug"))
        .group_by(Site.id)
    )


def counts_parameters(slug: str, articles: Sequence[str]) -> dict[str, str]:
    params = {f"a{index}": article for index, article in enumerate(articles)}
    params["slug"] = slug
    return params


def thread_token(row: Row | None, with_comments: bool = False) -> tuple[Any, ...] | None:
    """Site id, site version, thread version (-1: no thread), and with ``with_comments`` the
    site's comments version (what the recent-comments list is built from)."""
    if row is None:
        return None
    token = (row[0], row[1], -1 if row[2] is None else row[2])
    return (*token, row[3]) if with_comments else token


def counts_token(rows: Iterable[Row]) -> frozenset[Row] | None:
    """The rows themselves (site id, article, count) as a set, or None when the site does
    not exist: equal for equal data whatever order the query's plan gave them in, so that
    the view's query and the middleware's, which differ in form, agree."""
    return frozenset(tuple(row) for row in rows) or None


def counts_found(token: Iterable[Row]) -> dict[str, int]:
    return {row[1]: int(row[2]) for row in token if row[1] is not None}


def mark(environ: WSGIEnvironment, check: ReadCheck) -> None:
    """Let :class:`HotReads` keep this request's answer (a 200 only) under ``check``."""
    environ[ENVIRON_KEY] = check


# --- the middleware -------------------------------------------------------------------------


@dataclass
class Entry:
    check: ReadCheck
    status: str
    headers: list[tuple[str, str]]
    not_modified_headers: list[tuple[str, str]]
    etag: str | None
    body: bytes
    query: tuple[str, Any] | None = None  # the check's SQL and arguments, once prepared


class _RawQueries:
    """Compiled SQL run on a raw DBAPI connection of each thread's own (outside the pool):
    a dozen microseconds on SQLite, against about a hundred for the same statement through
    a Core connection.

    On PostgreSQL (psycopg) each thread opens its own connection (outside the pool, same
    URL), in autocommit, and prepares the two checks by name as it opens: one round trip
    per check, where a pooled checkout also paid the pre-ping's and a parse of the
    statement (hot reads were 0.32x SQLite's). The checks go to libpq directly, their
    arguments sent as text (a counts check's articles as one array) and their rows read
    back as text: psycopg's cursor cost more CPU than the round trip's wait. A thread's
    connection that fails is dropped, and the check falls back to Flask as for any error;
    the next check opens a new one.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict[Any, tuple[str, list[str] | None]] = {}
        self._local = threading.local()
        self._sqlite_args: tuple[list[Any], dict[str, Any]] | None = None
        database = engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in database
        if engine.dialect.name == "sqlite" and not in_memory:
            self._sqlite_args = engine.dialect.create_connect_args(engine.url)
        self.own_postgres = engine.dialect.name == "postgresql" and engine.driver == "psycopg"
        self._opened: list[Any] = []  # every thread's PostgreSQL connection, closed on dispose
        self.pg_statements: dict[str, str] = {}  # name -> SQL of what those connections prepare
        self._opened_lock = threading.Lock()
        if self.own_postgres:
            event.listen(engine, "engine_disposed", self._close_all)
            weakref.finalize(self, _close_connections, self._opened)  # an app let go of

    def _close_all(self, _engine: Any = None) -> None:
        with self._opened_lock:
            _close_connections(self._opened)

    def _sqlite(self) -> sqlite3.Connection | None:
        """On a SQLite file, each thread's own read connection, outside the pool.

        A pool checkout and return cost more than the check itself, and the pool is sized
        for requests, not for every thread. Autocommit: each check is its own snapshot.
        """
        if self._sqlite_args is None:
            return None
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            args, options = self._sqlite_args
            connection = sqlite3.connect(*args, **{**options, "check_same_thread": True})
            connection.isolation_level = None
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._local.connection = connection
        return connection

    def prepare(self, check: ReadCheck) -> tuple[str, Any]:
        """The check's SQL for this database and its arguments in the driver's style."""
        if self.own_postgres:
            return self._prepare_postgres(check)
        if check.kind in VERSION_KINDS:
            name: Any = "thread"
            statement = THREAD_VERSIONS
            article = check.articles[0] if check.articles else ""
            params: dict[str, Any] = {"slug": check.slug, "article": article}
        elif self._sqlite_args is not None:
            name = ("counts in one row", len(check.articles))
            statement = counts_in_one_row(len(check.articles))
            params = counts_parameters(check.slug, check.articles)
        else:
            name = ("counts", len(check.articles))
            statement = counts_statement(len(check.articles))
            params = counts_parameters(check.slug, check.articles)
        compiled = self._compiled.get(name)
        if compiled is None:
            done = statement.compile(dialect=self.engine.dialect)
            order = list(done.positiontup) if done.positiontup is not None else None
            compiled = self._compiled[name] = (str(done), order)
        sql, order = compiled
        return sql, ([params[key] for key in order] if order is not None else params)

    def _prepare_postgres(self, check: ReadCheck) -> tuple[str, Any]:
        """On psycopg: the name of a statement each thread's connection prepared when it
        opened (:meth:`_postgres`), and its arguments as text, sent as they are."""
        if check.kind in VERSION_KINDS:
            article = check.articles[0] if check.articles else ""
            return PG_THREAD, [article.encode(), check.slug.encode()]
        return PG_COUNTS, [_pg_text_array(check.articles).encode(), check.slug.encode()]

    def _postgres(self) -> Any:
        """This thread's own psycopg connection (autocommit), with the two checks prepared."""
        connection = getattr(self._local, "postgres", None)
        if connection is None:
            connection = self._local.postgres = self.open_postgres()
        return connection

    def open_postgres(self) -> Any:
        """A new psycopg connection (autocommit) with the two checks prepared, closed with
        the others when the engine is disposed."""
        args, options = self.engine.dialect.create_connect_args(self.engine.url)
        # Bounded waits: a check may run in the worker's poller (service.server_hotlane),
        # so neither a lost network (unacknowledged bytes) nor a stalled server may hold
        # it for long; a check that fails falls back to Flask, as any error does.
        bounds = {"connect_timeout": 3, "tcp_user_timeout": 3000}
        connection = self.engine.dialect.loaded_dbapi.connect(
            *args, **{**bounds, **options, "client_encoding": "utf-8"}
        )
        try:
            connection.autocommit = True
            _pg_result(connection.pgconn.exec_(b"SET statement_timeout = 2000"), False)
            for name, statement in ((PG_THREAD, THREAD_VERSIONS), (PG_COUNTS, COUNTS_BY_ARRAY)):
                sql = _numbered(statement.compile(dialect=self.engine.dialect))
                self.pg_statements[name] = sql
                _pg_result(connection.pgconn.prepare(name.encode(), sql.encode()), False)
        except Exception:
            with contextlib.suppress(Exception):
                connection.close()
            raise
        with self._opened_lock:
            self._opened.append(connection)
        return connection

    def _postgres_rows(self, query: tuple[str, Any]) -> list[Row]:
        """One round trip of a prepared statement through libpq itself: psycopg's cursor
        (adapting every argument, building its rows) cost more than the query's wait."""
        connection = self._postgres()
        name, params = query
        try:
            return _pg_rows(
                name, _pg_result(connection.pgconn.exec_prepared(name.encode(), params), True)
            )
        except Exception:
            self._local.postgres = None
            with contextlib.suppress(Exception):
                connection.close()
            raise

    def token(
        self, check: ReadCheck, query: tuple[str, Any]
    ) -> tuple[Any, ...] | frozenset[Row] | None:
        own = self._sqlite()
        if own is not None:
            rows = own.execute(*query).fetchall()
            if check.kind not in VERSION_KINDS:  # (site id, JSON of [article, count] pairs)
                rows = [(site, *pair) for site, pairs in rows for pair in json.loads(pairs)]
        elif self.own_postgres:
            rows = self._postgres_rows(query)
        else:
            connection = self.engine.raw_connection()
            try:
                rows = _autocommit_rows(connection.driver_connection, query)
            finally:
                connection.close()
        return _token_of(check, rows)


def _token_of(check: ReadCheck, rows: list[Row]) -> tuple[Any, ...] | frozenset[Row] | None:
    if check.kind in VERSION_KINDS:
        return thread_token(rows[0] if rows else None, check.kind != "thread")
    return counts_token(rows)


def _pg_rows(name: str, result: Any) -> list[Row]:
    """A check's rows from its libpq result (text values)."""
    values = result.get_value
    if name == PG_THREAD:
        return [
            tuple(_pg_int(values(row, col)) for col in range(4)) for row in range(result.ntuples)
        ]
    return [
        (_pg_int(values(row, 0)), _pg_str(values(row, 1)), _pg_int(values(row, 2)))
        for row in range(result.ntuples)
    ]


PG_THREAD = "ranklet_hot_thread"
PG_COUNTS = "ranklet_hot_counts"


def _numbered(compiled: Any) -> str:
    """A statement compiled for psycopg (``%(name)s``) with libpq's ``$1``, ``$2``... in
    the order of its parameters' first appearance: ``article``/``articles``, ``slug``."""
    names = ["article", "articles", "slug"]
    used = [name for name in names if name in compiled.params]
    return str(compiled) % {name: f"${used.index(name) + 1}" for name in used}


def _pg_text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of text values: each quoted, with ``\\`` and ``"``
    escaped (what array input reads back exactly)."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


def _pg_result(result: Any, rows: bool) -> Any:
    from psycopg import pq

    wanted = pq.ExecStatus.TUPLES_OK if rows else pq.ExecStatus.COMMAND_OK
    if result.status != wanted:
        message = result.error_message.decode("utf-8", "replace").strip()
        raise RuntimeError(f"hot-read check failed: {message or result.status}")
    return result


def _pg_int(value: bytes | None) -> int | None:
    return None if value is None else int(value)


def _pg_str(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _close_connections(opened: list[Any]) -> None:
    while opened:
        with contextlib.suppress(Exception):
            opened.pop().close()


def _autocommit_rows(driver: Any, query: tuple[str, Any]) -> list[Row]:
    """Run one SELECT outside a transaction where the driver allows it (psycopg): no BEGIN
    before it and no ROLLBACK when the connection goes back to the pool."""
    switched = False
    if getattr(driver, "autocommit", True) is False:
        try:
            driver.autocommit = True
            switched = True
        except Exception:  # in a transaction (not expected after a checkout): run inside it
            switched = False
    try:
        cursor = driver.cursor()
        try:
            cursor.execute(*query)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    finally:
        if switched:
            driver.autocommit = False


def _key(environ: WSGIEnvironment) -> tuple[str, ...]:
    """Everything a stored answer can depend on."""
    return (
        environ.get("PATH_INFO", ""),
        environ.get("QUERY_STRING", ""),
        environ.get("HTTP_ORIGIN", ""),
        environ.get("HTTP_ACCEPT_ENCODING", ""),
        environ.get("HTTP_HOST", ""),
        environ.get("wsgi.url_scheme", ""),
    )


class HotReads:
    """WSGI middleware: repeats of marked GETs answered from memory after one check query.

    Bounded in entries and bytes (least recently used out first); one instance per app.
    """

    def __init__(
        self,
        wsgi_app: WSGIApplication,
        engine: Callable[[], Engine],
        max_entries: int = 4096,
        max_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.wsgi_app = wsgi_app
        self._engine = engine
        self._queries: _RawQueries | None = None
        self._entries: OrderedDict[tuple[str, ...], Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.hits = 0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET" or any(h in environ for h in BYPASS_HEADERS):
            return self.wsgi_app(environ, start_response)
        key = _key(environ)
        entry = self._confirmed(key)
        if entry is not None:
            return self._answer(entry, environ, start_response)
        return self._fill(key, environ, start_response)

    def answer_now(self, environ: WSGIEnvironment) -> tuple[str, list[Any], bytes] | None:
        """The confirmed stored answer to this GET (status, headers, body), for a server
        that writes it itself (``service.server_hotlane``), or None: then the request goes
        through this middleware as usual (which fills the entry)."""
        if any(h in environ for h in BYPASS_HEADERS):
            return None
        entry = self._confirmed(_key(environ))
        return None if entry is None else self.answer_of(entry, environ)

    def stored(self, environ: WSGIEnvironment) -> tuple[tuple[str, ...], Entry] | None:
        """The key and entry this GET would be answered from, not yet confirmed (for a
        server that runs the check without waiting: :meth:`postgres_check`,
        :meth:`confirmed_by`)."""
        if any(h in environ for h in BYPASS_HEADERS):
            return None
        key = _key(environ)
        with self._lock:
            entry = self._entries.get(key)
        return None if entry is None else (key, entry)

    def postgres_check(self, entry: Entry) -> tuple[str, Any]:
        """The entry's check as a prepared statement's name and text arguments (for a
        server whose checks run on our own PostgreSQL connections: :meth:`checks_on_postgres`)."""
        if entry.query is None:
            entry.query = self._raw_queries().prepare(entry.check)
        return entry.query

    def checks_on_postgres(self) -> bool:
        """Whether the checks run on PostgreSQL connections of our own (psycopg)."""
        return self._raw_queries().own_postgres

    def open_postgres(self) -> Any:
        """A new psycopg connection of our own with the checks prepared (the caller owns
        it; it is closed with the engine's other check connections)."""
        return self._raw_queries().open_postgres()

    def confirmed_by(self, key: tuple[str, ...], entry: Entry, name: str, result: Any) -> bool:
        """Whether a check's libpq result confirms the entry (False on any doubt)."""
        try:
            rows = _pg_rows(name, _pg_result(result, True))
            current = _token_of(entry.check, rows) == entry.check.token
        except Exception:
            return False
        if current:
            with self._lock:
                if self._entries.get(key) is entry:
                    self._entries.move_to_end(key)
            self.hits += 1
        return current

    def answer_of(self, entry: Entry, environ: WSGIEnvironment) -> tuple[str, list[Any], bytes]:
        """The entry's answer to this request (a 304 for a matching ``If-None-Match``)."""
        seen: list[Any] = []

        def keep(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers]

        body = b"".join(self._answer(entry, environ, keep))  # type: ignore[arg-type]
        return seen[0], seen[1], body

    def _raw_queries(self) -> _RawQueries:
        if self._queries is None:
            self._queries = _RawQueries(self._engine())
        return self._queries

    def _confirmed(self, key: tuple[str, ...]) -> Entry | None:
        """The stored entry of ``key`` when the database confirms it is current."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None or not self._current(entry):
            return None
        self.hits += 1
        return entry

    def _current(self, entry: Entry) -> bool:
        """The database confirms the entry; False on any doubt, errors included (Flask then
        answers, with its own error handling: a 503 when the database is down)."""
        try:
            queries = self._raw_queries()
            if entry.query is None:
                entry.query = queries.prepare(entry.check)
            return queries.token(entry.check, entry.query) == entry.check.token
        except Exception:
            return False

    @staticmethod
    def _answer(
        entry: Entry, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        request_id = (REQUEST_ID_HEADER, sane_request_id(environ.get("HTTP_X_REQUEST_ID")))
        wanted = environ.get("HTTP_IF_NONE_MATCH")
        if wanted and entry.etag is not None:
            tag, _ = unquote_etag(entry.etag)
            if tag is not None and parse_etags(wanted).contains_weak(tag):
                start_response("304 NOT MODIFIED", [*entry.not_modified_headers, request_id])
                return []
        start_response(entry.status, [*entry.headers, request_id])
        return [entry.body]

    def _fill(
        self, key: tuple[str, ...], environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, capture)
        check = environ.get(ENVIRON_KEY)
        if not isinstance(check, ReadCheck) or not seen or not seen[0].startswith("200 "):
            return result
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status = seen[0]
        headers = [(name, value) for name, value in seen[1] if name.lower() not in NOT_KEPT]
        etag = next((value for name, value in headers if name.lower() == "etag"), None)
        self._store(
            key,
            Entry(
                check=check,
                status=status,
                headers=list(headers),
                not_modified_headers=[
                    (name, value)
                    for name, value in headers
                    if name.lower() not in NOT_MODIFIED_DROPS
                ],
                etag=etag,
                body=body,
            ),
        )
        return [body]

    def _store(self, key: tuple[str, ...], entry: Entry) -> None:
        size = len(entry.body) + sum(len(k) for k in key)
        if size > self.max_bytes // 16:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body) + sum(len(k) for k in key)
            self._entries[key] = entry
            self._bytes += size
            while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
                old_key, old = self._entries.popitem(last=False)
                self._bytes -= len(old.body) + sum(len(k) for k in old_key)
