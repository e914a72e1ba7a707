"""What a blogger and a reader meet first (issue 23): the service's own message on a refused
post, set-up mistakes in the console with the fix, a counter near the 5,000-character limit
instead of a silent cut, a form that never jumps, and a widget that looks like part of the
page (transparent, the page's font and colours; badges only for ranked categories).

Like ``test_embed.py``: a blog page on one 127.0.0.1 port includes ``embed.js`` from a real
``ranklet serve`` on another; one server and site for the module, an article per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from embed_pages import (
    STANDARD_BODY,
    Blog,
    HostPages,
    embed_tag,
    html_page,
    post_through,
    thread_items,
    top_form,
)
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ORIGIN_MESSAGE = "このページ（オリジン）からはこのサイトに書き込めません。"


@pytest.fixture(scope="module")
def blog(module_servers: Any) -> Iterator[Blog]:
    host = HostPages()
    server = module_servers(env={"RANKLET_COMMENT_RATE_LIMIT": "2/minute"})
    yield Blog(server, server.create_site("messages", host.origin), host)
    host.close()


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[HostPages]:
    """Another origin, like the www. or http:// twin of the blog that the site does not list."""
    pages = HostPages()
    yield pages
    pages.close()


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """The page's console lines; and no error may escape from the embed into the page."""
    lines: list[str] = []
    errors: list[str] = []
    page.on("console", lambda message: lines.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    yield lines
    assert errors == []


def test_a_post_from_an_origin_the_site_does_not_list(
    page: Page, blog: Blog, elsewhere: HostPages, console: list[str]
) -> None:
    script = embed_tag(blog.server.base, blog.site.slug)
    url = elsewhere.add("/posts/wrong-origin/", html_page(STANDARD_BODY, lang="ja", script=script))
    page.goto(url)
    form = top_form(page)
    post_through(form, "こんにちは", author="読者")
    # The service's own reason, beside the form, instead of a generic error
    expect(form.locator(".ranklet-error[role=alert]")).to_have_text(ORIGIN_MESSAGE)
    expect(form.locator(".ranklet-note")).to_have_text("")
    expect(form.locator("textarea[name=body]")).to_have_value("こんにちは")
    expect(thread_items(page)).to_have_count(0)
    # The blogger finds the fix in the console
    fix = [line for line in console if line.startswith("[ranklet] " + ORIGIN_MESSAGE)]
    assert fix, console
    assert f'Add {elsewhere.origin} to the origins of site "{blog.site.slug}"' in fix[0]


def test_an_unknown_site_is_logged_with_the_fix(page: Page, blog: Blog, console: list[str]) -> None:
    script = embed_tag(blog.server.base, "no-such-blog")
    url = blog.host.add("/posts/unknown-site-log/", html_page(STANDARD_BODY, script=script))
    page.goto(url)
    expect(page.locator("[data-ranklet-comments] .ranklet-error")).to_have_text(
        "Comments could not be loaded"
    )
    expect(page.locator("[data-ranklet-badges] .r")).to_have_text("")  # quiet for readers
    found = [line for line in console if 'Check data-site="no-such-blog"' in line]
    assert found and found[0].startswith("[ranklet] "), console


def test_rate_limited_post_shows_the_wait_in_place_of_the_success(
    page: Page, blog: Blog, console: list[str]
) -> None:
    url, _ = blog.page("limited", html_lang="ja")
    page.goto(url)
    form = top_form(page)
    body = form.locator("textarea[name=body]")
    before = body.bounding_box()
    post_through(form, "一つ目")
    expect(form.locator(".ranklet-note")).to_have_text("投稿しました")
    assert body.bounding_box() == before  # the success line does not move the form
    post_through(form, "二つ目")
    expect(thread_items(page)).to_have_count(2)
    post_through(form, "三つ目")  # the limit is 2 a minute
    alert = form.locator(".ranklet-error[role=alert]")
    expect(alert).to_contain_text("短い時間に続けて投稿されたため")
    expect(alert).to_have_text(re.compile(r"。(1分|[1-5]?\d秒)後にもう一度お試しください。$"))
    expect(form.locator(".ranklet-note")).to_have_text("")  # never both at once
    assert body.bounding_box() == before
    expect(body).to_have_value("三つ目")


def test_a_counter_near_the_limit_and_no_silent_cut(page: Page, blog: Blog) -> None:
    url, _ = blog.page("counter", html_lang="ja")
    page.goto(url)
    form = top_form(page)
    body = form.locator("textarea[name=body]")
    hint = form.locator("textarea[name=body] + small")
    assert body.get_attribute("maxlength") is None
    body.fill("あ" * 100)
    expect(hint).to_have_text("Markdown が使えます")
    body.fill("あ" * 4800)
    expect(hint).to_have_text("残り200文字")
    pasted = "長" * 6000
    body.fill(pasted)
    expect(hint).to_have_text("1000文字オーバー")
    assert len(body.input_value()) == 6000  # nothing was cut
    form.locator(".ranklet-submit").click()
    expect(form.locator(".ranklet-error[role=alert]")).to_have_text(
        "コメントは1〜5,000文字で入力してください。"
    )
    assert len(body.input_value()) == 6000
    expect(thread_items(page)).to_have_count(0)


def test_the_widget_is_part_of_the_page(page: Page, blog: Blog) -> None:
    head = (
        "<style>body{background:#f6efe0;color:#3b2f2f;"
        "font:17px/1.8 'Hiragino Mincho ProN',serif}</style>"
    )
    blog.api("POST", "/rankings", {"positions": {"consulting": 3}}, admin=True)
    url, _ = blog.page("part-of-the-page", html_lang="ja", head=head)
    page.goto(url)
    thread = page.locator(".ranklet-thread")
    expect(thread).to_be_visible()
    style = thread.evaluate(
        "e => { const s = getComputedStyle(e); return [s.backgroundColor, s.fontFamily,"
        " s.fontSize, s.color] }"
    )
    assert style == ["rgba(0, 0, 0, 0)", '"Hiragino Mincho ProN", serif', "17px", "rgb(59, 47, 47)"]
    inputs = (
        top_form(page)
        .locator("textarea[name=body]")
        .evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).fontFamily]")
    )
    assert inputs == ["rgba(0, 0, 0, 0)", '"Hiragino Mincho ProN", serif']
    # Only ranked categories are shown to readers: no 「未登録」 badges
    badges = page.locator(".ranklet-badge")
    expect(badges).to_have_count(1)
    expect(badges.first).to_contain_text("コンサルタントランキング")
    expect(page.locator("[data-ranklet-badges]")).not_to_contain_text("未登録")
