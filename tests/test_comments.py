"""Contract §4, comments: every row and rule through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from support import walk

BASE = "/api/v1/sites/blog"
ORIGIN = "https://blog.example.com"
PUBLIC_FIELDS = {
    "id",
    "parent_id",
    "author",
    "website",
    "avatar",
    "body_html",
    "created_at",
    "edited_at",
    "likes",
    "is_author",
    "pinned",
    "deleted",
    "replies",
}
PRIVATE_FIELDS = (PUBLIC_FIELDS - {"replies"}) | {
    "email",
    "status",
    "article",
    "notify",
    "spam_score",
    "spam_features",
}


# --- helpers ------------------------------------------------------------------------------


def post(client: Any, body: dict[str, Any], headers: dict[str, str] | None = None, **kw: Any):
    return client.post(f"{BASE}/comments", json=body, headers=headers or {}, **kw)


def comment(
    client: Any, text: str = "Hello", article: str = "/post/1", expect: int = 201, **fields: Any
) -> dict[str, Any]:
    """Post and check the status; returns the whole answer."""
    headers = fields.pop("headers", None)
    environ = fields.pop("environ_base", {})
    answer = post(
        client, {"article": article, "body": text, **fields}, headers, environ_base=environ
    )
    assert answer.status_code == expect, answer.get_data(as_text=True)
    return answer.get_json()


def page(client: Any, article: str = "/post/1", **query: Any) -> dict[str, Any]:
    answer = client.get(f"{BASE}/comments", query_string={"article": article, **query})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    document = answer.get_json()
    assert set(document) == {"article", "total", "comments", "next_cursor"}
    assert document["article"] == article
    return document


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def counts(client: Any, *articles: str) -> dict[str, int]:
    answer = client.get(f"{BASE}/counts", query_string=[("article", a) for a in articles])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["counts"]


def assert_error(answer: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert isinstance(body["message"], str) and body["message"].strip()
    if field is not None:
        assert field in body["errors"], body
    return body


def stored_comments(app: Any) -> int:
    from service.core.extensions import db
    from service.db.models import Comment

    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Comment)))


def moderation(client: Any, site: Any, **query: Any) -> dict[str, Any]:
    answer = client.get(f"{BASE}/moderation", query_string=query, headers=site.auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def moderate(client: Any, site: Any, comment_id: int, action: str) -> dict[str, Any]:
    answer = client.post(
        f"{BASE}/comments/{comment_id}/moderate", json={"action": action}, headers=site.auth
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()["comment"]


def like(client: Any, comment_id: int, address: str = "198.51.100.1", **kw: Any) -> Any:
    return client.post(
        f"{BASE}/comments/{comment_id}/like", environ_base={"REMOTE_ADDR": address}, **kw
    )


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def update_site(app: Any, **settings: Any) -> None:
    from service.sites.settings import SiteSettings, get_site, update_site

    with app.app_context():
        update_site(get_site("blog"), SiteSettings(**settings))


# --- POST comments ------------------------------------------------------------------------


def test_post_answers_201_with_the_comment_its_status_and_an_edit_token(client, site):
    answer = comment(
        client,
        "Hello *world*",
        author="  Hanako  ",
        email="hanako@example.org",
        website="https://hanako.example/",
    )
    assert set(answer) == {"comment", "status", "edit_token", "editable_until"}
    assert answer["status"] == "approved"
    assert isinstance(answer["edit_token"], str) and len(answer["edit_token"]) >= 22
    posted = answer["comment"]
    assert set(posted) == PUBLIC_FIELDS
    assert isinstance(posted["id"], int)
    assert posted["parent_id"] is None
    assert posted["author"] == "Hanako"
    assert posted["website"] == "https://hanako.example/"
    assert posted["body_html"] == "<p>Hello <em>world</em></p>\n"
    assert posted["edited_at"] is None
    assert posted["likes"] == 0
    assert posted["is_author"] is False
    assert posted["deleted"] is False
    assert posted["replies"] == []
    assert isinstance(posted["avatar"], str) and posted["avatar"]
    created = parse_time(posted["created_at"])
    assert parse_time(answer["editable_until"]) - created == timedelta(seconds=900)

    document = page(client)
    assert document["total"] == 1
    assert document["next_cursor"] is None
    assert document["comments"] == [posted]


def test_moderation_all_answers_202_pending_and_hides_the_comment(client, make_site, app):
    site = make_site("blog", moderation="all")
    answer = comment(client, "Wait for me", expect=202)
    assert answer["status"] == "pending"
    assert set(answer) == {"comment", "status", "edit_token", "editable_until"}
    assert answer["comment"]["body_html"] == "<p>Wait for me</p>\n"
    assert page(client) == {"article": "/post/1", "total": 0, "comments": [], "next_cursor": None}
    assert counts(client, "/post/1") == {"/post/1": 0}
    queue = moderation(client, site)["comments"]
    assert [(c["id"], c["status"]) for c in queue] == [(answer["comment"]["id"], "pending")]
    assert stored_comments(app) == 1


def test_the_site_token_posts_as_the_author_approved_even_under_moderation(client, make_site):
    site = make_site("blog", moderation="all")
    answer = comment(client, "Thanks for reading", headers=site.auth)
    assert answer["status"] == "approved"
    assert answer["comment"]["is_author"] is True
    reader = comment(client, "A reader", expect=202)
    assert reader["comment"]["is_author"] is False
    document = page(client)
    assert document["total"] == 1
    assert [(c["body_html"], c["is_author"]) for c in document["comments"]] == [
        ("<p>Thanks for reading</p>\n", True)
    ]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer rk_" + "A" * 43,  # well-formed but unknown
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "",
    ],
)
def test_a_bad_token_is_a_401_and_stores_nothing(client, site, app, header):
    answer = post(client, {"article": "/post/1", "body": "x"}, {"Authorization": header})
    assert_error(answer, 401)
    assert stored_comments(app) == 0
    assert page(client)["total"] == 0


def test_another_sites_token_is_a_403_and_stores_nothing(client, site, make_site, app):
    other = make_site("other")
    assert_error(post(client, {"article": "/post/1", "body": "x"}, other.auth), 403)
    assert stored_comments(app) == 0


def test_unknown_site_is_a_json_404(client, site):
    body = assert_error(
        client.post("/api/v1/sites/nosuch/comments", json={"article": "/a", "body": "x"}), 404
    )
    assert "nosuch" in body["message"]
    assert_error(client.get("/api/v1/sites/nosuch/comments?article=/a"), 404)


# --- the public representation ------------------------------------------------------------


def test_the_public_representation_has_exactly_the_public_fields(client, site):
    comment(client, "Top", email="private@example.org", notify=True, author="A")
    top = page(client)["comments"][0]
    comment(client, "Reply", parent_id=top["id"], email="other@example.org")
    document = page(client)
    for node in walk(document["comments"]):
        assert set(node) == PUBLIC_FIELDS
        assert "email" not in node and "status" not in node and "article" not in node
    text = str(document)
    assert "example.org" not in text
    assert "approved" not in text


@pytest.mark.parametrize(("lang", "anonymous"), [("ja", "名無し"), ("en", "Anonymous")])
def test_author_falls_back_to_the_sites_anonymous_name(client, make_site, lang, anonymous):
    make_site("blog", lang=lang)
    assert comment(client, "x")["comment"]["author"] == anonymous
    assert comment(client, "y", author="   ")["comment"]["author"] == anonymous
    assert comment(client, "z", author=None)["comment"]["author"] == anonymous
    assert [c["author"] for c in page(client)["comments"]] == [anonymous] * 3


def test_lang_query_chooses_the_anonymous_name(client, site):
    comment(client, "x")
    assert page(client, lang="en")["comments"][0]["author"] == "Anonymous"
    assert page(client, lang="ja")["comments"][0]["author"] == "名無し"


def test_avatar_is_stable_per_commenter_and_not_a_plain_hash(client, site):
    import hashlib

    first = comment(client, "a", email="Same@Example.org")["comment"]["avatar"]
    second = comment(client, "b", email="same@example.org")["comment"]["avatar"]
    other = comment(client, "c", email="other@example.org")["comment"]["avatar"]
    assert first == second != other
    for plain in ("same@example.org", "Same@Example.org"):
        for algorithm in ("md5", "sha1", "sha256"):
            assert first not in hashlib.new(algorithm, plain.encode()).hexdigest()


# --- replies ------------------------------------------------------------------------------


def test_replies_nest_to_level_5_and_a_deeper_reply_lands_at_level_5(client, site):
    chain = [comment(client, "level 1")["comment"]["id"]]
    for level in range(2, 6):
        answer = comment(client, f"level {level}", parent_id=chain[-1])
        assert answer["comment"]["parent_id"] == chain[-1]
        chain.append(answer["comment"]["id"])
    # A reply to the level-5 comment attaches to that comment's parent (level 4).
    sixth = comment(client, "reply to level 5", parent_id=chain[4])["comment"]
    assert sixth["parent_id"] == chain[3]
    # And a reply to that one (also at level 5) attaches to level 4 as well.
    seventh = comment(client, "reply to the reply", parent_id=sixth["id"])["comment"]
    assert seventh["parent_id"] == chain[3]

    document = page(client)
    assert document["total"] == 7
    assert len(document["comments"]) == 1
    node = document["comments"][0]
    for level in range(1, 5):
        assert node["id"] == chain[level - 1]
        assert node["body_html"] == f"<p>level {level}</p>\n"
        if level < 4:
            assert ids(node["replies"]) == [chain[level]]
            node = node["replies"][0]
    # Level 4 holds the level-5 comment and both re-attached replies, oldest first.
    assert ids(node["replies"]) == [chain[4], sixth["id"], seventh["id"]]
    assert all(reply["replies"] == [] for reply in node["replies"])


def test_replies_come_with_their_top_level_comment_oldest_first(client, site):
    top = comment(client, "top")["comment"]["id"]
    other = comment(client, "other top")["comment"]["id"]
    first = comment(client, "r1", parent_id=top)["comment"]["id"]
    second = comment(client, "r2", parent_id=top)["comment"]["id"]
    nested = comment(client, "r1.1", parent_id=first)["comment"]["id"]
    tops = page(client)["comments"]
    assert ids(tops) == [top, other]
    assert ids(tops[0]["replies"]) == [first, second]
    assert ids(tops[0]["replies"][0]["replies"]) == [nested]
    assert tops[0]["replies"][0]["replies"][0]["parent_id"] == first
    assert tops[1]["replies"] == []


@pytest.mark.parametrize("where", ["other article", "unknown", "other site"])
def test_parent_must_be_a_comment_of_the_same_thread(client, site, make_site, app, where):
    make_site("other")
    if where == "other article":
        parent = comment(client, "elsewhere", article="/post/2")["comment"]["id"]
    elif where == "other site":
        answer = client.post(
            "/api/v1/sites/other/comments", json={"article": "/post/1", "body": "other site"}
        )
        assert answer.status_code == 201
        parent = answer.get_json()["comment"]["id"]
    else:
        parent = 999_999
    before = stored_comments(app)
    answer = post(client, {"article": "/post/1", "body": "reply", "parent_id": parent})
    assert_error(answer, 422, "parent_id")
    assert stored_comments(app) == before
    assert page(client)["total"] == 0


def test_parent_id_must_be_a_positive_integer(client, site, app):
    for bad in ("1", 1.5, 0, -3, True):
        answer = post(client, {"article": "/post/1", "body": "x", "parent_id": bad})
        assert_error(answer, 422, "parent_id")
    assert stored_comments(app) == 0


# --- deleted comments ---------------------------------------------------------------------


def test_a_deleted_comment_with_replies_stays_as_a_placeholder(client, site):
    top = comment(client, "top", author="Taro", website="https://taro.example/")
    reply = comment(client, "reply", parent_id=top["comment"]["id"])["comment"]
    answer = client.delete(f"{BASE}/comments/{top['comment']['id']}", headers=site.auth)
    assert answer.status_code == 204
    assert answer.data == b""

    document = page(client)
    assert document["total"] == 1  # the reply; the placeholder is not counted
    assert counts(client, "/post/1") == {"/post/1": 1}
    [placeholder] = document["comments"]
    assert set(placeholder) == PUBLIC_FIELDS
    assert placeholder["id"] == top["comment"]["id"]
    assert placeholder["deleted"] is True
    assert placeholder["body_html"] == ""
    assert placeholder["author"] != "Taro"
    assert placeholder["website"] is None
    assert "top" not in str(placeholder["body_html"])
    assert placeholder["replies"] == [reply]

    # When its last reply goes too, the placeholder disappears.
    assert client.delete(f"{BASE}/comments/{reply['id']}", headers=site.auth).status_code == 204
    assert page(client) == {"article": "/post/1", "total": 0, "comments": [], "next_cursor": None}


def test_a_deleted_comment_without_replies_disappears(client, site):
    keep = comment(client, "keep")["comment"]
    gone = comment(client, "gone")
    answer = client.delete(
        f"{BASE}/comments/{gone['comment']['id']}", headers={"X-Edit-Token": gone["edit_token"]}
    )
    assert answer.status_code == 204
    document = page(client)
    assert document["total"] == 1
    assert document["comments"] == [keep]


def test_a_deleted_reply_with_replies_is_a_nested_placeholder(client, site):
    top = comment(client, "top")["comment"]["id"]
    middle = comment(client, "middle", parent_id=top)["comment"]["id"]
    leaf = comment(client, "leaf", parent_id=middle)["comment"]
    moderate(client, site, middle, "delete")
    document = page(client)
    assert document["total"] == 2
    [node] = document["comments"]
    [placeholder] = node["replies"]
    assert (placeholder["id"], placeholder["deleted"], placeholder["body_html"]) == (
        middle,
        True,
        "",
    )
    assert placeholder["replies"] == [leaf]


def test_a_deleted_comment_whose_replies_are_pending_disappears(client, make_site):
    site = make_site("blog", moderation="all")
    top = comment(client, "top", headers=site.auth)["comment"]["id"]
    comment(client, "pending reply", parent_id=top, expect=202)
    moderate(client, site, top, "delete")
    assert page(client)["comments"] == []


def test_total_counts_approved_comments_only(client, site):
    first = comment(client, "one")["comment"]["id"]
    comment(client, "reply", parent_id=first)
    comment(client, "held: " + " ".join(f"https://x{i}.example" for i in range(4)), expect=202)
    spam = comment(client, "spam")["comment"]["id"]
    moderate(client, site, spam, "spam")
    deleted = comment(client, "deleted")["comment"]["id"]
    moderate(client, site, deleted, "delete")
    comment(client, "elsewhere", article="/post/2")
    document = page(client)
    assert document["total"] == 2
    assert len(walk(document["comments"])) == 2
    assert counts(client, "/post/1", "/post/2") == {"/post/1": 2, "/post/2": 1}


# --- sorting and pagination ---------------------------------------------------------------


def test_sort_oldest_newest_and_top(client, site):
    first = comment(client, "first")["comment"]["id"]
    second = comment(client, "second")["comment"]["id"]
    third = comment(client, "third")["comment"]["id"]
    comment(client, "a reply does not count as top-level", parent_id=first)
    for n in range(3):
        assert like(client, second, f"198.51.100.{n + 1}").status_code == 200
    assert like(client, third, "198.51.100.9").status_code == 200
    assert ids(page(client)["comments"]) == [first, second, third]
    assert ids(page(client, sort="oldest")["comments"]) == [first, second, third]
    assert ids(page(client, sort="newest")["comments"]) == [third, second, first]
    top = page(client, sort="top")["comments"]
    assert ids(top) == [second, third, first]
    assert [c["likes"] for c in top] == [3, 1, 0]
    # Ties in likes are broken by age, oldest first.
    assert like(client, first, "198.51.100.7").status_code == 200
    assert ids(page(client, sort="top")["comments"]) == [second, first, third]
    assert_error(client.get(f"{BASE}/comments?article=/post/1&sort=best"), 422, "sort")


@pytest.mark.parametrize("sort", ["oldest", "newest"])
def test_cursor_walks_every_top_level_comment_once_while_comments_arrive(client, site, sort):
    originals = []
    for n in range(7):
        top = comment(client, f"top {n}")["comment"]["id"]
        originals.append(top)
        comment(client, f"reply to {n}", parent_id=top)
    seen: list[int] = []
    arrived: list[int] = []
    cursor = None
    pages = 0
    while True:
        query: dict[str, Any] = {"sort": sort, "limit": 2}
        if cursor:
            query["cursor"] = cursor
        document = page(client, **query)
        pages += 1
        assert len(document["comments"]) <= 2
        for node in document["comments"]:
            assert node["parent_id"] is None
            if node["id"] in originals:
                # Replies come along with their top-level comment, on the same page.
                n = originals.index(node["id"])
                assert node["replies"][0]["body_html"] == f"<p>reply to {n}</p>\n"
            else:
                assert node["replies"] == []
        seen.extend(ids(document["comments"]))
        cursor = document["next_cursor"]
        if cursor is None:
            break
        # A new comment (and a reply to an old one) arrives between two pages.
        arrived.append(comment(client, f"new {pages}")["comment"]["id"])
        comment(client, "late reply", parent_id=originals[0])
        assert pages < 20
    assert len(seen) == len(set(seen)), seen
    assert set(originals) <= set(seen)
    if sort == "oldest":
        # New comments sort after the cursor, so the walk reaches them too, in order.
        assert seen == originals + arrived
    else:
        assert seen == list(reversed(originals))
    assert page(client)["total"] == 14 + 2 * len(arrived)


def test_cursor_walks_sort_top_once(client, site):
    made = [comment(client, f"c{n}")["comment"]["id"] for n in range(5)]
    for n, comment_id in enumerate(made):
        for voter in range(n % 3):
            like(client, comment_id, f"203.0.113.{voter + 1}")
    seen, cursor = [], None
    while True:
        query: dict[str, Any] = {"sort": "top", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        document = page(client, **query)
        seen.extend(ids(document["comments"]))
        cursor = document["next_cursor"]
        if not cursor:
            break
    assert seen == ids(page(client, sort="top")["comments"])
    assert sorted(seen) == sorted(made)


def test_limit_defaults_to_50_and_is_bounded(client, site):
    for n in range(51):
        comment(client, f"c{n}")
    document = page(client)
    assert len(document["comments"]) == 50
    assert document["total"] == 51
    assert document["next_cursor"]
    rest = page(client, cursor=document["next_cursor"])
    assert len(rest["comments"]) == 1
    assert rest["next_cursor"] is None
    assert len(page(client, limit=200)["comments"]) == 51
    for bad in (0, 201, -1, "x"):
        assert_error(client.get(f"{BASE}/comments?article=/post/1&limit={bad}"), 422, "limit")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "e30",  # {} in base64
        "bm90IGpzb24",  # "not json"
        "eyJzIjoib2xkZXN0IiwiayI6WyJ4IiwxXX0",  # a key that is no time
        "eyJzIjoibmV3ZXN0IiwiayI6WyIyMDI0LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwxXX0",  # sort newest
        "A" * 600,
    ],
)
def test_an_invalid_cursor_is_a_422(client, site, cursor):
    comment(client, "x")
    assert_error(
        client.get(f"{BASE}/comments", query_string={"article": "/post/1", "cursor": cursor}),
        422,
        "cursor",
    )


def test_a_cursor_of_another_sort_is_a_422(client, site):
    for n in range(3):
        comment(client, f"c{n}")
    cursor = page(client, limit=1)["next_cursor"]
    assert cursor
    assert page(client, limit=1, cursor=cursor)["comments"]
    answer = client.get(
        f"{BASE}/comments", query_string={"article": "/post/1", "sort": "top", "cursor": cursor}
    )
    assert_error(answer, 422, "cursor")
    unknown = client.get(f"{BASE}/comments", query_string={"article": "/none", "cursor": "bad"})
    assert_error(unknown, 422, "cursor")


def test_get_comments_needs_a_valid_article(client, site):
    assert_error(client.get(f"{BASE}/comments"), 422, "article")
    assert_error(client.get(f"{BASE}/comments?article="), 422, "article")
    assert_error(client.get(f"{BASE}/comments?article=/a%01b"), 422, "article")
    assert page(client, "/never/commented") == {
        "article": "/never/commented",
        "total": 0,
        "comments": [],
        "next_cursor": None,
    }


# --- counts -------------------------------------------------------------------------------


def test_counts_for_many_articles_with_zero_for_unknown_ones(client, site):
    first = comment(client, "a", article="/a")["comment"]["id"]
    comment(client, "a reply", article="/a", parent_id=first)
    comment(client, "b", article="/b")
    assert counts(client, "/a", "/b", "/unknown") == {"/a": 2, "/b": 1, "/unknown": 0}
    hundred = [f"/p/{n}" for n in range(99)] + ["/a"]
    found = counts(client, *hundred)
    assert len(found) == 100
    assert found["/a"] == 2
    assert sum(found.values()) == 2


def test_more_than_100_articles_is_a_422(client, site):
    answer = client.get(f"{BASE}/counts", query_string=[("article", f"/p/{n}") for n in range(101)])
    assert_error(answer, 422, "article")
    assert_error(client.get(f"{BASE}/counts"), 422, "article")


def test_counts_of_another_site_are_separate(client, site, make_site):
    make_site("other")
    comment(client, "x", article="/a")
    answer = client.get("/api/v1/sites/other/counts?article=/a")
    assert answer.get_json() == {"counts": {"/a": 0}}


# --- widget -------------------------------------------------------------------------------


def test_widget_has_site_rankings_and_the_first_page(client, make_site, app):
    site = make_site("blog", name="My Blog", lang="en", moderation="none")
    record = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": 4}}, headers=site.auth
    )
    assert record.status_code == 200
    top = comment(client, "hello")["comment"]["id"]
    comment(client, "reply", parent_id=top)
    answer = client.get(f"{BASE}/widget", query_string={"article": "/post/1"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    widget = answer.get_json()
    assert {"site", "rankings", "comments"} <= set(widget)
    assert widget["site"] == {
        "name": "My Blog",
        "lang": "en",
        "moderation": "none",
        "edit_window": 900,
    }
    assert [r["key"] for r in widget["rankings"]] == ["consulting", "management", "marketing"]
    assert widget["rankings"][0]["label"] == "Consulting"
    assert widget["rankings"][0]["current"]["position"] == 4
    assert widget["comments"] == page(client)
    assert widget["comments"]["total"] == 2

    ja = client.get(f"{BASE}/widget", query_string={"article": "/post/1", "lang": "ja"})
    assert ja.get_json()["rankings"][0]["label"] == "コンサルタント"
    newest = client.get(
        f"{BASE}/widget", query_string={"article": "/post/1", "sort": "newest", "limit": 1}
    ).get_json()
    assert newest["comments"] == page(client, sort="newest", limit=1)
    assert_error(client.get(f"{BASE}/widget"), 422, "article")
    assert_error(client.get("/api/v1/sites/nosuch/widget?article=/a"), 404)


def test_widget_of_an_empty_article(client, site):
    widget = client.get(f"{BASE}/widget?article=/new").get_json()
    assert widget["comments"] == {
        "article": "/new",
        "total": 0,
        "comments": [],
        "next_cursor": None,
    }
    assert widget["site"]["lang"] == "ja"


# --- PATCH --------------------------------------------------------------------------------


def test_patch_with_the_edit_token_edits_the_comment(client, site):
    answer = comment(client, "Helo", author="Taro")
    comment_id, token = answer["comment"]["id"], answer["edit_token"]
    edited = client.patch(
        f"{BASE}/comments/{comment_id}",
        json={"body": "Hello **again**", "author": "Taro Y", "website": "https://taro.example"},
        headers={"X-Edit-Token": token},
    )
    assert edited.status_code == 200, edited.get_data(as_text=True)
    assert set(edited.get_json()) == {"comment"}
    result = edited.get_json()["comment"]
    assert set(result) == PUBLIC_FIELDS
    assert result["body_html"] == "<p>Hello <strong>again</strong></p>\n"
    assert result["author"] == "Taro Y"
    assert result["website"] == "https://taro.example"
    assert result["edited_at"] is not None
    assert parse_time(result["edited_at"]) >= parse_time(result["created_at"])
    [shown] = page(client)["comments"]
    assert shown == result

    # A partial edit changes only what it names.
    partial = client.patch(
        f"{BASE}/comments/{comment_id}", json={"author": None}, headers={"X-Edit-Token": token}
    )
    assert partial.status_code == 200
    assert partial.get_json()["comment"]["author"] == "名無し"
    assert partial.get_json()["comment"]["body_html"] == result["body_html"]


@pytest.mark.parametrize("token", [None, "", "et_wrong", "rk_" + "A" * 43])
def test_patch_without_the_right_token_is_a_403(client, site, token):
    answer = comment(client, "original")
    other = comment(client, "someone else's")
    headers = {} if token is None else {"X-Edit-Token": token}
    response = client.patch(
        f"{BASE}/comments/{answer['comment']['id']}", json={"body": "changed"}, headers=headers
    )
    assert_error(response, 403)
    # Another comment's token does not open this one either.
    crossed = client.patch(
        f"{BASE}/comments/{answer['comment']['id']}",
        json={"body": "changed"},
        headers={"X-Edit-Token": other["edit_token"]},
    )
    assert_error(crossed, 403)
    assert page(client)["comments"][0]["body_html"] == "<p>original</p>\n"


def test_the_site_token_is_no_edit_token(client, site):
    answer = comment(client, "original")
    response = client.patch(
        f"{BASE}/comments/{answer['comment']['id']}",
        json={"body": "changed"},
        headers={**site.auth, "X-Edit-Token": site.token},
    )
    assert_error(response, 403)


def test_patch_and_delete_after_the_edit_window_are_403(client, site, app, monkeypatch):
    from service.comments import editing

    app.config["EDIT_WINDOW"] = 1
    answer = comment(client, "original")
    created = parse_time(answer["comment"]["created_at"])
    assert parse_time(answer["editable_until"]) - created == timedelta(seconds=1)
    comment_id, token = answer["comment"]["id"], answer["edit_token"]
    headers = {"X-Edit-Token": token}
    # Still inside the window: an edit works.
    inside = client.patch(f"{BASE}/comments/{comment_id}", json={"body": "edited"}, headers=headers)
    assert inside.status_code == 200, inside.get_data(as_text=True)

    real_now = editing.utcnow
    monkeypatch.setattr(editing, "utcnow", lambda: real_now() + timedelta(seconds=2))
    late = client.patch(f"{BASE}/comments/{comment_id}", json={"body": "late"}, headers=headers)
    assert assert_error(late, 403)["message"] == "このコメントはもう編集できません。"
    assert_error(client.delete(f"{BASE}/comments/{comment_id}", headers=headers), 403)
    assert page(client)["comments"][0]["body_html"] == "<p>edited</p>\n"
    # The site's author may still delete it.
    assert client.delete(f"{BASE}/comments/{comment_id}", headers=site.auth).status_code == 204
    assert page(client)["total"] == 0


def test_the_documents_body_rule_is_the_servers(client, site):
    """A body is 1 to 5,000 characters after trimming (API.md): the document's pattern says
    so, where its ``maxLength: 5000`` once refused what the server took (white space
    around 5,000 characters) in every write that carries a body."""
    import re

    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    padded, over = " " + "x" * 5000 + "\n", "y" * 5001
    for name in ("CommentInput", "CommentPatch"):
        body = schemas[name]["properties"]["body"]
        assert "maxLength" not in body
        assert re.fullmatch(body["pattern"], padded) and not re.fullmatch(body["pattern"], over)
    made = comment(client, padded)
    assert made["comment"]["body_html"] == f"<p>{'x' * 5000}</p>\n"
    comment(client, over, expect=422)
    url = f"{BASE}/comments/{made['comment']['id']}"
    headers = {"X-Edit-Token": made["edit_token"]}
    assert client.patch(url, json={"body": padded}, headers=headers).status_code == 200
    assert_error(client.patch(url, json={"body": over}, headers=headers), 422, "body")


def test_patch_rejects_unknown_and_invalid_fields(client, site):
    answer = comment(client, "original")
    url = f"{BASE}/comments/{answer['comment']['id']}"
    headers = {"X-Edit-Token": answer["edit_token"]}
    for body, field in (
        ({"status": "approved"}, "status"),
        ({"likes": 100}, "likes"),
        ({"is_author": True}, "is_author"),
        ({"email": "x@example.org"}, "email"),
        ({"body": "   "}, "body"),
        ({"author": "a" * 65}, "author"),
        ({"website": "javascript:alert(1)"}, "website"),
    ):
        assert_error(client.patch(url, json=body, headers=headers), 422, field)
    shown = page(client)["comments"][0]
    assert (shown["body_html"], shown["likes"], shown["is_author"]) == (
        "<p>original</p>\n",
        0,
        False,
    )


def test_an_edit_cannot_sneak_links_past_the_hold(client, site):
    answer = comment(client, "innocent")
    links = " ".join(f"https://spam{n}.example" for n in range(4))
    edited = client.patch(
        f"{BASE}/comments/{answer['comment']['id']}",
        json={"body": links},
        headers={"X-Edit-Token": answer["edit_token"]},
    )
    assert edited.status_code == 200
    assert page(client)["total"] == 0
    assert [c["status"] for c in moderation(client, site)["comments"]] == ["pending"]


def test_patch_from_a_foreign_origin_is_a_403(client, site):
    answer = comment(client, "original")
    response = client.patch(
        f"{BASE}/comments/{answer['comment']['id']}",
        json={"body": "changed"},
        headers={"X-Edit-Token": answer["edit_token"], "Origin": "https://evil.example"},
    )
    assert_error(response, 403)
    assert page(client)["comments"][0]["body_html"] == "<p>original</p>\n"


def test_patch_or_delete_of_an_unknown_comment_is_a_404(client, site, make_site):
    other = make_site("other")
    foreign = client.post(
        "/api/v1/sites/other/comments", json={"article": "/a", "body": "x"}
    ).get_json()
    url = f"{BASE}/comments/{foreign['comment']['id']}"
    assert_error(
        client.patch(url, json={"body": "y"}, headers={"X-Edit-Token": foreign["edit_token"]}),
        404,
    )
    assert_error(client.delete(url, headers=site.auth), 404)
    assert_error(client.delete(f"{BASE}/comments/424242", headers=site.auth), 404)
    assert other.slug == "other"


# --- DELETE -------------------------------------------------------------------------------


def test_delete_with_the_edit_token(client, site):
    answer = comment(client, "mine")
    url = f"{BASE}/comments/{answer['comment']['id']}"
    assert_error(client.delete(url, headers={"X-Edit-Token": "et_nope"}), 403)
    assert_error(client.delete(url), 403)
    assert page(client)["total"] == 1
    deleted = client.delete(url, headers={"X-Edit-Token": answer["edit_token"]})
    assert deleted.status_code == 204
    assert page(client)["total"] == 0
    assert page(client)["comments"] == []
    # It cannot be edited back to life with the same token.
    revived = client.patch(
        url, json={"body": "back"}, headers={"X-Edit-Token": answer["edit_token"]}
    )
    assert_error(revived, 403)
    assert page(client)["total"] == 0


def test_delete_with_the_site_token_and_not_with_another(client, site, make_site):
    other = make_site("other")
    answer = comment(client, "reader")
    url = f"{BASE}/comments/{answer['comment']['id']}"
    assert_error(client.delete(url, headers=other.auth), 403)
    assert_error(client.delete(url, headers={"Authorization": "Bearer rk_" + "B" * 43}), 401)
    # A bad Authorization header fails even with the right edit token alongside.
    assert_error(
        client.delete(
            url,
            headers={"Authorization": "Bearer nope", "X-Edit-Token": answer["edit_token"]},
        ),
        401,
    )
    assert page(client)["total"] == 1
    assert client.delete(url, headers=site.auth).status_code == 204
    assert page(client)["total"] == 0
    # Deleting again changes nothing.
    assert client.delete(url, headers=site.auth).status_code == 204
    assert page(client)["total"] == 0


def test_delete_from_a_foreign_origin_is_a_403(client, site):
    answer = comment(client, "mine")
    response = client.delete(
        f"{BASE}/comments/{answer['comment']['id']}",
        headers={"X-Edit-Token": answer["edit_token"], "Origin": "https://evil.example"},
    )
    assert_error(response, 403)
    assert page(client)["total"] == 1


# --- likes --------------------------------------------------------------------------------


def test_one_like_per_client(client, site):
    comment_id = comment(client, "like me")["comment"]["id"]
    first = like(client, comment_id, "198.51.100.1")
    assert first.status_code == 200
    assert first.get_json() == {"likes": 1}
    assert like(client, comment_id, "198.51.100.1").get_json() == {"likes": 1}
    assert like(client, comment_id, "198.51.100.2").get_json() == {"likes": 2}
    assert like(client, comment_id, "2001:db8::1").get_json() == {"likes": 3}
    assert like(client, comment_id, "198.51.100.2").get_json() == {"likes": 3}
    assert page(client)["comments"][0]["likes"] == 3


def test_likes_are_per_comment(client, site):
    first = comment(client, "a")["comment"]["id"]
    second = comment(client, "b")["comment"]["id"]
    assert like(client, first).get_json() == {"likes": 1}
    assert like(client, second).get_json() == {"likes": 1}
    assert [c["likes"] for c in page(client)["comments"]] == [1, 1]


def test_like_of_an_unknown_or_hidden_comment_is_a_404(client, make_site):
    make_site("blog", moderation="all")
    assert_error(like(client, 12345), 404)
    pending = comment(client, "pending", expect=202)["comment"]["id"]
    assert_error(like(client, pending), 404)


def test_like_from_a_foreign_origin_is_a_403(client, site):
    comment_id = comment(client, "x")["comment"]["id"]
    assert_error(like(client, comment_id, headers={"Origin": "https://evil.example"}), 403)
    assert like(client, comment_id, headers={"Origin": ORIGIN}).get_json() == {"likes": 1}


def test_x_forwarded_for_is_ignored_without_trusted_proxies(client, site, app):
    assert app.config["TRUSTED_PROXIES"] == 0
    comment_id = comment(client, "x")["comment"]["id"]
    for forwarded in ("192.0.2.1", "192.0.2.2", "192.0.2.3, 10.0.0.1"):
        answer = like(client, comment_id, "10.0.0.1", headers={"X-Forwarded-For": forwarded})
        assert answer.get_json() == {"likes": 1}


def test_x_forwarded_for_is_used_with_one_trusted_proxy(client, site, app):
    app.config["TRUSTED_PROXIES"] = 1
    comment_id = comment(client, "x")["comment"]["id"]
    proxy = "10.0.0.1"
    assert like(client, comment_id, proxy, headers={"X-Forwarded-For": "192.0.2.1"}).get_json() == {
        "likes": 1
    }
    assert like(client, comment_id, proxy, headers={"X-Forwarded-For": "192.0.2.2"}).get_json() == {
        "likes": 2
    }
    # Only the hop the proxy wrote counts: what the client put further left is ignored.
    spoofed = like(client, comment_id, proxy, headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.2"})
    assert spoofed.get_json() == {"likes": 2}


# --- moderation ---------------------------------------------------------------------------


def test_moderation_list_with_private_fields(client, make_site):
    site = make_site("blog", moderation="all")
    held = comment(
        client,
        "please approve",
        article="/post/9",
        author="Reader",
        email="Reader@Example.org",
        notify=True,
        expect=202,
    )["comment"]
    queue = moderation(client, site)
    assert set(queue) == {"comments", "next_cursor"}
    assert queue["next_cursor"] is None
    [item] = queue["comments"]
    assert set(item) == PRIVATE_FIELDS
    assert item["id"] == held["id"]
    assert item["email"] == "Reader@Example.org"
    assert item["status"] == "pending"
    assert item["article"] == "/post/9"
    assert item["notify"] is True
    assert item["author"] == "Reader"
    assert item["body_html"] == "<p>please approve</p>\n"
    assert moderation(client, site, status="approved")["comments"] == []
    assert moderation(client, site, status="spam")["comments"] == []


def test_moderation_list_filters_by_status_and_pages_newest_first(client, make_site):
    site = make_site("blog", moderation="all")
    held = [comment(client, f"held {n}", expect=202)["comment"]["id"] for n in range(5)]
    author = comment(client, "by the author", headers=site.auth)["comment"]["id"]
    approved = moderation(client, site, status="approved")["comments"]
    assert [(c["id"], c["is_author"], c["email"]) for c in approved] == [(author, True, None)]

    seen, cursor = [], None
    while True:
        query: dict[str, Any] = {"status": "pending", "limit": 2}
        if cursor:
            query["cursor"] = cursor
        document = moderation(client, site, **query)
        assert len(document["comments"]) <= 2
        assert all(c["status"] == "pending" for c in document["comments"])
        seen.extend(ids(document["comments"]))
        cursor = document["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(held))
    for bad in ({"status": "hidden"}, {"limit": 0}, {"limit": 201}, {"cursor": "abc"}):
        answer = client.get(f"{BASE}/moderation", query_string=bad, headers=site.auth)
        assert_error(answer, 422, next(iter(bad)))


def test_moderation_needs_the_sites_token(client, site, make_site):
    other = make_site("other")
    assert_error(client.get(f"{BASE}/moderation"), 401)
    assert_error(client.get(f"{BASE}/moderation", headers={"Authorization": "Bearer x"}), 401)
    assert_error(client.get(f"{BASE}/moderation", headers=other.auth), 403)
    comment_id = comment(client, "x")["comment"]["id"]
    url = f"{BASE}/comments/{comment_id}/moderate"
    assert_error(client.post(url, json={"action": "spam"}), 401)
    assert_error(client.post(url, json={"action": "spam"}, headers=other.auth), 403)
    assert page(client)["total"] == 1


def test_moderate_approve_spam_delete_restore(client, make_site):
    site = make_site("blog", moderation="all")
    held = comment(client, "held", expect=202)["comment"]["id"]
    assert page(client)["total"] == 0

    approved = moderate(client, site, held, "approve")
    assert set(approved) == PUBLIC_FIELDS
    assert approved["id"] == held
    assert approved["deleted"] is False
    assert page(client)["total"] == 1
    assert counts(client, "/post/1") == {"/post/1": 1}
    assert ids(page(client)["comments"]) == [held]

    moderate(client, site, held, "spam")
    assert page(client)["total"] == 0
    assert page(client)["comments"] == []
    assert ids(moderation(client, site, status="spam")["comments"]) == [held]

    moderate(client, site, held, "restore")
    assert page(client)["total"] == 1

    deleted = moderate(client, site, held, "delete")
    assert deleted["deleted"] is True
    assert deleted["body_html"] == ""
    assert page(client)["total"] == 0
    assert counts(client, "/post/1") == {"/post/1": 0}
    # The moderator still sees what was deleted, so it can be restored.
    [item] = moderation(client, site, status="deleted")["comments"]
    assert item["body_html"] == "<p>held</p>\n"

    restored = moderate(client, site, held, "restore")
    assert restored["body_html"] == "<p>held</p>\n"
    assert page(client)["total"] == 1
    # Approving an approved comment does not count it twice.
    moderate(client, site, held, "approve")
    assert page(client)["total"] == 1
    assert counts(client, "/post/1") == {"/post/1": 1}

    for bad in ({"action": "publish"}, {}, {"action": "approve", "status": "x"}):
        answer = client.post(f"{BASE}/comments/{held}/moderate", json=bad, headers=site.auth)
        assert_error(answer, 422)
    assert_error(
        client.post(
            f"{BASE}/comments/99999/moderate", json={"action": "approve"}, headers=site.auth
        ),
        404,
    )


# --- validation ---------------------------------------------------------------------------


VALID = {"article": "/post/1", "body": "Hello"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"body": ""}, "body"),
        ({"body": "   \n\t  "}, "body"),
        ({"body": "x" * 5001}, "body"),
        ({"body": "nul \x00 byte"}, "body"),
        ({"body": "bell \x07"}, "body"),
        ({"body": "c1 \x85 control"}, "body"),
        ({"body": None}, "body"),
        ({"body": 5}, "body"),
        ({"author": "a" * 65}, "author"),
        ({"author": "Mallory\u202egnp.exe"}, "author"),
        ({"author": "rtl \u2067isolate\u2069"}, "author"),
        ({"author": "tab\tname"}, "author"),
        ({"author": "new\nline"}, "author"),
        ({"author": "nul\x00"}, "author"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "ftp://files.example.com/"}, "website"),
        ({"website": "https://example.com/" + "a" * 237}, "website"),
        ({"website": "data:text/html,hi"}, "website"),
        ({"website": "//example.com"}, "website"),
        ({"website": 'https://example.com/"><script>alert(1)</script>'}, "website"),
        ({"website": "https://exa mple.com/"}, "website"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@"}, "email"),
        ({"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".org"}, "email"),
        ({"article": ""}, "article"),
        ({"article": "a" * 513}, "article"),
        ({"article": "/post\x01"}, "article"),
        ({"article": "/post\n"}, "article"),
        ({"article": "/post\x00"}, "article"),
        ({"article": None}, "article"),
        ({"article_url": "javascript:alert(1)"}, "article_url"),
        ({"notify": "maybe"}, "notify"),
    ],
)
def test_invalid_fields_are_a_422_and_store_nothing(client, site, app, change, field):
    answer = post(client, {**VALID, **change})
    body = assert_error(answer, 422, field)
    assert all(isinstance(m, str) for m in body["errors"][field])
    assert stored_comments(app) == 0
    assert page(client)["total"] == 0


def test_missing_required_fields_are_a_422(client, site, app):
    body = assert_error(post(client, {}), 422)
    assert {"article", "body"} <= set(body["errors"])
    assert stored_comments(app) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"body": "x" * 5000},
        {"body": "  padded  " + "x" * 4990 + "  "},
        {"body": "tabs\tand\nnewlines\r\nare fine"},
        {"author": "a" * 64},
        {"author": "名無しの権兵衛"},
        {"website": "https://example.com/" + "a" * 236},
        {"website": "http://localhost:8000/me"},
        {"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".org"},
        {"article": "a" * 512},
        {"article": "/日本語/記事?x=1#frag"},
        {"article_url": "https://blog.example.com/post/1", "article_title": "A post"},
        {"author": None, "email": None, "website": None, "parent_id": None},
    ],
)
def test_values_at_the_limits_are_accepted(client, site, change):
    answer = post(client, {**VALID, **change})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    article = change.get("article", VALID["article"])
    assert page(client, article)["total"] == 1


@pytest.mark.parametrize(
    "field",
    [
        {"status": "approved"},
        {"likes": 100},
        {"is_author": True},
        {"created_at": "2001-01-01T00:00:00Z"},
        {"id": 1},
        {"site": "other"},
        {"deleted": False},
        {"edit_token": "et_mine"},
    ],
)
def test_unknown_fields_are_rejected_and_nothing_is_stored(client, make_site, app, field):
    make_site("blog", moderation="all")
    answer = post(client, {**VALID, **field})
    body = assert_error(answer, 422, next(iter(field)))
    assert body["errors"][next(iter(field))] == ["この項目は受け付けていません。"]
    assert stored_comments(app) == 0
    assert page(client)["total"] == 0


def test_invalid_utf8_and_non_json_bodies_are_4xx(client, site, app):
    answer = client.post(
        f"{BASE}/comments",
        data=b'{"article": "/a", "body": "\xff\xfe"}',
        content_type="application/json",
    )
    assert 400 <= answer.status_code < 500
    assert answer.mimetype == "application/json"
    answer = client.post(f"{BASE}/comments", data="article=/a&body=x")
    assert_error(answer, 415)
    answer = client.post(f"{BASE}/comments", data="{nope", content_type="application/json")
    assert_error(answer, 400)
    answer = client.post(f"{BASE}/comments", json=["a", "b"])
    assert 400 <= answer.status_code < 500
    assert stored_comments(app) == 0


# --- spam guards --------------------------------------------------------------------------


def test_a_filled_honeypot_looks_accepted_but_is_stored_as_spam(client, site, app):
    answer = post(client, {**VALID, "body": "Buy now", "homepage": "https://spam.example"})
    assert answer.status_code == 201
    data = answer.get_json()
    assert set(data) == {"comment", "status", "edit_token", "editable_until"}
    assert data["status"] == "approved"
    assert data["comment"]["body_html"] == "<p>Buy now</p>\n"
    assert set(data["comment"]) == PUBLIC_FIELDS
    assert page(client) == {"article": "/post/1", "total": 0, "comments": [], "next_cursor": None}
    assert counts(client, "/post/1") == {"/post/1": 0}
    [stored] = moderation(client, site, status="spam")["comments"]
    assert stored["id"] == data["comment"]["id"]
    assert moderation(client, site, status="pending")["comments"] == []
    assert stored_comments(app) == 1


def test_a_filled_honeypot_under_moderation_looks_pending(client, make_site):
    site = make_site("blog", moderation="all")
    answer = post(client, {**VALID, "homepage": "x"})
    assert answer.status_code == 202
    assert answer.get_json()["status"] == "pending"
    assert moderation(client, site)["comments"] == []
    assert len(moderation(client, site, status="spam")["comments"]) == 1


def test_an_empty_honeypot_is_fine(client, site):
    assert post(client, {**VALID, "homepage": ""}).status_code == 201
    assert post(client, {**VALID, "homepage": "   "}).status_code == 201
    assert page(client)["total"] == 2


def test_more_than_three_links_are_held_for_moderation(client, site):
    three = "See https://a.example, [b](https://b.example), <https://c.example>"
    assert comment(client, three)["status"] == "approved"
    four = three + " and [d](http://d.example)"
    held = comment(client, four, expect=202)
    assert held["status"] == "pending"
    document = page(client)
    assert document["total"] == 1
    assert [c["status"] for c in moderation(client, site)["comments"]] == ["pending"]
    # The site's author is never held.
    assert comment(client, four, headers=site.auth)["status"] == "approved"


def test_banned_words_store_a_comment_as_spam(client, site, app):
    update_site(app, banned_words=["Casino", "  cheap pills "])
    assert comment(client, "Visit my CASINO today", expect=202)["status"] == "pending"
    assert comment(client, "hi", author="cheap pills", expect=202)["status"] == "pending"
    assert comment(client, "A perfectly fine comment")["status"] == "approved"
    assert page(client)["total"] == 1
    spam = client.get(f"/api/v1/sites/{site.slug}/moderation?status=spam", headers=site.auth)
    assert len(spam.json["comments"]) == 2


def test_rate_limit_answers_429_with_retry_after(client, site, app):
    app.config["COMMENT_RATE_LIMIT"] = "2/minute"
    reader = {"REMOTE_ADDR": "198.51.100.50"}
    for n in range(2):
        comment(client, f"ok {n}", environ_base=reader)
    limited = post(client, {**VALID, "body": "too many"}, environ_base=reader)
    body = assert_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert "Traceback" not in str(body)
    # Another client, and the site's author, are not limited by this one.
    comment(client, "another reader", environ_base={"REMOTE_ADDR": "198.51.100.51"})
    comment(client, "the author", headers=site.auth, environ_base=reader)
    assert page(client)["total"] == 4


# --- origins and CORS ---------------------------------------------------------------------


def test_a_browser_write_from_a_foreign_origin_is_a_403_and_stores_nothing(client, site, app):
    for origin in (
        "https://evil.example",
        "null",
        "https://blog.example.com.evil.example",
        "http://blog.example.com",
    ):
        answer = post(client, VALID, {"Origin": origin})
        assert_error(answer, 403)
    assert stored_comments(app) == 0
    assert page(client)["total"] == 0


def test_writes_from_the_sites_origin_or_without_origin_are_accepted(client, site):
    assert post(client, VALID, {"Origin": ORIGIN}).status_code == 201
    assert post(client, VALID).status_code == 201
    assert page(client)["total"] == 2


def test_cors_preflight_echoes_a_real_origin_with_vary(client, site):
    answer = client.options(
        f"{BASE}/comments",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-Edit-Token",
        },
    )
    assert answer.status_code in (200, 204)
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in vary(answer)
    assert "POST" in answer.headers["Access-Control-Allow-Methods"]
    assert "x-edit-token" in answer.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in answer.headers


def test_cors_answers_echo_the_origin_and_never_allow_null_or_credentials(client, site):
    comment(client, "x")
    reader_site = "https://reader.example"
    read = client.get(f"{BASE}/comments?article=/post/1", headers={"Origin": reader_site})
    assert read.headers["Access-Control-Allow-Origin"] == reader_site
    assert "Origin" in vary(read)
    assert "Access-Control-Allow-Credentials" not in read.headers

    for method in ("GET", "OPTIONS"):
        answer = client.open(
            f"{BASE}/comments?article=/post/1",
            method=method,
            headers={"Origin": "null", "Access-Control-Request-Method": "POST"},
        )
        assert answer.headers.get("Access-Control-Allow-Origin") in (None, "")
        assert "null" not in answer.headers.getlist("Access-Control-Allow-Origin")
        assert "Access-Control-Allow-Credentials" not in answer.headers
        assert "Origin" in vary(answer)
    # A cacheable answer without an Origin still says it varies by Origin.
    plain = client.get(f"{BASE}/comments?article=/post/1")
    assert "Origin" in vary(plain)
    write = post(client, VALID, {"Origin": ORIGIN})
    assert write.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Credentials" not in write.headers
    refused = post(client, VALID, {"Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Credentials" not in refused.headers
    assert "Origin" in vary(refused)


def vary(answer: Any) -> set[str]:
    return {
        part.strip()
        for value in answer.headers.getlist("Vary")
        for part in value.split(",")
        if part.strip()
    }
