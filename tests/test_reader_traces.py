"""What a reader or a copied cookie can leave behind: links a reader chose, placeholders
that still point at their author, sessions that outlive sign-out, and answers that vary by
a header without saying so.
"""

from __future__ import annotations

from typing import Any

ORIGIN = "https://blog.example.com"


def post(client: Any, site: Any, article: str, body: str, **fields: Any) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/sites/{site.slug}/comments",
        json={"article": article, "body": body, **fields},
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer.get_json()


def sign_in(client: Any, site: Any) -> None:
    import re

    page = client.get("/admin/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    answer = client.post(
        "/admin/sign-in", data={"csrf": csrf.group(1), "site": site.slug, "token": site.token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)


# --- item 9: the first commenter does not choose the article's link -------------------------


def test_a_foreign_article_url_is_not_used_in_the_feed_or_the_admin(client, site):
    post(client, site, "/posts/1/", "first!", article_url="https://evil.example/phish")
    post(client, site, "/posts/2/", "on the site", article_url=f"{ORIGIN}/posts/2/?ref=x")
    feed = client.get(f"/feeds/{site.slug}.atom").get_data(as_text=True)
    assert "evil.example" not in feed
    assert f"{ORIGIN}/posts/1/#ranklet-comment-" in feed  # the article key on the origin
    assert f"{ORIGIN}/posts/2/?ref=x#ranklet-comment-" in feed
    sign_in(client, site)
    articles = client.get("/admin/articles").get_data(as_text=True)
    assert "evil.example" not in articles
    assert f'href="{ORIGIN}/posts/1/"' in articles
    queue = client.get("/admin/moderation?status=approved").get_data(as_text=True)
    assert "evil.example" not in queue and f'href="{ORIGIN}/posts/1/"' in queue


def test_a_lookalike_host_is_not_an_origin(client, site):
    for url in (
        "https://blog.example.com.evil.example/x",
        "https://blog.example.com@evil.example/x",
        "http://blog.example.com/x",
    ):
        post(client, site, "/x/", "hi", article_url=url)
        feed = client.get(f"/feeds/{site.slug}.atom?article=/x/").get_data(as_text=True)
        assert url not in feed and "evil" not in feed


# --- item 10: placeholders, sessions, Vary ----------------------------------------------


def test_a_deleted_comments_placeholder_carries_nothing_of_its_author(client, site):
    parent = post(
        client, site, "/p/", "to be deleted", author="Hanako", website="https://hanako.example"
    )
    post(client, site, "/p/", "a reply keeps it", parent_id=parent["comment"]["id"])
    liked = client.post(
        f"/api/v1/sites/{site.slug}/comments/{parent['comment']['id']}/like",
        headers={"Origin": ORIGIN},
    )
    assert liked.get_json() == {"likes": 1}
    answer = client.delete(
        f"/api/v1/sites/{site.slug}/comments/{parent['comment']['id']}",
        headers={"Origin": ORIGIN, "X-Edit-Token": parent["edit_token"]},
    )
    assert answer.status_code == 204
    tree = client.get(f"/api/v1/sites/{site.slug}/comments?article=/p/").get_json()
    placeholder = tree["comments"][0]
    assert placeholder["deleted"] is True
    assert placeholder["avatar"] == "" and parent["comment"]["avatar"] != ""
    assert placeholder["author"] == "名無し" and placeholder["website"] is None
    assert placeholder["likes"] == 0 and placeholder["is_author"] is False
    assert placeholder["body_html"] == "" and len(placeholder["replies"]) == 1
    assert "Hanako" not in str(tree) and parent["comment"]["avatar"] not in str(tree)
    # The site's author still sees what was deleted, to restore it.
    queue = client.get(f"/api/v1/sites/{site.slug}/moderation?status=deleted", headers=site.auth)
    kept = queue.get_json()["comments"][0]
    assert kept["author"] == "Hanako" and kept["avatar"] == parent["comment"]["avatar"]


def test_sign_out_ends_the_session_for_every_copy_of_the_cookie(app, client, site):
    sign_in(client, site)
    assert client.get("/admin/moderation").status_code == 200
    cookie = client.get_cookie("ranklet_admin")
    assert cookie is not None
    copy = app.test_client()
    copy.set_cookie("ranklet_admin", cookie.value, domain=cookie.domain)
    assert copy.get("/admin/moderation").status_code == 200  # the copy works while signed in
    page = client.get("/admin/moderation").get_data(as_text=True)
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    assert client.post("/admin/sign-out", data={"csrf": csrf.group(1)}).status_code == 302
    after = copy.get("/admin/moderation")
    assert after.status_code == 302 and after.headers["Location"] == "/admin/"
    # Signing in again gives a new session; the old copy stays dead.
    sign_in(client, site)
    assert client.get("/admin/moderation").status_code == 200
    assert copy.get("/admin/moderation").status_code == 302


def test_answers_chosen_by_accept_language_say_so_in_vary(client, site):
    for path in (
        "/badge/nosuch/consulting.svg",
        "/badge/nosuch/consulting.png",
        "/api/v1/sites/nosuch/comments?article=/x/",
        "/api/v1/nosuch",
    ):
        ja = client.get(path, headers={"Accept-Language": "ja"})
        en = client.get(path, headers={"Accept-Language": "en"})
        assert ja.status_code == en.status_code == 404
        assert ja.data != en.data, path  # the body does depend on the header
        for answer in (ja, en):
            names = [n.strip() for n in answer.headers.get("Vary", "").split(",")]
            assert "Accept-Language" in names, (path, answer.headers)
    # An answer in the site's own language does not vary by the browser's.
    badge = client.get(f"/badge/{site.slug}/nosuch.svg", headers={"Accept-Language": "en"})
    assert badge.status_code == 404
    assert "Accept-Language" not in badge.headers.get("Vary", "")
    signed_out = client.get("/admin/", headers={"Accept-Language": "en"})
    assert "Accept-Language" in signed_out.headers.get("Vary", "")
