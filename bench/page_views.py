"""bench_vs_isso's first page views: a page server, a counting proxy, headless Chromium.

Each service sits behind a proxy that records every request, CORS preflights included
(Playwright's ``request`` event does not see those), while Chromium opens a test page
served from another 127.0.0.1 port, as a reader opens a blog.
"""

from __future__ import annotations

import contextlib
import http.client
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from serving import HOST, REPO
from workload import SITE

sys.path.insert(0, str(REPO / "scripts"))

from screenshot import CHROMIUM as CHROMIUM  # bench_vs_isso says which one is missing
from screenshot import launch_chromium


class PageServer(ThreadingHTTPServer):
    """Serves the test pages (and answers Isso's start-up HEAD /) on 127.0.0.1."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((HOST, 0), _PageHandler)
        self.pages: dict[str, bytes] = {}

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"


class _PageHandler(BaseHTTPRequestHandler):
    server: PageServer

    def do_GET(self) -> None:
        page = self.server.pages.get(self.path.split("?")[0])
        if page is None and self.path != "/":
            self.send_error(404)
            return
        body = page or b"<!doctype html><title>bench</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@dataclass
class Seen:
    method: str
    path: str
    status: int
    bytes: int
    encoding: str


class CountingProxy(ThreadingHTTPServer):
    """Forwards everything to one upstream port and records each request, OPTIONS included."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        super().__init__((HOST, 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}"

    def take(self) -> list[Seen]:
        with self.lock:
            seen, self.seen = self.seen, []
        return seen


class _ProxyHandler(BaseHTTPRequestHandler):
    server: CountingProxy

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn = http.client.HTTPConnection(HOST, self.server.upstream_port, timeout=120)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        with self.server.lock:
            self.server.seen.append(
                Seen(
                    self.command,
                    self.path,
                    response.status,
                    len(data),
                    response.getheader("Content-Encoding") or "identity",
                )
            )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def in_thread(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def page_html(kind: str, base: str, article: str, count_articles: list[str]) -> bytes:
    if kind == "ranklet":
        counts = "".join(
            f'<li><a href="{a}">{a}</a>: <span data-ranklet-count="{a}">?</span></li>'
            for a in count_articles
        )
        widget = (
            "<div data-ranklet-comments></div>\n"
            f'<script src="{base}/embed.js" data-site="{SITE}" data-article="{article}" defer>'
            "</script>"
        )
    else:
        # Isso's embed replaces the text of every link to "...#isso-thread" with its count.
        counts = "".join(f'<li>{a}: <a href="{a}#isso-thread">?</a></li>' for a in count_articles)
        widget = (
            f'<section id="isso-thread" data-isso-id="{article}"></section>\n'
            f'<script data-isso="{base}" src="{base}/js/embed.min.js"></script>'
        )
    return (
        "<!doctype html>\n<html><head><meta charset=utf-8><title>Bench article</title></head>"
        "<body><article><h1>Bench article</h1><p>Some text.</p></article>\n"
        f"<ul>{counts}</ul>\n{widget}\n</body></html>"
    ).encode()


@dataclass
class PageView:
    service: str
    page: str
    rendered_ms: float
    comments_shown: int
    counts_filled: int
    assets: int
    data_requests: int
    preflights: int
    transferred_bytes: int
    requests: list[str] = field(default_factory=list)


def browse(
    pages: PageServer,
    proxies: dict[str, CountingProxy],
    article: str,
    count_articles: list[str],
) -> list[PageView]:
    """First page views in headless Chromium; what each service saw through its proxy."""
    selectors = {"ranklet": ".ranklet-comment", "isso": "#isso-root .isso-comment"}
    count_selectors = {"ranklet": "[data-ranklet-count]", "isso": 'a[href$="#isso-thread"]'}
    variants = {"thread only": [], f"thread + {len(count_articles)} counts": count_articles}
    views: list[PageView] = []
    with launch_chromium() as browser:
        for service, proxy in proxies.items():
            for variant, counted in variants.items():
                path = f"/{service}/{len(counted)}.html"
                pages.pages[path] = page_html(service, proxy.base, article, counted)
                context = browser.new_context()  # empty caches: a first visit
                try:
                    page = context.new_page()
                    proxy.take()
                    began = time.perf_counter()
                    page.goto(pages.origin + path, timeout=60_000)
                    page.wait_for_selector(selectors[service], timeout=60_000)
                    rendered = (time.perf_counter() - began) * 1000.0
                    page.wait_for_load_state("networkidle", timeout=60_000)
                    page.wait_for_timeout(500)
                    shown = page.locator(selectors[service]).count()
                    texts = page.locator(count_selectors[service]).all_inner_texts()
                    filled = sum(text.strip() != "?" for text in texts)
                    seen = proxy.take()
                finally:
                    context.close()
                preflights = [s for s in seen if s.method == "OPTIONS"]
                assets = [
                    s
                    for s in seen
                    if s.method != "OPTIONS" and s.path.split("?")[0].endswith((".js", ".css"))
                ]
                data = len(seen) - len(preflights) - len(assets)
                views.append(
                    PageView(
                        service=service,
                        page=variant,
                        rendered_ms=rendered,
                        comments_shown=shown,
                        counts_filled=filled if counted else 0,
                        assets=len(assets),
                        data_requests=data,
                        preflights=len(preflights),
                        transferred_bytes=sum(s.bytes for s in seen),
                        requests=[
                            f"{s.method} {s.path} -> {s.status}, {s.bytes} B {s.encoding}"
                            for s in seen
                        ],
                    )
                )
    return views
