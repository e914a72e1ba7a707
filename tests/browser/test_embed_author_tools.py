"""Issue 22 in Chromium: the 「固定」/"Pinned" label of a pinned comment, and the
recent-comments box (``data-ranklet-recent``) beside a thread and alone, axe clean.

A blog page on one 127.0.0.1 port includes ``embed.js`` from a real ``ranklet serve`` on
another; requests are counted with the DevTools protocol.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from embed_pages import NO_RATE_LIMIT, Blog, HostPages, comment_el, html_page, serious
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("page_errors")]


@pytest.fixture(scope="module")
def blog(module_servers: Any, host: HostPages) -> Blog:
    server = module_servers(env=NO_RATE_LIMIT)
    return Blog(server, server.create_site("tools", host.origin), host)


def service_requests(page: Page, origin: str) -> list[str]:
    """Paths of every request the page sends to the service (preflights included)."""
    seen: list[str] = []
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")

    def sent(event: dict[str, Any]) -> None:
        url = event["request"]["url"]
        if url.startswith(origin + "/"):
            seen.append(event["request"]["method"] + " " + url[len(origin) :])

    cdp.on("Network.requestWillBeSent", sent)
    return seen


SIDEBAR = """
<header><a href="/">My blog</a></header>
<main><h1>A post</h1><p>Some text.</p>{thread}</main>
<aside><div data-ranklet-recent data-limit="{limit}"></div></aside>
"""


def test_a_pinned_comment_leads_its_thread_with_a_label(page: Page, blog: Blog) -> None:
    url, article = blog.page("pinned-ja", html_lang="ja")
    first = blog.comment(article, "最初のコメント", author="A")
    helpful = blog.comment(article, "役に立つコメント", author="B")
    blog.api("POST", f"/comments/{helpful['id']}/pin", {"pinned": True}, admin=True)
    page.goto(url)
    items = page.locator(".ranklet-list > .ranklet-comment")
    expect(items).to_have_count(2)
    assert [el.get_attribute("data-id") for el in items.all()] == [
        str(helpful["id"]),
        str(first["id"]),
    ]
    label = comment_el(page, helpful["id"]).locator(".ranklet-meta .ranklet-author-badge")
    expect(label).to_have_text("固定")
    expect(comment_el(page, first["id"]).locator(".ranklet-author-badge")).to_have_count(0)
    page.locator(".ranklet-sort").select_option("newest")  # still first in another order
    expect(items.first).to_have_attribute("data-id", str(helpful["id"]))

    url_en, article_en = blog.page("pinned-en")
    pinned = blog.comment(article_en, "Pinned one", author="C")
    blog.api("POST", f"/comments/{pinned['id']}/pin", {"pinned": True}, admin=True)
    page.goto(url_en)
    expect(comment_el(page, pinned["id"]).locator(".ranklet-author-badge")).to_have_text("Pinned")


def test_a_recent_box_beside_a_thread_costs_no_request_of_its_own(page: Page, blog: Blog) -> None:
    titles = {}
    for n in range(4):
        other = f"/posts/elsewhere-{n}/"
        titles[other] = f"記事その{n}"
        blog.comment(other, f"**よい**記事でした {n} " + "とても" * 40, author=f"読者{n}",
                     article_title=titles[other])  # fmt: skip
    body = SIDEBAR.format(thread="<div data-ranklet-comments></div>", limit=3)
    path = "/posts/with-recent/"
    blog.articles.add(path)
    script = f'<script src="{blog.server.base}/embed.js" data-site="{blog.site.slug}" defer>'
    url = blog.host.add(path, html_page(body, lang="ja", script=script + "</script>"))
    seen = service_requests(page, blog.server.base)
    page.goto(url)
    box = page.locator("[data-ranklet-recent] .ranklet-recent")
    expect(box.locator("h2")).to_have_text("最近のコメント")
    items = box.locator("li")
    expect(items).to_have_count(3)
    links = box.locator("a")
    assert [a.inner_text() for a in links.all()] == ["記事その3", "記事その2", "記事その1"]
    assert links.first.get_attribute("href") == "/posts/elsewhere-3/"
    excerpt = items.first.locator("p").last.inner_text()
    assert excerpt.startswith("よい記事でした 3 とても") and excerpt.endswith("…")
    assert len(excerpt) == 100
    expect(items.first.locator(".ranklet-author")).to_have_text("読者3")
    expect(page.locator(".ranklet-thread")).to_be_visible()
    widgets = [s for s in seen if re.match(r"GET /api/v1/sites/tools/widget\?", s)]
    assert len(widgets) == 1 and "recent=3" in widgets[0], seen
    # no API call of its own for the box (the script is not one: /embed/recent.js)
    assert not [s for s in seen if "/api/" in s and "/recent" in s.split("?")[0]], seen
    assert [s for s in seen if s.endswith("/embed/recent.js")] == ["GET /embed/recent.js"]
    links.first.click()  # each item leads to its article, on the blog
    page.wait_for_url(re.compile(r"/posts/elsewhere-3/$"))


def test_a_recent_box_alone_in_english(page: Page, blog: Blog) -> None:
    blog.comment("/posts/solo/", "Nice <b>post</b>", author="Ann")
    path = "/sidebar-only/"
    script = f'<script src="{blog.server.base}/embed.js" data-site="{blog.site.slug}" defer>'
    body = '<main><h1>Home</h1></main><aside><div data-ranklet-recent data-limit="1"></div></aside>'
    page.goto(blog.host.add(path, html_page(body, script=script + "</script>")))
    box = page.locator(".ranklet-recent")
    expect(box.locator("h2")).to_have_text("Recent comments")
    expect(box.locator("li")).to_have_count(1)
    expect(box.locator("li p").last).to_have_text("Nice <b>post</b>")  # text, never markup
    expect(box.locator("a")).to_have_text("/posts/solo/")  # no title: the article key


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_on_the_pin_label_and_the_recent_box(
    page: Page, blog: Blog, theme: str
) -> None:
    article = f"/posts/axe-tools-{theme}/"
    pinned = blog.comment(article, "Pinned for everyone", author="Author")
    blog.comment(article, "Another comment", author="Reader")
    blog.api("POST", f"/comments/{pinned['id']}/pin", {"pinned": True}, admin=True)
    head = "<style>body{background:#121212;color:#e8e8e8}a{color:#9cf}</style>"
    body = SIDEBAR.format(thread="<div data-ranklet-comments></div>", limit=5)
    blog.articles.add(article)
    script = (
        f'<script src="{blog.server.base}/embed.js" data-site="{blog.site.slug}" '
        f'data-theme="{theme}" defer></script>'
    )
    page.goto(
        blog.host.add(article, html_page(body, head=head if theme == "dark" else "", script=script))
    )
    expect(page.locator(".ranklet-recent li").first).to_be_visible()
    expect(comment_el(page, pinned["id"]).locator(".ranklet-author-badge")).to_have_text("Pinned")
    results = Axe().run(page)
    assert serious(results) == [], results.generate_report()
