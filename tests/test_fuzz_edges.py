"""The WSGI fuzzer's other half (issue 10): what the test client cannot send, sent to the
WSGI app directly. Raw query strings and path segments (percent-escapes of invalid UTF-8,
NUL, encoded slashes), any ``Host`` (ports beyond 65535, brackets, spaces), and the
conditional, range, cookie and language headers, on every route of the app (the API, the
pages, the static files, the e-mail link pages and the admin pages, signed out), with and
without a trusted proxy in front. Each answer must be below 500, say nothing internal,
carry an ``X-Request-Id``, be the JSON error shape on ``/api/``, and redirect only to a path
of this server; the database must be intact afterwards.

Same switches as ``test_fuzz_wsgi``: ``RANKLET_FUZZ_LONG=1``, ``RANKLET_FUZZ_EXAMPLES=N``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from test_fuzz_wsgi import INTERNALS, PROFILE, World, assert_intact, make_world, report
from werkzeug.test import EnvironBuilder, run_wsgi_app

# Every rule of the app, with its variable parts; filled with real targets or raw junk.
ROUTES = [
    ("GET", "/api/v1/sites/{site}/rankings"),
    ("POST", "/api/v1/sites/{site}/rankings"),
    ("GET", "/api/v1/sites/{site}/rankings/{category}/history"),
    ("DELETE", "/api/v1/sites/{site}/rankings/{category}/history/{id}"),
    ("PUT", "/api/v1/sites/{site}/categories/{key}"),
    ("GET", "/api/v1/sites/{site}/comments"),
    ("POST", "/api/v1/sites/{site}/comments"),
    ("PATCH", "/api/v1/sites/{site}/comments/{id}"),
    ("POST", "/api/v1/sites/{site}/comments/{id}/like"),
    ("GET", "/api/v1/sites/{site}/moderation"),
    ("GET", "/api/v1/sites/{site}/counts"),
    ("GET", "/api/v1/sites/{site}/widget"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/badge/{site}/{category}.svg"),
    ("GET", "/badge/{site}/{category}.png"),
    ("GET", "/badge/{site}/{category}/history.svg"),
    ("GET", "/feeds/{site}.atom"),
    ("GET", "/embed.js"),
    ("GET", "/favicon.ico"),
    ("GET", "/static/{file}"),
    ("GET", "/demo/"),
    ("GET", "/demo/{site}"),
    ("GET", "/demo/{site}/"),
    ("GET", "/admin"),
    ("GET", "/admin/"),
    ("POST", "/admin/sign-in"),
    ("POST", "/admin/sign-out"),
    ("GET", "/admin/moderation"),
    ("GET", "/admin/articles/{id}"),
    ("GET", "/admin/settings"),
    ("GET", "/links/{token}"),
    ("POST", "/links/{token}"),
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    ("GET", "/{site}"),
]
RAW_SEGMENTS = [
    "%ff",
    "%c0%80",
    "%ed%a0%80",  # an encoded surrogate
    "%00",
    "a%2fb",
    "..",
    "%2e%2e",
    "a%20b",
    "%e2%80%ae",  # U+202E
    "%ef%bc%91",  # fullwidth 1
    "%d9%a3",  # Arabic-Indic 3
    "9" * 60,
    "a" * 3000,
    "admin.css",
    "fonts",
]
RAW_QUERIES = [
    "article=%ff%fe",
    "article=%00",
    "article=/a&article=%ed%a0%80",
    "article=/a&lang=%ff",
    "article=/a&cursor=%ff%00",
    "article=/a&limit=%ef%bc%91",
    "article=/a&limit=1e3",
    "article=/a&sort=top&cursor=" + "A" * 600,
    "status=%00&cursor=" + "9" * 50,
    "show=%ff&size=88x31%00&scale=%d9%a3",
    "article=" + "%f0%9f%98%80" * 600,
    "&&&==&",
    "a;b=c",
    "article",
    "=",
    "page=" + "9" * 5000,
    "lang=ja&lang=en",
]
HOSTS = [
    None,
    "127.0.0.1:8000",
    "evil.example",
    "x:99999999",
    "x:65536",
    "x:-1",
    "x:",
    "[::1",
    "[::1]:80",
    "a b",
    "",
    "\xe9vil.example",
    "a" * 2000,
    "x/../y",
]
HEADERS = [
    ("Range", ["bytes=99999999-", "bytes=-0", "bytes=5-1", "junk", "bytes=0-0,1-1" * 50]),
    ("If-Range", ['"x"', "Mon, 01 Jan 0001 00:00:00 GMT", "junk"]),
    (
        "If-Modified-Since",
        ["junk", "Mon, 01 Jan 0001 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"],
    ),
    ("If-None-Match", ['W/"', "*", '"a", W/"b", junk']),
    ("Cookie", ["session=garbage", "session=" + "a" * 4000, "a=b; session=.eJw.x.y", "=;=;"]),
    ("Accept-Language", ["ja;q=nan", "ja;q=1e999", "*;q=-1", "x" * 500]),
    ("Accept-Encoding", ["br;q=nan, gzip;q=-1", "*;q=0", "identity;q=0"]),
    ("X-Forwarded-For", ["1.2.3.4", "garbage, \xff", ", , ,", "::ffff:1.2.3.4, 10.0.0.1"]),
    ("X-Request-Id", ["ok-1", "\xff", "a" * 200]),
    ("Content-Encoding", ["gzip", "br"]),
    ("Origin", ["https://blog.example.com", "null", "https://\x7f", "https://a b"]),
]


@dataclass(frozen=True)
class RawCase:
    method: str
    path: str
    query: str
    host: str | None
    headers: dict[str, str]
    body: bytes | None
    scheme: str

    def describe(self) -> str:
        head = f"{self.method} {self.path!r:.300} ?{self.query!r:.200}"
        return f"{head} host={self.host!r:.60} {self.headers!r:.300}"


@st.composite
def raw_cases(draw: DrawFn, world: World) -> RawCase:
    method, template = draw(st.sampled_from(ROUTES))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]))
    values = {**{k: world.path_value(k) for k in ("site", "category", "key", "id", "token")}}
    values["file"] = ["admin.css", "demo.css", "favicon.ico"]

    def segment(match: re.Match[str]) -> str:
        if draw(st.integers(0, 2)) == 0:
            return draw(st.sampled_from(RAW_SEGMENTS))
        return draw(st.sampled_from(values[match.group(1)]))

    path = re.sub(r"\{(\w+)\}", segment, template)
    query = "&".join(draw(st.lists(st.sampled_from(RAW_QUERIES), max_size=3)))
    headers = {}
    for name, choices in HEADERS:
        if draw(st.integers(0, 4)) == 0:
            headers[name] = draw(st.sampled_from(choices))
    body = None
    if method in ("POST", "PUT", "PATCH") and draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "application/x-www-form-urlencoded"])
        )
        body = draw(
            st.sampled_from(
                [b'{"article": "/a", "body": "x"}', b"csrf=x&site=blog&token=y", b"\xff", b"{"]
            )
        )
    return RawCase(
        method, path, query, draw(st.sampled_from(HOSTS)), headers, body,
        draw(st.sampled_from(["http", "https"])),
    )  # fmt: skip


def call(app: Any, case: RawCase) -> tuple[int, dict[str, str], bytes]:
    environ = EnvironBuilder(method=case.method, data=case.body).get_environ()
    # As gunicorn passes it: percent-escapes decoded to bytes, the bytes as latin-1.
    environ["PATH_INFO"] = unquote_to_bytes(case.path).decode("latin-1")
    environ["RAW_URI"] = environ["REQUEST_URI"] = f"{case.path}?{case.query}"
    environ["QUERY_STRING"] = case.query
    environ["wsgi.url_scheme"] = case.scheme
    if case.host is None:
        environ.pop("HTTP_HOST", None)
    else:
        environ["HTTP_HOST"] = case.host
    for name, value in case.headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key.startswith("CONTENT_") else f"HTTP_{key}"] = value
    if case.headers.get("Content-Encoding"):
        environ["HTTP_CONTENT_ENCODING"] = case.headers["Content-Encoding"]
    body, status, headers = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), {k.lower(): v for k, v in headers.items()}, b"".join(body)


def check(world: World, case: RawCase, status: int, headers: dict[str, str], data: bytes) -> None:
    where = case.describe()
    world.sent += 1
    world.statuses[status] = world.statuses.get(status, 0) + 1
    assert status < 500, f"{status} for {where}: {data[:600]!r}"
    sent = repr(case).encode()
    for name in INTERNALS:
        assert name.encode() not in data or name.encode() in sent, f"{name!r} leaked: {where}"
    assert headers.get("x-request-id"), where
    location = headers.get("location")
    if location is not None:
        assert location.startswith("/") and not location.startswith("//"), (location, where)
    if status >= 400 and case.path.startswith("/api/") and case.method != "HEAD":
        assert headers.get("content-type", "").startswith("application/json"), where
        document = json.loads(data)
        assert document["code"] == status and document["message"], where


@pytest.fixture
def world(app: Any, client: Any, make_site: Callable[..., Any]) -> World:
    return make_world(app, client, make_site)


def test_raw_requests_never_fail(world: World) -> None:
    app = world.app

    @settings(PROFILE)
    @given(raw_cases(world), st.booleans())
    def run(case: RawCase, behind_proxy: bool) -> None:
        app.config["TRUSTED_PROXIES"] = 1 if behind_proxy else 0
        check(world, case, *call(app, case))

    try:
        run()
    finally:
        app.config["TRUSTED_PROXIES"] = 0
    report(world, "raw")
    assert world.sent >= 10
    assert_intact(world)
