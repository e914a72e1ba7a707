"""The embed's forms after the server refuses a post (issue 12): the fields it names are
marked ``aria-invalid`` and described by the message, focus goes to the first of them, and
the marks go once a post or an edit succeeds; Japanese asks with full-width punctuation.
Also: the script as served (minified, issue 14) compiles in Chromium.

Like ``test_embed.py``: a blog page on one 127.0.0.1 port includes ``embed.js`` from a real
``ranklet serve`` on another; one server and site for the module, an article per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from embed_pages import (
    NO_RATE_LIMIT,
    Blog,
    HostPages,
    own_part,
    post_through,
    served_embed,
    thread_items,
    top_form,
)
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("page_errors")]

WEBSITE_MESSAGE = "ウェブサイトは http:// か https:// で始まるURLで入力してください。"
BODY_MESSAGE = "コメントは1〜5,000文字で入力してください。"


@pytest.fixture(scope="module")
def blog(module_servers: Any) -> Iterator[Blog]:
    host = HostPages()
    server = module_servers(env=NO_RATE_LIMIT)
    yield Blog(server, server.create_site("forms", host.origin), host)
    host.close()


def invalid_names(form: Any) -> list[str]:
    return form.locator("[aria-invalid=true]").evaluate_all("els => els.map((e) => e.name)")


def reads_as_error(colour: str) -> bool:
    red, green, _ = (int(x) for x in re.findall(r"\d+", colour)[:3])
    return red > green + 60


def test_refused_fields_are_marked_invalid_and_the_first_gets_the_focus(
    page: Page, blog: Blog
) -> None:
    url, article = blog.page("refused-fields", html_lang="ja")
    page.goto(url)
    form = top_form(page)
    website = form.locator("input[name=website]")
    body = form.locator("textarea[name=body]")
    alert = form.locator(".ranklet-error[role=alert]")
    # The browser lets both through (a javascript: URL is a URL; spaces fill `required`).
    website.fill("javascript:alert(1)")
    post_through(form, "   ", author="検証")
    expect(alert).to_contain_text(WEBSITE_MESSAGE)
    expect(alert).to_contain_text(BODY_MESSAGE)
    expect(website).to_be_focused()  # the first named field, in the form's order
    assert invalid_names(form) == ["website", "body"]
    expect(website).to_have_accessible_description(re.compile(re.escape(WEBSITE_MESSAGE)))
    expect(body).to_have_accessible_description(
        re.compile(r"^Markdown が使えます .*" + BODY_MESSAGE)
    )
    border = website.evaluate("e => getComputedStyle(e).borderTopColor")
    assert reads_as_error(border), border
    assert not reads_as_error(
        form.locator("input[name=author]").evaluate("e => getComputedStyle(e).borderTopColor")
    )

    website.fill("https://example.jp/")
    form.locator(".ranklet-submit").click()
    expect(alert).to_have_text(BODY_MESSAGE)
    expect(body).to_be_focused()
    assert invalid_names(form) == ["body"]  # the website is no longer marked

    post_through(form, "今度は中身があります")
    expect(page.locator(".ranklet-note")).to_have_text("投稿しました")
    expect(alert).to_have_text("")
    expect(form.locator("[aria-invalid]")).to_have_count(0)
    expect(body).to_have_accessible_description("Markdown が使えます")  # no stale message
    assert blog.api("GET", f"/comments?article={article}")["total"] == 1


def test_a_refused_edit_or_reply_marks_its_body_until_it_succeeds(page: Page, blog: Blog) -> None:
    url, _ = blog.page("refused-edit")
    page.goto(url)
    post_through(top_form(page), "First version", author="Ann")
    expect(thread_items(page)).to_have_count(1)
    mine = int(thread_items(page).first.get_attribute("data-id") or 0)

    own_part(page, mine).locator(".ranklet-edit").click()
    editor = own_part(page, mine).locator(".ranklet-editor")
    text = editor.locator("textarea[name=body]")
    text.fill("  ")
    editor.locator(".ranklet-submit").click()
    expect(editor.locator("[role=alert]")).not_to_have_text("")
    expect(text).to_have_attribute("aria-invalid", "true")
    expect(text).to_be_focused()
    text.fill("Second version")
    editor.locator(".ranklet-submit").click()
    expect(own_part(page, mine).locator(".ranklet-body")).to_have_text("Second version")
    expect(page.locator(".ranklet-thread [aria-invalid]")).to_have_count(0)
    expect(own_part(page, mine).locator(".ranklet-edit")).to_be_focused()

    own_part(page, mine).locator(".ranklet-reply").click()
    reply = own_part(page, mine).locator(".ranklet-reply-form")
    post_through(reply, " ")
    expect(reply.locator("textarea[name=body]")).to_have_attribute("aria-invalid", "true")
    expect(reply.locator("textarea[name=body]")).to_be_focused()
    expect(top_form(page).locator("[aria-invalid]")).to_have_count(0)  # only that form
    post_through(reply, "A reply after all")
    expect(reply).to_have_count(0)
    expect(page.locator(".ranklet-thread [aria-invalid]")).to_have_count(0)


def test_delete_asks_in_japanese_with_full_width_punctuation(page: Page, blog: Blog) -> None:
    url, _ = blog.page("confirm-ja", html_lang="ja")
    page.goto(url)
    post_through(top_form(page), "消すかどうか", author="確認")
    expect(thread_items(page)).to_have_count(1)
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    thread_items(page).first.locator(".ranklet-delete").click()
    expect(thread_items(page)).to_have_count(1)  # dismissed: nothing deleted
    assert asked == ["削除しますか？"]


def test_the_script_as_served_is_minified_and_compiles_in_chromium(page: Page, blog: Blog) -> None:
    served = served_embed(blog.server.base).decode()
    assert served.startswith("'use strict';(()=>{")
    assert "\n  " not in served  # the source's indentation is gone
    # Compiled, not run: a syntax error would throw here.
    assert page.evaluate("(src) => typeof new Function(src)", served) == "function"
