"""Moderation rules that span erasure and bulk actions."""

from __future__ import annotations

from service.comments.erasure import erase_email
from service.core.extensions import db
from service.db.models import Comment
from service.sites.settings import get_site

ORIGIN = {"Origin": "https://blog.example.com"}


def _post(client, site, body, email=None):
    data = {"article": "/a", "body": body}
    if email:
        data["email"] = email
    answer = client.post(f"/api/v1/sites/{site.slug}/comments", json=data, headers=ORIGIN)
    assert answer.status_code == 201, answer.json
    return answer.json["comment"]["id"]


def test_an_erased_comment_cannot_be_restored(app, client, site):
    erased = _post(client, site, "mine", "reader@example.org")
    with app.app_context():
        assert erase_email(get_site(site.slug), "reader@example.org") == 1
    for action in ("restore", "approve"):
        answer = client.post(
            f"/api/v1/sites/{site.slug}/comments/{erased}/moderate",
            json={"action": action},
            headers=site.auth,
        )
        assert answer.status_code == 422
        assert answer.json["message"] == "消去されたコメントは承認・復元できません。"
    page = client.get(f"/api/v1/sites/{site.slug}/comments?article=/a").json
    assert page["total"] == 0 and page["comments"] == []


def test_bulk_moderation_is_all_or_nothing(app, client, site):
    from service.comments import moderation

    kept = _post(client, site, "kept")
    erased = _post(client, site, "gone", "reader@example.org")
    with app.app_context():
        owner = get_site(site.slug)
        erase_email(owner, "reader@example.org")
        moderation.moderate(db.session.get(Comment, kept), "spam")
        both = [db.session.get(Comment, kept), db.session.get(Comment, erased)]
        try:
            moderation.moderate_many(both, "restore")
        except moderation.ErasedComment:
            pass
        else:
            raise AssertionError("restoring an erased comment must fail")
        assert db.session.get(Comment, kept).status == "spam"
        assert db.session.get(Comment, erased).status == "deleted"
