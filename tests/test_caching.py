"""Issue 6, items 1 and 2: conditional GETs and the hot-read path, on SQLite and PostgreSQL.

A. Every public GET answers with an ETag and a Cache-Control that allows
   stale-while-revalidate; a matching If-None-Match gets a bodiless 304; a relevant change
   gives a new ETag, and the old one a 200 again.
B. ``service.hot_reads.HotReads`` (the WSGI middleware in ``app.wsgi_app``): a repeat is
   answered from memory after one check query, never stale across app instances (workers,
   hosts), never for requests with credentials, never a 500 of its own, and bounded.
C. A cold read of a thread costs as many SQL statements for 200 comments as for 20.
D. The hot queries use indexes (EXPLAIN on SQLite and on PostgreSQL).

Most HotReads checks call the WSGI app directly (``raw_get``) to see the status, headers
and body exactly as the middleware hands them to the server; the test client would add a
default Content-Type to a 304 that has none.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import brotli
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from support import orm_statements, walk
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service.core.extensions import db
from service.http import hot_reads

BASE = "/api/v1/sites/blog"
ORIGIN = "https://blog.example.com"
ARTICLE = "/posts/caching/"
FIRST = "First comment"
# More than three links: held for moderation (a reader's comment on a site without moderation).
HELD = " ".join(["See", *(f"[{c}](https://{c}.example/)" for c in "abcd")])
HOT_KINDS = ("widget", "comments", "counts")


# --- helpers: addresses ---------------------------------------------------------------------


def with_query(path: str, *pairs: tuple[str, str]) -> str:
    return f"{path}?{urlencode(pairs)}" if pairs else path


def widget_url(article: str = ARTICLE, *extra: tuple[str, str]) -> str:
    return with_query(f"{BASE}/widget", ("article", article), *extra)


def comments_url(article: str = ARTICLE, *extra: tuple[str, str]) -> str:
    return with_query(f"{BASE}/comments", ("article", article), *extra)


def counts_url(*articles: str) -> str:
    return with_query(f"{BASE}/counts", *[("article", a) for a in articles or (ARTICLE,)])


def read_url(kind: str, article: str = ARTICLE) -> str:
    return {"widget": widget_url, "comments": comments_url, "counts": counts_url}[kind](article)


# --- helpers: requests ----------------------------------------------------------------------


@dataclass
class Raw:
    """An answer exactly as the WSGI app gave it: status line, header list, body bytes."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def names(self) -> set[str]:
        return {key.lower() for key, _ in self.headers}

    def vary(self) -> set[str]:
        return {part.strip().lower() for value in self.values("Vary") for part in value.split(",")}

    def json(self) -> Any:
        return json.loads(decoded(self))


def decoded(answer: Raw) -> bytes:
    encoding = answer.get("Content-Encoding")
    if encoding == "br":
        return brotli.decompress(answer.body)
    if encoding == "gzip":
        return gzip.decompress(answer.body)
    assert encoding is None, encoding
    return answer.body


def raw_get(app: Any, target: str, headers: dict[str, str] | None = None) -> Raw:
    environ = EnvironBuilder(path=target, headers=headers or {}).get_environ()
    body, status, got = run_wsgi_app(app, environ, buffered=True)
    return Raw(status, got.to_wsgi_list(), b"".join(body))


def hot(app: Any) -> hot_reads.HotReads:
    middleware = app.extensions["ranklet_hot_reads"]
    assert app.wsgi_app is middleware
    return middleware


def answered_hot(app: Any, target: str, headers: dict[str, str] | None = None) -> bool:
    """GET ``target`` (a 200 expected); True when the middleware answered it from memory."""
    before = hot(app).hits
    answer = raw_get(app, target, headers)
    assert answer.status == "200 OK", answer.body
    return hot(app).hits == before + 1


def post_comment(client: Any, body: str = FIRST, article: str = ARTICLE, **fields: Any) -> Any:
    answer = client.post(
        f"{BASE}/comments",
        json={"article": article, "body": body, **fields},
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer.get_json()


def record_rank(client: Any, site: Any, position: int) -> None:
    answer = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": position}}, headers=site.auth
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def widget_summary(widget: dict[str, Any]) -> dict[str, Any]:
    """What a reader sees in the widget, in a form a test can state in full."""
    consulting = next(c for c in widget["rankings"] if c["key"] == "consulting")
    return {
        "name": widget["site"]["name"],
        "total": widget["comments"]["total"],
        "comments": [
            (text(c["body_html"]), c["likes"]) for c in walk(widget["comments"]["comments"])
        ],
        "consulting": consulting["current"] and consulting["current"]["position"],
    }


# --- helpers: counting and capturing SQL ----------------------------------------------------


def engine_of(app: Any) -> Any:
    with app.app_context():
        return db.engine


# The pool's pre-ping on PostgreSQL (``pool_pre_ping``): psycopg's empty query, run at each
# checkout of a pooled connection. A liveness check of the pool, not a statement of the app.
PG_PING = ";"


@contextlib.contextmanager
def driver_statements(app: Any) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of everything the DBAPI driver executes.

    HotReads runs its check with a plain DBAPI cursor (on SQLite on the thread's own
    connection, outside the pool; else on ``engine.raw_connection()``), which SQLAlchemy's
    cursor events never see, so this looks one level lower. SQLite: the library's own trace
    callback, set on each connection as the pool hands it out and on this thread's HotReads
    connection (it reports every statement SQLite runs, BEGIN/COMMIT included, with the
    values filled in, so parameters are None). PostgreSQL: psycopg's ``Cursor.execute`` and
    ``executemany``, the calls through which every statement, raw or not, reaches the
    server; psycopg's own implicit BEGIN and the pool's ROLLBACK on return are not
    statements of the app and do not go through them (the check runs in autocommit and
    has neither). The pool's pre-ping is recorded; ``app_statements`` drops it.
    """
    engine = engine_of(app)
    seen: list[tuple[str, Any]] = []
    if engine.dialect.name == "sqlite":
        traced: list[Any] = []

        def trace(dbapi_connection, _record, _proxy) -> None:
            dbapi_connection.set_trace_callback(lambda sql: seen.append((sql, None)))
            traced.append(dbapi_connection)

        event.listen(engine, "checkout", trace)
        middleware = hot(app)
        if middleware._queries is None:
            middleware._queries = hot_reads._RawQueries(engine)
        own = middleware._queries._sqlite()
        if own is not None:
            trace(own, None, None)
        try:
            yield seen
        finally:
            event.remove(engine, "checkout", trace)
            for connection in traced:
                connection.set_trace_callback(None)
        return

    import psycopg

    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def spy_execute(cursor, query, params=None, **kw):
        seen.append((str(query), params))
        return execute(cursor, query, params, **kw)

    def spy_executemany(cursor, query, params_seq, **kw):
        seen.append((str(query), params_seq))
        return executemany(cursor, query, params_seq, **kw)

    # The hot-read check goes to libpq directly (a prepared statement, no cursor): this
    # thread's check connection is traced at the protocol level, each Bind one statement.
    middleware = hot(app)
    if middleware._queries is None:
        middleware._queries = hot_reads._RawQueries(engine)
    own = middleware._queries._postgres()
    with tempfile.TemporaryFile("w+") as wire:
        own.pgconn.trace(wire.fileno())
        own.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            with (
                mock.patch.object(psycopg.Cursor, "execute", spy_execute),
                mock.patch.object(psycopg.Cursor, "executemany", spy_executemany),
            ):
                yield seen
        finally:
            own.pgconn.untrace()
            wire.seek(0)
            for line in wire.read().splitlines():
                fields = line.split("\t")
                if len(fields) > 3 and fields[0] == "F" and fields[2] == "Bind":
                    # ' "portal" "statement" 0 2 11 '/posts/one/' 4 'blog' 1 0'
                    name = fields[3].split('"')[3]
                    values = tuple(re.findall(r" \d+ '([^']*)'", fields[3]))
                    sql = re.sub(r"\$\d+", "%s", middleware._queries.pg_statements[name])
                    seen.append((sql, values))


def app_statements(seen: list[tuple[str, Any]]) -> list[str]:
    return [" ".join(sql.split()) for sql, _ in seen if sql.strip() != PG_PING]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def other_app(app: Any, app_config: dict[str, Any], new_app: Any) -> Any:
    """A second app on the same database: another worker process, or another host."""
    return new_app(app_config)


@pytest.fixture
def thread(client: Any, site: Any) -> dict[str, Any]:
    """One approved comment on ARTICLE; returns the answer to posting it (with edit token)."""
    return post_comment(client)


# === A. Conditional GETs on every public GET ================================================

PUBLIC_GETS: dict[str, str] = {
    "widget": widget_url(),
    "comments": comments_url(),
    "counts": counts_url(),
    "rankings": f"{BASE}/rankings",
    "ranking history": f"{BASE}/rankings/consulting/history",
    "badge": "/badge/blog/consulting.svg",
    "history chart": "/badge/blog/consulting/history.svg",
    "feed": "/feeds/blog.atom",
    "embed.js": "/embed.js",
}
# Which change each answer depends on: a comment, or a position recorded through the API.
CHANGES_FOR = [
    ("widget", "comment"),
    ("widget", "rank"),
    ("comments", "comment"),
    ("counts", "comment"),
    ("feed", "comment"),
    ("rankings", "rank"),
    ("ranking history", "rank"),
    ("badge", "rank"),
    ("history chart", "rank"),
]


@pytest.mark.parametrize("kind", PUBLIC_GETS)
def test_every_public_get_has_an_etag_and_allows_stale_while_revalidate(client, thread, kind):
    answer = client.get(PUBLIC_GETS[kind])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers.get("ETag")
    assert answer.get_data()
    cache_control = answer.headers.get("Cache-Control", "")
    assert "stale-while-revalidate=" in cache_control
    assert "max-age=" in cache_control


@pytest.mark.parametrize("encoding", ["identity", "br"])
@pytest.mark.parametrize("kind", PUBLIC_GETS)
def test_every_public_get_answers_a_matching_if_none_match_with_a_bare_304(
    client, thread, kind, encoding
):
    headers = {"Accept-Encoding": encoding}
    first = client.get(PUBLIC_GETS[kind], headers=headers)
    etag = first.headers["ETag"]
    again = client.get(PUBLIC_GETS[kind], headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert again.headers.get("Cache-Control") == first.headers.get("Cache-Control")


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_the_views_answer_304_themselves_when_the_middleware_holds_nothing(
    app, client, thread, kind
):
    """A cold worker (nothing in HotReads) still answers a browser's If-None-Match with a 304,
    for the compressed representation too (flask-compress rewrites the ETag)."""
    hot(app).max_entries = 0  # every answer is evicted as soon as it is stored
    headers = {"Origin": ORIGIN, "Accept-Encoding": "br"}
    first = raw_get(app, read_url(kind), headers)
    etag = first.get("ETag")
    assert first.status == "200 OK" and etag
    hits = hot(app).hits
    again = raw_get(app, read_url(kind), {**headers, "If-None-Match": etag})
    assert hot(app).hits == hits  # Flask answered
    assert again.status.startswith("304"), again.status
    assert again.body == b""
    assert again.get("ETag") == etag


@pytest.mark.parametrize(("kind", "change"), CHANGES_FOR)
def test_a_relevant_change_gives_a_new_etag_and_the_old_one_a_200(
    client, site, thread, kind, change
):
    target = PUBLIC_GETS[kind]
    old = client.get(target).headers["ETag"]
    assert client.get(target, headers={"If-None-Match": old}).status_code == 304
    if change == "comment":
        post_comment(client, "A second comment")
    else:
        record_rank(client, site, 12)
    answer = client.get(target, headers={"If-None-Match": old})
    assert answer.status_code == 200
    assert answer.headers["ETag"] != old
    assert answer.get_data()


def test_embed_js_has_one_etag_per_encoding(client):
    etags = {
        encoding: client.get("/embed.js", headers={"Accept-Encoding": encoding}).headers["ETag"]
        for encoding in ("identity", "gzip", "br")
    }
    assert len(set(etags.values())) == 3, etags
    plain = client.get("/embed.js", headers={"If-None-Match": etags["br"]})
    assert plain.status_code == 200  # a br ETag never validates the plain body


# === B. HotReads ============================================================================


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_a_repeat_is_answered_by_the_middleware_exactly_like_the_first_time(app, thread, kind):
    headers = {"Origin": ORIGIN, "Accept-Encoding": "gzip, br"}
    first = raw_get(app, read_url(kind), headers)
    hits = hot(app).hits
    again = raw_get(app, read_url(kind), headers)
    assert hot(app).hits == hits + 1
    assert again.status == first.status == "200 OK"
    assert again.body == first.body
    # Date and X-Request-Id are the headers that must not be replayed: each answer has its
    # own (test_a_hot_hit_carries_a_current_date, test_request_ids.py).
    own = ("Date", "X-Request-Id")
    assert [h for h in again.headers if h[0] not in own] == [
        h for h in first.headers if h[0] not in own
    ]


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_a_hot_hit_costs_one_sql_statement(app, thread, kind):
    """Nothing through SQLAlchemy (Flask did not run) and one statement at the driver: the
    check query, read on a raw pooled connection (see driver_statements)."""
    raw_get(app, read_url(kind))
    with orm_statements(app) as orm, driver_statements(app) as driver:
        assert answered_hot(app, read_url(kind))
    assert orm == []
    statements = app_statements(driver)
    assert len(statements) == 1, statements
    assert "FROM sites LEFT OUTER JOIN threads" in statements[0]


def test_a_cold_read_is_not_free_so_the_counters_can_see_one(app, thread):
    """The counters above would pass with nothing counted: check that they count."""
    with orm_statements(app) as orm, driver_statements(app) as driver:
        assert not answered_hot(app, widget_url("/posts/never-read/"))
    assert len(orm) >= 2
    assert len(app_statements(driver)) >= len(orm)


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_a_hot_hit_carries_a_current_date(app, thread, kind):
    """An answer's Date is when it was sent: an old one makes every cache think the answer
    is as old as the entry (``max-age=5`` long expired), and gunicorn adds its own."""
    raw_get(app, read_url(kind))
    time.sleep(1.1)
    asked = datetime.now(UTC).replace(microsecond=0)
    hits = hot(app).hits
    answer = raw_get(app, read_url(kind))
    assert hot(app).hits == hits + 1
    for value in answer.values("Date"):
        assert parsedate_to_datetime(value) >= asked, f"Date {value} replayed from the entry"


CHANGES = ("post", "like", "edit", "delete", "approve", "settings", "rank")
BEFORE = {"name": "blog", "total": 1, "comments": [(FIRST, 0)], "consulting": None}
# What a reader must see through the other app after each change, and the count of ARTICLE.
AFTER: dict[str, tuple[dict[str, Any], int]] = {
    "post": ({"total": 2, "comments": [(FIRST, 0), ("Second comment", 0)]}, 2),
    "like": ({"comments": [(FIRST, 1)]}, 1),
    "edit": ({"comments": [("Edited comment", 0)]}, 1),
    "delete": ({"total": 0, "comments": []}, 0),
    "approve": ({"total": 2, "comments": [(FIRST, 0), ("See a b c d", 0)]}, 2),
    "settings": ({"name": "Renamed blog"}, 1),
    "rank": ({"consulting": 7}, 1),
}


def make_change(change: str, app: Any, client: Any, site: Any, made: dict[str, Any]) -> None:
    """Apply ``change`` through ``app``/``client`` (app A)."""
    first = made["first"]["comment"]["id"]
    own = {"Origin": ORIGIN, "X-Edit-Token": made["first"]["edit_token"]}
    if change == "post":
        post_comment(client, "Second comment")
    elif change == "like":
        answer = client.post(f"{BASE}/comments/{first}/like", headers={"Origin": ORIGIN})
        assert answer.status_code == 200 and answer.get_json() == {"likes": 1}
    elif change == "edit":
        answer = client.patch(
            f"{BASE}/comments/{first}", json={"body": "Edited comment"}, headers=own
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    elif change == "delete":
        assert client.delete(f"{BASE}/comments/{first}", headers=own).status_code == 204
    elif change == "approve":
        answer = client.post(
            f"{BASE}/comments/{made['held']}/moderate",
            json={"action": "approve"},
            headers=site.auth,
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)
    elif change == "settings":
        from service.sites.settings import SiteSettings, get_site, update_site

        with app.app_context():
            update_site(get_site("blog"), SiteSettings(name="Renamed blog"))
            db.session.remove()
    else:
        record_rank(client, site, 7)


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_through_one_app_is_visible_at_once_through_another(
    app, client, other_app, site, change
):
    made = {"first": post_comment(client, FIRST)}
    held = post_comment(client, HELD)
    assert held["status"] == "pending"
    made["held"] = held["comment"]["id"]
    reader = {"Origin": ORIGIN}
    widget = raw_get(other_app, widget_url(), reader)
    assert widget_summary(widget.json()) == BEFORE
    assert raw_get(other_app, counts_url(), reader).json() == {"counts": {ARTICLE: 1}}
    assert answered_hot(other_app, widget_url(), reader)  # B holds both answers now
    assert answered_hot(other_app, counts_url(), reader)

    make_change(change, app, client, site, made)

    expected, count = AFTER[change]
    after = raw_get(other_app, widget_url(), reader)
    assert widget_summary(after.json()) == {**BEFORE, **expected}
    assert after.get("ETag") != widget.get("ETag")
    assert raw_get(other_app, counts_url(), reader).json() == {"counts": {ARTICLE: count}}


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_if_none_match_on_a_hot_hit_is_a_bare_304_with_the_cache_headers(app, thread, kind):
    headers = {"Origin": ORIGIN}
    first = raw_get(app, read_url(kind), headers)
    hits = hot(app).hits
    answer = raw_get(app, read_url(kind), {**headers, "If-None-Match": first.get("ETag")})
    assert hot(app).hits == hits + 1
    assert answer.status.startswith("304"), answer.status
    assert answer.body == b""
    assert answer.get("ETag") == first.get("ETag")
    assert answer.get("Cache-Control") == first.get("Cache-Control")
    assert "stale-while-revalidate" in answer.get("Cache-Control")
    assert "origin" in answer.vary()
    assert answer.vary() == first.vary()
    assert answer.get("Access-Control-Allow-Origin") == ORIGIN
    assert not answer.names() & {"content-length", "content-type", "content-encoding"}


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_each_origin_is_a_separate_entry_with_its_own_cors_header(app, thread, kind):
    origins = [ORIGIN, "https://reader.example.org", None]
    for origin in origins:  # fill one entry per origin
        raw_get(app, read_url(kind), {"Origin": origin} if origin else {})
    hits = hot(app).hits
    for origin in origins:
        answer = raw_get(app, read_url(kind), {"Origin": origin} if origin else {})
        assert answer.get("Access-Control-Allow-Origin") == origin
    assert hot(app).hits == hits + len(origins)


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_each_accept_encoding_is_a_separate_entry_with_its_own_encoding(app, client, site, kind):
    post_comment(client, "A long comment, so that the answers are worth compressing. " * 12)
    many = [ARTICLE, *[f"/posts/other-{n}/" for n in range(40)]]
    target = counts_url(*many) if kind == "counts" else read_url(kind)
    encodings = {"identity": None, "gzip": "gzip", "br": "br"}
    for accept in encodings:  # fill one entry per encoding
        raw_get(app, target, {"Accept-Encoding": accept})
    hits = hot(app).hits
    answers = {accept: raw_get(app, target, {"Accept-Encoding": accept}) for accept in encodings}
    assert hot(app).hits == hits + len(encodings)
    plain = json.loads(answers["identity"].body)
    for accept, encoding in encodings.items():
        assert answers[accept].get("Content-Encoding") == encoding
        assert answers[accept].json() == plain
    assert len({a.get("ETag") for a in answers.values()}) == len(encodings)


CREDENTIALS = {"Authorization": "site token", "X-Edit-Token": "edit token"}


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("kind", HOT_KINDS)
def test_requests_with_credentials_are_never_answered_by_the_middleware(
    app, site, thread, kind, credential
):
    value = site.auth["Authorization"] if credential == "Authorization" else thread["edit_token"]
    plain = raw_get(app, read_url(kind))
    assert answered_hot(app, read_url(kind))  # an entry for these very headers is there
    hits = hot(app).hits
    for _ in range(2):
        answer = raw_get(app, read_url(kind), {credential: value})
        assert answer.status == "200 OK"
        assert answer.json() == plain.json()
    assert hot(app).hits == hits


@pytest.mark.parametrize("kind", HOT_KINDS)
def test_a_failing_check_query_falls_back_to_flask(app, client, thread, kind, monkeypatch):
    raw_get(app, read_url(kind))
    assert answered_hot(app, read_url(kind))
    post_comment(client, "Posted after the entry was stored")  # a stale answer would show
    failures: list[str] = []

    def broken(self, check, query):
        failures.append(check.kind)
        raise OperationalError(query[0], query[1], RuntimeError("the database went away"))

    monkeypatch.setattr(hot_reads._RawQueries, "token", broken)
    hits = hot(app).hits
    answer = raw_get(app, read_url(kind))
    assert failures, "the check query was not run"
    assert hot(app).hits == hits
    assert answer.status == "200 OK", answer.body
    if kind == "counts":
        assert answer.json() == {"counts": {ARTICLE: 2}}
    else:
        document = answer.json()
        comments = document["comments"] if kind == "widget" else document
        assert comments["total"] == 2


def test_the_least_recently_used_entry_is_evicted_beyond_max_entries(app, site):
    hot(app).max_entries = 2
    a, b, c = (widget_url(f"/posts/{name}/") for name in "abc")
    assert not answered_hot(app, a)
    assert not answered_hot(app, b)
    assert answered_hot(app, a)  # a is now the most recently used
    assert not answered_hot(app, c)  # stored; b, the least recently used, goes
    assert answered_hot(app, c)
    assert answered_hot(app, a)
    assert not answered_hot(app, b)  # evicted; stored again, c goes
    assert not answered_hot(app, c)
    assert len(hot(app)._entries) == 2


def test_entries_are_bounded_in_bytes(app, site):
    one = len(raw_get(app, widget_url("/posts/size/")).body)
    hot(app).max_bytes = 16 * (one + 200)  # room for a few entries of this size
    urls = [widget_url(f"/posts/size-{n:03d}/") for n in range(40)]
    for target in urls:
        raw_get(app, target)
    assert hot(app)._bytes <= hot(app).max_bytes
    assert not answered_hot(app, urls[0])
    assert answered_hot(app, urls[-1])


# === C. A cold read costs the same for 20 comments as for 200 ===============================


def seed_thread(app: Any, article: str, size: int) -> None:
    """``size`` approved comments, every fourth a reply to an early comment (nested too)."""
    from service.comments import posting
    from service.sites.settings import get_site

    with app.app_context():
        target = get_site("blog")
        ids: list[int] = []
        for index in range(size):
            data: dict[str, Any] = {"article": article, "body": f"Comment {index}"}
            if index % 4 == 3:
                data["parent_id"] = ids[index // 8]
            posted, status = posting.post_comment(target, data, as_author=False)
            assert status == "approved"
            ids.append(posted.comment.id)
        db.session.remove()


@pytest.mark.parametrize("kind", ["comments", "widget"])
def test_a_cold_read_costs_as_many_statements_for_200_comments_as_for_20(app, site, kind):
    sizes = {"/posts/twenty/": 20, "/posts/two-hundred/": 200}
    shown = {"/posts/twenty/": 20, "/posts/two-hundred/": 100}  # 50 top-level + 50 replies
    cost = {}
    for article, size in sizes.items():
        seed_thread(app, article, size)
        with orm_statements(app) as seen:
            assert not answered_hot(app, read_url(kind, article))  # the first read: cold
        cost[article] = len(seen)
        document = raw_get(app, read_url(kind, article)).json()
        page = document["comments"] if kind == "widget" else document
        assert page["total"] == size
        assert len(walk(page["comments"])) == shown[article]
    assert cost["/posts/twenty/"] == cost["/posts/two-hundred/"], cost


# === D. The hot queries use indexes =========================================================

HOT_QUERIES: dict[str, Callable[[str], bool]] = {
    "versions": lambda sql: (
        "FROM sites LEFT OUTER JOIN threads" in sql and "threads.article =" in sql
    ),
    "counts": lambda sql: (
        "FROM sites LEFT OUTER JOIN threads" in sql and "threads.article IN" in sql
    ),
    "thread": lambda sql: "FROM threads WHERE threads.site_id =" in sql,
    "top-level page": lambda sql: "FROM comments" in sql and "comments.depth =" in sql,
    "replies": lambda sql: "FROM comments" in sql and "comments.root_id IN" in sql,
}
INDEXED_TABLES = ("comments", "threads", "sites")


def seed_background(app: Any, make_site: Any, threads: int = 2000, per_thread: int = 10) -> None:
    """Other sites, many other threads (a deleted comment in each, a reply to every fourth
    comment), then ANALYZE. A plan for a table of ten rows says nothing: a planner may read
    ten rows however it likes. These tables have the shape of a real blog's."""
    from sqlalchemy import insert, select, text, update

    from service.db.models import Comment, Site, Thread

    for n in range(30):
        make_site(f"other-{n}")
    comments, thread_rows = Comment.__table__, Thread.__table__
    now = datetime.now(UTC)
    common = {"avatar": "0" * 16, "body_text": "x", "body_html": "<p>x</p>", "created_at": now}
    with app.app_context():
        connection = db.session.connection()
        blog = db.session.scalar(select(Site.id).where(Site.slug == "blog"))
        articles = [{"site_id": blog, "article": f"/background/{n}/"} for n in range(threads)]
        connection.execute(insert(thread_rows).values(approved_count=0, version=0), articles)
        ids = connection.scalars(
            select(thread_rows.c.id).where(thread_rows.c.article.like("/background/%"))
        ).all()
        status = ["deleted", *["approved"] * (per_thread - 1)]
        tops = [
            {**common, "site_id": blog, "thread_id": t, "depth": 1, "status": status[k]}
            for t in ids
            for k in range(per_thread)
        ]
        connection.execute(insert(comments), tops)
        connection.execute(
            update(comments).where(comments.c.root_id.is_(None)).values(root_id=comments.c.id)
        )
        parents = connection.execute(
            select(comments.c.id, comments.c.thread_id).where(comments.c.id % 4 == 0)
        ).all()
        replies = [
            {**common, "site_id": blog, "thread_id": t, "parent_id": p, "root_id": p, "depth": 2}
            for p, t in parents
        ]
        connection.execute(insert(comments), replies)
        connection.execute(text("ANALYZE"))
        db.session.commit()


def hot_reads_sql(app: Any, client: Any) -> list[tuple[str, str, Any]]:
    """(query name, statement, parameters) of the hot queries, as issued during requests,
    through SQLAlchemy (the views) and on the raw connection (the middleware's checks)."""
    post_comment(client, "Top one")
    reply = post_comment(client, "Top two")["comment"]["id"]
    post_comment(client, "A reply", parent_id=reply)
    gone = post_comment(client, "Deleted, with a reply")
    post_comment(client, "The reply that keeps a placeholder", parent_id=gone["comment"]["id"])
    delete = {"Origin": ORIGIN, "X-Edit-Token": gone["edit_token"]}
    assert (
        client.delete(f"{BASE}/comments/{gone['comment']['id']}", headers=delete).status_code == 204
    )
    post_comment(client, "Top three")
    with orm_statements(app) as orm, driver_statements(app) as driver:
        for sort in ("oldest", "newest", "top"):
            page = raw_get(app, comments_url(ARTICLE, ("sort", sort), ("limit", "2"))).json()
            cursor = ("cursor", page["next_cursor"])
            more = raw_get(app, comments_url(ARTICLE, ("sort", sort), ("limit", "2"), cursor))
            assert more.status == "200 OK", more.body
        raw_get(app, counts_url(ARTICLE, "/posts/none/"))
        assert answered_hot(app, counts_url(ARTICLE, "/posts/none/"))  # the middleware's own
        assert answered_hot(app, comments_url(ARTICLE, ("sort", "top"), ("limit", "2")))
    found = []
    for sql, params in [*orm, *driver]:
        flat = " ".join(sql.split())
        for name, matches in HOT_QUERIES.items():
            if matches(flat):
                found.append((name, sql, params))
    assert {name for name, _, _ in found} == set(HOT_QUERIES), found
    return found


def sqlite_full_scans(connection: Any, sql: str, params: Any) -> list[str]:
    """Accesses to the tables that are not an index search: SQLite says SCAN for reading a
    whole table or a whole index, SEARCH for a lookup on an index's leading columns."""
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params or ()).all()
    bad = []
    for row in rows:
        detail = row[-1]
        access = re.match(r"(SCAN|SEARCH) (\w+)", detail)
        if access is None or not access.group(2).startswith(INDEXED_TABLES):
            continue
        indexed = re.search(r"USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY", detail)
        if access.group(1) != "SEARCH" or not indexed:
            bad.append(detail)
    return bad


def postgres_leading_columns(connection: Any) -> dict[str, str]:
    """Index name -> its first column, for every index of the tables (constraints' too)."""
    from sqlalchemy import inspect

    inspector = inspect(connection)
    leading = {}
    for table in INDEXED_TABLES:
        found = [
            *inspector.get_indexes(table),
            *inspector.get_unique_constraints(table),
            {
                "name": inspector.get_pk_constraint(table)["name"],
                "column_names": inspector.get_pk_constraint(table)["constrained_columns"],
            },
        ]
        for index in found:
            leading[index["name"]] = index["column_names"][0]
    return leading


def postgres_full_scans(connection: Any, sql: str, params: Any) -> list[str]:
    """With sequential scans off, the nodes that still read a table or an index whole: a Seq
    Scan, or an index scan whose condition leaves the index's first column open."""
    leading = postgres_leading_columns(connection)
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params or {}).scalar()
    bad = []
    nodes = [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        kind, index = node["Node Type"], node.get("Index Name")
        if kind == "Seq Scan" and node.get("Relation Name") in INDEXED_TABLES:
            bad.append(f"Seq Scan on {node['Relation Name']}")
        elif index in leading:
            column = re.escape(leading[index])
            condition = node.get("Index Cond", "")
            if not re.search(rf"\(\(?{column}\)?(::[\w ]+)? (=|<|>|<=|>=) ", condition):
                bad.append(f"{kind} using {index}, condition {condition or 'none'}")
    return bad


def test_the_hot_queries_use_indexes(app, client, site, make_site):
    seed_background(app, make_site)
    issued = hot_reads_sql(app, client)
    with app.app_context(), db.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        full_scans = postgres_full_scans if postgres else sqlite_full_scans
        scans = {}
        for name, sql, params in issued:
            found = full_scans(connection, sql, params)
            if found:
                scans[name] = (" ".join(sql.split()), params, found)
        connection.rollback()
    assert scans == {}
