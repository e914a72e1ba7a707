"""Issue 22 in the admin: the moderation search box, pinning with one click, and the chat
channels on the settings page (set, kept, removed; never shown back)."""

from __future__ import annotations

import re
from typing import Any

from test_admin import csrf_of, post_form, sign_in, text

from service.core.extensions import db
from service.db.models import Site

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}
LINE = "Zm9vYmFyLWxpbmUtdG9rZW4+/=:U" + "0123456789abcdef" * 2


def post(client: Any, body: str, **fields: Any) -> int:
    answer = client.post(
        f"{BASE}/comments", json={"article": "/a", "body": body, **fields}, headers=ORIGIN
    )
    assert answer.status_code == 201, answer.json
    return int(answer.json["comment"]["id"])


def shown_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<span class="comment-id">#(\d+)</span>', page)]


def test_the_search_box_finds_comments_and_pages_keep_the_words(client, site):
    made = [post(client, f"{'経営' if n % 2 else '雑談'}の話 {n}") for n in range(5)]
    sign_in(client, site)
    page = text(client.get("/admin/moderation?status=approved&q=経営"))
    assert 'role="search"' in page and 'value="経営"' in page
    assert shown_ids(page) == [made[3], made[1]]
    empty = text(client.get("/admin/moderation?status=approved&q=見つからない語"))
    assert shown_ids(empty) == [] and "この条件に合うコメントはありません。" in empty
    assert shown_ids(text(client.get("/admin/moderation?status=approved"))) == made[::-1]


def test_one_click_pins_and_unpins(app, client, site):
    first, second = post(client, "first"), post(client, "second")
    reply = post(client, "reply", parent_id=first)
    sign_in(client, site)
    page = text(client.get("/admin/moderation?status=approved"))
    assert f'name="pin" value="1:{second}"' in page
    assert f'value="1:{reply}"' not in page  # a reply has no pin button
    answer = post_form(
        client, "/admin/moderation", {"pin": f"1:{second}", "status": "approved"},
        "/admin/moderation?status=approved",
    )  # fmt: skip
    assert answer.status_code == 302
    after = text(client.get(answer.headers["Location"]))
    assert "コメントを固定しました。" in after and "固定中" in after
    assert f'name="pin" value="0:{second}"' in after
    thread = client.get(f"{BASE}/comments?article=/a").json["comments"]
    assert [c["id"] for c in thread] == [second, first] and thread[0]["pinned"] is True
    post_form(client, "/admin/moderation", {"pin": f"0:{second}"}, "/admin/moderation")
    assert [c["id"] for c in client.get(f"{BASE}/comments?article=/a").json["comments"]] == [
        first,
        second,
    ]
    bad = post_form(client, "/admin/moderation", {"pin": f"1:{reply}"}, "/admin/moderation")
    assert bad.status_code == 400


def _settings_form(client: Any, **changes: str) -> dict[str, str]:
    page = text(client.get("/admin/settings"))
    data = {
        "csrf": csrf_of(client, "/admin/settings"),
        "name": "blog",
        "origins": "https://blog.example.com",
        "lang": "ja",
        "moderation": "none",
        "rank_events": "best",
        "best_flag_days": "7",
    }
    assert "チャットへの通知" in page
    data.update(changes)
    return data


def test_chat_channels_on_the_settings_page(app, client, site):
    sign_in(client, site)
    saved = client.post("/admin/settings", data=_settings_form(client, notify_line=LINE))
    assert saved.status_code == 302
    page = text(client.get("/admin/settings"))
    assert LINE.split(":")[0] not in page and "U0123456789abcdef" not in page
    assert page.count("設定済み（値は表示されません）") == 1
    assert 'id="notify_line_remove"' in page
    client.post("/admin/settings", data=_settings_form(client))  # empty: kept
    with app.app_context():
        stored = db.session.query(Site).one().chat_encrypted
        assert stored and "U0123456789abcdef" not in stored
    refused = client.post("/admin/settings", data=_settings_form(client, notify_telegram="nope"))
    assert refused.status_code == 422
    body = text(refused)
    assert "<code>BOT_TOKEN:CHAT_ID</code> の形で入力してください" in body
    assert 'value="nope"' not in body
    client.post("/admin/settings", data=_settings_form(client, notify_line_remove="on"))
    assert "設定済み" not in text(client.get("/admin/settings"))
