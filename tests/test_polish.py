"""What a blogger sees outside the embed (issue 12, points 7-9): the favicon, the demo page
with JavaScript off, the admin's article list and sign-in hint. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from service.i18n.texts_admin import TEXTS

JA = {key: entry["ja"] for key, entry in TEXTS.items()}


def text(answer: Any) -> str:
    return answer.get_data(as_text=True)


def csrf_of(client: Any, path: str = "/admin/") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text(client.get(path)))
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def sign_in(client: Any, slug: str, token: str) -> None:
    answer = client.post(
        "/admin/sign-in", data={"csrf": csrf_of(client), "site": slug, "token": token}
    )
    assert answer.status_code == 302, text(answer)


def test_favicon_is_a_cached_icon(client: Any) -> None:
    answer = client.get("/favicon.ico")
    assert answer.status_code == 200
    assert answer.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert answer.data[:4] == b"\x00\x00\x01\x00"  # an ICO file header
    assert 0 < len(answer.data) < 4096
    assert "max-age=604800" in answer.headers["Cache-Control"]
    etag = answer.headers["ETag"]
    assert client.get("/favicon.ico", headers={"If-None-Match": etag}).status_code == 304


def seed(app: Any) -> str:
    from service.demo.data import seed_demo

    with app.app_context():
        return seed_demo("http://127.0.0.1:8000")


def test_demo_reads_right_with_javascript_off(app: Any, client: Any) -> None:
    seed(app)
    page = text(client.get("/demo/"))
    noscript = page.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
    alts = re.findall(r'alt="([^"]*)"', noscript)
    assert alts == [
        "コンサルタントランキング 4位（最高順位）",
        "経営ランキング 9位（最高順位）",
        "マーケティングランキング 5位（最高順位）",
    ]
    counts = dict(re.findall(r'data-ranklet-count="([^"]+)">([^<]*)<', page))
    assert set(counts) == {"/demo/", "/demo/pricing-strategy/", "/demo/kpi-design/"}
    assert all(value.isdigit() for value in counts.values()), counts
    answer = client.get("/api/v1/sites/demo/counts", query_string=[("article", a) for a in counts])
    assert {a: str(n) for a, n in answer.get_json()["counts"].items()} == counts
    assert int(counts["/demo/"]) > 0
    assert "–" not in page.split('class="articles"', 1)[1].split("</ul>", 1)[0]


def test_demo_page_has_a_dark_style(client: Any) -> None:
    with client.get("/static/demo.css") as answer:
        css = text(answer)
    assert "@media (prefers-color-scheme: dark)" in css
    page = text(client.get("/demo/"))
    assert '<meta name="color-scheme" content="light dark">' in page
    assert 'data-theme="auto"' in page


def test_articles_lists_only_threads_with_comments_each_with_its_link(
    app: Any, client: Any
) -> None:
    token = seed(app)
    sign_in(client, "demo", token)
    listing = text(client.get("/admin/articles"))
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", listing, re.S)
    counts = client.get(
        "/api/v1/sites/demo/counts",
        query_string=[
            ("article", a) for a in ("/demo/", "/demo/pricing-strategy/", "/demo/kpi-design/")
        ],
    ).get_json()["counts"]
    with_comments = sorted(a for a, n in counts.items() if n)
    assert 0 < len(with_comments) < 3, counts  # the seed leaves one article without comments
    assert len(rows) == len(with_comments)
    for article in with_comments:
        link = f'href="http://127.0.0.1:8000{article}" rel="noopener noreferrer">'
        assert [row for row in rows if f'"hint">{article}<' in row and link in row], article
    for article in set(counts) - set(with_comments):
        assert f'"hint">{article}<' not in listing
    # a thread's first comment may send its URL, but only one on the site's origins is
    # used (issue 18): another host's URL gives way to the site's origin and the key
    answer = client.post(
        "/api/v1/sites/demo/comments",
        json={"article": "/elsewhere/", "article_url": "https://blog.example.jp/x", "body": "Hi"},
    )
    assert answer.status_code == 201, text(answer)
    listing = text(client.get("/admin/articles"))
    assert "blog.example.jp" not in listing
    assert (
        f'href="http://127.0.0.1:8000/elsewhere/" rel="noopener noreferrer">{JA["open_article"]}'
        in listing
    )


def test_sign_in_hint_shows_commands_as_code(client: Any) -> None:
    page = text(client.get("/admin/"))
    hint = re.search(r'<p class="hint" id="token-hint">(.*?)</p>', page, re.S)
    assert hint, page
    assert "`" not in hint.group(1)
    assert "<code>ranklet site create</code>" in hint.group(1)
    assert "<code>ranklet token rotate</code>" in hint.group(1)
