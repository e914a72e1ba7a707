"""The embed in Chromium, as a reader meets it: a blog page on one 127.0.0.1 port includes
``embed.js`` from a real ``ranklet serve`` on another (cross-origin, like a real blog).

One server and one site serve the whole module; each test uses an article (page path) of
its own, so threads never mix. Requests are counted with the DevTools protocol, because
Playwright's ``request`` event does not report CORS preflights.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from embed_pages import (
    NO_RATE_LIMIT,
    STANDARD_BODY,
    Blog,
    HostPages,
    comment_el,
    embed_tag,
    focused,
    html_page,
    own_part,
    post_through,
    serious,
    served_embed,
    tab_until,
    thread_items,
    top_form,
)
from playwright.sync_api import Page, expect
from support import wait_ready

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.usefixtures("page_errors")]

PORTAL = "https://ranking.example.jp"


# --- the blog and the service (embed_pages.py) ---------------------------------------------


@pytest.fixture(scope="module")
def blog(module_servers: Any, host: HostPages) -> Blog:
    server = module_servers(env=NO_RATE_LIMIT)
    site = server.create_site("blog", host.origin)
    # For the rate-limit test: a second server on the same database (so the site is there)
    # with a limit, started now so that it comes up while the other tests run.
    limited = module_servers(
        workers=1,
        env={"RANKLET_COMMENT_RATE_LIMIT": "1/minute"},
        instance=server.env["RANKLET_INSTANCE_PATH"],
        wait=False,
    )
    return Blog(server, site, host, limited)


class Requests:
    """Every request the page sends to one origin, preflights included (DevTools protocol)."""

    def __init__(self, page: Page, origin: str) -> None:
        self.seen: list[tuple[str, str]] = []
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")

        def sent(event: dict[str, Any]) -> None:
            url = event["request"]["url"]
            if url.startswith(origin + "/"):
                self.seen.append((event["request"]["method"], url[len(origin) :]))

        self.cdp.on("Network.requestWillBeSent", sent)

    def count(self, method: str, pattern: str) -> int:
        return sum(1 for m, path in self.seen if m == method and re.search(pattern, path))


def luminance(css_color: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def settles(check: Callable[[], bool], seconds: float = 2.0) -> bool:
    """Whether ``check`` comes true within ``seconds`` (polled every 50 ms)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def background(page: Page, selector: str = ".ranklet-thread") -> str:
    return page.locator(selector).first.evaluate("el => getComputedStyle(el).backgroundColor")


# --- badges ------------------------------------------------------------------------------

CATEGORIES = {
    "consulting": ("コンサルタント", "Consulting"),
    "management": ("経営", "Management"),
    "marketing": ("マーケティング", "Marketing"),
}


@pytest.fixture(scope="module")
def rankings(blog: Blog) -> Blog:
    """Consulting was 2nd two days ago and is 4th now; management is 12th; marketing has
    no position yet. Each category links to its portal page (the click is the vote). Both
    bests are 2 days old, within the default 7 days of "New best!"."""
    earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    positions = {"consulting": 2, "management": 12}
    blog.api("POST", "/rankings", {"positions": positions, "observed_at": earlier}, admin=True)
    blog.api("POST", "/rankings", {"positions": {"consulting": 4, "management": 12}}, admin=True)
    for key, (ja, en) in CATEGORIES.items():
        body = {"labels": {"ja": ja, "en": en}, "url": f"{PORTAL}/{key}/"}
        blog.api("PUT", f"/categories/{key}", body, admin=True)
    recorded = {
        c["key"]: (c["current"] and c["current"]["position"], c["best"] and c["best"]["position"])
        for c in blog.api("GET", "/rankings")["categories"]
    }
    assert recorded == {"consulting": (4, 2), "management": (12, 12), "marketing": (None, None)}
    return blog


def badge_texts(page: Page) -> list[tuple[str, str | None]]:
    badges = page.locator(".ranklet-badge")
    expect(badges.first).to_be_visible()
    return [(" ".join(b.inner_text().split()), b.get_attribute("href")) for b in badges.all()]


def test_badges_in_japanese(page: Page, rankings: Blog) -> None:
    url, _ = rankings.page("badges-ja", html_lang="ja")
    page.goto(url)
    assert badge_texts(page) == [
        ("コンサルタントランキング 4位（最高順位 2位） 最高順位更新！", f"{PORTAL}/consulting/"),
        ("経営ランキング 12位（最高順位 12位） 最高順位更新！", f"{PORTAL}/management/"),
    ]  # marketing has no position yet: readers do not see it (it read as "not registered")
    assert page.locator(".ranklet-badge").first.get_attribute("rel") == "noopener"


def test_badges_in_english_and_chosen_categories(page: Page, rankings: Blog) -> None:
    # data-lang wins over <html lang>
    url, _ = rankings.page("badges-en", html_lang="ja", lang="en")
    page.goto(url)
    assert badge_texts(page) == [
        ("Consulting ranking #4 (best #2) New best!", f"{PORTAL}/consulting/"),
        ("Management ranking #12 (best #12) New best!", f"{PORTAL}/management/"),
    ]
    # <html lang="en-US"> picks English; data-categories picks and orders, unknown keys drop
    url, _ = rankings.page(
        "badges-en-us", html_lang="en-US", categories="marketing, consulting,nope"
    )
    page.goto(url)
    assert badge_texts(page) == [
        ("Consulting ranking #4 (best #2) New best!", f"{PORTAL}/consulting/"),
    ]
    url, _ = rankings.page("badges-one-ja", html_lang="en", lang="ja", categories="management")
    page.goto(url)
    assert badge_texts(page) == [
        ("経営ランキング 12位（最高順位 12位） 最高順位更新！", f"{PORTAL}/management/")
    ]


def test_badges_fit_a_narrow_sidebar(page: Page, rankings: Blog) -> None:
    """In a blog's 200 px sidebar no label or rank is broken over two lines: a badge too
    wide for one line puts its rank under its label, and "New best!" under that."""
    body = '<aside style="width:200px"><div data-ranklet-badges></div></aside>'
    url, _ = rankings.page("badges-sidebar", body, html_lang="ja")
    page.goto(url)
    expect(page.locator(".ranklet-badge")).to_have_count(2)
    for badge in page.locator(".ranklet-badge").all():
        box = badge.bounding_box()
        assert box and box["width"] <= 200
        for span in badge.locator("span").all():
            part = span.bounding_box()
            assert part and part["height"] < 30, (span.inner_text(), part)  # one line
    label, rank, flag = (
        s.bounding_box() for s in page.locator(".ranklet-badge").first.locator("span").all()
    )
    assert label and rank and rank["y"] >= label["y"] + label["height"] - 1
    assert flag and flag["y"] >= rank["y"] + rank["height"] - 1


# --- the thread ----------------------------------------------------------------------------


def test_comment_posted_through_the_form_survives_a_reload(page: Page, blog: Blog) -> None:
    url, article = blog.page("post-form", html_lang="ja")
    page.goto(url)
    expect(page.locator(".ranklet-thread h2")).to_have_text("コメント 0件")
    form = top_form(page)
    form.locator("input[name=email]").fill("suzuki@example.jp")
    post_through(form, "とても参考になりました。**感謝**です。", author="鈴木")
    expect(page.locator(".ranklet-thread .ranklet-note")).to_have_text("投稿しました")
    expect(form.locator("textarea[name=body]")).to_have_value("")
    item = thread_items(page).first
    expect(item.locator(".ranklet-body")).to_have_text("とても参考になりました。感謝です。")
    expect(item.locator(".ranklet-body strong")).to_have_text("感謝")
    expect(item.locator(".ranklet-author")).to_have_text("鈴木")
    expect(page.locator(".ranklet-thread h2")).to_have_text("コメント 1件")
    comment_id = int(item.get_attribute("data-id") or 0)

    stored = blog.api("GET", f"/comments?article={article}")
    assert [(c["id"], c["author"]) for c in stored["comments"]] == [(comment_id, "鈴木")]
    assert "suzuki@" not in json.dumps(stored)

    page.reload()
    item = thread_items(page).first
    expect(item.locator(".ranklet-body")).to_have_text("とても参考になりました。感謝です。")
    expect(item.locator(".ranklet-edit")).to_have_text("編集")  # the edit token was kept
    expect(top_form(page).locator("input[name=author]")).to_have_value("鈴木")
    storage = page.evaluate("() => ({...localStorage})")
    assert json.loads(storage["ranklet:author"]) == "鈴木"
    assert f"blog/{comment_id}" in json.loads(storage["ranklet:tokens"])
    assert page.context.cookies() == []

    # More than three links: held for moderation, and the reader is told so.
    links = " ".join(f"https://example.com/{n}" for n in range(4))
    post_through(top_form(page), f"参考リンク {links}")
    expect(page.locator(".ranklet-note[role=status]")).to_have_text(
        "コメントを受け付けました。承認後に表示されます。"
    )
    expect(thread_items(page)).to_have_count(1)


def test_reply_edit_delete_and_like(page: Page, blog: Blog) -> None:
    url, article = blog.page("conversation")
    ken = blog.comment(article, "Written by someone else.", author="Ken")
    page.goto(url)
    title = page.locator(".ranklet-thread h2")
    expect(title).to_have_text("1 comment")

    post_through(top_form(page), "First thoughts.", author="Ann")
    expect(thread_items(page)).to_have_count(2)
    mine = int(thread_items(page).nth(1).get_attribute("data-id") or 0)
    expect(own_part(page, ken["id"]).locator(".ranklet-edit")).to_have_count(0)  # not ours

    def reply(parent: int, text: str) -> int:
        own_part(page, parent).locator(".ranklet-reply").click()
        expect(own_part(page, parent).locator(".ranklet-reply")).to_have_attribute(
            "aria-expanded", "true"
        )
        form = own_part(page, parent).locator(".ranklet-reply-form")
        expect(form.locator("textarea[name=body]")).to_be_focused()
        post_through(form, text)
        expect(form).to_have_count(0)
        replies = page.locator(f'.ranklet-comment[data-id="{parent}"] > .ranklet-replies > li')
        expect(replies.last.locator(".ranklet-body")).to_have_text(text)
        return int(replies.last.get_attribute("data-id") or 0)

    to_ken = reply(ken["id"], "A reply to Ken.")
    to_mine = reply(mine, "Adding one more point.")
    expect(title).to_have_text("4 comments")

    own_part(page, mine).locator(".ranklet-edit").click()
    editor = own_part(page, mine).locator(".ranklet-editor")
    expect(editor.locator("textarea[name=body]")).to_have_value("First thoughts.")
    editor.locator("textarea[name=body]").fill("Second *thoughts*.")
    editor.locator(".ranklet-submit").click()
    expect(own_part(page, mine).locator(".ranklet-body")).to_have_text("Second thoughts.")
    expect(own_part(page, mine).locator(".ranklet-body em")).to_have_text("thoughts")
    expect(own_part(page, mine).locator(".ranklet-meta")).to_contain_text("edited")
    expect(comment_el(page, to_mine)).to_be_visible()  # the replies stay under the edit

    like = own_part(page, ken["id"]).locator(".ranklet-like")
    expect(like).to_have_attribute("aria-pressed", "false")
    like.click()
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text("Like 1")
    like.click()  # a second click changes nothing
    expect(like).to_have_text("Like 1")

    dialogs: list[str] = []

    def answer(accept: bool) -> None:
        def handle(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", handle)

    answer(accept=False)
    own_part(page, to_ken).locator(".ranklet-delete").click()
    expect(comment_el(page, to_ken)).to_be_visible()
    answer(accept=True)
    own_part(page, to_ken).locator(".ranklet-delete").click()
    expect(comment_el(page, to_ken)).to_have_count(0)
    answer(accept=True)
    own_part(page, mine).locator(".ranklet-delete").click()  # has a reply: a placeholder stays
    expect(comment_el(page, mine)).to_have_class(re.compile(r"\branklet-deleted\b"))
    expect(own_part(page, mine)).to_have_text("This comment was deleted")
    expect(comment_el(page, to_mine)).to_be_visible()
    expect(title).to_have_text("2 comments")
    assert dialogs == ["Delete?"] * 3

    page.reload()
    expect(title).to_have_text("2 comments")
    expect(own_part(page, mine)).to_have_text("This comment was deleted")
    expect(comment_el(page, to_ken)).to_have_count(0)
    expect(own_part(page, to_mine).locator(".ranklet-body")).to_have_text("Adding one more point.")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text("Like 1")
    stored = blog.api("GET", f"/comments?article={article}")
    assert stored["total"] == 2
    assert stored["comments"][0]["likes"] == 1


def test_sort_and_more(page: Page, blog: Blog) -> None:
    url, article = blog.page("busy-thread")
    ids = [blog.comment(article, f"Comment number {n:02d}")["id"] for n in range(1, 56)]
    blog.api("POST", f"/comments/{ids[29]}/like")
    page.goto(url)
    bodies = page.locator(".ranklet-list > .ranklet-comment .ranklet-body")
    more = page.locator(".ranklet-more")
    expect(page.locator(".ranklet-thread h2")).to_have_text("55 comments")
    expect(bodies).to_have_count(50)  # the server's default page
    expect(bodies.first).to_have_text("Comment number 01")
    expect(more).to_be_visible()
    more.click()
    expect(bodies).to_have_count(55)
    expect(bodies.last).to_have_text("Comment number 55")
    expect(more).to_be_hidden()
    assert focused(page)["comment"] == str(ids[50])  # focus moves to the first new comment

    sort = page.locator(".ranklet-sort")
    sort.select_option("newest")
    expect(bodies).to_have_count(50)
    expect(bodies.first).to_have_text("Comment number 55")
    more.click()
    expect(bodies).to_have_count(55)
    expect(bodies.last).to_have_text("Comment number 01")
    sort.select_option("top")
    expect(bodies.first).to_have_text("Comment number 30")
    expect(thread_items(page).first.locator(".ranklet-like")).to_have_text("Like 1")
    sort.select_option("oldest")
    expect(bodies).to_have_count(50)
    expect(bodies.first).to_have_text("Comment number 01")


# --- counts and requests -------------------------------------------------------------------


def test_counts_fill_from_one_request_and_reads_are_not_preflighted(page: Page, blog: Blog) -> None:
    listed = "/posts/counted-a/"
    first = blog.comment(listed, "One")
    blog.comment(listed, "Two", parent_id=first["id"])
    blog.comment(listed, "Three")
    body = (
        STANDARD_BODY
        + f"""
    <ul>
      <li><a href="{listed}">A</a> (<span data-ranklet-count="{listed}">–</span>)</li>
      <li><a href="/posts/never/">B</a> (<span data-ranklet-count="/posts/never/">–</span>)</li>
      <li><span data-ranklet-count="{listed}" data-ranklet-count-format="long">–</span></li>
    </ul>"""
    )
    url, article = blog.page("counted-list", body)
    blog.comment(article, "On the list page itself")
    requests = Requests(page, blog.server.base)
    page.goto(url)
    expect(page.locator(f'[data-ranklet-count="{listed}"]').first).to_have_text("3")
    expect(page.locator('[data-ranklet-count="/posts/never/"]')).to_have_text("0")
    expect(page.locator("[data-ranklet-count-format=long]")).to_have_text("3 comments")
    expect(page.locator(".ranklet-thread h2")).to_have_text("1 comment")
    page.wait_for_timeout(300)
    api = "/api/v1/sites/blog"
    assert requests.count("GET", r"^/embed\.js$") == 1
    assert requests.count("GET", rf"^{api}/widget\?") == 1
    assert requests.count("GET", rf"^{api}/counts\?") == 1
    assert requests.count("OPTIONS", "") == 0, requests.seen
    assert len(requests.seen) == 3, requests.seen

    # The detector does see preflights: a JSON write has one.
    post_through(top_form(page), "A write", author="Ann")
    expect(thread_items(page)).to_have_count(2)
    assert requests.count("OPTIONS", rf"^{api}/comments\?lang=en$") == 1
    assert requests.count("POST", rf"^{api}/comments\?lang=en$") == 1


# --- themes and isolation ------------------------------------------------------------------


TRANSPARENT = "rgba(0, 0, 0, 0)"


def accent(page: Page) -> float:
    """Luminance of the accent (the submit button): dark on light pages, light on dark."""
    return luminance(background(page, ".ranklet-submit"))


def test_dark_theme_and_auto_following_the_system(page: Page, blog: Blog) -> None:
    """The widget paints no box of its own: a theme only picks accents that read on the
    page's own background (which shows through)."""
    page.emulate_media(color_scheme="light")
    url, _ = blog.page("theme-dark", theme="dark")
    page.goto(url)
    assert "dark" in widget_class(page)
    assert background(page) == TRANSPARENT
    assert accent(page) > 0.55

    url, _ = blog.page("theme-auto", theme="auto")
    page.goto(url)
    assert "dark" not in widget_class(page)
    assert accent(page) < 0.4
    # Changes live, without a reload: the media query's change event runs a task later, so
    # the new colours are waited for (within two seconds), not read at once.
    page.emulate_media(color_scheme="dark")
    assert settles(lambda: accent(page) > 0.55)
    page.emulate_media(color_scheme="light")
    assert settles(lambda: accent(page) < 0.4)

    url, _ = blog.page("theme-light", theme="light")
    page.emulate_media(color_scheme="dark")
    page.goto(url)
    assert "dark" not in widget_class(page) and accent(page) < 0.4


def test_custom_properties_match_the_host_theme(page: Page, blog: Blog) -> None:
    style = (
        "<style>[data-ranklet-comments]{--ranklet-accent:#6a1b9a;"
        "--ranklet-font:Georgia,serif;--ranklet-radius:0px}</style>"
    )
    url, _ = blog.page("custom-properties", head=style, theme="light")
    page.goto(url)
    submit = page.locator(".ranklet-submit")
    css = submit.evaluate(
        "e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).fontFamily,"
        " getComputedStyle(e).borderTopLeftRadius]"
    )
    assert css == ["rgb(106, 27, 154)", "Georgia, serif", "0px"]


# Host CSS that would wreck an unprotected widget.
HOSTILE_CSS = {
    # every element reset, nothing left to inherit but what the reset says
    "reset": "*:not(head, head *, script) { all: unset !important; }",
    # a framework's base styles (after Bootstrap's reboot) plus loud inherited values
    "framework": """
      *, *::before, *::after { box-sizing: border-box; }
      html { font-size: 22px; }
      body { margin: 0; font-family: "Courier New", monospace; line-height: 2.4; color: #b00;
             background-color: #ffd; text-align: center; letter-spacing: .3em;
             text-transform: uppercase; word-spacing: 1em; cursor: crosshair;
             visibility: visible; white-space: pre; direction: ltr; }
      h1, h2, h3 { margin-top: 0; margin-bottom: .5rem; font-weight: 900; line-height: 1.2; }
      p { margin-top: 0; margin-bottom: 1rem; }
      ol, ul { padding-left: 2rem; margin: 0 0 1rem; list-style: square; }
      a { color: #f0f; text-decoration: underline wavy; }
      img, svg { vertical-align: middle; width: 100%; height: auto; }
      label { display: inline-block; font-size: 30px; }
      button, input, select, textarea { margin: 0; font-family: inherit; font-size: inherit;
        line-height: inherit; border: 4px dashed #0a0; background: #ff0; border-radius: 0; }
      button:focus:not(:focus-visible) { outline: 0; }
      textarea { resize: vertical; }
      [hidden] { display: none !important; }
      div, section, form { display: flex; flex-direction: row-reverse; gap: 3em; }
    """,
}

HOSTILE_BODY = """
<header><nav><a href="/">Home</a> <button class="host-button">Menu</button></nav></header>
<main><h1>Hostile</h1><p class="lead">Lead text with <a href="/x">a link</a>.</p>
<form class="host-form"><label>Search <input class="host-input" name="q"></label></form>
<ul class="host-list"><li>One</li><li>Two</li></ul>
<div data-ranklet-badges></div>
<div data-ranklet-comments></div>
<p class="host-footer">Footer</p></main>
"""

HOST_ELEMENTS = [
    "html",
    "body",
    "header",
    "nav a",
    ".host-button",
    "main",
    "h1",
    ".lead",
    ".lead a",
    ".host-form",
    ".host-input",
    ".host-list li",
    ".host-footer",
]

# Resolved values that depend on the page's layout, not on the cascade.
LAYOUT_PROPERTIES = {
    "width",
    "height",
    "inline-size",
    "block-size",
    "transform-origin",
    "perspective-origin",
}

COMPUTED_STYLES = """([selectors, skip]) => Object.fromEntries(selectors.map((sel) => {
  const style = getComputedStyle(document.querySelector(sel));
  const out = {};
  for (const name of style) if (!skip.includes(name)) out[name] = style.getPropertyValue(name);
  return [sel, out];
}))"""


@pytest.mark.parametrize("kind", sorted(HOSTILE_CSS))
def test_hostile_host_css_neither_breaks_the_widget_nor_is_changed(
    page: Page, blog: Blog, kind: str
) -> None:
    head = f"<style>{HOSTILE_CSS[kind]}</style>"
    url, _ = blog.page(f"hostile-{kind}", HOSTILE_BODY, head=head)
    plain = blog.host.add(f"/plain/hostile-{kind}/", html_page(HOSTILE_BODY, head=head))
    args = [HOST_ELEMENTS, sorted(LAYOUT_PROPERTIES)]
    page.goto(plain)
    without = page.evaluate(COMPUTED_STYLES, args)
    page.goto(url)
    expect(page.locator(".ranklet-thread")).to_be_visible()
    with_embed = page.evaluate(COMPUTED_STYLES, args)
    changed = {
        sel: {k: (v, with_embed[sel][k]) for k, v in props.items() if with_embed[sel][k] != v}
        for sel, props in without.items()
    }
    assert {sel: diff for sel, diff in changed.items() if diff} == {}
    assert len(without["body"]) > 200  # the comparison covered every property

    for badge in page.locator(".ranklet-badge").all():
        box = badge.bounding_box()
        assert box and box["width"] > 60 and box["height"] > 12, box
    textarea = top_form(page).locator("textarea[name=body]")
    expect(textarea).to_be_visible()
    box = textarea.bounding_box()
    assert box and box["width"] > 250 and box["height"] > 50, box
    inside = textarea.evaluate(
        "e => { const s = getComputedStyle(e); return [s.borderTopStyle, s.textTransform,"
        " s.letterSpacing, s.fontSize, getComputedStyle(e.closest('.r')).textAlign] }"
    )
    # The host's font (and size) is inherited on purpose; its text layout tricks are not.
    size = page.locator("[data-ranklet-comments]").evaluate("e => getComputedStyle(e).fontSize")
    assert inside == ["solid", "none", "normal", size, "start"]
    post_through(top_form(page), "Still works", author="Ann")
    expect(thread_items(page).first.locator(".ranklet-body")).to_have_text("Still works")
    assert thread_items(page).first.evaluate("e => getComputedStyle(e).listStyleType") == "none"


# --- safety and resilience -----------------------------------------------------------------

PAYLOADS = [
    "<img src=x onerror=window.__xss=1>",
    "<script>window.__xss=1</script>",
    "[x](javascript:window.__xss=1)",
    "[y](JaVaScRiPt:window.__xss=1)",
    "<svg onload=window.__xss=1>",
    '<a href="javascript:window.__xss=1">z</a>',
    '<iframe src="javascript:window.__xss=1"></iframe>',
    "<javascript:window.__xss=1>",
    "[d](data:text/html,<script>window.__xss=1</script>)",
]


def test_stored_markup_never_runs(page: Page, blog: Blog) -> None:
    url, article = blog.page("xss")
    for body in PAYLOADS:
        blog.comment(article, body, author="<img src=x onerror=window.__xss=1>")
    blog.comment(article, "\n\n".join(PAYLOADS))
    page.goto(url)
    expect(thread_items(page)).to_have_count(len(PAYLOADS) + 1)
    danger = ".ranklet-body :is(img, script, svg, iframe, object, embed), .ranklet-meta img"
    expect(page.locator(danger)).to_have_count(0)
    first = thread_items(page).first
    expect(first.locator(".ranklet-body")).to_have_text(PAYLOADS[0])  # shown as text
    expect(first.locator(".ranklet-author")).to_have_text("<img src=x onerror=window.__xss=1>")
    links = page.locator(".ranklet-thread a")
    hrefs = [link.get_attribute("href") for link in links.all()]
    assert all(href is None or href.startswith("mailto:") for href in hrefs), hrefs
    for link in links.all():
        link.click()
    page.wait_for_timeout(300)
    assert page.url == url
    assert page.evaluate("() => window.__xss") is None

    # Control: the same payload runs when inserted as HTML, so the check above can fail.
    page.evaluate(
        "() => document.body.insertAdjacentHTML('beforeend', '<img src=x onerror=window.__xss=1>')"
    )
    page.wait_for_function("() => window.__xss === 1")


HOST_SCRIPT = """<p id="host-marker">waiting</p>
<button id="host-button" type="button" onclick="this.textContent = 'clicked'">Host</button>
<script>
  document.addEventListener('DOMContentLoaded', () => setTimeout(() => {
    document.getElementById('host-marker').textContent = 'host script ran';
  }));
</script>"""


def test_service_unreachable_shows_a_message_and_the_page_keeps_working(
    page: Page, blog: Blog, refused_port: int
) -> None:
    dead = f"http://127.0.0.1:{refused_port}"  # nothing listens there
    # embed.js, as served, comes from a cache (the browser's or a CDN); the API is down.
    cached = {"body": served_embed(blog.server.base), "content_type": "text/javascript"}
    page.route(f"{dead}/embed.js", lambda route: route.fulfill(**cached))
    body = STANDARD_BODY + '<span data-ranklet-count="/posts/x/">–</span>' + HOST_SCRIPT
    url, _ = blog.page("service-down", body, html_lang="ja", src=dead)
    page.goto(url)
    comments = page.locator("[data-ranklet-comments] .ranklet-error")
    expect(comments).to_have_text("コメントを読み込めませんでした")
    # A sidebar of badges stays quiet for readers: nothing red in every reader's sidebar
    expect(page.locator("[data-ranklet-badges] .r")).to_have_text("")
    expect(page.locator("#host-marker")).to_have_text("host script ran")
    page.locator("#host-button").click()
    expect(page.locator("#host-button")).to_have_text("clicked")
    expect(page.locator("[data-ranklet-count]")).to_have_text("–")

    # The service answers, but with an error (an unknown site): the message, in English.
    script = embed_tag(blog.server.base, "no-such-site")
    url = blog.host.add(
        "/posts/unknown-site/", html_page(STANDARD_BODY + HOST_SCRIPT, script=script)
    )
    page.goto(url)
    expect(comments).to_have_text("Comments could not be loaded")
    expect(page.locator("#host-marker")).to_have_text("host script ran")


def test_double_include_and_async_render_once(page: Page, blog: Blog) -> None:
    path = "/posts/twice/"
    blog.comment(path, "Only once, please")
    body = STANDARD_BODY + f'<span data-ranklet-count="{path}">–</span>'
    tags = embed_tag(blog.server.base, "blog") + embed_tag(blog.server.base, "blog").replace(
        " defer", " async"
    )
    page.goto(blog.host.add(path, html_page(body, script=tags)))
    expect(page.locator(f'[data-ranklet-count="{path}"]')).to_have_text("1")
    expect(thread_items(page)).to_have_count(1)
    expect(page.locator(".ranklet-badges")).to_have_count(1)
    expect(page.locator(".ranklet-thread")).to_have_count(1)
    page.evaluate("() => window.Ranklet.refresh()")
    page.wait_for_timeout(300)
    expect(page.locator(".ranklet-thread")).to_have_count(1)
    expect(thread_items(page)).to_have_count(1)
    globals_ = page.evaluate("() => Object.keys(window).filter((k) => /ranklet/i.test(k))")
    assert globals_ == ["Ranklet"]


# --- keyboard and screen readers -----------------------------------------------------------


def test_keyboard_only_posting_and_replying(page: Page, blog: Blog) -> None:
    url, article = blog.page("keyboard")
    author = blog.comment(article, "Hello from the author.", admin=True)
    page.goto(url)
    expect(own_part(page, author["id"]).locator(".ranklet-author-badge")).to_have_text("Author")

    tab_until(page, lambda f: f["name"] == "author")
    page.keyboard.type("Kei")
    for name in ("email", "website", "body"):
        page.keyboard.press("Tab")
        assert focused(page)["name"] == name
    page.keyboard.type("Typed without a mouse.")
    page.keyboard.press("Enter")
    page.keyboard.type("Second line.")
    page.keyboard.press("Tab")
    submit = focused(page)
    assert "ranklet-submit" in submit["cls"]
    assert submit["outline"] != "none"  # focus is visible
    page.keyboard.press("Enter")
    expect(page.locator(".ranklet-note")).to_have_text("Posted")
    expect(thread_items(page)).to_have_count(2)
    posted = thread_items(page).nth(1).locator(".ranklet-body")
    expect(posted).to_have_text(re.compile(r"Typed without a mouse\.\s*Second line\."))

    def reply_button(f: dict[str, Any]) -> bool:
        return "ranklet-reply" in f["cls"] and f["comment"] == str(author["id"])

    tab_until(page, reply_button)
    page.keyboard.press("Enter")
    assert focused(page)["name"] == "body"
    page.keyboard.type("A keyboard reply.")
    page.keyboard.press("Tab")
    assert "ranklet-submit" in focused(page)["cls"]
    page.keyboard.press("Enter")
    replies = page.locator(f'.ranklet-comment[data-id="{author["id"]}"] > .ranklet-replies > li')
    expect(replies).to_have_count(1)
    expect(replies.locator(".ranklet-body")).to_have_text("A keyboard reply.")
    assert reply_button(focused(page))  # focus returns to the Reply button

    # Opened by mistake: Cancel by keyboard closes the form and gives focus back.
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert "ranklet-cancel" in focused(page)["cls"]
    page.keyboard.press("Enter")
    expect(own_part(page, author["id"]).locator(".ranklet-reply-form")).to_have_count(0)
    assert reply_button(focused(page))


AXE_DARK_HOST = "<style>body{background:#121212;color:#e8e8e8}a{color:#9cf}</style>"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_serious_violations(page: Page, blog: Blog, theme: str) -> None:
    body = STANDARD_BODY + '<p>Comments: <span data-ranklet-count="/posts/x/">–</span></p>'
    head = AXE_DARK_HOST if theme == "dark" else ""
    url, article = blog.page(f"axe-{theme}", body, head=head, theme=theme)
    question = blog.comment(article, "How many **KPIs**? See https://example.com/kpi", author="Q")
    blog.comment(article, "Three at most.", parent_id=question["id"], admin=True)
    gone = blog.comment(article, "Soon deleted", author="X")
    blog.comment(article, "A reply that keeps a placeholder", parent_id=gone["id"])
    blog.api("DELETE", f"/comments/{gone['id']}", admin=True)
    blog.api("POST", f"/comments/{question['id']}/like")
    page.goto(url)
    post_through(top_form(page), "My own comment, with edit and delete buttons", author="Me")
    expect(page.locator(".ranklet-edit")).to_have_count(1)
    own_part(page, question["id"]).locator(".ranklet-reply").click()  # a reply form, open
    expect(page.locator(".ranklet-deleted")).to_have_count(1)

    results = Axe().run(page)
    assert serious(results) == [], results.generate_report()

    if theme == "light":
        # Control: axe does look inside the shadow roots.
        page.locator("[data-ranklet-comments]").evaluate(
            "e => e.shadowRoot.querySelector('.r').append(Object.assign("
            "document.createElement('button'), {className: 'axe-probe'}))"
        )
        found = serious(Axe().run(page, options={"runOnly": ["button-name"]}))
        assert any(
            v["id"] == "button-name" and any(".axe-probe" in str(n["target"]) for n in v["nodes"])
            for v in found
        ), found


# --- rate limit ----------------------------------------------------------------------------


def test_rate_limit_message_with_the_wait_time(page: Page, blog: Blog) -> None:
    limited = wait_ready(blog.limited)
    url, _ = blog.page("rate-limited", src=limited.base)
    page.goto(url)
    form = top_form(page)
    post_through(form, "First", author="Ann")
    expect(page.locator(".ranklet-note")).to_have_text("Posted")
    box = form.locator("textarea[name=body]").bounding_box()
    post_through(form, "Second")
    # The service's own message (in the page's language), where "Posted" was: never both,
    # and the form does not move
    expect(form.locator(".ranklet-error[role=alert]")).to_have_text(
        re.compile(r"^Too many comments in a short time; try again in (1 min|[1-5]?\d s)\.$")
    )
    expect(form.locator(".ranklet-note")).to_have_text("")
    assert form.locator("textarea[name=body]").bounding_box() == box
    expect(form.locator("textarea[name=body]")).to_have_value("Second")  # nothing is lost
    expect(thread_items(page)).to_have_count(1)

    url, _ = blog.page("rate-limited-ja", html_lang="ja", src=limited.base)
    page.goto(url)
    post_through(top_form(page), "三回目")
    expect(top_form(page).locator("[role=alert]")).to_have_text(
        re.compile(
            r"^短い時間に続けて投稿されたため、受け付けを一時停止しています。"
            r"(1分|[1-5]?\d秒)後にもう一度お試しください。$"
        )
    )


# --- issue 12: host colours, narrow screens, delete, errors, counts ------------------------


def widget_class(page: Page, selector: str = "[data-ranklet-comments]") -> str:
    return str(page.locator(f"{selector} .r").first.get_attribute("class"))


def test_auto_theme_follows_the_host_pages_own_background(page: Page, blog: Blog) -> None:
    """A white page stays light on a dark system; a dark page is dark on a light one; the
    nearest opaque background up from the mount decides; a host whose own style turns dark
    with the system takes the widget along, live."""
    page.emulate_media(color_scheme="dark")
    url, _ = blog.page("auto-white-host", head="<style>body{background:#fff}</style>", theme="auto")
    page.goto(url)
    assert background(page) == TRANSPARENT
    assert "dark" not in widget_class(page)

    page.emulate_media(color_scheme="light")
    url, _ = blog.page("auto-dark-host", head="<style>html{background:#101418}</style>")
    page.goto(url)  # no data-theme: auto is the default
    assert "dark" in widget_class(page) and accent(page) > 0.55
    assert "dark" in widget_class(page, "[data-ranklet-badges]")

    body = (
        '<main style="background:#fff"><div style="background:rgba(0,0,0,0)">'
        '<div style="background:#1b1b1b"><div data-ranklet-comments></div></div></div>'
        "<div data-ranklet-badges></div></main>"
    )
    url, _ = blog.page("auto-nested", body, theme="auto")
    page.goto(url)
    assert "dark" in widget_class(page)
    expect(page.locator(".ranklet-badge").first).to_be_visible()
    assert "dark" not in widget_class(page, "[data-ranklet-badges]")

    follows = (
        "<style>body{background:#fafafa}"
        "@media (prefers-color-scheme: dark){body{background:#15171a}}</style>"
    )
    url, _ = blog.page("auto-host-follows-system", head=follows, theme="auto")
    page.goto(url)
    assert "dark" not in widget_class(page)
    page.emulate_media(color_scheme="dark")
    expect(page.locator("[data-ranklet-comments] .r")).to_have_class(re.compile(r"\bdark\b"))
    assert accent(page) > 0.55


def test_badges_share_one_arrangement_at_375_px(page: Page, rankings: Blog) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    url, _ = rankings.page("badges-375", html_lang="ja")
    page.goto(url)
    badges = page.locator(".ranklet-badge")
    expect(badges).to_have_count(2)
    widths = set()
    for badge in badges.all():
        label, rank = (s.bounding_box() for s in badge.locator("span").all()[:2])  # (then the flag)
        assert label and rank
        assert rank["y"] >= label["y"] + label["height"] - 1  # rank under label, every one
        box = badge.bounding_box()
        assert box and box["x"] + box["width"] <= 375
        widths.add(round(box["width"]))
    assert len(widths) == 1, widths  # the same width, the same arrangement


def test_author_mark_has_padding(page: Page, blog: Blog) -> None:
    url, article = blog.page("author-mark", html_lang="ja")
    blog.comment(article, "著者からの返信です。", admin=True)
    page.goto(url)
    mark = page.locator(".ranklet-author-badge")
    expect(mark).to_have_text("著者")
    padding = mark.evaluate("e => parseFloat(getComputedStyle(e).paddingLeft)")
    assert padding >= 4
    inner = mark.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return r.getBoundingClientRect().width; }"
    )
    box = mark.bounding_box()
    assert box and box["width"] >= inner + 2 * padding - 1


def test_delete_leaves_a_bare_placeholder_and_a_passing_status(page: Page, blog: Blog) -> None:
    url, article = blog.page("delete-status", html_lang="ja")
    page.goto(url)
    post_through(top_form(page), "消す予定のコメント", author="消")
    mine = int(thread_items(page).first.get_attribute("data-id") or 0)
    blog.comment(article, "返信が残ります", parent_id=mine)
    page.reload()
    expect(own_part(page, mine).locator("svg path")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    own_part(page, mine).locator(".ranklet-delete").click()
    expect(own_part(page, mine)).to_have_text("このコメントは削除されました")
    expect(own_part(page, mine).locator("svg path")).to_have_count(0)  # no avatar, at once
    # Said in place beside the top form's button: nothing above the form moves
    note = top_form(page).locator(".ranklet-note[role=status]")
    expect(note).to_have_text("このコメントは削除されました")
    expect(note).to_have_text("", timeout=12_000)  # transient
    page.reload()
    expect(own_part(page, mine).locator("svg path")).to_have_count(0)  # as after a reload


def test_validation_errors_are_alerts_in_an_error_colour(page: Page, blog: Blog) -> None:
    url, _ = blog.page("validation-error", html_lang="ja")
    page.goto(url)
    form = top_form(page)
    post_through(form, "   \n  ")  # passes `required`, refused by the server
    alert = form.locator(".ranklet-error[role=alert]")
    # The server's own Japanese message, which names the field, shown once and alone.
    expect(alert).to_have_text("コメントは1〜5,000文字で入力してください。")
    expect(form.locator(".ranklet-note")).to_have_text("")  # never success and error at once
    colours = alert.evaluate(
        "e => [getComputedStyle(e).color,"
        " getComputedStyle(e.getRootNode().querySelector('.ranklet-note')).color]"
    )
    error, info = colours
    assert error != info
    red, green, _ = (int(x) for x in re.findall(r"\d+", error)[:3])
    assert red > green + 60  # reads as an error
    assert serious(Axe().run(page, options={"runOnly": ["color-contrast"]})) == []
    post_through(form, "今度は中身があります")
    expect(alert).to_have_text("")  # a successful post clears the error
    expect(page.locator(".ranklet-note")).to_have_text("投稿しました")


def test_counts_on_the_page_follow_a_post_and_a_delete(page: Page, blog: Blog) -> None:
    path = "/posts/count-follows/"
    body = STANDARD_BODY + (
        f'<p><span data-ranklet-count="{path}">–</span>'
        f' / <span data-ranklet-count="{path}" data-ranklet-count-format="long">–</span></p>'
    )
    url, article = blog.page("count-follows", body)
    assert article == path
    blog.comment(article, "Already here")
    page.goto(url)
    short = page.locator(f'[data-ranklet-count="{path}"]').first
    long = page.locator("[data-ranklet-count-format=long]")
    expect(short).to_have_text("1")
    post_through(top_form(page), "One more", author="Ann")
    expect(short).to_have_text("2")
    expect(long).to_have_text("2 comments")
    page.once("dialog", lambda dialog: dialog.accept())
    thread_items(page).nth(1).locator(".ranklet-delete").click()
    expect(short).to_have_text("1")
    expect(long).to_have_text("1 comment")


@pytest.mark.parametrize("case", ["auto-dark-system", "auto-dark-host", "narrow-375"])
def test_axe_clean_in_dark_mode_and_at_375_px(page: Page, blog: Blog, case: str) -> None:
    if case == "narrow-375":
        page.set_viewport_size({"width": 375, "height": 800})
    else:
        page.emulate_media(color_scheme="dark" if case == "auto-dark-system" else "light")
    head = AXE_DARK_HOST if case == "auto-dark-host" else ""
    if case == "auto-dark-system":
        head = (
            "<style>:root{color-scheme:light dark}"
            "@media (prefers-color-scheme: dark){body{background:#16181d;color:#e6e8eb}"
            "a{color:#9cf}}</style>"
        )
    url, article = blog.page(f"axe-{case}", head=head, theme="auto", html_lang="ja")
    question = blog.comment(article, "KPI は何個？ https://example.com/kpi", author="Q")
    blog.comment(article, "3つまでです。", parent_id=question["id"], admin=True)
    page.goto(url)
    post_through(top_form(page), "自分のコメント", author="Me")
    expect(page.locator(".ranklet-note")).to_have_text("投稿しました")
    post_through(top_form(page), "  ")
    expect(top_form(page).locator("[role=alert]")).not_to_have_text("")
    if case != "narrow-375":
        assert "dark" in widget_class(page)
    # The widget is transparent and takes the page's text colour: the page paints its own
    # dark background (axe takes an unpainted canvas for white, whatever the scheme).
    widget = {"include": [["[data-ranklet-comments]"], ["[data-ranklet-badges]"]]}
    results = Axe().run(page, context=widget if case == "auto-dark-system" else None)
    assert serious(results) == [], results.generate_report()
