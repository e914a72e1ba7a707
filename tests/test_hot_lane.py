"""The worker's hot lane (``service.server_hotlane``): repeat GETs answered by the poller.

The lane must be invisible: the same bytes as the usual way (but for ``Date`` and the
request id), every write seen at once, pipelined and conditional requests answered in
order, a slow reader still served whole, and any request it does not understand passed on
to gunicorn. Its head reading is checked against gunicorn's own parser with hypothesis.
"""

from __future__ import annotations

import io
import json
import selectors
import socket
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import database_env, launch_server, post_json, wait_ready
from test_raw_http import Answer, connect, read_answer

from service import server_worker
from service.server_hotlane import HttpDate, PostgresChecks, hot_environ, response_bytes
from service.server_reading import DeadlineSocket, RequestScan, Verdict

SLUG = "laneblog"
ORIGIN = "https://blog.example.com"


def head(*lines: str, target: str = "/x?a=1") -> bytes:
    return ("\r\n".join([f"GET {target} HTTP/1.1", *lines]) + "\r\n\r\n").encode("latin-1")


# --- reading a head ------------------------------------------------------------------------


def test_a_plain_get_gives_the_environ_gunicorn_gives():
    environ = hot_environ(
        head("Host: h", "Origin: https://a.example", "Accept-Encoding: gzip", target="/a%20b?q=%20")
    )
    assert environ is not None
    assert environ["PATH_INFO"] == "/a b"
    assert environ["QUERY_STRING"] == "q=%20"
    assert environ["HTTP_ORIGIN"] == "https://a.example"
    assert environ["HTTP_ACCEPT_ENCODING"] == "gzip"
    assert environ["wsgi.url_scheme"] == "http"


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /x HTTP/1.0\r\nHost: h\r\n\r\n",
        b"GET /x HTTP/1.1\nHost: h\n\n",  # bare LF
        b"GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n",  # absolute form
        b"GET //x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /x#f HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /x HTTP/1.1\r\n\r\n",  # no Host
        head("Host: h", "Host: i"),
        head("Host: h", "Origin: a", "Origin: b"),
        head("Host: h", "X_Forwarded: 1"),  # underscores: gunicorn drops such headers
        head("Host: h", "Bad Name: 1"),
        head("Host: h", "X-A: 1", " folded"),
        head("Host: h", "Connection: close"),
        head("Host: h", "Connection: upgrade"),
        head("Host: h", "Content-Length: 0"),
        head("Host: h", "Transfer-Encoding: chunked"),
        head("Host: h", "Expect: 100-continue"),
        b"GET  /x HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
)
def test_anything_unusual_takes_the_usual_way(raw):
    assert hot_environ(raw) is None


def gunicorn_environ(raw: bytes) -> dict[str, Any]:
    """What gunicorn's parser and WSGI builder make of the same bytes."""

    class Sock:
        def __init__(self) -> None:
            self.data = io.BytesIO(raw)

        def recv(self, size: int) -> bytes:
            return self.data.read(size)

    config = Config()
    config.set("limit_request_line", 0)
    sock = Sock()
    request = next(iter(RequestParser(config, sock, ("127.0.0.1", 1))))
    _, environ = wsgi.create(request, sock, ("127.0.0.1", 1), ("127.0.0.1", 2), config)
    return environ


TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-!#$%&'*+.^`|~",
    min_size=1,
    max_size=12,
)
VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=30
)
PATH = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?%"), max_size=20
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=PATH,
    query=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=20
    ),
    headers=st.lists(st.tuples(TOKEN, VALUE), max_size=6),
    escaped=st.text(max_size=4),
)
def test_every_head_the_lane_takes_reads_as_gunicorn_reads_it(path, query, headers, escaped):
    target = "/" + path + quote(escaped) + ("?" + query if query else "")
    lines = ["Host: h", *(f"{name}: {value}" for name, value in headers)]
    raw = ("\r\n".join([f"GET {target} HTTP/1.1", *lines]) + "\r\n\r\n").encode("latin-1")
    ours = hot_environ(raw)
    if ours is None:
        return
    theirs = gunicorn_environ(raw)
    for key, value in ours.items():
        assert theirs.get(key) == value, (key, raw)
    their_headers = {k for k in theirs if k.startswith("HTTP_")}
    assert their_headers == {k for k in ours if k.startswith("HTTP_")}


def test_the_answer_bytes_are_gunicorns_and_a_304_has_no_body():
    whole = response_bytes("200 OK", [("Content-Length", "2")], b"{}", "D")
    assert whole == (
        b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\nDate: D\r\nConnection: keep-alive\r\n"
        b"Content-Length: 2\r\n\r\n{}"
    )
    assert response_bytes("304 NOT MODIFIED", [], b"{}", "D").endswith(b"keep-alive\r\n\r\n")
    assert HttpDate().now().endswith(" GMT")


# --- against one real worker -----------------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """One worker (every connection on the process whose memory answers), on each database."""
    with database_env(request.param) as env:
        folder = tmp_path_factory.mktemp("lane")
        env = {**env, "RANKLET_COMMENT_RATE_LIMIT": ""}
        started = wait_ready(launch_server(folder, folder / "instance", workers=1, env=env))
        try:
            started.site = started.create_site(SLUG, ORIGIN)
            started.database = request.param
            yield started
        finally:
            started.stop()


def post(server: Any, article: str, body: str) -> None:
    status, answer = post_json(
        server.url(f"/api/v1/sites/{SLUG}/comments"),
        {"article": article, "body": body, "author": "Reader"},
        {"Origin": ORIGIN},
    )
    assert status == 201, answer


def counts_request(articles: list[str], extra: str = "") -> bytes:
    query = urlencode([("article", a) for a in articles])
    return (
        f"GET /api/v1/sites/{SLUG}/counts?{query} HTTP/1.1\r\nHost: x\r\n"
        f"Origin: {ORIGIN}\r\n{extra}\r\n"
    ).encode()


def without_volatile(answer: Answer) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items() if k not in ("date", "x-request-id")}


def test_repeats_are_the_same_answer_and_see_every_new_comment(server):
    articles = ["/lane/one", "/lane/two"]
    post(server, articles[0], "first")
    with connect(server.base) as sock:
        answers = []
        for _ in range(3):
            sock.sendall(counts_request(articles))
            answers.append(read_answer(sock))
        assert [a.json()["counts"] for a in answers] == [{articles[0]: 1, articles[1]: 0}] * 3
        assert {a.body for a in answers} == {answers[0].body}
        assert without_volatile(answers[1]) == without_volatile(answers[0])
        assert len({a.headers["x-request-id"] for a in answers}) == 3
        post(server, articles[1], "second")  # another connection writes
        sock.sendall(counts_request(articles))
        assert read_answer(sock).json()["counts"] == {articles[0]: 1, articles[1]: 1}


def test_a_matching_etag_is_a_304_and_the_connection_goes_on(server):
    articles = ["/lane/etag"]
    with connect(server.base) as sock:
        sock.sendall(counts_request(articles))
        first = read_answer(sock)
        sock.sendall(counts_request(articles, f"If-None-Match: {first.headers['etag']}\r\n"))
        sock.settimeout(10)
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += sock.recv(65536)
        assert raw.startswith(b"HTTP/1.1 304 ")
        assert raw.endswith(b"\r\n\r\n")  # no body
        sock.sendall(counts_request(articles))
        assert read_answer(sock).json()["counts"] == {articles[0]: 0}


def test_pipelined_repeats_are_answered_in_order(server):
    first, second = ["/lane/p1"], ["/lane/p2"]
    post(server, second[0], "one")
    with connect(server.base) as sock:
        for articles in (first, second):  # fill the worker's memory
            sock.sendall(counts_request(articles))
            read_answer(sock)
        sock.sendall(counts_request(first) + counts_request(second) + counts_request(first))
        sock.settimeout(10)
        raw = b""
        deadline = time.monotonic() + 10
        while raw.count(b"HTTP/1.1 200") < 3 or not raw.endswith(b"}"):
            assert time.monotonic() < deadline, raw
            raw += sock.recv(65536)
        bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1]) for part in raw.split(b"HTTP/1.1 ")[1:]]
        assert [b["counts"] for b in bodies] == [{"/lane/p1": 0}, {"/lane/p2": 1}, {"/lane/p1": 0}]


def test_connection_close_is_honoured_on_a_repeat(server):
    articles = ["/lane/close"]
    with connect(server.base) as sock:
        sock.sendall(counts_request(articles))
        read_answer(sock)
        sock.sendall(counts_request(articles, "Connection: close\r\n"))
        answer = read_answer(sock)
        assert answer.status == 200 and answer.headers["connection"] == "close"
        assert sock.recv(1) == b""  # closed after the answer


def test_a_slow_reader_gets_a_large_answer_whole(server):
    article = "/lane/large"
    for n in range(60):
        post(server, article, f"comment {n} " + "long words here " * 250)
    target = f"/api/v1/sites/{SLUG}/widget?article={article}&limit=100"
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\nOrigin: {ORIGIN}\r\n\r\n".encode()
    with connect(server.base) as sock:
        sock.sendall(request)
        first = read_answer(sock)
        assert first.status == 200 and len(first.body) > 200_000
    with socket.socket() as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", server.port))
        # More than the kernel's send buffer, pipelined, read only after a pause: the
        # worker's one send cannot take it all, and a thread sends the rest.
        slow.sendall(request * 16)
        time.sleep(1.0)
        answers = read_answers(slow, 16)
    assert [a.body for a in answers] == [first.body] * 16


def read_answers(sock: socket.socket, count: int) -> list[Answer]:
    """``count`` answers with a Content-Length each, read off one connection."""
    sock.settimeout(30)
    raw, answers = b"", []
    while len(answers) < count:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep:
            length = int(Answer(head + sep).headers["content-length"])
            if len(rest) >= length:
                answers.append(Answer(head + sep + rest[:length]))
                raw = rest[length:]
                continue
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {len(answers)} answers"
        raw += chunk
    return answers


def many_at_once(server: Any, articles: list[str], clients: int, rounds: int) -> list[Any]:
    """``clients`` connections each sending ``rounds`` repeats pipelined, all at once."""
    socks = [connect(server.base) for _ in range(clients)]
    try:
        for sock in socks:
            sock.sendall(counts_request(articles) * rounds)
        return [a.json()["counts"] for sock in socks for a in read_answers(sock, rounds)]
    finally:
        for sock in socks:
            sock.close()


def test_more_repeats_at_once_than_the_lane_has_connections(server):
    articles = ["/lane/crowd"]
    post(server, articles[0], "one")
    assert many_at_once(server, articles, 24, 5) == [{articles[0]: 1}] * 120


@pytest.mark.postgres
@pytest.mark.parametrize("server", ["postgres"], indirect=True)
def test_checks_survive_their_postgres_connections_being_killed(server):
    import psycopg
    from support import PG_URL

    articles = ["/lane/killed"]
    post(server, articles[0], "one")
    assert many_at_once(server, articles, 8, 3) == [{articles[0]: 1}] * 24
    # Only this server's connections (named after its schema): other test processes use
    # the same database at the same time.
    [own] = parse_qs(urlsplit(server.env["RANKLET_DATABASE_URL"]).query)["application_name"]
    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://")) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND datname = current_database()"
            " AND application_name = %s AND query ILIKE '%%sites%%'",
            [own],
        ).fetchone()[0]
    assert killed >= 1
    # Every answer is still right: from the lane once it has opened new connections, or
    # from a thread meanwhile (the app's pool checks its connections before use).
    post(server, articles[0], "two")
    assert many_at_once(server, articles, 8, 3) == [{articles[0]: 2}] * 24
    assert many_at_once(server, articles, 8, 3) == [{articles[0]: 2}] * 24


@pytest.mark.postgres
def test_identical_waiting_checks_are_sent_once_and_each_gets_the_result():
    """With every connection busy, waiting checks with the same statement and arguments
    share one query; a check already sent is never joined (it may predate a write)."""
    import psycopg
    from support import PG_URL, need, postgres_available

    need(postgres_available(), "PostgreSQL on 127.0.0.1:5432")
    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")

    def open_connection() -> Any:
        connection = psycopg.connect(url, autocommit=True)
        connection.execute("CREATE TEMPORARY SEQUENCE asked")
        connection.pgconn.prepare(b"ask", b"SELECT nextval('asked'), $1::text")
        return connection

    poller = selectors.DefaultSelector()
    checks = PostgresChecks(open_connection, poller, 1)  # one connection: the rest wait
    seen: list[tuple[str, int, str]] = []

    def done(tag: str) -> Any:
        def record(result: Any) -> None:
            assert result is not None, tag
            seen.append((tag, int(result.get_value(0, 0)), result.get_value(0, 1).decode()))

        return record

    try:
        assert checks.start("ask", [b"a"], done("first a"))  # sent at once
        for tag, argument in [("a1", b"a"), ("b", b"b"), ("a2", b"a"), ("a3", b"a")]:
            assert checks.start("ask", [argument], done(tag))  # all wait
        deadline = time.monotonic() + 10
        while len(seen) < 5 and time.monotonic() < deadline:
            for key, _ in poller.select(timeout=0.5):
                key.data(key.fileobj)
    finally:
        for key in list(poller.get_map().values()):
            poller.unregister(key.fileobj)
        checks._free[0].connection.close()
    # Three queries in all: the first a; the waiting a's together, in the order the first
    # of them came; then b.
    assert seen == [
        ("first a", 1, "a"),
        ("a1", 2, "a"),
        ("a2", 2, "a"),
        ("a3", 2, "a"),
        ("b", 3, "b"),
    ]


def test_log_shows_no_tracebacks(server):
    assert "Traceback" not in server.log.read_text(errors="replace")


# --- a slow check closes the lane for a while ------------------------------------------------


class SlowMemory:
    """A middleware whose every check takes longer than the lane allows."""

    def __init__(self) -> None:
        self.asked = 0

    def answer_now(self, environ: dict[str, Any]) -> None:
        self.asked += 1
        time.sleep(server_worker.HOT_LANE_SLOW * 1.5)


def test_a_slow_check_closes_the_lane_and_threads_answer_meanwhile():
    worker = server_worker.RankletWorker.__new__(server_worker.RankletWorker)
    worker.alive = True
    worker._hot = SlowMemory()
    worker._scheme = "http"
    worker._date = HttpDate()
    worker._lane_closed_until = 0.0
    worker._pg_checks = None  # checks made in place, as on SQLite
    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = SimpleNamespace(sock=DeadlineSocket(ours), scan=RequestScan(1024))
        conn.sock.pending += head("Host: h")
        assert conn.scan.feed(conn.sock.pending) is Verdict.READY
        assert worker._hot_lane(conn) is False  # slow, and no answer: the usual way
        assert worker._lane_closed_until > time.monotonic() + server_worker.HOT_LANE_PAUSE / 2
        assert worker._hot_lane(conn) is False
        assert worker._hot.asked == 1  # closed: the second request was not even checked
        assert bytes(conn.sock.pending) == head("Host: h")  # nothing consumed
