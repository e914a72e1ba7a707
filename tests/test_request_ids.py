"""Issue 10: every answer carries its own ``X-Request-Id`` (the client's sane one echoed, else
a new one), wherever it was made: by a view, by an error handler, by the hot-read middleware
(a replay and its 304), or by the worker outside Flask; and the OpenAPI document says so.

Raw WSGI calls (``raw_get``) see the headers exactly as the middleware hands them over.
"""

from __future__ import annotations

import re
import socket
from typing import Any
from urllib.parse import urlencode

import pytest
from gunicorn.http import errors as http_errors
from werkzeug.test import EnvironBuilder, run_wsgi_app

from service.core.errors import REQUEST_ID_RE

BASE = "/api/v1/sites/blog"
ORIGIN = "https://blog.example.com"
ARTICLE = "/posts/ids/"
NEW_ID = re.compile(r"[0-9a-f]{32}")
HOT_READS = {
    "widget": f"{BASE}/widget?{urlencode({'article': ARTICLE})}",
    "comments": f"{BASE}/comments?{urlencode({'article': ARTICLE})}",
    "counts": f"{BASE}/counts?{urlencode({'article': ARTICLE})}",
}
# Answers made by Flask, one of each kind of route (with an ETag where there is one).
OTHER_ANSWERS = {
    "rankings": f"{BASE}/rankings",
    "badge svg": "/badge/blog/consulting.svg",
    "badge png": "/badge/blog/consulting.png",
    "history chart": "/badge/blog/consulting/history.svg",
    "feed": "/feeds/blog.atom",
    "embed.js": "/embed.js",
    "healthz": "/healthz",
    "openapi": "/api/v1/openapi.json",
    "admin page": "/admin/",
    "link page": "/links/forged",
    "api 404": "/api/v1/sites/nosuch/rankings",
    "page 404": "/no/such/page",
    "badge 422": "/badge/blog/consulting.svg?show=bogus",
}


class Raw:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def ids(self) -> list[str]:
        return [value for name, value in self.headers if name.lower() == "x-request-id"]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def raw_get(app: Any, target: str, headers: dict[str, str] | None = None) -> Raw:
    environ = EnvironBuilder(path=target, headers=headers or {}).get_environ()
    body, status, got = run_wsgi_app(app, environ, buffered=True)
    return Raw(status, got.to_wsgi_list(), b"".join(body))


def hits(app: Any) -> int:
    return int(app.extensions["ranklet_hot_reads"].hits)


def one_id(answer: Raw) -> str:
    found = answer.ids()
    assert len(found) == 1, answer.headers
    return found[0]


@pytest.fixture
def thread(client: Any, site: Any) -> None:
    answer = client.post(
        f"{BASE}/comments", json={"article": ARTICLE, "body": "Hello"}, headers={"Origin": ORIGIN}
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)


@pytest.mark.parametrize("kind", HOT_READS)
def test_a_hot_read_served_twice_has_a_new_id_each_time(app, thread, kind):
    """The middleware keeps the first answer's headers, but never its request id: the
    replay would otherwise name another reader's request."""
    first = raw_get(app, HOT_READS[kind], {"Origin": ORIGIN})
    before = hits(app)
    replays = [raw_get(app, HOT_READS[kind], {"Origin": ORIGIN}) for _ in range(2)]
    assert hits(app) == before + 2
    ids = [one_id(first), *(one_id(replay) for replay in replays)]
    assert all(NEW_ID.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == 3, ids


@pytest.mark.parametrize("kind", HOT_READS)
def test_a_hot_read_echoes_the_clients_id_and_replaces_an_insane_one(app, thread, kind):
    raw_get(app, HOT_READS[kind])
    before = hits(app)
    echoed = raw_get(app, HOT_READS[kind], {"X-Request-Id": "reader-7.a:b"})
    replaced = raw_get(app, HOT_READS[kind], {"X-Request-Id": "a b;Set-Cookie=x"})
    assert hits(app) == before + 2
    assert one_id(echoed) == "reader-7.a:b"
    assert NEW_ID.fullmatch(one_id(replaced))


@pytest.mark.parametrize("kind", HOT_READS)
def test_a_hot_304_has_its_own_id(app, thread, kind):
    first = raw_get(app, HOT_READS[kind], {"Origin": ORIGIN})
    before = hits(app)
    headers = {"Origin": ORIGIN, "If-None-Match": first.get("ETag") or ""}
    answer = raw_get(app, HOT_READS[kind], {**headers, "X-Request-Id": "r304"})
    assert hits(app) == before + 1
    assert answer.status.startswith("304"), answer.status
    assert one_id(answer) == "r304"
    plain = raw_get(app, HOT_READS[kind], headers)
    assert NEW_ID.fullmatch(one_id(plain)) and one_id(plain) != one_id(first)


@pytest.mark.parametrize("kind", HOT_READS)
def test_a_304_made_by_the_view_has_an_id(app, thread, kind):
    app.extensions["ranklet_hot_reads"].max_entries = 0  # nothing kept: Flask answers
    first = raw_get(app, HOT_READS[kind])
    before = hits(app)
    answer = raw_get(app, HOT_READS[kind], {"If-None-Match": first.get("ETag") or ""})
    assert hits(app) == before
    assert answer.status.startswith("304"), answer.status
    assert NEW_ID.fullmatch(one_id(answer)) and one_id(answer) != one_id(first)


@pytest.mark.parametrize("kind", OTHER_ANSWERS)
def test_every_kind_of_answer_has_an_id_and_its_304_too(app, site, kind):
    first = raw_get(app, OTHER_ANSWERS[kind], {"X-Request-Id": f"id-{len(kind)}"})
    assert one_id(first) == f"id-{len(kind)}", first.status
    etag = first.get("ETag")
    if etag is not None and first.status.startswith("200"):
        again = raw_get(app, OTHER_ANSWERS[kind], {"If-None-Match": etag})
        assert again.status.startswith("304"), (kind, again.status)
        assert NEW_ID.fullmatch(one_id(again))


def test_error_answers_made_before_any_view_have_an_id(client, site):
    """The 415 and 400 refusals of the request hooks, a 405 and a 413."""
    url = f"{BASE}/comments"
    answers = [
        client.post(url, data="x", content_type="text/plain"),
        client.post(url, data="[" * 100 + "]" * 100, content_type="application/json"),
        client.put(url, json={}),
        client.post(url, data=b"x" * (70 * 1024), content_type="application/json"),
    ]
    assert [a.status_code for a in answers] == [415, 400, 405, 413]
    for answer in answers:
        assert NEW_ID.fullmatch(answer.headers["X-Request-Id"])


def test_browsers_may_read_the_id_across_origins(client, site):
    answer = client.get(f"{BASE}/rankings", headers={"Origin": ORIGIN})
    exposed = answer.headers["Access-Control-Expose-Headers"].lower()
    assert "x-request-id" in {name.strip() for name in exposed.split(",")}


# --- the OpenAPI document ----------------------------------------------------------------


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        found: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            found = found[part]
        node = found
    return node


def test_the_document_declares_the_id_on_every_response(client):
    document = client.get("/api/v1/openapi.json").get_json()
    seen = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                headers = resolve(document, response).get("headers", {})
                assert "X-Request-Id" in headers, (method, path, status)
                header = resolve(document, headers["X-Request-Id"])
                assert header["required"] is True
                pattern = header["schema"]["pattern"]
                assert re.fullmatch(pattern.strip("^$"), "a" * 32)
                assert pattern == f"^{REQUEST_ID_RE.pattern}$"
                seen += 1
    assert seen > 100  # 15 operations, each with its error statuses


# --- the worker's own answers, outside Flask -------------------------------------------


def worker_answer(req: Any, error: BaseException) -> tuple[str, dict[str, str]]:
    from service.server import RankletWorker

    ours, theirs = socket.socketpair()
    with ours, theirs:
        RankletWorker.handle_error(None, req, ours, ("127.0.0.1", 1), error)
        ours.shutdown(socket.SHUT_WR)
        theirs.settimeout(5)
        raw = b""
        while chunk := theirs.recv(65536):
            raw += chunk
    head, _, _ = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return lines[0], {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (http_errors.InvalidRequestLine("GARBAGE"), "400"),
        (http_errors.LimitRequestHeaders("too many"), "431"),
        (http_errors.LimitRequestLine(10, 5), "414"),
        (RuntimeError("boom"), "500"),
    ],
)
def test_the_workers_refusals_and_500s_have_an_id(error, status):
    line, headers = worker_answer(None, error)
    assert line.split(" ")[1] == status
    assert NEW_ID.fullmatch(headers["x-request-id"])


def test_the_worker_echoes_the_id_of_a_request_it_had_parsed():
    class Parsed:
        def __init__(self, *headers: tuple[str, str]) -> None:
            self.headers = list(headers)

    _, headers = worker_answer(Parsed(("HOST", "x"), ("X-REQUEST-ID", "proxy-42")), RuntimeError())
    assert headers["x-request-id"] == "proxy-42"
    _, headers = worker_answer(Parsed(("X-REQUEST-ID", "no good\x01")), RuntimeError("boom"))
    assert NEW_ID.fullmatch(headers["x-request-id"])
