"""The spam guards in the admin: the score and the features that weighed most on each card,
"block this commenter" in one click, the spam settings, and the block list."""

from __future__ import annotations

from test_admin import post_form, sign_in, text
from test_spam import BASE, _post, _train

from service.core.extensions import db
from service.db.models import Comment, SpamBlock
from service.sites.settings import get_site


def test_the_spam_tab_shows_why_and_is_one_click_from_publication(app, client, site):
    _train(client, site, ham=22, spam=21)
    held = _post(client, "Cheap viagra pills, order at https://pills9.example.top", 202)
    held_id = held.get_json()["comment"]["id"]
    assert sign_in(client, site).status_code == 302
    page = text(client.get("/admin/moderation?status=spam"))
    assert "スパムスコア" in page and "判定の決め手" in page
    card = page[page.index(f'id="c{held_id}-who"') :]
    card = card[: card.index("</article>")]
    assert 'class="tag tag-feature"' in card
    assert "viagra" in card or "example.top" in card or "pills" in card
    assert f'value="approve:{held_id}"' in page and f'value="block:{held_id}"' in page
    answer = post_form(
        client,
        "/admin/moderation",
        {"one": f"approve:{held_id}", "status": "spam"},
        "/admin/moderation?status=spam",
    )
    assert answer.status_code == 302
    public = client.get(f"{BASE}/comments?article=/post/1&limit=200").get_json()
    assert held_id in [c["id"] for c in public["comments"]]


def test_block_from_the_admin_then_unblock_from_settings(app, client, site):
    reader = {"REMOTE_ADDR": "192.0.2.44"}
    first = _post(client, "hi", 201, author="Troll", environ_base=reader).get_json()
    assert sign_in(client, site).status_code == 302
    answer = post_form(
        client,
        "/admin/moderation",
        {"one": f"block:{first['comment']['id']}", "status": "approved"},
        "/admin/moderation?status=approved",
    )
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(Comment, first["comment"]["id"]).status == "spam"
        [block] = db.session.query(SpamBlock).all()
        assert block.kind == "client" and block.note == f"Troll #{first['comment']['id']}"
        assert "192.0.2.44" not in block.digest
        block_id = block.id
    assert _post(client, "again", 202, environ_base=reader).get_json()["status"] == "pending"
    settings = text(client.get("/admin/settings"))
    assert "ブロック中の投稿者" in settings and f"Troll #{first['comment']['id']}" in settings
    answer = post_form(client, f"/admin/blocks/{block_id}/delete", {}, "/admin/settings")
    assert answer.status_code == 302
    assert "ブロック中の投稿者はいません" in text(client.get("/admin/settings"))
    assert _post(client, "forgiven", 201, environ_base=reader).get_json()["status"] == "approved"


SETTINGS = {
    "name": "blog",
    "origins": "https://blog.example.com",
    "lang": "ja",
    "moderation": "none",
    "webhook_url": "",
    "notify_email": "",
    "banned_words": "",
}


def test_spam_settings_are_saved_and_unsafe_patterns_refused(app, client, site):
    assert sign_in(client, site).status_code == 302
    good = {
        **SETTINGS,
        "spam_patterns": "bit\\.ly/\r\nLINE\\s*ID",
        "spam_threshold": "0.95",
        "challenge": "pow",
    }
    assert post_form(client, "/admin/settings", good).status_code == 302
    with app.app_context():
        stored = get_site("blog")
        assert stored.spam_patterns == ["bit\\.ly/", "LINE\\s*ID"]
        assert stored.spam_threshold == 0.95 and stored.challenge == "pow"
    for field, value in (("spam_patterns", "(a+)+$"), ("spam_threshold", "2")):
        refused = post_form(client, "/admin/settings", {**good, field: value})
        assert refused.status_code == 422
        assert f'id="{field}-error"' in text(refused)
    with app.app_context():
        assert get_site("blog").spam_patterns == ["bit\\.ly/", "LINE\\s*ID"]
