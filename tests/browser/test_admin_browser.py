"""The admin page in Chromium against a real ``ranklet serve``: an author signs in with the
site token, approves a pending comment and records a position, and readers see both.

Uses pytest-playwright's ``page`` (Debian's Chromium, launched by ``browser/conftest.py``).
A screenshot of the moderation queue is kept in the test's temporary folder and at
``RANKLET_ADMIN_SCREENSHOT`` when that is set.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from support import chromium_available, need

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTICLE = "/2026/01/dx-first-90-days/"


def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A plain API client: JSON in and out, no Origin header (like a script)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read() or b"null")


# How many lines an element's text takes: the distinct tops of its text's boxes.
LINES_OF_TEXT = """e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
}"""


def assert_accessible(page: Page) -> None:
    """axe-core finds no violation (labels, contrast, landmarks, headings, ARIA)."""
    violations = Axe().run(page).response["violations"]
    assert not violations, [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]


@pytest.mark.browser_context_args(locale="ja-JP")
def test_author_signs_in_approves_and_records_in_chromium(
    start_server: Any, server_database: dict[str, str], page: Page, tmp_path: Path
) -> None:
    need(chromium_available(), "Chromium")
    server = start_server(workers=2, env=server_database)
    command = "site create blog --origin https://blog.example.com --moderation all --json"
    created = json.loads(server.cli(*command.split(), "--name", "山田コンサルティング ブログ"))
    token = created["token"]
    comments = f"/api/v1/sites/blog/comments?article={urllib.request.quote(ARTICLE)}"
    ids = []
    for author, body in (
        ("佐藤", "とても参考になりました。**業務の棚卸し**から始めてみます。"),
        ("Suzuki", "Could you write more about choosing tools?"),
    ):
        status, answer = call(
            server.base,
            "POST",
            "/api/v1/sites/blog/comments",
            {
                "article": ARTICLE,
                "article_title": "DXの最初の90日",
                "article_url": "https://blog.example.com" + ARTICLE,
                "author": author,
                "email": f"{author.lower()}@example.com",
                "body": body,
            },
        )
        assert status == 202 and answer["status"] == "pending"
        ids.append(answer["comment"]["id"])
    assert call(server.base, "GET", comments)[1]["total"] == 0

    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(server.base + "/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("サインイン")
    page.get_by_label("サイト（スラッグ）").fill("blog")
    page.get_by_label("管理トークン").fill(token)
    page.get_by_role("button", name="サインイン").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("コメントの承認")
    expect(page.get_by_role("status")).to_contain_text("にサインインしました。")
    assert token not in page.url
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["ranklet_admin"]["httpOnly"] is True
    assert cookies["ranklet_admin"]["sameSite"] == "Strict"
    expect(page.locator(".comment")).to_have_count(2)
    expect(page.locator(".comment").first).to_contain_text("Could you write more")
    expect(page.locator(".comment strong", has_text="業務の棚卸し")).to_be_visible()

    shot = tmp_path / "admin-moderation.png"
    page.screenshot(path=str(shot), full_page=True)
    if os.environ.get("RANKLET_ADMIN_SCREENSHOT"):
        page.screenshot(path=os.environ["RANKLET_ADMIN_SCREENSHOT"], full_page=True)

    assert_accessible(page)

    # keyboard users see where they are: the skip link appears and focus is drawn
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="本文へスキップ")
    expect(skip).to_be_focused()
    assert skip.evaluate("e => getComputedStyle(e).outlineStyle") != "none"

    page.get_by_role("button", name=f"承認 #{ids[0]}").click()
    expect(page.get_by_role("status")).to_contain_text("1件のコメントを承認しました。")
    expect(page.locator(".comment")).to_have_count(1)

    page.get_by_role("link", name="順位の記録").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("順位の記録")
    page.get_by_role("textbox", name="コンサルタント").fill("4")
    page.get_by_role("button", name="記録する").click()
    expect(page.get_by_role("status")).to_contain_text("1件の順位を記録しました。")
    expect(page.locator(".chart", has_text="コンサルタント")).to_contain_text("4位（最高順位）")
    chart = page.get_by_role("img", name="コンサルタントの順位の推移（上ほど良い順位）")
    expect(chart).to_be_visible()
    # decode() waits for the chart to arrive (and fails on a broken image); complete alone races
    assert chart.evaluate("img => img.decode().then(() => img.naturalWidth > 0)")
    assert_accessible(page)
    page.get_by_role("link", name="サイト設定").click()
    expect(page.get_by_label("サイト名")).to_have_value("山田コンサルティング ブログ")
    assert_accessible(page)

    # what readers see now
    thread = call(server.base, "GET", comments)[1]
    assert thread["total"] == 1
    assert [c["id"] for c in thread["comments"]] == [ids[0]]
    assert "業務の棚卸し" in thread["comments"][0]["body_html"]
    rankings = call(server.base, "GET", "/api/v1/sites/blog/rankings")[1]
    consulting = next(c for c in rankings["categories"] if c["key"] == "consulting")
    assert consulting["current"]["position"] == 4
    assert consulting["best"]["position"] == 4

    # nothing was blocked by the strict CSP, and nothing failed in the page
    assert not [p for p in problems if re.search(r"Content Security Policy|Refused|Error", p)], (
        problems
    )

    page.get_by_role("button", name="サインアウト").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("サインイン")
    page.goto(server.base + "/admin/rankings")
    expect(page.get_by_role("heading", level=1)).to_have_text("サインイン")


@pytest.mark.browser_context_args(locale="ja-JP", viewport={"width": 375, "height": 800})
def test_admin_at_375_px_and_the_demo_without_404s(
    start_server: Any, server_database: dict[str, str], page: Page
) -> None:
    """On a phone the rankings table keeps each category name on one line, the sign-in hint
    shows its commands as code (no backticks), axe stays clean, and no page (admin, demo)
    asks for anything that is missing: the favicon is there."""
    need(chromium_available(), "Chromium")
    server = start_server(workers=1, env=server_database, command="demo")
    missing: list[str] = []
    page.on("response", lambda r: r.status >= 400 and missing.append(f"{r.status} {r.url}"))

    page.goto(server.base + "/demo/")
    expect(page.locator(".ranklet-badge")).to_have_count(3)
    expect(page.locator(".ranklet-comment").first).to_be_visible()
    assert_accessible(page)  # the demo at 375 px
    page.emulate_media(color_scheme="dark")
    expect(page.locator("[data-ranklet-comments] .r")).to_have_class(re.compile(r"\bdark\b"))
    assert_accessible(page)  # and in dark mode, the widget dark with it
    page.emulate_media(color_scheme="light")
    page.goto(server.base + "/admin/")
    hint = page.locator("#token-hint")
    expect(hint.locator("code")).to_have_text(
        ["ranklet site create", "ranklet token rotate", "ranklet demo"]
    )
    assert "`" not in hint.inner_text()
    assert_accessible(page)
    output = server.log.read_text(errors="replace")
    token = re.search(r"token[^:]*:\s*(\S+)", output, re.I)
    assert token, output
    page.get_by_label("サイト（スラッグ）").fill("demo")
    page.get_by_label("管理トークン").fill(token.group(1))
    page.get_by_role("button", name="サインイン").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("コメントの承認")
    page.get_by_role("link", name="順位の記録").click()
    page.wait_for_load_state()  # the stylesheet too: layout is measured below
    labels = page.locator(".positions th[scope=row]")
    expect(labels).to_have_count(3)
    for label in labels.all():
        lines = label.locator("label").evaluate("e => e.getClientRects().length")
        assert lines == 1, label.inner_text()  # not コンサ/ルタン/ト
        box = label.bounding_box()
        assert box and box["x"] + box["width"] <= 375
    # Each new-position field is in view, not behind a sideways scroll.
    fields = page.locator(".positions input[type=text]")
    expect(fields).to_have_count(3)
    for field in fields.all():
        box = field.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
    assert_accessible(page)
    page.goto(server.base + "/admin/articles")
    # Headings, counts and 「記事を開く」 on one line each, all of the table in view.
    cells = page.locator(".data thead th, .data .num, .data .open")
    expect(cells).to_have_count(3 + 2 * 2 + 2)  # the demo's two articles with comments
    for cell in cells.all():
        assert cell.evaluate(LINES_OF_TEXT) == 1, cell.inner_text()  # not 承/認/待/ち
    table = page.locator(".data").bounding_box()
    assert table and table["x"] + table["width"] <= 375
    assert_accessible(page)
    assert missing == []
