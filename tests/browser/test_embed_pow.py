"""The invisible proof of work in Chromium (issue 19): with ``--challenge pow`` the embed
loads ``/embed/pow.js``, solves the site's ALTCHA challenge with WebCrypto while the reader
types, and sends the solution with the post; the reader never sees a puzzle. A post without
a solution is refused by the server, which the embed shows in the reader's language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from embed_pages import NO_RATE_LIMIT, Blog, HostPages, call, post_through, thread_items, top_form
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def blog(module_servers: Any) -> Iterator[Blog]:
    host = HostPages()
    server = module_servers(env=NO_RATE_LIMIT)
    site = server.create_site("pow", host.origin)
    server.cli("site", "update", "pow", "--challenge", "pow")
    yield Blog(server, site, host)
    host.close()


def test_a_reader_posts_with_pow_on_and_sees_no_puzzle(page: Page, blog: Blog) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    scripts: list[str] = []
    page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
    url, article = blog.page("pow-post", html_lang="ja")
    page.goto(url)
    form = top_form(page)
    # Nothing to solve on screen: no extra field, checkbox, iframe or canvas in the widget.
    widget = page.locator("[data-ranklet-comments]")
    expect(form.locator("textarea[name=body]")).to_be_visible()
    for hidden_puzzle in ("iframe", "canvas", "altcha-widget", "input[type=checkbox]"):
        expect(widget.locator(hidden_puzzle)).to_have_count(0)
    post_through(form, "計算はブラウザが裏で済ませます", author="読者")
    expect(page.locator(".ranklet-note")).to_have_text("投稿しました")
    expect(thread_items(page)).to_have_count(1)
    assert any(s.endswith("/embed/pow.js") for s in scripts), scripts
    document = blog.api("GET", f"/comments?article={article}")
    assert document["total"] == 1
    assert "計算はブラウザが裏で済ませます" in document["comments"][0]["body_html"]
    # A second post from the same page spends a fresh challenge.
    post_through(form, "二つ目のコメント", author="読者")
    expect(thread_items(page)).to_have_count(2)
    assert errors == []


def test_a_post_without_a_solution_is_refused(blog: Blog) -> None:
    status, data = call(
        blog.server.base,
        "POST",
        f"/sites/{blog.site.slug}/comments",
        {"article": "/posts/api/", "body": "no proof"},
        Origin=blog.host.origin,
    )
    assert status == 403
    assert data["message"].startswith("ページからの送信であることを確認できませんでした")


def test_pages_of_sites_without_pow_never_load_the_solver(page: Page, module_servers: Any) -> None:
    host = HostPages()
    try:
        server = module_servers(env=NO_RATE_LIMIT)
        blog = Blog(server, server.create_site("nopow", host.origin), host)
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url))
        url, _ = blog.page("no-pow")
        page.goto(url)
        post_through(top_form(page), "plain post", author="reader")
        expect(thread_items(page)).to_have_count(1)
        assert not any("pow.js" in s or "/challenge" in s for s in scripts), scripts
    finally:
        host.close()
