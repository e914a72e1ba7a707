"""Driving the embed in Chromium: a blog of generated pages on its own 127.0.0.1 port (the
host origin), a client for the service's API, and locators for the widget's parts.

Shared by the browser test modules of the embed; each starts its own ``ranklet serve``
(``module_servers``) and site, and every test uses an article (page path) of its own.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from playwright.sync_api import Page

NO_RATE_LIMIT = {"RANKLET_COMMENT_RATE_LIMIT": ""}


# --- the blog: a tiny web server of its own ---------------------------------------------


class HostPages:
    """Generated HTML pages served from their own 127.0.0.1 port: the blog's origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                html = pages.get(self.path.split("?")[0])
                body = (html or "<!doctype html><title>404</title>").encode()
                self.send_response(200 if html else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def html_page(
    body: str, *, lang: str = "en", title: str = "A post", head: str = "", script: str = ""
) -> str:
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{title}</title>{head}</head><body>{body}{script}</body></html>"
    )


def embed_tag(src_origin: str, slug: str, **attrs: str) -> str:
    extra = "".join(f' data-{k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    return f'<script src="{src_origin}/embed.js" data-site="{slug}"{extra} defer></script>'


STANDARD_BODY = """
<header><a href="/">My blog</a></header>
<main><h1>A post</h1><p>Some text.</p>
<div data-ranklet-badges></div>
<div data-ranklet-comments></div></main>
"""


# --- the service ---------------------------------------------------------------------------


def call(base: str, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """One API call from a script (no Origin header, so the service takes it)."""
    request = urllib.request.Request(
        base + "/api/v1" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers} if body is not None else headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


@dataclass
class Blog:
    """The module's service, site and host pages."""

    server: Any
    site: Any
    host: HostPages
    limited: Any = None  # a second server, rate-limited, on the same database
    articles: set[str] = field(default_factory=set)

    def api(self, method: str, path: str, body: Any = None, *, admin: bool = False) -> Any:
        headers = self.site.auth if admin else {}
        status, data = call(
            self.server.base, method, f"/sites/{self.site.slug}{path}", body, **headers
        )
        assert 200 <= status < 300, (method, path, status, data)
        return data

    def comment(self, article: str, body: str, **fields: Any) -> dict[str, Any]:
        admin = fields.pop("admin", False)
        data = {"article": article, "body": body, **fields}
        return self.api("POST", "/comments", data, admin=admin)["comment"]

    def page(
        self,
        name: str,
        body: str = STANDARD_BODY,
        *,
        html_lang: str = "en",
        head: str = "",
        src: str | None = None,
        **attrs: str,
    ) -> tuple[str, str]:
        """A host page at ``/posts/NAME/`` (its article key) that includes the embed;
        ``attrs`` become the script's ``data-*`` attributes."""
        path = f"/posts/{name}/"
        assert path not in self.articles, "each test uses an article of its own"
        self.articles.add(path)
        script = embed_tag(src or self.server.base, self.site.slug, **attrs)
        page = html_page(body, lang=html_lang, head=head, script=script)
        return self.host.add(path, page), path


def served_embed(base: str) -> bytes:
    """``/embed.js`` exactly as the service sends it to a client without compression."""
    request = urllib.request.Request(base + "/embed.js", headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=20) as answer:
        return answer.read()


# --- the widget ----------------------------------------------------------------------------


DEEP_ACTIVE = """() => {
  let el = document.activeElement;
  while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
  const comment = el && el.closest('.ranklet-comment');
  return el && {tag: el.tagName.toLowerCase(), name: el.getAttribute('name') || '',
    cls: el.getAttribute('class') || '', comment: comment ? comment.dataset.id : null,
    outline: getComputedStyle(el).outlineStyle};
}"""


def focused(page: Page) -> dict[str, Any]:
    return page.evaluate(DEEP_ACTIVE)


def tab_until(page: Page, want: Any, limit: int = 25) -> list[dict[str, Any]]:
    """Press Tab until ``want(focused element)``; the stops on the way, in order."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if want(stops[-1]):
            return stops
    raise AssertionError(f"focus never got there; stops: {stops}")


def thread_items(page: Page) -> Any:
    return page.locator(".ranklet-list > .ranklet-comment")


def comment_el(page: Page, comment_id: int) -> Any:
    return page.locator(f'.ranklet-comment[data-id="{comment_id}"]')


def top_form(page: Page) -> Any:
    return page.locator(".ranklet-thread > .ranklet-form")


def post_through(form: Any, body: str, author: str | None = None) -> None:
    if author is not None:
        form.locator("input[name=author]").fill(author)
    form.locator("textarea[name=body]").fill(body)
    form.locator(".ranklet-submit").click()


def own_part(page: Page, comment_id: int) -> Any:
    """A comment without its replies (whose buttons have the same classes)."""
    return page.locator(f'.ranklet-comment[data-id="{comment_id}"] > .ranklet-c')


def serious(results: Any) -> list[dict[str, Any]]:
    return [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
