"""Issue 10, one family at a time: inputs that used to answer 500 (or were taken when they
should be refused) at the API, the admin forms and the e-mail link pages, on SQLite and
PostgreSQL. Each answer is checked for its body, not only its status.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}
INTERNALS = ("Traceback", 'File "', "sqlalchemy", "werkzeug", "OverflowError", "ValueError")


@pytest.fixture
def site(make_site: Any) -> Any:
    """An English site, so the messages asserted below are the English ones."""
    return make_site("blog", lang="en")


def assert_error(answer: Any, status: int) -> dict[str, Any]:
    """The one error shape, with a request id, and nothing of the server's insides."""
    text = answer.get_data(as_text=True)
    assert answer.status_code == status, text
    assert answer.mimetype == "application/json"
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", answer.headers["X-Request-Id"])
    for internal in INTERNALS:
        assert internal not in text
    body = json.loads(text)
    assert body["code"] == status and body["message"].strip()
    return body


def auth(site: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.token}"}


def post_comment(client: Any, **fields: Any) -> dict[str, Any]:
    answer = client.post(f"{BASE}/comments", json={"article": "/a", "body": "Hello", **fields})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["comment"]


def count(app: Any, model: Any) -> int:
    from service.core.extensions import db

    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)))


def cursor_of(document: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


# --- 1. nesting, and JSON that Python's parser takes but we do not --------------------------

DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000


def json_routes(comment_id: int) -> list[tuple[str, str]]:
    return [
        ("post", f"{BASE}/comments"),
        ("patch", f"{BASE}/comments/{comment_id}"),
        ("post", f"{BASE}/rankings"),
        ("put", f"{BASE}/categories/seo"),
        ("post", f"{BASE}/comments/{comment_id}/moderate"),
    ]


@pytest.mark.parametrize("document", [DEEP, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_json_is_a_400_on_every_json_route(client, site, app, document):
    from service.db.models import Comment

    comment = post_comment(client)
    for method, url in json_routes(comment["id"]):
        answer = getattr(client, method)(
            url, data=document, content_type="application/json", headers=auth(site)
        )
        body = assert_error(answer, 400)
        assert "nests deeper than 32 levels" in body["message"], (method, url)
    assert count(app, Comment) == 1


def test_nesting_inside_strings_does_not_count(client, site):
    body = post_comment(client, body="[" * 3000 + "{" * 1000)
    assert body["body_html"].startswith("<p>[[[")


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"positions": {"consulting": ' + "9" * 5000 + "}}", "more than 40 digits"),
        ('{"positions": {"consulting": -' + "9" * 5000 + "}}", "more than 40 digits"),
        ('{"positions": {"consulting": NaN}}', "NaN and Infinity"),
        ('{"positions": {"consulting": Infinity}}', "NaN and Infinity"),
        ('{"positions": {"consulting": "\\udc00"}}', "unpaired surrogate"),
        (
            '{"positions": {"consulting": 4}',
            "JSON",
        ),  # the ja site's 「…正しい JSON ではありません。」
        (b'{"positions": {"\xff": 4}}', "JSON"),
    ],
)
def test_json_the_loader_refuses_is_a_400(client, site, app, raw, words):
    from service.db.models import RankEntry

    answer = client.post(
        f"{BASE}/rankings", data=raw, content_type="application/json", headers=auth(site)
    )
    assert words in assert_error(answer, 400)["message"]
    assert count(app, RankEntry) == 0


@pytest.mark.parametrize(
    ("method", "url", "template"),
    [
        ("put", f"{BASE}/categories/seo", '{"labels": {"ja": "a", "en": "b"}, "order": %s}'),
        ("post", f"{BASE}/comments", '{"article": "/a", "body": "x", "parent_id": %s}'),
    ],
)
def test_thousands_of_digits_anywhere_in_a_body_are_a_400(client, site, app, method, url, template):
    from service.db.models import Category, Comment

    before = (count(app, Category), count(app, Comment))
    answer = getattr(client, method)(
        url, data=template % ("1" * 4500), content_type="application/json", headers=auth(site)
    )
    assert "more than 40 digits" in assert_error(answer, 400)["message"]
    assert (count(app, Category), count(app, Comment)) == before


# --- 2. integers beyond the columns ----------------------------------------------------------


@pytest.mark.parametrize("parent_id", [2**31, 2**63, 2**64, -(2**63), 0])
def test_parent_ids_beyond_the_column_are_a_422(client, site, app, parent_id):
    from service.db.models import Comment

    answer = client.post(
        f"{BASE}/comments", json={"article": "/a", "body": "x", "parent_id": parent_id}
    )
    assert "parent_id" in assert_error(answer, 422)["errors"]
    assert count(app, Comment) == 0


@pytest.mark.parametrize("order", [10_001, 2**63, -1])
def test_category_order_beyond_its_range_is_a_422(client, site, order):
    answer = client.put(
        f"{BASE}/categories/seo", json={"labels": {"ja": "a", "en": "b"}, "order": order},
        headers=auth(site),
    )  # fmt: skip
    assert "order" in assert_error(answer, 422)["errors"]


@pytest.mark.parametrize(
    "segment", ["٣", "１", "³", "2147483648", str(2**63), "1" * 5000, "+1", "-1", "1.0"]
)
def test_path_ids_take_ascii_digits_within_the_column_only(client, site, app, segment):
    """``/comments/٣/moderate`` used to act on comment 3."""
    from service.core.extensions import db
    from service.db.models import Comment

    ids = [post_comment(client, body=f"c{n}")["id"] for n in range(3)]
    assert ids[2] == 3
    for method, url in [
        ("post", f"{BASE}/comments/{segment}/moderate"),
        ("post", f"{BASE}/comments/{segment}/like"),
        ("patch", f"{BASE}/comments/{segment}"),
        ("delete", f"{BASE}/comments/{segment}"),
        ("delete", f"{BASE}/rankings/consulting/history/{segment}"),
    ]:
        answer = getattr(client, method)(url, json={"action": "spam"}, headers=auth(site))
        assert_error(answer, 404)
    assert client.get(f"/admin/articles/{segment}").status_code in (302, 404)
    with app.app_context():
        assert db.session.scalars(select(Comment.status)).all() == ["approved"] * 3


def test_ascii_path_ids_still_work(client, site):
    comment = post_comment(client)
    answer = client.post(
        f"{BASE}/comments/{comment['id']}/moderate", json={"action": "spam"}, headers=auth(site)
    )
    assert answer.status_code == 200 and answer.get_json()["comment"]["id"] == comment["id"]


# --- 3. integers in query strings ------------------------------------------------------------


@pytest.mark.parametrize("value", ["٣", "１", "+5", " 5", "5_0", "9" * 5000, "0", "1001", "1e2"])
def test_limits_in_queries_take_ascii_digits_in_range(client, site, value):
    for url in (
        f"{BASE}/comments?article=/a&limit={value}",
        f"{BASE}/widget?article=/a&limit={value}",
        f"{BASE}/moderation?limit={value}",
    ):
        body = assert_error(client.get(url, headers=auth(site)), 422)
        assert "limit" in body["errors"], url
    body = assert_error(client.get(f"{BASE}/rankings/consulting/history?limit={value}"), 422)
    assert "limit" in body["errors"]


@pytest.mark.parametrize("cursor", [str(2**63), str(2**31), "9" * 5000, "٣", "0", "-1", "x"])
def test_moderation_cursors_beyond_ids_are_a_422(client, site, cursor):
    answer = client.get(f"{BASE}/moderation", query_string={"cursor": cursor}, headers=auth(site))
    assert "cursor" in assert_error(answer, 422)["errors"]


def test_moderation_cursor_pages_through(client, site):
    ids = [post_comment(client, body=f"c{n}")["id"] for n in range(3)]
    first = client.get(f"{BASE}/moderation?status=approved&limit=2", headers=auth(site)).get_json()
    assert [c["id"] for c in first["comments"]] == ids[:0:-1]
    rest = client.get(
        f"{BASE}/moderation?status=approved&limit=2&cursor={first['next_cursor']}",
        headers=auth(site),
    ).get_json()
    assert [c["id"] for c in rest["comments"]] == [ids[0]] and rest["next_cursor"] is None


# --- 4. forged comment cursors ----------------------------------------------------------------

FORGED = [
    {"s": "oldest", "k": ["2024-01-01T00:00:00", 1]},  # naive
    {"s": "oldest", "k": ["0001-01-01T00:00:00+00:00", 1]},
    {"s": "oldest", "k": ["9999-12-31T23:59:59-05:00", 1]},
    {"s": "oldest", "k": ["9999-12-31T23:59:59Z", 1]},
    {"s": "oldest", "k": [1.5, 1]},
    {"s": "oldest", "k": [True, 1]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", 2**63]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", "1"]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", 1.0]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", False]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", None]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z"]},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", 1, 2]},
    {"s": "oldest", "k": {"a": 1}},
    {"s": "oldest", "k": ["2024-01-01T00:00:00Z", 1], "x": 1},
    {"s": "top", "k": [2**64, "2024-01-01T00:00:00Z", 1]},
    {"s": "top", "k": [-1, "2024-01-01T00:00:00Z", 1]},
    {"s": "top", "k": ["1", "2024-01-01T00:00:00Z", 1]},
    {"s": "newest", "k": ["2024-01-01T00:00:00Z", 1]},  # another sort's cursor
    ["oldest", 1],
    "oldest",
]


@pytest.mark.parametrize("document", FORGED, ids=range(len(FORGED)))
def test_forged_comment_cursors_are_a_422(client, site, document):
    post_comment(client)  # a thread exists, so the cursor reaches the query
    sort = document["s"] if isinstance(document, dict) and document["s"] != "newest" else "oldest"
    answer = client.get(
        f"{BASE}/comments",
        query_string={"article": "/a", "sort": sort, "cursor": cursor_of(document)},
    )
    body = assert_error(answer, 422)
    assert body["errors"] == {"cursor": ["Invalid cursor."]}


@pytest.mark.parametrize(
    "cursor", ["%%%", "a" * 513, "eyJ", cursor_of(1), cursor_of({"s": "oldest"})]
)
def test_malformed_comment_cursors_are_a_422(client, site, cursor):
    post_comment(client)
    answer = client.get(f"{BASE}/comments", query_string={"article": "/a", "cursor": cursor})
    assert "cursor" in assert_error(answer, 422)["errors"]


def test_deep_json_inside_a_cursor_is_a_422(client, site):
    post_comment(client)
    deep = base64.urlsafe_b64encode(DEEP[:1200].encode() + DEEP[-1200:].encode()).decode()
    answer = client.get(
        f"{BASE}/comments", query_string={"article": "/a", "cursor": deep.rstrip("=")[:512]}
    )
    assert "cursor" in assert_error(answer, 422)["errors"]


@pytest.mark.parametrize("sort", ["oldest", "newest", "top"])
def test_our_own_cursors_still_page_through(client, site, sort):
    ids = [post_comment(client, body=f"c{n}")["id"] for n in range(5)]
    seen: list[int] = []
    cursor = None
    for _ in range(5):
        query: dict[str, Any] = {"article": "/a", "sort": sort, "limit": 2}
        if cursor:
            query["cursor"] = cursor
        page = client.get(f"{BASE}/comments", query_string=query).get_json()
        seen += [c["id"] for c in page["comments"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,512}", cursor)
    assert sorted(seen) == ids and len(seen) == 5


# --- 7 and 10. the same text rules at every door ---------------------------------------------


@pytest.mark.parametrize("label", ["a\x00b", "a\x1bb", "a\u202eb", "a\u2066b", " ", "x" * 101, ""])
def test_category_labels_follow_the_text_rules(client, site, app, label):
    from service.db.models import Category

    answer = client.put(
        f"{BASE}/categories/seo", json={"labels": {"ja": label, "en": "SEO"}}, headers=auth(site)
    )
    assert "ja" in assert_error(answer, 422)["errors"]["labels"]
    assert count(app, Category) == 3


@pytest.mark.parametrize("notify", ["yes", "true", 1, 0, "on", None])
def test_notify_is_a_strict_boolean(client, site, notify):
    answer = client.post(f"{BASE}/comments", json={"article": "/a", "body": "x", "notify": notify})
    assert "notify" in assert_error(answer, 422)["errors"]


@pytest.mark.parametrize(
    "email", ["a" * 300 + "@example.com", "a@b", "a\x00@example.com", "a@exam\u202eple.com"]
)
def test_reader_email_follows_the_address_rule(client, site, email):
    answer = client.post(f"{BASE}/comments", json={"article": "/a", "body": "x", "email": email})
    assert "email" in assert_error(answer, 422)["errors"]


def test_article_title_collapses_white_space_instead_of_refusing(client, site, app):
    from service.core.extensions import db
    from service.db.models import Thread

    post_comment(client, article_title="A\ttitle\n\n  with\x00 junk\u202e ")
    with app.app_context():
        assert db.session.scalar(select(Thread.title)) == "A title with junk"


def test_a_title_of_only_control_characters_is_no_title(client, site, app):
    from service.core.extensions import db
    from service.db.models import Thread

    post_comment(client, article_title="\t\n\x00")
    with app.app_context():
        assert db.session.scalar(select(Thread.title)) is None


# --- admin forms ------------------------------------------------------------------------------


def csrf_of(client: Any, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


@pytest.fixture
def admin(client: Any, site: Any) -> Any:
    answer = client.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(client, "/admin/"), "site": site.slug, "token": site.token},
    )
    assert answer.status_code == 302
    return client


def settings_form(client: Any, **changes: str) -> dict[str, str]:
    form = {
        "csrf": csrf_of(client, "/admin/settings"),
        "name": "Blog",
        "origins": "https://blog.example.com",
        "lang": "ja",
        "moderation": "none",
        "webhook_url": "",
        "notify_email": "",
        "banned_words": "",
    }
    return {**form, **changes}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Blog\x00"),
        ("name", "Blog\x1b[31m"),
        ("name", "Blog\u202e"),
        ("name", "x" * 201),
        ("notify_email", "a" * 293 + "@example.com"),  # 305 characters
        ("notify_email", "not an address"),
        ("webhook_url", "https://hooks.example.com/" + "a" * 2100),
        ("webhook_url", "https://hooks.example.com/\x00"),
        ("origins", "https://blog.example.com\x00"),
        ("banned_words", "spam\x1b"),
    ],
)
def test_admin_settings_follow_the_api_text_rules(admin, app, field, value):
    from service.core.extensions import db
    from service.db.models import Site

    answer = admin.post("/admin/settings", data=settings_form(admin, **{field: value}))
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "Traceback" not in text and "\x00" not in text
    with app.app_context():
        stored = db.session.scalar(select(Site))
        assert (stored.name, stored.notify_email_encrypted, stored.webhook_url) == (
            "blog",
            None,
            None,
        )


def test_admin_settings_take_a_254_character_address(admin, app):
    from service.core.crypto import decrypt
    from service.core.extensions import db
    from service.db.models import Site

    address = "a" * 242 + "@example.com"
    assert len(address) == 254
    answer = admin.post("/admin/settings", data=settings_form(admin, notify_email=address))
    assert answer.status_code == 302
    with app.app_context():
        assert decrypt(db.session.scalar(select(Site.notify_email_encrypted))) == address


@pytest.mark.parametrize("value", ["9" * 5000, "٣", "2147483648", "1000001", "1e3", "0"])
def test_admin_rankings_form_refuses_what_is_not_a_position(admin, app, value):
    from service.db.models import RankEntry

    answer = admin.post(
        "/admin/rankings",
        data={"csrf": csrf_of(admin, "/admin/rankings"), "position-consulting": value},
    )
    assert answer.status_code == 422
    assert "Traceback" not in answer.get_data(as_text=True)
    assert count(app, RankEntry) == 0


def test_admin_rankings_form_still_takes_fullwidth_digits_it_normalizes(admin, app):
    """NFKC turns fullwidth ``４`` into ``4`` before the rule sees it (a Japanese IME's digits)."""
    from service.db.models import RankEntry

    answer = admin.post(
        "/admin/rankings",
        data={"csrf": csrf_of(admin, "/admin/rankings"), "position-consulting": "４"},
    )
    assert answer.status_code == 302
    assert count(app, RankEntry) == 1


@pytest.mark.parametrize("cursor", [str(2**63), "9" * 5000, "٣"])
def test_admin_moderation_page_ignores_a_cursor_beyond_ids(admin, cursor):
    answer = admin.get("/admin/moderation", query_string={"cursor": cursor, "status": "approved"})
    assert answer.status_code == 200


@pytest.mark.parametrize("raw", ["٣", str(2**63), "9" * 5000])
def test_admin_moderation_form_ignores_ids_beyond_the_column(admin, client, app, raw):
    from service.core.extensions import db
    from service.db.models import Comment

    for n in range(3):
        post_comment(client, body=f"c{n}")
    answer = admin.post(
        "/admin/moderation",
        data={"csrf": csrf_of(admin, "/admin/moderation"), "one": f"spam:{raw}", "thread": raw},
    )
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Comment.status)).all() == ["approved"] * 3


# --- e-mail link pages ------------------------------------------------------------------------


@pytest.mark.parametrize("claimed", [2**63, 2**64, -1, "3", 3.0])
def test_email_link_with_a_forged_id_is_a_403_page(client, site, claimed):
    forged = URLSafeTimedSerializer("not the secret", salt="ranklet email link: approve").dumps(
        {"c": claimed, "a": "approve", "n": "x"}
    )
    for method in ("get", "post"):
        answer = getattr(client, method)(f"/links/{forged}")
        assert answer.status_code == 403
        assert "Traceback" not in answer.get_data(as_text=True)


# --- 5. unexpected errors ---------------------------------------------------------------------


def test_an_unexpected_error_answers_the_error_shape_with_the_request_id(
    client, site, monkeypatch, caplog
):
    from service.comments import likes

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(likes, "like_comment", broken)
    comment = post_comment(client)
    with caplog.at_level(logging.ERROR, logger="ranklet"):
        answer = client.post(
            f"{BASE}/comments/{comment['id']}/like", headers={"X-Request-Id": "req-42.a:b"}
        )
    body = assert_error(answer, 500)
    assert answer.headers["X-Request-Id"] == "req-42.a:b"
    assert "secret internal detail" not in answer.get_data(as_text=True)
    assert set(body) == {"code", "status", "message"}
    lines = [r.getMessage() for r in caplog.records if "unhandled_error" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    logged = json.loads(lines[0])
    assert logged["request_id"] == "req-42.a:b"
    assert logged["path"] == f"{BASE}/comments/{comment['id']}/like"
    assert "secret internal detail" in logged["traceback"]
    assert "RuntimeError" in logged["traceback"]


@pytest.mark.parametrize("given", ["", "a b", "x" * 200, "a;Set-Cookie=x", "-leading", "ü"])
def test_an_insane_request_id_is_replaced(client, given):
    answer = client.get("/api/v1/sites/nosuch/rankings", headers={"X-Request-Id": given})
    assert_error(answer, 404)
    assert answer.headers["X-Request-Id"] != given
    assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-Id"])


def test_successful_answers_carry_a_request_id_too(client, site):
    answer = client.get(f"{BASE}/rankings", headers={"X-Request-Id": "abc"})
    assert answer.status_code == 200 and answer.headers["X-Request-Id"] == "abc"


# --- the loader itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'"' + b'\\"' * 30_000,  # an unterminated string of escaped quotes
        b'"' * 60_000,
        b"[" * 60_000,
        b'{"a": "' + b"[" * 60_000,
    ],
)
def test_the_loader_refuses_hostile_bodies_in_linear_time(raw):
    import time

    from service.core.request_input import MalformedJson, load_json

    started = time.perf_counter()
    with pytest.raises(MalformedJson):
        load_json(raw)
    assert time.perf_counter() - started < 1.0


def test_the_loader_counts_only_brackets_outside_strings():
    from service.core.request_input import MAX_JSON_DEPTH, MalformedJson, load_json

    nested = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert load_json(nested.encode()) == json.loads(nested)
    assert load_json(json.dumps({"a": "[" * 1000 + '\\"{'}).encode()) == {"a": "[" * 1000 + '\\"{'}
    with pytest.raises(MalformedJson):
        load_json(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    assert load_json(str(10**39).encode()) == 10**39


def test_a_forged_cursor_is_refused_in_the_sites_language(client, make_site):
    make_site("blog", lang="ja")
    post_comment(client)
    answer = client.get(
        f"{BASE}/comments",
        query_string={"article": "/a", "sort": "oldest", "cursor": cursor_of("oldest")},
    )
    body = assert_error(answer, 422)
    assert body["errors"] == {"cursor": ["ページの位置（cursor）が正しくありません。"]}
