"""Issue 12 §2: API errors in the site's or the request's language, from one table."""

from __future__ import annotations

from typing import Any

import pytest

from service.i18n.messages import translate

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}


def post(client: Any, body: dict[str, Any], query: str = "", **headers: str) -> Any:
    return client.post(f"{BASE}/comments{query}", json=body, headers={**ORIGIN, **headers})


def errors_of(answer: Any, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["code"] == status
    return body


def test_a_blank_comment_on_a_japanese_site_is_said_in_japanese(client, make_site):
    make_site("blog", lang="ja")
    body = errors_of(post(client, {"article": "/a", "body": "   \n "}), 422)
    assert body["errors"] == {"body": ["コメントは1〜5,000文字で入力してください。"]}
    assert body["message"] == "入力内容に誤りがあります。"


def test_a_blank_comment_on_an_english_site_stays_english(client, make_site):
    make_site("blog", lang="en")
    body = errors_of(post(client, {"article": "/a", "body": " "}), 422)
    assert body["errors"] == {"body": ["Must be 1 to 5,000 characters."]}
    assert body["message"] == "Some fields are invalid."


def test_the_lang_parameter_wins_over_the_sites_language(client, make_site):
    make_site("blog", lang="ja")
    body = errors_of(post(client, {"article": "/a", "body": ""}, "?lang=en"), 422)
    assert body["errors"] == {"body": ["Must be 1 to 5,000 characters."]}
    make_site("other", lang="en")
    answer = client.get("/api/v1/sites/other/comments?article=/a&sort=bogus&lang=ja")
    assert errors_of(answer, 422)["errors"] == {
        "sort": ["次のいずれかを指定してください：oldest, newest, top"]
    }


def test_several_fields_keep_the_field_to_messages_shape(client, make_site):
    make_site("blog", lang="ja")
    answer = post(
        client,
        {
            "article": "/a",
            "body": "ok",
            "author": "x" * 65,
            "email": "not-an-address",
            "website": "javascript:alert(1)",
            "note": 1,
        },
    )
    assert errors_of(answer, 422)["errors"] == {
        "author": ["名前は64文字以内で入力してください。"],
        "email": ["メールアドレスの形式が正しくありません（例：name@example.com）。"],
        "website": ["ウェブサイトは http:// か https:// で始まるURLで入力してください。"],
        "note": ["この項目は受け付けていません。"],
    }


def test_an_unknown_site_follows_accept_language(client):
    ja = client.get(
        "/api/v1/sites/nosuch/comments?article=/a", headers={"Accept-Language": "ja,en;q=0.5"}
    )
    assert errors_of(ja, 404)["message"] == "サイト「nosuch」はありません。"
    en = client.get(
        "/api/v1/sites/nosuch/comments?article=/a", headers={"Accept-Language": "en-US"}
    )
    assert errors_of(en, 404)["message"] == "No site 'nosuch'."
    plain = client.get("/api/v1/sites/nosuch/comments?article=/a")
    assert errors_of(plain, 404)["message"] == "No site 'nosuch'."


def test_an_unknown_path_follows_accept_language(client):
    answer = client.get("/api/v1/nothing-here", headers={"Accept-Language": "ja"})
    assert errors_of(answer, 404)["message"] == "ページが見つかりません。"


def test_401_and_403_on_a_japanese_site(client, make_site):
    make_site("blog", lang="ja")
    other = make_site("other", lang="ja")
    missing = client.post(f"{BASE}/rankings", json={"positions": {"consulting": 3}})
    assert errors_of(missing, 401)["message"] == (
        "サイトの管理トークンが必要です（Authorization: Bearer <トークン>）。"
    )
    wrong = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": 3}}, headers=other.auth
    )
    assert errors_of(wrong, 403)["message"] == "このトークンは別のサイトのものです。"
    bad_origin = client.post(
        f"{BASE}/comments",
        json={"article": "/a", "body": "hi"},
        headers={"Origin": "https://evil.example"},
    )
    assert errors_of(bad_origin, 403)["message"] == (
        "このページ（オリジン）からはこのサイトに書き込めません。"
    )


def test_rate_limit_message_in_japanese(app, client, make_site):
    make_site("blog", lang="ja")
    app.config["COMMENT_RATE_LIMIT"] = "1/minute"
    assert post(client, {"article": "/a", "body": "一つ目"}).status_code == 201
    limited_answer = post(client, {"article": "/a", "body": "二つ目"})
    limited = errors_of(limited_answer, 429)
    wait = int(limited_answer.headers["Retry-After"])
    unit = f"{wait}秒" if wait < 60 else "1分"
    assert limited["message"] == (
        f"短い時間に続けて投稿されたため、受け付けを一時停止しています。"
        f"{unit}後にもう一度お試しください。"
    )


def test_ranking_errors_in_japanese(client, make_site):
    site = make_site("blog", lang="ja")
    answer = client.post(
        f"{BASE}/rankings", json={"positions": {"consulting": 0}}, headers=site.auth
    )
    assert errors_of(answer, 422)["errors"] == {
        "positions": {"consulting": ["1〜1,000,000の整数で指定してください。"]}
    }


def test_a_text_not_in_the_table_is_shown_as_raised():
    assert translate("Something new.", "ja") == "Something new."
    assert translate("Unknown field.", "en") == "Unknown field."


# --- e-mail link pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "query", "title"),
    [
        ({"Accept-Language": "ja"}, "", "無効なリンクです"),
        ({"Accept-Language": "en-GB,en;q=0.8"}, "", "This link is not valid"),
        ({}, "?lang=ja", "無効なリンクです"),
    ],
)
def test_a_forged_link_page_without_a_site_follows_the_browser(client, headers, query, title):
    for path in ("/links/forged", "/unsubscribe/forged"):
        page = client.get(path + query, headers=headers)
        assert page.status_code in (400, 403, 404), page.status_code
        assert f"<h1>{title}</h1>" in page.get_data(as_text=True)


# --- feeds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "title", "entry"),
    [
        ("ja", "山田ブログ のコメント", "花子 — 価格の話：値上げの順番が参考になりました"),
        ("en", "山田ブログ: comments", "花子 — 価格の話: 値上げの順番が参考になりました"),
    ],
)
def test_the_feed_speaks_the_sites_language(client, make_site, lang, title, entry):
    from xml.etree import ElementTree

    site = make_site("blog", lang=lang, name="山田ブログ")
    answer = post(
        client,
        {
            "article": "/a",
            "article_title": "価格の話",
            "author": "花子",
            "body": "値上げの順番が参考になりました",
        },
        **site.auth,
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    atom = "{http://www.w3.org/2005/Atom}"
    feed = ElementTree.fromstring(client.get("/feeds/blog.atom").data)
    assert feed.find(f"{atom}title").text == title
    assert [e.find(f"{atom}title").text for e in feed.findall(f"{atom}entry")] == [entry]


def test_a_method_or_path_no_route_matches_still_speaks_the_sites_language(client, make_site):
    make_site("blog", lang="ja")
    method = client.delete(f"{BASE}/comments")
    assert errors_of(method, 405)["message"] == "このURLではこのメソッドは使えません。"
    nothing = client.get(f"{BASE}/nothing-here")
    assert errors_of(nothing, 404)["message"] == "ページが見つかりません。"
    english = client.get(f"{BASE}/nothing-here", query_string={"lang": "en"})
    assert errors_of(english, 404)["message"].startswith("The requested URL was not found")


def test_a_bad_article_url_is_named_as_such(client, make_site):
    make_site("blog", lang="ja")
    body = errors_of(
        post(client, {"article": "/a", "body": "x", "article_url": "javascript:x"}), 422
    )
    assert body["errors"] == {
        "article_url": ["記事のURLは http:// か https:// で始まるURLで指定してください。"]
    }
