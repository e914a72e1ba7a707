"""An imported WordPress blog in Chromium: the embed's default key on a plain-permalink page
(``/?p=N``) and on a Japanese path opens the thread the real export's comments went to.

The export is the real theme unit test data (tests/data), in the two variants a Japanese
blog would have (``real_exports.py``); the blog's pages are served on their own origin, as
WordPress would, with the snippet pasted as the README says (no ``data-article``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from embed_pages import NO_RATE_LIMIT, HostPages, embed_tag, html_page, thread_items
from playwright.sync_api import Page, expect
from real_exports import DATA, expected_threads, japanese_variant, plain_permalink_variant
from support import database_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SOURCE = DATA / "wptt-theme-unit-test.xml"
BODY = (
    '<main><h1>Post</h1><span class="count" data-ranklet-count="{count}"></span>'
    "<div data-ranklet-comments></div></main>"
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request: pytest.FixtureRequest, module_servers: Any) -> Iterator[Any]:
    """A ``ranklet serve`` on SQLite (its default) or on a fresh PostgreSQL schema."""
    with database_env(request.param) as env:
        started = module_servers(env={**NO_RATE_LIMIT, **env})
        yield started
        if env:  # its schema goes: stop the server first
            started.stop()


def _imported(server: Any, host: HostPages, slug: str, path: Path) -> dict[str, Any]:
    server.create_site(slug, host.origin)
    out = server.cli("import", "wordpress", str(path), "--site", slug)
    assert "committed in one transaction" in out
    return expected_threads(path)


def _busiest(expected: dict[str, Any]) -> Any:
    return max(expected.values(), key=lambda t: t.by_status()["approved"])


def _check_thread(page: Page, thread: Any) -> None:
    approved = thread.by_status()["approved"]
    top = sum(1 for c in thread.comments if c.status == "approved" and c.depth == 1)
    expect(page.locator(".ranklet-thread h2")).to_have_text(f"{approved} comments")
    expect(thread_items(page)).to_have_count(min(top, 50))
    expect(page.locator(".count")).to_have_text(str(approved))


def test_plain_permalink_page_opens_its_own_thread(
    page: Page, server: Any, host: HostPages, tmp_path: Path
) -> None:
    path = tmp_path / "plain.xml"
    plain_permalink_variant(SOURCE, path)
    thread = _busiest(_imported(server, host, "plain", path))
    assert thread.key.startswith("/?p=")
    host.add("/", html_page(BODY.format(count=thread.key), script=embed_tag(server.base, "plain")))
    page.goto(host.origin + thread.key + "&utm_source=feed")  # other query: still the post
    _check_thread(page, thread)
    # The home page itself (no ?p=) is another thread, empty: nothing was merged into it.
    page.goto(host.origin + "/")
    expect(page.locator(".ranklet-thread h2")).to_have_text("0 comments")


def test_japanese_path_opens_the_thread_whatever_the_spelling(
    page: Page, server: Any, host: HostPages, tmp_path: Path
) -> None:
    path = tmp_path / "japanese.xml"
    japanese_variant(SOURCE, path)
    thread = _busiest(_imported(server, host, "ja", path))
    written = urlsplit(thread.link).path  # as WordPress wrote it: %e7%b5%8c...
    assert written != thread.key and "%" in written
    # The count element carries the key as a theme prints get_permalink(): lower-case escapes.
    html = html_page(BODY.format(count=written), script=embed_tag(server.base, "ja"))
    host.add(re.sub("%[0-9a-f]{2}", lambda m: m.group(0).upper(), written), html)  # as sent
    page.goto(host.origin + thread.key)  # a shared link: /2023/05/経営0/
    _check_thread(page, thread)
    assert page.evaluate("location.pathname") != thread.key  # the browser sent escapes
