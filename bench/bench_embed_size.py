"""What a reader's browser downloads from Ranklet to render the embed, and in how many requests.

Prints:

1. ``embed/embed.js`` on disk: raw, ``gzip -9`` and brotli (quality 11) sizes, and the same
   for it minified as the service serves it (rjsmin, ``service.embed_assets.minify``);
2. ``/embed.js`` as served by a real ``ranklet demo`` for ``Accept-Encoding`` identity,
   gzip and br (body bytes, Content-Encoding, Cache-Control, ETag), and a revalidation;
3. the requests Chromium sends to the service to render the demo page, by kind (script,
   widget, counts, CORS preflights, other) with the bytes on the wire, twice: the page as
   the service serves it (same origin), and the same HTML from another 127.0.0.1 port,
   like a real blog (cross-origin: reads must not be preflighted). Preflights are counted
   with the DevTools protocol, because Playwright's ``request`` event does not see them.

The budget (issue 4) is 7 KB gzipped for everything needed to render (script and styles,
as served), one ``widget`` and one ``counts`` request, and no preflight before a read;
the exit code is 1 when a figure is over it.

    python bench/bench_embed_size.py
    python bench/bench_embed_size.py --budget 7000

Needs Chromium (``apt-get install -y chromium``) and ``pip install -e '.[test]'``; reuses
``demo_server`` and ``launch_chromium`` from ``scripts/screenshot.py``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import brotli

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from screenshot import demo_server, launch_chromium, wait_rendered  # noqa: E402

from service.http.embed_assets import minify  # noqa: E402

EMBED = REPO / "embed" / "embed.js"
KINDS = ("script", "widget", "counts", "preflight", "other")


def file_sizes() -> dict[str, int]:
    raw = EMBED.read_bytes()
    sizes = {
        "raw": len(raw),
        "gzip -9 (python, no name)": len(gzip.compress(raw, compresslevel=9, mtime=0)),
        "brotli q11": len(brotli.compress(raw, quality=11)),
    }
    if shutil.which("gzip"):
        done = subprocess.run(["gzip", "-9", "-c", str(EMBED)], capture_output=True, check=True)
        sizes["gzip -9 -c embed/embed.js"] = len(done.stdout)
    served = minify(raw)
    sizes["minified (as served)"] = len(served)
    sizes["minified, gzip -9"] = len(gzip.compress(served, compresslevel=9, mtime=0))
    sizes["minified, brotli q11"] = len(brotli.compress(served, quality=11))
    return sizes


def fetch(base: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


def served_sizes(base: str) -> list[dict[str, Any]]:
    rows = []
    for accept in ("identity", "gzip", "br"):
        status, headers, body = fetch(base, "/embed.js", {"Accept-Encoding": accept})
        rows.append(
            {
                "accept": accept,
                "status": status,
                "bytes": len(body),
                "encoding": headers.get("content-encoding", "-"),
                "type": headers.get("content-type", ""),
                "cache": headers.get("cache-control", ""),
                "etag": headers.get("etag", ""),
            }
        )
    etag = rows[1]["etag"]
    status, _, body = fetch(base, "/embed.js", {"Accept-Encoding": "gzip", "If-None-Match": etag})
    rows.append(
        {
            "accept": "gzip + If-None-Match",
            "status": status,
            "bytes": len(body),
            "encoding": "-",
            "type": "",
            "cache": "",
            "etag": etag,
        }
    )
    return rows


def kind_of(method: str, path: str) -> str:
    if method == "OPTIONS":
        return "preflight"
    if path == "/embed.js":
        return "script"
    found = re.match(r"^/api/v1/sites/[^/]+/(widget|counts)\?", path)
    return found.group(1) if found else "other"


def render_requests(browser: Any, url: str, service: str) -> dict[str, Any]:
    """Load ``url`` in a fresh context; the requests sent to ``service``, by kind."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    sent: dict[str, tuple[str, str]] = {}
    wire: dict[str, int] = {}
    encodings: dict[str, str] = {}

    def will_send(event: dict[str, Any]) -> None:
        request_url = event["request"]["url"]
        if request_url.startswith(service + "/"):
            path = request_url[len(service) :]
            sent[event["requestId"]] = (kind_of(event["request"]["method"], path), path)

    def received(event: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in event["response"]["headers"].items()}
        encodings[event["requestId"]] = headers.get("content-encoding", "identity")

    cdp.on("Network.requestWillBeSent", will_send)
    cdp.on("Network.responseReceived", received)
    cdp.on(
        "Network.loadingFinished",
        lambda e: wire.__setitem__(e["requestId"], e["encodedDataLength"]),
    )
    page.goto(url, wait_until="networkidle")
    wait_rendered(page)
    page.wait_for_timeout(500)
    context.close()
    counts: Counter[str] = Counter(kind for kind, _ in sent.values())
    size: dict[str, int] = defaultdict(int)
    details = []
    for request_id, (kind, path) in sent.items():
        size[kind] += wire.get(request_id, 0)
        details.append((kind, path, encodings.get(request_id, "-"), wire.get(request_id, 0)))
    return {"counts": counts, "bytes": size, "details": sorted(details)}


class CrossOriginCopy:
    """The demo page's HTML served from another 127.0.0.1 port, pointing at the service."""

    def __init__(self, base: str) -> None:
        _, _, body = fetch(base, "/demo/", {})
        html = body.decode().replace('src="/embed.js"', f'src="{base}/embed.js"')
        html = html.replace('href="/static/', f'href="{base}/static/').encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/demo/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def report(budget: int) -> int:
    over: list[str] = []
    print("embed/embed.js on disk")
    for name, value in file_sizes().items():
        print(f"  {name:<28}{value:>8,} B")

    with demo_server() as base, launch_chromium() as browser:
        print(f"\n/embed.js as served by {base}")
        print(f"  {'Accept-Encoding':<22}{'status':>7}{'bytes':>9}  {'encoding':<9}cache-control")
        for row in served_sizes(base):
            print(
                f"  {row['accept']:<22}{row['status']:>7}{row['bytes']:>9,}  "
                f"{row['encoding']:<9}{row['cache']}"
            )
            if row["accept"] == "gzip" and row["bytes"] > budget:
                over.append(f"/embed.js gzip as served is {row['bytes']} B > {budget} B")

        copy = CrossOriginCopy(base)
        try:
            pages = {
                "same origin (/demo/ as served)": base + "/demo/",
                "cross-origin (the same HTML on another port)": copy.url,
            }
            for title, url in pages.items():
                seen = render_requests(browser, url, base)
                print(f"\nrequests to the service to render the demo page, {title}")
                for kind in KINDS:
                    n = seen["counts"][kind]
                    print(f"  {kind:<10}{n:>3} request(s) {seen['bytes'][kind]:>8,} B on the wire")
                for kind, path, encoding, size in seen["details"]:
                    print(f"    {kind:<10}{encoding:<9}{size:>8,} B  {path[:90]}")
                expected = {"script": 1, "widget": 1, "counts": 1, "preflight": 0}
                for kind, n in expected.items():
                    if seen["counts"][kind] != n:
                        over.append(f"{title}: {seen['counts'][kind]} {kind} request(s), not {n}")
        finally:
            copy.close()

    print(f"\nbudget: {budget:,} B gzipped script and styles; 1 widget + 1 counts; no preflight")
    for problem in over:
        print(f"OVER BUDGET: {problem}")
    if not over:
        print("within budget")
    return 1 if over else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=7000, help="bytes, gzipped (default 7000)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return report(args.budget)


if __name__ == "__main__":
    sys.exit(main())
