"""Issue 22, items 1 to 3: pinning, the recent-comments list and moderation search, through
the API on SQLite and PostgreSQL, with the hot-read cache kept exact."""

from __future__ import annotations

from typing import Any

from support import walk

from service.core.extensions import db
from service.db.models import Comment

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}


def post(client: Any, body: str, article: str = "/a", **fields: Any) -> dict[str, Any]:
    answer = client.post(
        f"{BASE}/comments", json={"article": article, "body": body, **fields}, headers=ORIGIN
    )
    assert answer.status_code in (201, 202), answer.json
    return answer.json["comment"]


def pin(client: Any, site: Any, comment_id: int, pinned: bool = True) -> Any:
    return client.post(
        f"{BASE}/comments/{comment_id}/pin", json={"pinned": pinned}, headers=site.auth
    )


def ids(page: dict[str, Any]) -> list[int]:
    return [c["id"] for c in page["comments"]]


def read_all(client: Any, sort: str, limit: int, article: str = "/a") -> list[int]:
    """Every top-level id of the thread, page by page with ``next_cursor``."""
    seen: list[int] = []
    cursor = None
    for _ in range(50):
        query = f"{BASE}/comments?article={article}&sort={sort}&limit={limit}"
        page = client.get(query + (f"&cursor={cursor}" if cursor else "")).json
        seen.extend(ids(page))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


# --- pin ----------------------------------------------------------------------------------


def test_a_pinned_comment_leads_every_sort_and_pages_stay_exact(client, site):
    posted = [post(client, f"comment {n}")["id"] for n in range(7)]
    client.post(f"{BASE}/comments/{posted[1]}/like", headers=ORIGIN)
    first = pin(client, site, posted[3])
    assert first.status_code == 200
    assert first.json["comment"]["id"] == posted[3] and first.json["comment"]["pinned"] is True
    assert pin(client, site, posted[5]).json["comment"]["pinned"] is True
    rest_oldest = [i for i in posted if i not in (posted[3], posted[5])]
    expected = {
        "oldest": [posted[5], posted[3], *rest_oldest],
        "newest": [posted[5], posted[3], *reversed(rest_oldest)],
        "top": [posted[5], posted[3], posted[1], *[i for i in rest_oldest if i != posted[1]]],
    }
    for sort, order in expected.items():
        page = client.get(f"{BASE}/comments?article=/a&sort={sort}").json
        assert ids(page) == order, sort
        assert [c["pinned"] for c in page["comments"]] == [True, True] + [False] * 5
        for limit in (1, 2, 3, 4):  # page ends inside the pins, at their end and after
            assert read_all(client, sort, limit) == order, (sort, limit)


def test_unpinning_restores_the_order_and_the_cache_follows(app, client, site):
    posted = [post(client, f"comment {n}")["id"] for n in range(3)]
    url = f"{BASE}/widget?article=/a"
    before = client.get(url)
    assert ids(before.json["comments"]) == posted
    assert client.get(url, headers={"If-None-Match": before.headers["ETag"]}).status_code == 304
    pin(client, site, posted[2])
    pinned = client.get(url, headers={"If-None-Match": before.headers["ETag"]})
    assert pinned.status_code == 200  # the pin moved the thread's version
    assert ids(pinned.json["comments"]) == [posted[2], posted[0], posted[1]]
    assert client.get(url).json == pinned.json  # the hot path agrees
    assert pin(client, site, posted[2], False).json["comment"]["pinned"] is False
    assert ids(client.get(url).json["comments"]) == posted
    with app.app_context():
        assert db.session.get(Comment, posted[2]).pinned_at is None


def test_pinning_twice_keeps_the_first_pin(app, client, site):
    a, b = (post(client, t)["id"] for t in ("a", "b"))
    pin(client, site, a)
    pin(client, site, b)
    pin(client, site, a)  # a retry: b stays the newest pin
    assert ids(client.get(f"{BASE}/comments?article=/a").json) == [b, a]


def test_a_reply_cannot_be_pinned_and_pin_needs_the_token(client, site, make_site):
    top = post(client, "top")["id"]
    reply = post(client, "reply", parent_id=top)["id"]
    refused = pin(client, site, reply)
    assert refused.status_code == 422
    assert (
        refused.json["message"]
        == "返信は固定できません。固定できるのはスレッド直下のコメントだけです。"
    )
    assert "pinned" in refused.json["errors"]
    assert client.post(f"{BASE}/comments/{top}/pin", json={"pinned": True}).status_code == 401
    other = make_site("other")
    assert pin(client, other, top).status_code == 403
    assert pin(client, site, 999999).status_code == 404
    bad = client.post(f"{BASE}/comments/{top}/pin", json={"pinned": "yes"}, headers=site.auth)
    assert bad.status_code == 422
    page = client.get(f"{BASE}/comments?article=/a").json
    assert [c["pinned"] for c in walk(page["comments"])] == [False, False]


# --- recent -------------------------------------------------------------------------------


def test_recent_lists_the_latest_approved_comments_with_plain_excerpts(client, site):
    post(client, "first on a", article="/a", article_title="記事A")
    post(client, "**太字**と[リンク](https://x.example/)と `code` " + "長" * 150, article="/b")
    held = "links " + " ".join(f"https://{c}.example/" for c in "abcd")
    post(client, held, article="/a", email="r@example.org")  # held: not listed
    answer = client.get(f"{BASE}/recent")
    assert answer.status_code == 200 and answer.headers["ETag"]
    comments = answer.json["comments"]
    assert [c["article"] for c in comments] == ["/b", "/a"]
    newest = comments[0]
    assert set(newest) == {
        "id", "article", "article_title", "author", "avatar", "excerpt", "created_at",
    }  # fmt: skip
    assert newest["article_title"] is None and newest["author"] == "名無し"
    assert newest["excerpt"].startswith("太字とリンクと code 長長")
    assert len(newest["excerpt"]) == 100 and newest["excerpt"].endswith("…")
    assert comments[1]["article_title"] == "記事A" and comments[1]["excerpt"] == "first on a"
    assert client.get(f"{BASE}/recent?lang=en").json["comments"][0]["author"] == "Anonymous"
    assert "@" not in answer.get_data(as_text=True)


def test_recent_limit_and_refusals(client, site):
    for n in range(12):
        post(client, f"c{n}", article=f"/p{n % 3}")
    assert len(client.get(f"{BASE}/recent").json["comments"]) == 10
    three = client.get(f"{BASE}/recent?limit=3").json["comments"]
    assert [c["excerpt"] for c in three] == ["c11", "c10", "c9"]
    assert client.get(f"{BASE}/recent?limit=51").status_code == 422
    assert client.get(f"{BASE}/recent?limit=0").status_code == 422
    missing = client.get("/api/v1/sites/nosuch/recent")
    assert missing.status_code == 404 and missing.json["message"]


def test_recent_is_cached_and_follows_every_change(app, client, site):
    from test_caching import answered_hot

    a = post(client, "one")["id"]
    url = f"{BASE}/recent"
    first = client.get(url)
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert answered_hot(app, url)
    client.post(f"{BASE}/comments/{a}/like", headers=ORIGIN)
    assert answered_hot(app, url)  # a like changes nothing the list shows
    b = post(client, "two", article="/other")["id"]
    assert not answered_hot(app, url)
    assert [c["id"] for c in client.get(url).json["comments"]] == [b, a]
    client.post(f"{BASE}/comments/{b}/moderate", json={"action": "delete"}, headers=site.auth)
    assert [c["id"] for c in client.get(url).json["comments"]] == [a]
    assert answered_hot(app, url)


def test_the_widget_carries_the_recent_comments_in_the_same_request(app, client, site):
    from test_caching import answered_hot

    a = post(client, "on a", article="/a")["id"]
    url = f"{BASE}/widget?article=/a&recent=5"
    widget = client.get(url).json
    assert [c["id"] for c in widget["recent"]] == [a]
    assert "recent" not in client.get(f"{BASE}/widget?article=/a").json
    assert answered_hot(app, url)
    b = post(client, "on b", article="/b")["id"]  # another thread: only the recent list moved
    fresh = client.get(url).json
    assert [c["id"] for c in fresh["recent"]] == [b, a]
    client.get(f"{BASE}/widget?article=/a")  # fills the plain widget's entry
    assert answered_hot(app, f"{BASE}/widget?article=/a")
    post(client, "on c", article="/c")
    assert answered_hot(app, f"{BASE}/widget?article=/a")  # the plain widget kept its entry
    clamped = client.get(f"{BASE}/widget?article=/a&recent=51").json["recent"]
    assert [c["id"] for c in clamped] == [
        c["id"] for c in client.get(f"{BASE}/recent").json["comments"]
    ]
    assert len(client.get(f"{BASE}/widget?article=/a&recent=0").json["recent"]) == 1
    for bad in ("x", "-4"):
        assert client.get(f"{BASE}/widget?article=/a&recent={bad}").status_code == 422


# --- search -------------------------------------------------------------------------------


def test_search_finds_words_in_text_author_website_and_article(app, client, site):
    texts = [
        ("経営コンサルタントの視点です", {"author": "山田"}, "/2024/経営/"),
        ("Marketing 100% works", {"website": "https://tanaka.example/"}, "/mk/"),
        ("ただの感想", {"author": "Suzuki"}, "/2024/経営/"),
        ("under_score and 50%", {}, "/x/"),
    ]
    made = [post(client, body, article=article, **extra)["id"] for body, extra, article in texts]

    def found(q: str, status: str = "approved") -> list[int]:
        answer = client.get(f"{BASE}/moderation", query_string={"status": status, "q": q},
                            headers=site.auth)  # fmt: skip
        assert answer.status_code == 200, answer.json
        return [c["id"] for c in answer.json["comments"]]

    assert found("コンサル") == [made[0]]  # inside a Japanese sentence
    assert found("経営") == [made[2], made[0]]  # text or article
    assert found("山田") == [made[0]]
    assert found("TANAKA") == [made[1]]  # website, any case
    assert found("marketing works") == [made[1]]  # every word
    assert found("marketing 感想") == []
    assert found("suzuki　経営") == [made[2]]  # a full-width space separates words too
    assert found("%") == [made[3], made[1]]  # wildcards are plain characters
    assert found("d_r") == []  # "_" is no wildcard: "der" does not match
    assert found("経営", "pending") == []
    assert found("") == list(reversed(made))
    assert found("感想" + " " * 199 + "absent") == [made[2]]  # past 200 characters: cut
    assert found("suzuki\x01経営\u202e") == [made[2]]  # control characters split words


def test_search_pages_with_the_cursor(client, site):
    made = [post(client, f"needle {n}" if n % 2 else f"hay {n}")["id"] for n in range(9)]
    needles = [i for n, i in enumerate(made) if n % 2][::-1]
    seen: list[int] = []
    cursor = None
    while True:
        query = {"status": "approved", "q": "needle", "limit": 3}
        if cursor:
            query["cursor"] = cursor
        page = client.get(f"{BASE}/moderation", query_string=query, headers=site.auth).json
        seen.extend(c["id"] for c in page["comments"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == needles


# --- the embed's lazily loaded part -------------------------------------------------------


def test_the_recent_box_script_is_served_minified_like_embed_js(client):
    import gzip
    from pathlib import Path

    from test_embed_assets import template_literals

    from service.http import embed_assets

    source_path = Path(embed_assets.__file__).parents[2] / "embed" / "recent.js"
    source = source_path.read_text()
    assert [text for level, text in template_literals(source) if level] == []
    expected = embed_assets.minify(source.encode())
    answer = client.get("/embed/recent.js", headers={"Accept-Encoding": "gzip"})
    assert answer.status_code == 200 and answer.headers["Content-Encoding"] == "gzip"
    assert answer.mimetype == "text/javascript"
    assert gzip.decompress(answer.data) == expected
    assert "'最近のコメント'" in expected.decode()
    for _, text in template_literals(source):
        assert text in expected.decode()
    again = client.get(
        "/embed/recent.js",
        headers={"Accept-Encoding": "gzip", "If-None-Match": answer.headers["ETag"]},
    )
    assert again.status_code == 304
    assert client.get("/embed-other.js").status_code == 404
