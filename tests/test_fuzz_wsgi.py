"""A hypothesis fuzzer at the WSGI level (Flask's test client), for every route: the API, the
public pages, the e-mail link pages and the admin forms (with and without a valid CSRF
token). It mutates JSON bodies, path segments, query strings and headers, and asserts

- no 5xx, and no traceback or internal name (module, exception) in any answer;
- every error on an ``/api/`` route in the one JSON error shape, with an ``X-Request-Id``;
- an intact database afterwards (integrity check, and counts that agree with the rows).

Bounded in CI (``ci`` profile); ``RANKLET_FUZZ_LONG=1`` runs the ``long`` profile locally
(``RANKLET_FUZZ_EXAMPLES=N`` sets the count for either).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn
from sqlalchemy import func, select, text

settings.register_profile(
    "ranklet-fuzz-ci",
    max_examples=int(os.environ.get("RANKLET_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    derandomize=True,  # a CI failure reproduces from the same seed
)
settings.register_profile(
    "ranklet-fuzz-long",
    max_examples=int(os.environ.get("RANKLET_FUZZ_EXAMPLES", "5000")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile(
    "ranklet-fuzz-long" if os.environ.get("RANKLET_FUZZ_LONG") == "1" else "ranklet-fuzz-ci"
)

SITE = "blog"
ORIGIN = "https://blog.example.com"
# What no answer may contain unless the request itself did (an echoed field value).
INTERNALS = (
    "Traceback",
    'File "',
    "sqlalchemy",
    "SQLAlchemy",
    "werkzeug",
    "psycopg",
    "sqlite3",
    "OverflowError",
    "RecursionError",
    "ValueError",
    "TypeError",
    "KeyError",
    "site-packages",
)

# --- values -------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "٣",
    "１",
    "³",
    "0",
    "-1",
    "+1",
    "1.5",
    "1e9",
    "9" * 5000,
    str(2**31),
    str(2**63),
    str(2**64),
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202eevil",
    "\u2066x",
    "\t\n",
    "%00",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "NaN",
    "true",
    "null",
    "yes",
    "x" * 600,
    "https://evil.example/",
    "javascript:alert(1)",
    "a@b.c",
    "2024-01-01T00:00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "eyJzIjoib2xkZXN0IiwiayI6WzEsMV19",  # {"s":"oldest","k":[1,1]}
    "WzFd",  # [1]
]
# Lone surrogates cannot be sent in a URL or a header at all; the test client would fail.
plain_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
hostile_text = st.one_of(st.sampled_from(HOSTILE_TEXT), plain_text, st.integers().map(str))

hostile_json = st.recursive(
    st.one_of(
        st.sampled_from([2**31, 2**63, 2**64, -(2**63), 10**39, 0, -1, 1.5, 1e308, True, False]),
        st.none(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text,
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
RAW_BODIES = [
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b'{"positions": {"consulting": ' + b"9" * 5000 + b"}}",
    b'{"body": "x", "article": "/a", "parent_id": NaN}',
    b'{"body": "\\ud800", "article": "/a"}',
    b"\xff\xfe{}",
    b"",
    b"null",
    b"[]",
    b'"string"',
    b"{",
    b'{"a": 1, "a": 2}',
]

# --- routes ---------------------------------------------------------------------------------

API = "/api/v1/sites/{site}"
API_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", f"{API}/rankings", None),
    (
        "POST",
        f"{API}/rankings",
        {"positions": {"consulting": 4, "marketing": 9}, "observed_at": "2024-01-02T00:00:00Z"},
    ),
    ("GET", f"{API}/rankings/{{category}}/history", None),
    ("DELETE", f"{API}/rankings/{{category}}/history/{{id}}", None),
    (
        "PUT",
        f"{API}/categories/{{key}}",
        {"labels": {"ja": "エス", "en": "SEO"}, "url": "https://blog.example.com/seo", "order": 3},
    ),
    ("DELETE", f"{API}/categories/{{key}}", None),
    ("GET", f"{API}/comments", None),
    (
        "POST",
        f"{API}/comments",
        {
            "article": "/a",
            "article_title": "A title",
            "article_url": "https://blog.example.com/a",
            "parent_id": 1,
            "author": "Alice",
            "email": "alice@example.com",
            "website": "https://alice.example",
            "body": "Hello *there*",
            "notify": True,
        },
    ),
    ("PATCH", f"{API}/comments/{{id}}", {"body": "Edited", "author": "Bob", "website": None}),
    ("DELETE", f"{API}/comments/{{id}}", None),
    ("POST", f"{API}/comments/{{id}}/like", None),
    ("POST", f"{API}/comments/{{id}}/moderate", {"action": "approve"}),
    ("GET", f"{API}/moderation", None),
    ("GET", f"{API}/counts", None),
    ("GET", f"{API}/widget", None),
    ("GET", "/api/v1/openapi.json", None),
]
PAGE_ROUTES = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/badge/{site}/{category}.svg"),
    ("GET", "/badge/{site}/{category}.png"),
    ("GET", "/badge/{site}/{category}/history.svg"),
    ("GET", "/feeds/{site}.atom"),
    ("GET", "/embed.js"),
    ("GET", "/demo/"),
    ("GET", "/demo/{key}/"),
    ("GET", "/links/{token}"),
    ("POST", "/links/{token}"),
    ("GET", "/unsubscribe/{token}"),
    ("POST", "/unsubscribe/{token}"),
    ("GET", "/{key}"),
]
# Each admin form with the fields its template has.
ADMIN_FORMS: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/admin/", ()),
    ("POST", "/admin/sign-in", ("site", "token")),
    ("GET", "/admin/moderation", ()),
    ("POST", "/admin/moderation", ("one", "action", "ids", "thread", "status")),
    ("GET", "/admin/articles", ()),
    ("GET", "/admin/articles/{id}", ()),
    ("GET", "/admin/rankings", ()),
    ("POST", "/admin/rankings", ("position-consulting", "position-marketing", "observed_at")),
    ("GET", "/admin/settings", ()),
    (
        "POST",
        "/admin/settings",
        (
            "name",
            "origins",
            "lang",
            "moderation",
            "webhook_url",
            "notify_email",
            "notify_pending",
            "banned_words",
            "rank_events",
            "best_flag_days",
            "timezone",
        ),
    ),
    ("GET", "/admin/erase", ()),
    ("POST", "/admin/erase", ("email", "step", "confirm")),
    ("GET", "/admin/token", ()),
    ("POST", "/admin/token", ("confirm",)),
]
QUERY_NAMES = (
    "article",
    "lang",
    "sort",
    "limit",
    "cursor",
    "status",
    "since",
    "until",
    "show",
    "size",
    "scale",
    "page",
)
GOOD_QUERY = {
    "article": "/a",
    "lang": "en",
    "sort": "top",
    "limit": "2",
    "status": "approved",
    "since": "2024-01-01T00:00:00Z",
    "show": "both",
    "size": "88x31",
    "scale": "2",
}


@dataclass
class World:
    """The app under fuzzing, with real rows to aim at and what was sent to it."""

    app: Any
    token: str
    comment_ids: list[int]
    entry_ids: list[int]
    link_tokens: list[str]
    thread_ids: list[int]
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def path_value(self, name: str) -> list[str]:
        """Real targets, so the fuzzing mostly reaches the logic behind the route."""
        return {
            "site": [SITE],
            "category": ["consulting", "marketing"],
            "key": ["seo", "consulting"],
            "id": [str(i) for i in self.comment_ids + self.entry_ids + self.thread_ids],
            "token": self.link_tokens,
        }[name]


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: quote(values[m.group(1)], safe=""), template)


@st.composite
def path_of(draw: DrawFn, world: World, template: str) -> str:
    values = {}
    for name in re.findall(r"\{(\w+)\}", template):
        hostile = draw(st.integers(0, 4)) == 0
        values[name] = draw(
            hostile_text.filter(bool) if hostile else st.sampled_from(world.path_value(name))
        )
    return fill(template, values)


@st.composite
def queries(draw: DrawFn) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(QUERY_NAMES), max_size=5, unique=True)):
        if name in GOOD_QUERY and draw(st.booleans()):
            query[name] = GOOD_QUERY[name]
        else:
            query[name] = draw(st.lists(hostile_text, min_size=1, max_size=3))
    if draw(st.booleans()):
        query["article"] = "/a"
    if draw(st.integers(0, 9)) == 0:
        query[draw(plain_text.filter(bool))] = draw(hostile_text)
    return query


@st.composite
def mutated(draw: DrawFn, template: dict[str, Any] | None) -> tuple[bytes | None, str | None]:
    """A body and its Content-Type: valid, mutated field by field, raw or absent."""
    kind = draw(st.sampled_from(["valid", "mutate", "mutate", "raw", "junk", "none"]))
    content_type = draw(
        st.sampled_from(
            ["application/json"] * 6
            + [
                "text/plain",
                "application/json; charset=latin-1",
                "application/x-www-form-urlencoded",
            ]
        )
    )
    if kind == "none":
        return None, draw(st.sampled_from([None, content_type]))
    if kind == "raw":
        return draw(st.sampled_from(RAW_BODIES)), content_type
    if kind == "junk":
        return json.dumps(draw(hostile_json)).encode(), content_type
    document: dict[str, Any] = json.loads(json.dumps(template or {}))
    if kind == "mutate":
        for _ in range(draw(st.integers(1, 3))):
            target = document
            if document and draw(st.booleans()):
                name = draw(st.sampled_from(sorted(document)))
                if isinstance(document[name], dict) and document[name] and draw(st.booleans()):
                    target, name = document[name], draw(st.sampled_from(sorted(document[name])))
            else:
                name = draw(
                    st.sampled_from(["status", "likes", "is_author", "x", "homepage", "ja"])
                )
            action = draw(st.sampled_from(["replace", "replace", "delete"]))
            if action == "delete":
                target.pop(name, None)
            else:
                target[name] = draw(hostile_json)
    raw = json.dumps(document, ensure_ascii=draw(st.booleans())).encode()
    if draw(st.integers(0, 9)) == 0:
        raw = raw[: draw(st.integers(0, max(len(raw) - 1, 0)))]  # truncated
    return raw, content_type


@st.composite
def headers_for(draw: DrawFn, world: World) -> dict[str, str]:
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from(["valid", "none", "none", "garbage", "bearer-junk"]))
    if auth == "valid":
        headers["Authorization"] = f"Bearer {world.token}"
    elif auth == "garbage":
        headers["Authorization"] = draw(
            st.sampled_from(["Basic x", "Bearer", "Bearer  ", "x" * 300])
        )
    elif auth == "bearer-junk":
        headers["Authorization"] = "Bearer " + draw(
            st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60)
        )
    origin = draw(
        st.sampled_from([ORIGIN, None, "null", "https://evil.example", "http://blog.example.com"])
    )
    if origin:
        headers["Origin"] = origin
    for name, values in (
        ("X-Edit-Token", ["et_" + "a" * 43, "", "x" * 500]),
        ("X-Request-Id", ["abc", "", "a b", "x" * 300, "-x"]),
        ("If-None-Match", ['"x"', "*", "W/", '"' + "a" * 300 + '"']),
        ("Accept-Language", ["ja", "en;q=0.5", "*;q=x", "zz-ZZ"]),
        ("Accept-Encoding", ["br", "gzip;q=0", "identity", "x"]),
        ("X-Forwarded-For", ["1.2.3.4", "garbage", ""]),
    ):
        if draw(st.integers(0, 3)) == 0:
            headers[name] = draw(st.sampled_from(values))
    return headers


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    query: dict[str, Any]
    body: bytes | None
    content_type: str | None
    headers: dict[str, str]

    def describe(self) -> str:
        return f"{self.method} {self.path} {self.query!r} {self.headers!r} {self.body!r:.300}"


@st.composite
def api_cases(draw: DrawFn, world: World) -> Case:
    method, template, body = draw(st.sampled_from(API_ROUTES))
    if draw(st.integers(0, 19)) == 0:
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]))
    raw, content_type = draw(mutated(body)) if body is not None or method != "GET" else (None, None)
    return Case(
        method, draw(path_of(world, template)), draw(queries()), raw, content_type,
        draw(headers_for(world)),
    )  # fmt: skip


@st.composite
def page_cases(draw: DrawFn, world: World) -> Case:
    method, template = draw(st.sampled_from(PAGE_ROUTES))
    body = None
    content_type = None
    if method == "POST" and draw(st.booleans()):
        body = draw(
            st.sampled_from([b"List-Unsubscribe=One-Click", b"\x00\xff", b"a=" + b"9" * 5000])
        )
        content_type = "application/x-www-form-urlencoded"
    return Case(
        method, draw(path_of(world, template)), draw(queries()), body, content_type,
        draw(headers_for(world)),
    )  # fmt: skip


# --- the checks -----------------------------------------------------------------------------


def send(world: World, client: Any, case: Case, form: dict[str, Any] | None = None) -> Any:
    headers = dict(case.headers)
    if case.content_type:
        headers["Content-Type"] = case.content_type
    answer = client.open(
        case.path,
        method=case.method,
        query_string=case.query,
        data=form if form is not None else case.body,
        headers=headers,
    )
    world.sent += 1
    world.statuses[answer.status_code] = world.statuses.get(answer.status_code, 0) + 1
    check(answer, case, form)
    return answer


def check(answer: Any, case: Case, form: dict[str, Any] | None) -> None:
    where = case.describe() + (f" form={form!r:.300}" if form else "")
    data = answer.get_data()
    assert answer.status_code < 500, f"{answer.status_code} for {where}: {data[:800]!r}"
    sent = (case.describe() + repr(form)).encode()
    for name in INTERNALS:
        assert name.encode() not in data or name.encode() in sent, f"{name!r} leaked: {where}"
    if answer.status_code >= 400 and case.path.startswith("/api/") and case.method != "HEAD":
        assert answer.mimetype == "application/json", where
        body = json.loads(data)
        assert body["code"] == answer.status_code, where
        assert isinstance(body["message"], str) and body["message"], where
        assert set(body) <= {"code", "status", "message", "errors"}, where
        assert answer.headers.get("X-Request-Id"), where


def assert_intact(world: World) -> None:
    """The database is consistent after everything the fuzzer sent."""
    from service.core.extensions import db
    from service.db.models import Comment, Site, Thread

    with world.app.app_context():
        if db.engine.dialect.name == "sqlite":
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            assert db.session.execute(text("PRAGMA foreign_key_check")).all() == []
        assert db.session.scalar(select(func.count()).select_from(Site)) == 1
        threads = db.session.scalars(select(Thread)).all()
        for thread in threads:
            approved = db.session.scalar(
                select(func.count()).where(
                    Comment.thread_id == thread.id, Comment.status == "approved"
                )
            )
            assert thread.approved_count == approved, thread.article
        for comment in db.session.scalars(select(Comment)):
            assert 1 <= comment.depth <= 5 and comment.likes >= 0
            assert "\x00" not in (comment.author or "") + comment.body_text
            if comment.parent_id is not None:
                parent = db.session.get(Comment, comment.parent_id)
                assert parent is not None and parent.thread_id == comment.thread_id


# --- fixtures and tests ---------------------------------------------------------------------


@pytest.fixture
def world(app: Any, client: Any, make_site: Callable[..., Any]) -> World:
    return make_world(app, client, make_site)


def make_world(app: Any, client: Any, make_site: Callable[..., Any]) -> World:
    """A site with a reply chain, a rank entry and e-mail link tokens to aim at."""
    from service.notify.email_links import moderation_token, unsubscribe_token

    site = make_site(SITE, notify_email="author@example.com")
    auth = {"Authorization": f"Bearer {site.token}"}
    ids = []
    for n in range(4):
        document = {"article": "/a", "body": f"comment {n}", "email": "r@example.com"}
        if ids:
            document["parent_id"] = ids[-1]
        answer = client.post(f"/api/v1/sites/{SITE}/comments", json=document)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        ids.append(answer.get_json()["comment"]["id"])
    answer = client.post(
        f"/api/v1/sites/{SITE}/rankings",
        json={"positions": {"consulting": 5}, "observed_at": "2024-01-01T00:00:00Z"},
        headers=auth,
    )
    assert answer.status_code == 200
    entries = client.get(f"/api/v1/sites/{SITE}/rankings/consulting/history").get_json()
    from service.core.extensions import db
    from service.db.models import Thread

    with app.app_context():
        tokens = [moderation_token(ids[0], "approve"), moderation_token(ids[1], "delete")]
        tokens.append(unsubscribe_token(ids[2]))
        thread_ids = list(db.session.scalars(select(Thread.id)))
    return World(app, site.token, ids, [e["id"] for e in entries["entries"]], tokens, thread_ids)


def report(world: World, name: str) -> None:
    print(f"\n{name}: {world.sent} requests, statuses {dict(sorted(world.statuses.items()))}")


def test_api_routes_never_fail(world: World, client: Any) -> None:
    @settings(PROFILE)
    @given(api_cases(world))
    def run(case: Case) -> None:
        send(world, client, case)

    run()
    report(world, "api")
    assert world.sent >= 10
    assert_intact(world)


def test_pages_and_email_links_never_fail(world: World, client: Any) -> None:
    @settings(PROFILE)
    @given(page_cases(world))
    def run(case: Case) -> None:
        send(world, client, case)

    run()
    report(world, "pages")
    assert_intact(world)


@st.composite
def admin_cases(draw: DrawFn, world: World) -> tuple[Case, dict[str, Any] | None, bool]:
    method, template, names = draw(st.sampled_from(ADMIN_FORMS))
    path = draw(path_of(world, template))
    form: dict[str, Any] | None = None
    with_csrf = draw(st.integers(0, 3)) > 0
    if method == "POST":
        form = {}
        for name in names:
            if draw(st.integers(0, 4)):
                form[name] = draw(st.one_of(hostile_text, st.lists(hostile_text, max_size=3)))
        if path == "/admin/token" and form.get("confirm") == "yes":
            form["confirm"] = "no"  # rotating would sign the fuzzer out of its own API
        if path == "/admin/moderation" and draw(st.booleans()):
            action = draw(st.sampled_from(["approve", "spam", "delete", "restore"]))
            target = draw(st.sampled_from([str(i) for i in world.comment_ids] + HOSTILE_TEXT[:14]))
            form["one"] = f"{action}:{target}"
    headers = draw(headers_for(world))
    headers.pop("Authorization", None)
    return Case(method, path, draw(queries()), None, None, headers), form, with_csrf


def test_admin_forms_never_fail_with_or_without_csrf(world: World, app: Any) -> None:
    signed_in = app.test_client()
    page = signed_in.get("/admin/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    answer = signed_in.post(
        "/admin/sign-in", data={"csrf": csrf, "site": SITE, "token": world.token}
    )
    assert answer.status_code == 302
    anonymous = app.test_client()
    assert anonymous.get("/admin/").status_code == 200  # gives it a session with a CSRF token

    @settings(PROFILE)
    @given(admin_cases(world))
    def run(drawn: tuple[Case, dict[str, Any] | None, bool]) -> None:
        case, form, with_csrf = drawn
        client = signed_in if "sign-in" not in case.path else anonymous
        if form is not None and with_csrf:
            with client.session_transaction("/admin/") as session:
                form = {**form, "csrf": session.get("csrf", "")}
        answer = send(world, client, case, form)
        if form is not None and not with_csrf:
            assert answer.status_code == 400, case.describe()  # refused before anything is done

    run()
    report(world, "admin")
    assert_intact(world)
