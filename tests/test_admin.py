"""The admin page (/admin/) through the test client, on SQLite and PostgreSQL.

Sign-in, CSRF on every form, every action and what it stores, headers and cookie flags,
Japanese and English.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from service.admin.pages import ADMIN_CSP
from service.i18n.texts_admin import TEXTS

JA = {key: entry["ja"] for key, entry in TEXTS.items()}
EN = {key: entry["en"] for key, entry in TEXTS.items()}
ARTICLE = "/posts/hello"
ARTICLE_URL = "https://blog.example.com/posts/hello"


# --- helpers --------------------------------------------------------------------------------


def csrf_of(client: Any, path: str = "/admin/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def sign_in(client: Any, site: Any, token: str | None = None) -> Any:
    return client.post(
        "/admin/sign-in",
        data={"csrf": csrf_of(client), "site": site.slug, "token": token or site.token},
    )


def text(answer: Any) -> str:
    return answer.get_data(as_text=True)


def post_form(client: Any, path: str, data: dict[str, Any], page: str | None = None) -> Any:
    """Fill in the CSRF token from the page the form is on, like a browser would."""
    return client.post(path, data={"csrf": csrf_of(client, page or path), **data})


def post_comment(client: Any, site: Any, body: str, **fields: Any) -> int:
    document = {
        "article": ARTICLE,
        "article_title": "Hello",
        "article_url": ARTICLE_URL,
        "author": "Alice",
        "body": body,
        **fields,
    }
    answer = client.post(f"/api/v1/sites/{site.slug}/comments", json=document)
    assert answer.status_code in (201, 202), text(answer)
    return int(answer.get_json()["comment"]["id"])


def public_ids(client: Any, site: Any, article: str = ARTICLE) -> list[int]:
    answer = client.get(f"/api/v1/sites/{site.slug}/comments", query_string={"article": article})
    assert answer.status_code == 200
    found: list[int] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            if not node.get("deleted"):
                found.append(node["id"])
            walk(node["replies"])

    walk(answer.get_json()["comments"])
    return sorted(found)


def status_of(app: Any, comment_id: int) -> str:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        return db.session.get(Comment, comment_id).status


def load_site(app: Any, slug: str = "blog") -> Any:
    from service.core.extensions import db
    from service.db.models import Site

    with app.app_context():
        site = db.session.scalar(select(Site).where(Site.slug == slug))
        db.session.expunge(site)
        return site


def cookie_header(answer: Any) -> str:
    cookies = [v for k, v in answer.headers.items() if k.lower() == "set-cookie"]
    found = [c for c in cookies if c.startswith("ranklet_admin=")]
    assert found, cookies
    return found[-1]


def session_payload(client: Any) -> dict[str, Any]:
    """What Flask's signed (not encrypted) session cookie reveals to whoever holds it."""
    cookie = client.get_cookie("ranklet_admin")
    assert cookie is not None
    value = cookie.value
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return json.loads(zlib.decompress(raw) if compressed else raw)


@pytest.fixture
def held(make_site: Any) -> Any:
    """A site where every reader comment waits for approval."""
    return make_site("blog", moderation="all")


@pytest.fixture
def signed_in(client: Any, held: Any) -> Any:
    answer = sign_in(client, held)
    assert answer.status_code == 302, text(answer)
    return client


# --- signing in -----------------------------------------------------------------------------


def test_sign_in_with_the_site_token(client, held):
    answer = sign_in(client, held)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/moderation"
    page = client.get("/admin/moderation")
    assert page.status_code == 200
    body = text(page)
    assert JA["signed_in"].format(name="blog") in body
    assert "<h1>" + JA["moderation"] + "</h1>" in body
    assert held.token not in body


def test_sign_in_refuses_a_bad_token(client, held, make_site):
    other = make_site("other")
    bad = [
        held.token[:-1] + ("A" if held.token[-1] != "A" else "B"),  # well-formed, wrong
        other.token,  # valid, but another site's
        "not-a-token",
        "",
    ]
    for token in bad:
        answer = client.post(
            "/admin/sign-in",
            data={"csrf": csrf_of(client), "site": held.slug, "token": token},
        )
        assert answer.status_code == 401
        assert JA["bad_sign_in"] in text(answer)
        assert client.get("/admin/moderation").headers["Location"] == "/admin/"
    unknown = client.post(
        "/admin/sign-in", data={"csrf": csrf_of(client), "site": "nope", "token": held.token}
    )
    assert unknown.status_code == 401


def test_the_token_is_never_in_a_url_or_the_cookie(app, client, held):
    from service.core.crypto import token_hash

    urls: list[str] = []
    answer = sign_in(client, held)
    urls.append(answer.headers["Location"])
    for path in ("/admin/moderation", "/admin/articles", "/admin/rankings", "/admin/settings"):
        page = client.get(path)
        assert held.token not in text(page)
        urls += re.findall(r'(?:href|src|action)="([^"]+)"', text(page))
    assert urls
    assert all(held.token not in url for url in urls)
    payload = json.dumps(session_payload(client))
    assert held.token not in payload
    assert token_hash(held.token) not in payload  # only a keyed hash of it
    # a token in a query string is not a way to sign in
    assert client.get(f"/admin/sign-in?site=blog&token={held.token}").status_code == 405
    form = text(app.test_client().get("/admin/"))
    assert '<form method="post" action="/admin/sign-in"' in form
    assert 'type="password"' in form


def test_sign_out_ends_the_session(signed_in):
    answer = post_form(signed_in, "/admin/sign-out", {}, page="/admin/moderation")
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/"
    assert JA["signed_out"] in text(signed_in.get("/admin/"))
    assert signed_in.get("/admin/moderation").headers["Location"] == "/admin/"


def test_an_old_session_expires(signed_in, monkeypatch):
    import service.admin.pages

    now = service.admin.pages.time.time()
    monkeypatch.setattr(service.admin.pages.time, "time", lambda: now + 13 * 3600)
    answer = signed_in.get("/admin/moderation")
    assert answer.headers["Location"] == "/admin/"
    assert JA["session_ended"] in text(signed_in.get("/admin/"))


def test_pages_need_a_session(client, held):
    for path in (
        "/admin/moderation",
        "/admin/articles",
        "/admin/rankings",
        "/admin/settings",
        "/admin/erase",
        "/admin/token",
    ):
        answer = client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"] == "/admin/"
    # a valid CSRF token without a session changes nothing
    answer = client.post(
        "/admin/rankings", data={"csrf": csrf_of(client), "position-consulting": "3"}
    )
    assert answer.status_code == 302
    assert client.get("/api/v1/sites/blog/rankings").get_json()["categories"][0]["entries"] == 0


# --- CSRF -----------------------------------------------------------------------------------


FORMS = {
    "sign-out": ("/admin/sign-out", {}),
    "moderate": ("/admin/moderation", {"action": "approve", "ids": "1"}),
    "moderate-one": ("/admin/moderation", {"one": "approve:1"}),
    "record": ("/admin/rankings", {"position-consulting": "3"}),
    "settings": (
        "/admin/settings",
        {"name": "Changed", "lang": "ja", "moderation": "all", "origins": ""},
    ),
    "erase": ("/admin/erase", {"email": "a@example.com", "step": "confirm", "confirm": "yes"}),
    "rotate": ("/admin/token", {"confirm": "yes"}),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_refuses_a_missing_or_wrong_csrf_token(app, signed_in, held, form):
    comment = post_comment(signed_in, held, "Waiting", email="a@example.com")
    assert comment == 1
    path, data = FORMS[form]
    other = app.test_client()
    foreign = csrf_of(other)  # a real token, but another session's
    for csrf in (None, "", "x" * 43, foreign):
        body = dict(data) if csrf is None else {**data, "csrf": csrf}
        answer = signed_in.post(path, data=body)
        assert answer.status_code == 400, (form, csrf)
        assert JA["csrf_failed"] in text(answer)
        assert answer.headers["Content-Security-Policy"] == ADMIN_CSP
    # nothing happened: still signed in, comment pending, nothing recorded, same name, same token
    assert signed_in.get("/admin/moderation").status_code == 200
    assert status_of(app, comment) == "pending"
    assert signed_in.get("/api/v1/sites/blog/rankings").get_json()["categories"][0]["entries"] == 0
    assert load_site(app).name == "blog"
    assert signed_in.get("/api/v1/sites/blog/moderation", headers=held.auth).status_code == 200


def test_sign_in_refuses_a_missing_csrf_token(client, held):
    csrf_of(client)
    answer = client.post("/admin/sign-in", data={"site": held.slug, "token": held.token})
    assert answer.status_code == 400
    assert JA["csrf_failed"] in text(answer)
    assert client.get("/admin/moderation").status_code == 302


def test_csrf_rejection_page_without_any_session(client, held):
    answer = client.post("/admin/sign-in", data={"csrf": "x", "site": "blog", "token": held.token})
    assert answer.status_code == 400
    assert "<h1>" + JA["error_title"] + "</h1>" in text(answer)


# --- moderation -----------------------------------------------------------------------------


def test_the_queue_lists_pending_comments_first(signed_in, held):
    first = post_comment(signed_in, held, "First **comment**", email="alice@example.com")
    second = post_comment(signed_in, held, "Second one", author="Bob")
    page = text(signed_in.get("/admin/moderation"))
    assert "<strong>comment</strong>" in page  # the stored, sanitized HTML
    assert "alice@example.com" in page  # the author sees private fields
    assert page.index(f"#{second}") < page.index(f"#{first}")  # newest first
    assert f'href="{ARTICLE_URL}"' in page
    assert f'value="approve:{first}"' in page and f'value="spam:{first}"' in page
    assert f'name="ids" value="{first}"' in page
    assert f'{JA["status_pending"]} <span class="count">2</span>' in page
    spam_tab = text(signed_in.get("/admin/moderation?status=spam"))
    assert JA["queue_empty"] in spam_tab


def test_approve_makes_a_comment_public(app, signed_in, held):
    comment = post_comment(signed_in, held, "Please approve me")
    assert public_ids(signed_in, held) == []
    answer = post_form(
        signed_in, "/admin/moderation", {"one": f"approve:{comment}", "status": "pending"}
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/moderation?status=pending"
    assert public_ids(signed_in, held) == [comment]
    page = text(signed_in.get(answer.headers["Location"]))
    assert JA["moderated"].format(n=1, action=JA["done_approve"]) in page
    assert f"#{comment}" not in page  # no longer pending


def test_spam_delete_and_restore(app, signed_in, held):
    comment = post_comment(signed_in, held, "Maybe spam")
    post_form(signed_in, "/admin/moderation", {"one": f"spam:{comment}"})
    assert status_of(app, comment) == "spam"
    assert f"#{comment}" in text(signed_in.get("/admin/moderation?status=spam"))
    post_form(signed_in, "/admin/moderation", {"one": f"approve:{comment}", "status": "spam"})
    assert status_of(app, comment) == "approved"
    post_form(signed_in, "/admin/moderation", {"one": f"delete:{comment}", "status": "approved"})
    assert status_of(app, comment) == "deleted"
    assert public_ids(signed_in, held) == []
    deleted = text(signed_in.get("/admin/moderation?status=deleted"))
    assert f'value="restore:{comment}"' in deleted
    assert "Maybe spam" in deleted  # the moderator still sees what was deleted
    post_form(signed_in, "/admin/moderation", {"one": f"restore:{comment}", "status": "deleted"})
    assert status_of(app, comment) == "approved"
    assert public_ids(signed_in, held) == [comment]


def test_bulk_actions_on_the_selected_comments(app, signed_in, held):
    ids = [post_comment(signed_in, held, f"Comment {n}") for n in range(3)]
    csrf = csrf_of(signed_in, "/admin/moderation")
    answer = signed_in.post(
        "/admin/moderation",
        data={
            "csrf": csrf,
            "action": "approve",
            "ids": [str(ids[0]), str(ids[2])],
            "status": "pending",
        },
    )
    assert answer.status_code == 302
    assert public_ids(signed_in, held) == [ids[0], ids[2]]
    assert status_of(app, ids[1]) == "pending"
    page = text(signed_in.get("/admin/moderation"))
    assert JA["moderated"].format(n=2, action=JA["done_approve"]) in page
    signed_in.post(
        "/admin/moderation", data={"csrf": csrf, "action": "spam", "ids": [str(i) for i in ids]}
    )
    assert [status_of(app, i) for i in ids] == ["spam"] * 3
    nothing = signed_in.post("/admin/moderation", data={"csrf": csrf, "action": "delete"})
    assert nothing.status_code == 302
    assert JA["nothing_selected"] in text(signed_in.get(nothing.headers["Location"]))
    bad = signed_in.post("/admin/moderation", data={"csrf": csrf, "action": "publish", "ids": "1"})
    assert bad.status_code == 400


def test_moderation_cannot_touch_another_sites_comments(app, client, held, make_site):
    other = make_site("other", moderation="all")
    theirs = post_comment(client, other, "Not yours")
    sign_in(client, held)
    post_form(client, "/admin/moderation", {"one": f"approve:{theirs}"})
    assert status_of(app, theirs) == "pending"


# --- comments per article -------------------------------------------------------------------


def test_comments_per_article(app, signed_in, held):
    approved = post_comment(signed_in, held, "Visible")
    post_form(signed_in, "/admin/moderation", {"one": f"approve:{approved}"})
    pending = post_comment(signed_in, held, "Waiting here")
    post_comment(
        signed_in, held, "Elsewhere", article="/posts/other", article_url=None, article_title=None
    )
    listing = text(signed_in.get("/admin/articles"))
    assert "Hello" in listing and "/posts/other" in listing
    assert f'href="{ARTICLE_URL}"' in listing
    assert '<td class="num">1</td>' in listing  # approved on /posts/hello
    assert '<strong class="pending-count">1</strong>' in listing
    link = re.search(r'href="(/admin/articles/\d+)">Hello<', listing)
    assert link
    detail = text(signed_in.get(link.group(1)))
    assert "Visible" in detail and "Waiting here" in detail and "Elsewhere" not in detail
    thread_id = link.group(1).rsplit("/", 1)[1]
    answer = post_form(
        signed_in,
        "/admin/moderation",
        {"one": f"approve:{pending}", "thread": thread_id},
        page=link.group(1),
    )
    assert answer.headers["Location"] == link.group(1)
    assert public_ids(signed_in, held) == [approved, pending]


def test_another_sites_article_is_not_found(client, held, make_site):
    other = make_site("other")
    post_comment(client, other, "Theirs")
    sign_in(client, held)
    answer = client.get("/admin/articles/1")
    assert answer.status_code == 404
    assert JA["not_found"] in text(answer)
    assert "Theirs" not in text(answer)
    assert answer.headers["Content-Type"].startswith("text/html")


# --- rankings -------------------------------------------------------------------------------


def test_record_positions_for_all_categories_at_once(signed_in):
    answer = post_form(
        signed_in,
        "/admin/rankings",
        {"position-consulting": "4", "position-management": "", "position-marketing": "１２"},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/rankings"
    stored = {
        c["key"]: c for c in signed_in.get("/api/v1/sites/blog/rankings").get_json()["categories"]
    }
    assert stored["consulting"]["current"]["position"] == 4
    assert stored["marketing"]["current"]["position"] == 12
    assert stored["management"]["entries"] == 0
    page = text(signed_in.get("/admin/rankings"))
    assert JA["recorded"].format(n=2) in page
    assert '<p class="best">4位（最高順位）</p>' in page
    # the site's version in the URL: a new position is never hidden by a cached chart
    charts = re.findall(r'<img src="/badge/blog/consulting/history.svg\?lang=ja&amp;v=(\d+)"', page)
    assert len(charts) == 1
    assert JA["no_history"] in page  # management
    post_form(signed_in, "/admin/rankings", {"position-consulting": "7"})
    page = text(signed_in.get("/admin/rankings"))
    assert '<p class="best">4位（最高順位）</p>' in page
    assert '<td data-label="現在">7位</td>' in page
    assert f"history.svg?lang=ja&amp;v={charts[0]}" not in page
    chart = signed_in.get("/badge/blog/consulting/history.svg")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml"


def test_record_with_an_observation_time(signed_in):
    post_form(
        signed_in,
        "/admin/rankings",
        {"position-consulting": "9", "observed_at": "2024-03-01T09:00:00+09:00"},
    )
    current = signed_in.get("/api/v1/sites/blog/rankings").get_json()["categories"][0]["current"]
    assert current == {"position": 9, "observed_at": "2024-03-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"position-consulting": "0"}, "position_invalid"),
        ({"position-consulting": "1000001"}, "position_invalid"),
        ({"position-consulting": "abc", "position-marketing": "3"}, "position_invalid"),
        ({"position-consulting": "-3"}, "position_invalid"),
        ({"position-consulting": "3", "observed_at": "3月1日の朝"}, "observed_at_invalid"),
        (
            {"position-consulting": "3", "observed_at": "2999-01-01T00:00:00Z"},
            "observed_at_invalid",
        ),
        ({"position-consulting": ""}, "nothing_to_record"),
    ],
)
def test_record_shows_validation_errors_and_stores_nothing(signed_in, fields, message):
    answer = post_form(signed_in, "/admin/rankings", fields)
    assert answer.status_code == 422
    page = text(answer)
    assert JA[message] in page
    assert 'aria-invalid="true"' in page or message == "nothing_to_record"
    for value in fields.values():
        if value:
            assert f'value="{value}"' in page  # what was typed is kept
    for item in signed_in.get("/api/v1/sites/blog/rankings").get_json()["categories"]:
        assert item["entries"] == 0


# --- settings -------------------------------------------------------------------------------


SETTINGS = {
    "name": "My Blog",
    "origins": "https://blog.example.com\r\nhttps://www.example.com/\r\n",
    "lang": "en",
    "moderation": "none",
    "webhook_url": "",
    "notify_email": "me@example.com",
    "banned_words": "Casino\nfree money\n",
}


def test_settings_are_stored(app, signed_in):
    page = text(signed_in.get("/admin/settings"))
    assert 'value="blog"' in page and "https://blog.example.com</textarea>" in page
    answer = post_form(signed_in, "/admin/settings", SETTINGS)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/settings"
    from service.core.crypto import decrypt

    with app.app_context():
        site = load_site(app)
        assert site.name == "My Blog"
        assert site.origins == ["https://blog.example.com", "https://www.example.com"]
        assert site.lang == "en"
        assert site.moderation == "none"
        assert site.webhook_url is None
        assert decrypt(site.notify_email_encrypted) == "me@example.com"
        assert site.notify_pending is False  # the box was not ticked
        assert site.banned_words == ["casino", "free money"]
    shown = text(signed_in.get("/admin/settings"))
    assert JA["saved"] in shown  # the session keeps the language it showed
    assert 'value="me@example.com"' in shown and "casino\nfree money</textarea>" in shown
    post_form(signed_in, "/admin/settings", {**SETTINGS, "notify_pending": "on"})
    assert load_site(app).notify_pending is True


def test_settings_errors_are_shown_and_nothing_is_stored(app, signed_in):
    answer = post_form(
        signed_in,
        "/admin/settings",
        {**SETTINGS, "origins": "ftp://nope", "notify_email": "not-an-address", "name": " "},
    )
    assert answer.status_code == 422
    page = text(answer)
    for key in ("invalid_origins", "invalid_notify_email", "invalid_name"):
        assert JA[key] in page
    assert page.count('aria-invalid="true"') == 3
    site = load_site(app)
    assert site.name == "blog" and site.origins == ["https://blog.example.com"]


def test_a_new_webhook_shows_its_secret_once(app, signed_in):
    from service.core.crypto import decrypt

    answer = post_form(
        signed_in, "/admin/settings", {**SETTINGS, "webhook_url": "https://hooks.example.com/r"}
    )
    assert answer.status_code == 302
    page = text(signed_in.get("/admin/settings"))
    secret = re.search(r'<code class="secret" id="webhook-secret">([^<]+)</code>', page)
    assert secret
    with app.app_context():
        assert decrypt(load_site(app).webhook_secret_encrypted) == secret.group(1)
    assert secret.group(1) not in json.dumps(session_payload(signed_in))
    assert secret.group(1) not in text(signed_in.get("/admin/settings"))  # once only
    # saving the same URL again keeps the secret; a different URL gets a new one
    post_form(
        signed_in, "/admin/settings", {**SETTINGS, "webhook_url": "https://hooks.example.com/r"}
    )
    assert 'id="webhook-secret"' not in text(signed_in.get("/admin/settings"))
    post_form(
        signed_in, "/admin/settings", {**SETTINGS, "webhook_url": "https://hooks.example.com/s"}
    )
    again = re.search(r'id="webhook-secret">([^<]+)<', text(signed_in.get("/admin/settings")))
    assert again and again.group(1) != secret.group(1)


# --- erasure --------------------------------------------------------------------------------


def test_erase_a_commenters_data_after_confirmation(app, signed_in, held):
    mine = [
        post_comment(signed_in, held, f"Mine {n}", email="Erase.Me@example.com") for n in range(2)
    ]
    other = post_comment(signed_in, held, "Someone else", email="keep@example.com")
    for comment in (*mine, other):
        post_form(signed_in, "/admin/moderation", {"one": f"approve:{comment}"})
    ask = post_form(signed_in, "/admin/erase", {"email": "erase.me@example.com"})
    assert ask.status_code == 200
    assert JA["erase_confirm"].format(n=2, email="erase.me@example.com") in text(ask)
    assert public_ids(signed_in, held) == sorted([*mine, other])  # nothing yet
    unconfirmed = post_form(
        signed_in, "/admin/erase", {"email": "erase.me@example.com", "step": "confirm"}
    )
    assert unconfirmed.status_code == 422
    assert JA["must_confirm"] in text(unconfirmed)
    assert public_ids(signed_in, held) == sorted([*mine, other])
    done = post_form(
        signed_in,
        "/admin/erase",
        {"email": "erase.me@example.com", "step": "confirm", "confirm": "yes"},
    )
    assert done.status_code == 302
    assert done.headers["Location"] == "/admin/erase"
    assert JA["erased"].format(n=2) in text(signed_in.get("/admin/erase"))
    assert public_ids(signed_in, held) == [other]
    listing = signed_in.get("/api/v1/sites/blog/moderation?status=deleted", headers=held.auth)
    assert "erase.me@example.com" not in listing.get_data(as_text=True).lower()
    invalid = post_form(signed_in, "/admin/erase", {"email": "nope"})
    assert invalid.status_code == 422 and JA["invalid_email"] in text(invalid)


# --- token rotation -------------------------------------------------------------------------


def test_rotate_the_token(app, signed_in, held):
    second = app.test_client()
    assert sign_in(second, held).status_code == 302  # another browser, signed in before
    refused = post_form(signed_in, "/admin/token", {})
    assert refused.status_code == 422 and JA["must_confirm"] in text(refused)
    answer = post_form(signed_in, "/admin/token", {"confirm": "yes"})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/admin/token"
    page = text(signed_in.get("/admin/token"))
    assert JA["rotated"] in page
    new = re.search(r'<code class="secret" id="new-token">([^<]+)</code>', page)
    assert new and new.group(1) != held.token
    token = new.group(1)
    assert token not in json.dumps(session_payload(signed_in))
    assert token not in text(signed_in.get("/admin/token"))  # shown once
    # the new token works, the old one does not
    rankings = "/api/v1/sites/blog/rankings"
    body = {"positions": {"consulting": 2}}
    assert (
        signed_in.post(
            rankings, json=body, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert signed_in.post(rankings, json=body, headers=held.auth).status_code == 401
    # this session continues; the other browser's session ended
    assert signed_in.get("/admin/moderation").status_code == 200
    ended = second.get("/admin/moderation")
    assert ended.headers["Location"] == "/admin/"
    assert JA["session_ended"] in text(second.get("/admin/"))
    assert sign_in(second, held).status_code == 401
    assert sign_in(second, held, token).status_code == 302


# --- headers, cookies, languages ------------------------------------------------------------


def test_every_admin_page_has_the_strict_csp(signed_in, held):
    post_comment(signed_in, held, "x")
    for path in (
        "/admin/moderation",
        "/admin/moderation?status=deleted",
        "/admin/articles",
        "/admin/articles/1",
        "/admin/rankings",
        "/admin/settings",
        "/admin/erase",
        "/admin/token",
        "/admin/articles/999",
    ):
        answer = signed_in.get(path)
        assert answer.headers["Content-Security-Policy"] == ADMIN_CSP, path
        assert answer.headers["Cache-Control"] == "no-store"
        body = text(answer)
        assert "<script" not in body and ' style="' not in body, path  # the CSP allows neither
        assert '<a class="skip" href="#main">' in body and '<main id="main"' in body
    with signed_in.get("/static/admin.css") as sheet:
        assert sheet.status_code == 200
        assert ":focus-visible" in sheet.get_data(as_text=True)


def test_the_sign_in_page_headers_and_cookie_flags(client):
    answer = client.get("/admin/")
    assert answer.headers["Content-Security-Policy"] == ADMIN_CSP
    cookie = cookie_header(answer)
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain-HTTP public URL (a local install)


def test_secure_cookie_behind_https(app_config, client):
    from service import create_app
    from service.core.extensions import db

    https_app = create_app({**app_config, "PUBLIC_URL": "https://comments.example.com"})
    with https_app.app_context():
        db.create_all()
    try:
        cookie = cookie_header(https_app.test_client().get("/admin/"))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    finally:
        with https_app.app_context():
            db.session.remove()
            db.engine.dispose()
    # an HTTPS request to a plain-HTTP configuration gets a Secure cookie too
    direct = client.get("/admin/", base_url="https://localhost")
    assert "Secure" in cookie_header(direct)


def test_japanese_by_default_english_on_request(client, held):
    page = text(client.get("/admin/"))
    assert '<html lang="ja">' in page and JA["sign_in"] in page
    english = text(client.get("/admin/", headers={"Accept-Language": "en-US,en;q=0.8"}))
    assert '<html lang="en">' in english
    sign_in(client, held)
    assert '<html lang="ja">' in text(client.get("/admin/moderation"))  # the site's language
    switched = text(client.get("/admin/moderation?lang=en"))
    assert '<html lang="en">' in switched
    assert f"<h1>{EN['moderation']}</h1>" in switched and EN["status_pending"] in switched
    remembered = text(client.get("/admin/rankings"))
    assert f"<h1>{EN['rankings']}</h1>" in remembered and EN["best_rank"] in remembered
    assert '<img src="/badge/blog/consulting/history.svg?lang=en&amp;v=' in remembered
    back = text(client.get("/admin/settings?lang=ja"))
    assert f"<h1>{JA['settings']}</h1>" in back
    assert 'href="/admin/settings?lang=en"' in back


def test_an_english_site_defaults_to_english(client, make_site):
    english = make_site("en-blog", lang="en")
    sign_in(client, english)
    page = text(client.get("/admin/moderation"))
    assert '<html lang="en">' in page
    assert EN["signed_in"].format(name="en-blog") in page
    assert EN["queue_empty"] in page


def test_both_languages_have_every_string():
    assert set(JA) == set(EN)
    for key in JA:
        assert JA[key] and EN[key], key
        assert sorted(re.findall(r"{\w+}", JA[key])) == sorted(re.findall(r"{\w+}", EN[key])), key


# --- times in the site's time zone --------------------------------------------------------------


def _set_created_at(app: Any, comment_id: int, moment: datetime) -> None:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        comment = db.session.get(Comment, comment_id)
        assert comment is not None
        comment.created_at = moment
        db.session.commit()


def test_times_are_shown_in_the_sites_time_zone(app, signed_in, held):
    comment_id = post_comment(signed_in, held, "いつ書いた？")
    _set_created_at(app, comment_id, datetime(2026, 11, 20, 23, 30, tzinfo=UTC))
    page = text(signed_in.get("/admin/moderation"))
    # A ja site without a zone of its own: Asia/Tokyo, nine hours ahead of the stored UTC.
    assert '<time datetime="2026-11-20T23:30:00+00:00">2026-11-21 08:30 JST</time>' in page
    answer = post_form(
        signed_in, "/admin/settings", {**SETTINGS, "lang": "ja", "timezone": "Europe/London"}
    )
    assert answer.status_code == 302
    assert load_site(app).timezone == "Europe/London"
    page = text(signed_in.get("/admin/moderation"))
    assert ">2026-11-20 23:30 GMT</time>" in page
    # API times stay UTC.
    mine = signed_in.get(f"/api/v1/sites/blog/comments?article={ARTICLE}", headers=held.auth)
    assert "JST" not in text(mine) and "+09:00" not in text(mine)


def test_a_time_of_year_one_is_shown_in_utc_west_of_utc(app, signed_in, held):
    """0001-01-01T00:00Z has no date on a clock west of UTC (year 0): the page shows it in
    UTC, zone named, rather than failing (it was a 500)."""
    answer = post_form(signed_in, "/admin/settings", {**SETTINGS, "timezone": "America/New_York"})
    assert answer.status_code == 302
    recorded = signed_in.post(
        "/api/v1/sites/blog/rankings",
        json={"positions": {"consulting": 3}, "observed_at": "0001-01-01T00:00:00Z"},
        headers=held.auth,
    )
    assert recorded.status_code == 200, text(recorded)
    page = signed_in.get("/admin/rankings")
    assert page.status_code == 200, text(page)
    assert "0001-01-01 00:00 UTC" in text(page)


def test_a_time_typed_without_a_zone_is_the_sites_local_time(app, signed_in):
    """The API refuses a zone-less time; the blogger at the admin means the site's clock."""
    page = text(signed_in.get("/admin/rankings"))
    assert "2026-01-05T09:00（Asia/Tokyo の時刻として記録します）" in page
    answer = post_form(
        signed_in,
        "/admin/rankings",
        {"position-consulting": "3", "observed_at": "2026-01-05T09:00"},
    )
    assert answer.status_code == 302
    best = signed_in.get("/api/v1/sites/blog/rankings").get_json()["categories"][0]["best"]
    assert best == {"position": 3, "observed_at": "2026-01-05T00:00:00Z"}
    page = text(signed_in.get("/admin/rankings"))
    assert "2026-01-05 09:00 JST" in page
    # The chart under it ends on the same (Tokyo) day as the admin's text says.
    post_form(
        signed_in,
        "/admin/rankings",
        {"position-consulting": "2", "observed_at": "2026-01-06T05:00"},
    )
    chart = text(signed_in.get("/badge/blog/consulting/history.svg"))
    assert ">2026-01-05</text>" in chart and ">2026-01-06</text>" in chart


def test_the_settings_page_shows_the_zone_and_refuses_a_wrong_one(app, signed_in):
    page = text(signed_in.get("/admin/settings"))
    assert 'name="timezone" type="text"' in page and 'placeholder="Asia/Tokyo"' in page
    assert JA["timezone_hint"] in page
    answer = post_form(signed_in, "/admin/settings", {**SETTINGS, "timezone": "Tokyo"})
    assert answer.status_code == 422
    refused = text(answer)
    assert JA["invalid_timezone"] in refused
    assert refused.count('aria-invalid="true"') == 1
    assert load_site(app).timezone is None and load_site(app).lang == "ja"
