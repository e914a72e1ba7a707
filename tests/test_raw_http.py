"""Slow, short and malformed requests on raw sockets, against a real ``ranklet serve``.

What a browser or ``urllib`` never sends, an attacker does: a body shorter than its
``Content-Length``, headers one byte at a time, request lines that are not HTTP, a
``Host`` of their choosing. Every answer must be the JSON error shape, no thread may be
held past the read deadline, and ``/healthz`` must keep answering meanwhile. The same
basics are checked behind nginx from ``deploy/``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import launch_server, need, wait_ready
from test_scaleout import NGINX, Nginx

from service.server import HEAD_LIMIT, READ_DEADLINE

pytestmark = pytest.mark.slow

SLUG = "rawblog"


class Answer:
    """One HTTP/1.1 answer read off a socket."""

    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ", 2)[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


def connect(base: str) -> socket.socket:
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    assert host == "127.0.0.1"
    return socket.create_connection((host, int(port)), timeout=30)


def read_answer(sock: socket.socket, timeout: float = 30.0) -> Answer:
    """Everything up to the end of the answer's body (Content-Length) or the close."""
    sock.settimeout(timeout)
    raw = b""
    while True:
        _head, sep, body = raw.partition(b"\r\n\r\n")
        if sep:
            length = Answer(raw).headers.get("content-length")
            if length is not None and len(body) >= int(length):
                return Answer(raw)
        chunk = sock.recv(65536)
        if not chunk:
            return Answer(raw)
        raw += chunk


def exchange(base: str, raw: bytes, timeout: float = 30.0) -> Answer:
    with connect(base) as sock:
        sock.sendall(raw)
        return read_answer(sock, timeout)


def get(base: str, target: str, headers: str = "") -> Answer:
    return exchange(
        base, f"GET {target} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode()
    )


def assert_error(answer: Answer, status: int) -> dict[str, Any]:
    assert answer.status == status, (answer.status, answer.body[:300])
    document = answer.json()
    assert document["code"] == status
    assert document["message"]
    assert b"<html" not in answer.body.lower()
    assert b"Traceback" not in answer.body
    return dict(document)


def short_body_request(path: str = "/api/v1/sites/rawblog/comments") -> bytes:
    """A POST that promises 1,000 bytes of body and sends 10."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n"
        '{"body": "'
    ).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("raw")
    started = wait_ready(
        launch_server(folder, folder / "instance", env={"RANKLET_COMMENT_RATE_LIMIT": ""})
    )
    try:
        started.create_site(SLUG)
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def proxy(server: Any) -> Iterator[Nginx]:
    need(os.access(NGINX, os.X_OK), f"nginx at {NGINX} (apt-get install nginx)")
    address = server.base.removeprefix("http://")
    nginx = Nginx([address, address])
    try:
        nginx.start()
        yield nginx
    finally:
        nginx.stop()


# --- bodies and heads that never finish ----------------------------------------------------


def test_short_body_is_a_408_within_the_deadline(server):
    with connect(server.base) as sock:
        started = time.monotonic()
        sock.sendall(short_body_request())
        answer = read_answer(sock)
        took = time.monotonic() - started
        document = assert_error(answer, 408)
        # The site's language (ja): the 408 is answered by Flask, which knows the site.
        assert document["message"] == f"送信内容が{READ_DEADLINE:g}秒以内に届きませんでした。"
        assert READ_DEADLINE - 0.5 < took < READ_DEADLINE + 3
        # where the next request would start is unknown: the connection is closed
        assert sock.recv(1024) == b""


def test_trickled_headers_are_cut_off_at_the_deadline(server):
    with connect(server.base) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed_after = None
        while time.monotonic() - started < READ_DEADLINE + 5:
            try:
                sock.sendall(b"X")  # one byte of a header line each half second
            except OSError:
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.5)
            try:
                if sock.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
    assert closed_after is not None, "the server kept a trickling head open"
    assert closed_after < READ_DEADLINE + 2


def test_a_slow_but_timely_body_and_keep_alive_requests_are_served(server):
    """The deadline is per request: a body in two parts a second apart is read, and each
    request on a kept-alive connection gets its own deadline."""
    body = json.dumps({"article": "/slow", "body": "Arrived in two parts"}).encode()
    head = (
        f"POST /api/v1/sites/{SLUG}/comments HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with connect(server.base) as sock:
        sock.sendall(head + body[:10])
        time.sleep(1)
        sock.sendall(body[10:])
        answer = read_answer(sock)
        assert answer.status == 201, answer.body[:300]
        assert answer.json()["comment"]["body_html"].strip() == "<p>Arrived in two parts</p>"
        for _ in range(3):  # together longer than one deadline
            time.sleep(READ_DEADLINE / 2)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(sock).json() == {"status": "ok"}


def test_healthz_answers_while_140_short_bodies_hold_connections(server):
    """2 workers x 8 threads, and more short bodies than threads: /healthz still answers,
    at worst after one read deadline, and every short body gets its 408."""
    held = []
    try:
        for _ in range(140):
            sock = connect(server.base)
            sock.sendall(short_body_request())
            held.append(sock)
        time.sleep(0.5)  # every thread that took one is now waiting on it
        started = time.monotonic()
        answer = get(server.base, "/healthz")
        took = time.monotonic() - started
        assert answer.status == 200
        assert answer.json() == {"status": "ok"}
        print(f"/healthz with 140 short bodies open: {took:.2f} s")
        assert took < READ_DEADLINE + 3
        statuses = [read_answer(sock, READ_DEADLINE * 3).status for sock in held]
        assert statuses == [408] * 140
    finally:
        for sock in held:
            sock.close()


# --- malformed and oversized requests: gunicorn's own refusals, in JSON --------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Name: 1\r\n\r\n",
        b"POST /api/v1/sites/rawblog/comments HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n folded: line\r\n\r\n",
    ],
    ids=["not-http", "version", "nul", "no-colon", "bad-name", "bad-chunk", "folding"],
)
def test_malformed_requests_are_json_400s(server, raw):
    answer = exchange(server.base, raw)
    assert_error(answer, 400)
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


def test_oversized_heads_are_json_431_and_414(server):
    big = get(server.base, "/healthz", f"X-Big: {'a' * 9000}\r\n")
    assert "header" in assert_error(big, 431)["message"]
    many = "".join(f"X-H{i}: 1\r\n" for i in range(101))
    answers = [big, get(server.base, "/healthz", many)]
    answers.append(get(server.base, "/healthz?q=" + "a" * (HEAD_LIMIT + 10)))
    assert_error(answers[1], 431)
    assert_error(answers[2], 414)
    for answer in answers:
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


def test_chunked_body_ending_early_is_a_json_400(server):
    raw = (
        b"POST /api/v1/sites/rawblog/comments HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"bo'
    )
    with connect(server.base) as sock:
        sock.sendall(raw)
        sock.shutdown(socket.SHUT_WR)  # gone mid-chunk
        answer = read_answer(sock)
    if answer.status:  # the answer may also be lost with the half-closed connection
        assert_error(answer, 400)


def counts_target(articles: list[str]) -> str:
    query = "&".join("article=" + urllib.parse.quote(a, safe="") for a in articles)
    return f"/api/v1/sites/{SLUG}/counts?{query}"


def test_counts_with_the_documented_maximum_fits_the_request_line(server):
    """100 articles of 512 characters, percent-encoded: 12 bytes a character in emoji
    (the worst case), 9 in Japanese."""
    articles = [f"/{i:03d}" + "\U0001f600" * 508 for i in range(99)] + ["/099" + "記" * 508]
    target = counts_target(articles)
    assert len(target) > 600_000
    answer = get(server.base, target)
    assert answer.status == 200, answer.body[:300]
    counts = answer.json()["counts"]
    assert sorted(counts) == sorted(articles)
    assert set(counts.values()) == {0}
    assert_error(get(server.base, counts_target([*articles, "/one-too-many"])), 422)


# --- no URL from the request's Host, no forwarded headers from an untrusted peer -----------


@pytest.mark.parametrize(
    ("target", "location"),
    [("/admin", "/admin/"), ("/demo/x", "/demo/x/"), ("/demo/x?a=1", "/demo/x/?a=1")],
)
def test_redirects_never_name_the_requested_host(server, target, location):
    for host in ("evil.example", "evil.example:443", "127.0.0.1"):
        answer = exchange(
            server.base,
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n".encode(),
        )
        assert answer.status == 308
        assert answer.headers["location"] == location
        assert "evil" not in answer.body.decode()


def test_forwarded_scheme_headers_from_loopback_are_ignored(server):
    """gunicorn's default trusts 127.0.0.1 and refuses contradicting scheme headers with a
    400; an untrusted peer's headers are not even read."""
    answer = get(server.base, "/healthz", "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: off\r\n")
    assert answer.status == 200
    assert answer.json() == {"status": "ok"}


# --- the same behind nginx from deploy/ ----------------------------------------------------


def test_behind_nginx_errors_are_json_and_counts_fit(proxy):
    base = proxy.base
    refused = [exchange(base, b"GARBAGE\r\n\r\n")]
    refused.append(get(base, "/healthz?q=" + "a" * (HEAD_LIMIT + 10)))
    refused.append(get(base, "/healthz", f"X-Big: {'a' * (HEAD_LIMIT + 10)}\r\n"))
    big = b"x" * (70 * 1024)
    refused.append(
        exchange(
            base,
            b"POST /api/v1/sites/rawblog/comments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(big) + big,
        )
    )
    for answer, status in zip(refused, (400, 414, 431, 413), strict=True):
        assert_error(answer, status)
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), status
    # nginx's id reaches the app, which answers with it; a client's sane id is kept.
    assert re.fullmatch(r"[0-9a-f]{32}", get(base, "/healthz").headers["x-request-id"])
    own = get(base, "/api/v1/sites/nosuch/rankings", "X-Request-Id: mine-1\r\n")
    assert own.status == 404 and own.headers["x-request-id"] == "mine-1"
    bad = get(base, "/healthz", "X-Request-Id: a;b\r\n")
    assert re.fullmatch(r"[0-9a-f]{32}", bad.headers["x-request-id"])
    articles = [f"/{i:03d}" + "\U0001f600" * 508 for i in range(100)]
    answer = get(base, counts_target(articles))
    assert answer.status == 200, answer.body[:300]
    assert len(answer.json()["counts"]) == 100


def test_behind_nginx_redirects_are_relative_and_short_bodies_time_out(proxy):
    base = proxy.base
    answer = get(base, "/admin", "X-Forwarded-Host: evil.example\r\n")
    assert answer.status == 308
    assert answer.headers["location"] == "/admin/"
    # nginx waits for whole bodies itself (client_body_timeout 5s), then closes without
    # an answer; the app never sees the request.
    with connect(base) as sock:
        started = time.monotonic()
        sock.sendall(short_body_request())
        answer = read_answer(sock)
        took = time.monotonic() - started
    assert answer.status in (0, 408), answer.body[:300]
    if answer.status:
        assert_error(answer, 408)
    assert took < 10
    assert get(base, "/healthz").json() == {"status": "ok"}


def test_log_shows_no_tracebacks(server):
    text = Path(server.log).read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


def test_an_unexpected_worker_error_is_a_json_500_with_a_request_id():
    """What gunicorn would answer with its HTML page when something outside Flask fails."""
    from service.server import RankletWorker

    ours, theirs = socket.socketpair()
    with ours, theirs:
        RankletWorker.handle_error(None, None, ours, ("127.0.0.1", 1), RuntimeError("boom"))
        answer = read_answer(theirs, timeout=5)
    document = assert_error(answer, 500)
    assert "boom" not in answer.body.decode()
    assert document["message"] == "The server failed to answer this request; it has been logged."
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])


def test_every_answer_has_a_current_date(server):
    """The worker formats ``Date`` once a second instead of once an answer: each answer
    still carries the second it was sent in (a thread's answer and the poller's alike)."""
    from email.utils import parsedate_to_datetime

    seen = set()
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        for target in ("/healthz", "/api/v1/sites/nosuchsite/comments?article=/x"):
            before = int(time.time())
            answer = get(server.base, target)
            after = int(time.time())
            sent = int(parsedate_to_datetime(answer.headers["date"]).timestamp())
            assert before <= sent <= after, (before, answer.headers["date"], after)
            assert answer.headers["date"].endswith(" GMT")
            seen.add(sent)
        time.sleep(0.2)
    assert len(seen) >= 3  # it moves on with the clock
