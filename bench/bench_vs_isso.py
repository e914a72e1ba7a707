"""Ranklet next to Isso 0.14 in one run: the same data, server set-up and bounded load.

What it does (issue 6, item 3), all on 127.0.0.1 and bounded in time:

1. Installs Isso 0.14 (``isso==0.14.*``; the newest Isso if 0.14 cannot be installed, said so
   in the output) with gunicorn into its own virtual environment, ``bench/.venv-isso``
   (reused when it already holds a matching Isso). Isso never enters the project's
   dependencies.
2. Seeds both with the same plan: threads of 20, 200 and 2,000 comments (25 % replies, each
   to a top-level comment, so Isso's one-level nesting and Ranklet's trees hold the same
   structure), 100 articles with 0 to 5 comments, and a thread that receives the posts.
   Ranklet through ``service.commenting.post_comment`` (in a subprocess with rate limits
   off); Isso through its own ``isso.db.SQLite3`` classes (``bench/isso/seed_isso.py``, run
   by the venv's Python), every comment accepted (mode 1).
3. Runs both under gunicorn with 2 workers: ``python -m service.cli serve --workers 2`` (its
   gthread workers, ``RANKLET_COMMENT_RATE_LIMIT=""``) and
   ``gunicorn -w 2 isso.run`` (sync workers, ``ISSO_SETTINGS`` = ``bench/isso/isso.cfg.in``
   filled in: guard (rate limit), moderation and notifications off; ``--timeout 120`` so
   gunicorn does not kill a worker in the middle of Isso's slowest thread reads).
4. Loads each with bench/loadgen.py, ``--connections`` (16) for ``--duration`` (15 s),
   ``--repeat`` times (3), and keeps the median of each figure: the baselines (``/healthz``,
   ``/info``), a thread read as each embed makes it (Ranklet ``GET .../widget?article=``;
   Isso ``GET /?uri=...&sort=oldest&offset=0&nested_limit=5``) for each thread size,
   counts for 50 articles (``GET .../counts?article=`` x50 vs ``POST /count``), and comment
   posts (``POST .../comments`` vs ``POST /new?uri=``), then checks every 2xx post is in the
   database. Every row goes through wrk (2 threads, a Lua script for the method, body and
   headers) when it is installed, else loadgen's python client, for both services alike.
   The embeds' requests carry the page's Origin and a browser's Accept-Encoding.
   Between runs it waits until the servers' processes are
   idle again (Isso keeps working through the requests wrk left queued; ``--drain-limit``).
5. Records the gunicorn workers' RSS (from /proc) at start, before the read+count load and
   after each of its runs (and its peak; "flat" is judged after the first run), the embed's
   bytes (raw, gzip -9, brotli) and, in headless Chromium through a counting proxy, the
   requests a first page view makes to each service (assets, data requests and CORS
   preflights).
6. Prints the table, the memory, the embed figures and which of the issue's targets are met.

Every process it starts is stopped by its PID at the end, also on errors, Ctrl-C and SIGTERM.

    python bench/bench_vs_isso.py                         # 15 s x 3, about 20-30 minutes
    python bench/bench_vs_isso.py --duration 5 --repeat 1 # a quick look
    python bench/bench_vs_isso.py --no-browser --json results.json --keep
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import brotli
from loadgen import DEFAULT_CONNECTIONS, MAX_DURATION, LoadResult, run_load

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ISSO_FILES = BENCH / "isso"
DEFAULT_VENV = BENCH / ".venv-isso"
ISSO_SPEC = "isso==0.14.*"
ISSO_SERIES = "0.14."
BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium sends with fetch()
HOST = "127.0.0.1"
SITE = "benchblog"
THREAD_SIZES = (20, 200, 2000)
REPLY_SHARE = 0.25
ARTICLES = 100
COUNTED = 50
POSTS_ARTICLE = "/bench/posts"
POST_BODY = "Great post, *thanks*! One question: does this also work with `nginx` in front?"
WORKERS = 2
MIB = 1024 * 1024
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Read answers may take Isso many seconds: a longer client timeout than loadgen's 10 s keeps
# wrk from abandoning (and re-sending) requests that Isso would then still work through.
READ_TIMEOUT = 60.0
BODIES = (
    "Thanks for the write-up! I tried this on my own blog and it *just worked*.",
    "I disagree with the second point: caching at the edge is **not** free, see "
    "[this post](https://example.com/caching) for numbers.",
    "Small typo in the third paragraph (`recieve`).\n\nOtherwise a great read, thank you.",
    "> the first page of a thread costs the same\n\nHow did you measure that? With a cold "
    "cache, or after a few requests?",
    "Bookmarked. Would love a follow-up on rankings over a whole year, e.g.\n\n"
    "- which categories moved most\n- what changed in the month before a jump",
)


# --- the data both services get -----------------------------------------------------------


def make_plan(seed: int = 1) -> dict[str, Any]:
    """Threads with comments in time order; a reply names an earlier top-level comment."""
    rng = random.Random(seed)
    start = time.time() - 90 * 86400
    serial = 0

    def thread(article: str, title: str, size: int) -> dict[str, Any]:
        nonlocal serial
        replies = round(size * REPLY_SHARE) if size >= 4 else 0
        kinds = ["top"] * (size - replies) + ["reply"] * replies
        rng.shuffle(kinds)
        if kinds and kinds[0] == "reply":  # the first comment of a thread cannot be a reply
            first_top = kinds.index("top")
            kinds[0], kinds[first_top] = "top", "reply"
        comments: list[dict[str, Any]] = []
        tops: list[int] = []
        for key, kind in enumerate(kinds):
            serial += 1
            comments.append(
                {
                    "key": key,
                    "parent": rng.choice(tops) if kind == "reply" else None,
                    "author": f"Reader {serial % 997}",
                    "body": BODIES[serial % len(BODIES)],
                    "created": start + serial * 60.0,
                    # Isso keeps an anonymized address per comment; readers differ.
                    "address": f"10.{(serial >> 8) & 255}.{serial & 255}.0",
                }
            )
            if kind == "top":
                tops.append(key)
        return {"article": article, "title": title, "comments": comments}

    threads = [
        thread(f"/bench/thread-{size}", f"A thread of {size} comments", size)
        for size in THREAD_SIZES
    ]
    threads += [
        thread(f"/bench/article-{i:03d}", f"Article {i}", rng.randint(0, 5))
        for i in range(ARTICLES)
    ]
    threads.append(thread(POSTS_ARTICLE, "Posts", 1))
    return {"threads": threads}


def counted_articles(plan: dict[str, Any]) -> tuple[list[str], list[int]]:
    """The first 50 of the 100 articles, with their expected counts."""
    articles = [t for t in plan["threads"] if t["article"].startswith("/bench/article-")]
    chosen = articles[:COUNTED]
    return [t["article"] for t in chosen], [len(t["comments"]) for t in chosen]


def seed_ranklet_here(plan_path: str) -> int:
    """Internal mode (``--seed-ranklet PLAN``): post the plan's comments through the service."""
    sys.path.insert(0, str(REPO))
    from service import commenting, create_app
    from service.sites import get_site

    app = create_app({"COMMENT_RATE_LIMIT": ""})
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    posted_total = 0
    with app.app_context():
        site = get_site(SITE)
        if site is None:
            raise SystemExit(f"no site {SITE!r}")
        for thread in plan["threads"]:
            ids: dict[int, int] = {}
            for comment in thread["comments"]:
                data: dict[str, Any] = {
                    "article": thread["article"],
                    "article_title": thread["title"],
                    "author": comment["author"],
                    "body": comment["body"],
                }
                if comment["parent"] is not None:
                    data["parent_id"] = ids[comment["parent"]]
                posted, told = commenting.post_comment(site, data, as_author=False)
                if told != "approved":
                    raise SystemExit(f"seed comment was {told}, not approved")
                ids[comment["key"]] = posted.comment.id
                posted_total += 1
    print(json.dumps({"comments": posted_total}))
    return 0


# --- processes and /proc ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run(command: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        output = "\n".join((done.stderr + done.stdout).splitlines()[-20:])
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{output}")
    return done.stdout


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    probe: str  # its cheapest route: /healthz, /info
    ready: str  # answers 200 once it can serve: /readyz, /info
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its PID is its process group: see stop()
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def workers(self) -> list[int]:
        """PIDs of the gunicorn workers: the children of the master (our child)."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.pid}/task").glob("*"):
            with contextlib.suppress(OSError, ValueError):
                found.update(int(pid) for pid in (task / "children").read_text().split())
        return sorted(found)


def stop(server: Server) -> None:
    """SIGTERM the gunicorn master (our child, by PID); SIGKILL its group if it hangs."""
    process = server.process
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # start_new_session made the master's PID its group: this reaches its workers only.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(server: Server, limit: float) -> float | None:
    """Seconds until the server has worked through what a run left behind; None: not in time.

    A sync worker keeps processing the requests a load generator abandoned in the listen
    queue: a probe of its cheapest route only comes back once those ahead of it are done.
    Then master and workers must use under 20 % of one CPU for two half-seconds in a row.
    """
    began = time.monotonic()
    try:
        request(server.port, "GET", server.probe, timeout=limit)
    except (OSError, http.client.HTTPException):
        return None
    quiet = 0
    pids = [server.pid, *server.workers()]
    last = cpu_seconds(pids)
    while time.monotonic() - began < limit:
        time.sleep(0.5)
        now_pids = [server.pid, *server.workers()]
        now = cpu_seconds(now_pids)
        quiet = quiet + 1 if now_pids == pids and now - last < 0.1 else 0
        if quiet >= 2:
            return time.monotonic() - began
        pids, last = now_pids, now
    return None


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 120,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def wait_ready(server: Server, limit: float = 90) -> None:
    deadline = time.monotonic() + limit
    path = server.ready
    while time.monotonic() < deadline:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited ({server.process.returncode}):\n{tail(server.log)}"
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            ready = request(server.port, "GET", path, timeout=5)[0] == 200
            if ready and len(server.workers()) >= WORKERS:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: {path} not 200 within {limit:.0f} s:\n{tail(server.log)}")


# --- Isso's virtual environment -----------------------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed_isso(venv: Path) -> str | None:
    python = venv_python(venv)
    if not python.exists() or not (venv / "bin" / "gunicorn").exists():
        return None
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('isso'))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_isso(venv: Path) -> tuple[str, str]:
    """Isso 0.14 and gunicorn in their own venv; (isso version, a note for the output)."""
    found = installed_isso(venv)
    if found and found.startswith(ISSO_SERIES):
        return found, f"reused {venv}"
    if not venv_python(venv).exists():
        print(f"creating {venv}", flush=True)
        run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    note = f"installed {ISSO_SPEC} into {venv}"
    print(f"installing {ISSO_SPEC} and gunicorn into {venv}", flush=True)
    try:
        run([*pip, ISSO_SPEC, "gunicorn"], timeout=900)
    except RuntimeError as error:
        print(f"{ISSO_SPEC} could not be installed ({error}); trying the newest Isso", flush=True)
        run([*pip, "isso", "gunicorn"], timeout=900)
        note = f"Isso 0.14 was NOT installable; used the newest Isso in {venv}"
    version = installed_isso(venv)
    if not version:
        raise RuntimeError(f"Isso is not importable in {venv}")
    return version, note


def pip_version(python: str, package: str) -> str:
    done = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout.strip() or "?"


# --- the page and the counting proxy for the browser ----------------------------------------


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
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
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
    from playwright.sync_api import sync_playwright

    selectors = {"ranklet": ".ranklet-comment", "isso": "#isso-root .isso-comment"}
    count_selectors = {"ranklet": "[data-ranklet-count]", "isso": 'a[href$="#isso-thread"]'}
    variants = {"thread only": [], f"thread + {len(count_articles)} counts": count_articles}
    views: list[PageView] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
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
        finally:
            browser.close()
    return views


# --- the load -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tool: str | None = None  # None: loadgen's choice (wrk when installed)
    expect: int = 200
    timeout: float = READ_TIMEOUT
    # Checks the JSON answer of the one request sent before the load: a problem, or None.
    verify: Callable[[Any], str | None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Row:
    label: str
    kind: str  # baseline, read, counts, post
    ranklet: Route
    isso: Route
    size: int = 0  # comments in the thread (read rows)


@dataclass
class Measured:
    runs: list[LoadResult] = field(default_factory=list)
    drains: list[float | None] = field(default_factory=list)
    answer_bytes: int = 0

    def median(self, name: str) -> float:
        values = [getattr(r, name) for r in self.runs if r.requests]
        return statistics.median(values) if values else 0.0

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs) if self.runs else 0.0

    @property
    def unexpected(self) -> int:
        """Errors and answers that are not 2xx (wrk: not 2xx/3xx)."""
        return sum(
            result.error_count
            + sum(n for status, n in result.statuses.items() if not status.startswith("2"))
            for result in self.runs
        )

    @property
    def tool(self) -> str:
        return self.runs[0].tool if self.runs else "-"


def load(server: Server, route: Route, args: argparse.Namespace, measured: Measured) -> None:
    result = run_load(
        server.url(route.path),
        method=route.method,
        body=route.body,
        headers=dict(route.headers),
        connections=args.connections,
        duration=args.duration,
        tool=route.tool,
        timeout=route.timeout,
    )
    drained = wait_idle(server, args.drain_limit)
    measured.runs.append(result)
    measured.drains.append(drained)
    drain = f"idle after {drained:.1f} s" if drained is not None else "not idle: restarted"
    if drained is None:
        # Requests the client gave up on are still queued: a fresh server, not a poisoned
        # next row. The memory figures then say that its workers were replaced.
        stop(server)
        server.restarts += 1
        server.start()
        wait_ready(server)
    print(
        f"  {server.name:<7} {route.method} {route.path[:70]}: {result.rps:.1f} req/s, "
        f"p99 {result.p99_ms:.1f} ms, {result.requests} answers"
        f"{', errors ' + str(result.errors) if result.errors else ''}; {drain}",
        flush=True,
    )


class MemorySampler:
    """RSS of each service's workers every half second while it runs: the peak."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.peak: dict[str, float] = {s.name: 0.0 for s in servers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for server in self.servers:
                total = sum(rss_mib(pid) or 0.0 for pid in server.workers())
                self.peak[server.name] = max(self.peak[server.name], total)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def memory(server: Server) -> dict[int, float]:
    return {pid: rss_mib(pid) or 0.0 for pid in server.workers()}


# --- checks before the load ---------------------------------------------------------------


def decoded(body: bytes, encoding: str) -> bytes:
    """A body as sent with ``Content-Encoding: encoding`` (gzip, br or none), decoded."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    if encoding != "identity":
        raise RuntimeError(f"unexpected Content-Encoding {encoding!r}")
    return body


def check(server: Server, route: Route) -> int:
    """One request as the load will send it; its answer must be the expected one."""
    status, headers, wire = request(
        server.port, route.method, route.path, route.body, dict(route.headers), timeout=300
    )
    body = decoded(wire, headers.get("Content-Encoding", "identity"))
    if status != route.expect:
        raise RuntimeError(
            f"{server.name} {route.method} {route.path} answered {status}: {body[:300]!r}"
        )
    if route.verify is not None:
        problem = route.verify(json.loads(body))
        if problem:
            raise RuntimeError(f"{server.name} {route.method} {route.path}: {problem}")
    return len(wire)  # bytes on the wire: compressed when the service compresses


def stored_posts(kind: str, db_path: Path) -> int:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        if kind == "ranklet":
            query = (
                "SELECT COUNT(*) FROM comments c JOIN threads t ON c.thread_id = t.id "
                "JOIN sites s ON t.site_id = s.id WHERE s.slug = ? AND t.article = ?"
            )
            return int(con.execute(query, (SITE, POSTS_ARTICLE)).fetchone()[0])
        query = "SELECT COUNT(*) FROM comments c JOIN threads t ON c.tid = t.id WHERE t.uri = ?"
        return int(con.execute(query, (POSTS_ARTICLE,)).fetchone()[0])
    finally:
        con.close()


def two_xx(measured: Measured) -> int:
    return sum(n for r in measured.runs for k, n in r.statuses.items() if k.startswith("2"))


# --- the embed ----------------------------------------------------------------------------


def sizes(raw: bytes) -> dict[str, int]:
    return {
        "raw": len(raw),
        "gzip": len(gzip.compress(raw, compresslevel=9, mtime=0)),
        "brotli": len(brotli.compress(raw, quality=11)),
    }


def embed_bytes(server: Server, paths: list[str]) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for path in paths:
        status, headers, body = request(server.port, "GET", path, headers={})
        if status != 200:
            raise RuntimeError(f"{server.name} GET {path} answered {status}")
        if headers.get("Content-Encoding", "identity") != "identity":
            raise RuntimeError(f"{server.name} GET {path} was encoded without Accept-Encoding")
        found[path] = sizes(body)
        _, served_headers, served = request(
            server.port, "GET", path, headers={"Accept-Encoding": "gzip, deflate, br"}
        )
        found[path]["served"] = len(served)
        found[path]["served_encoding"] = served_headers.get("Content-Encoding", "identity")  # type: ignore[assignment]
    total = {k: sum(int(v[k]) for v in found.values()) for k in ("raw", "gzip", "brotli", "served")}
    found["total"] = total
    return found


# --- output -------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}" if value else "-"


def ratio(a: float, b: float) -> str:
    if not b:
        return "inf" if a else "-"
    return f"{a / b:,.2f}"


def table(rows: list[Row], results: dict[tuple[str, str], Measured]) -> str:
    head = (
        f"{'row':<30} {'tool':<6} | {'Ranklet req/s':>13} {'p50 ms':>8} {'p99 ms':>8} | "
        f"{'Isso req/s':>10} {'p50 ms':>8} {'p99 ms':>9} | {'R/I req/s':>9} | "
        f"{'wire bytes R / I':>19}"
    )
    out = [head, "-" * len(head)]
    for row in rows:
        r, i = results[(row.label, "ranklet")], results[(row.label, "isso")]
        flag = " !" if r.unexpected or i.unexpected else ""
        tool = r.tool if r.tool == i.tool else f"{r.tool}/{i.tool}"
        out.append(
            f"{row.label:<30} {tool:<6} | {fmt(r.rps):>13} {fmt(r.median('p50_ms'), 2):>8} "
            f"{fmt(r.median('p99_ms'), 2):>8} | {fmt(i.rps):>10} {fmt(i.median('p50_ms'), 1):>8} "
            f"{fmt(i.median('p99_ms'), 1):>9} | {ratio(r.rps, i.rps):>9} | "
            f"{r.answer_bytes:>9,} / {i.answer_bytes:>7,}{flag}"
        )
    return "\n".join(out)


def unexpected_note(rows: list[Row], results: dict[tuple[str, str], Measured]) -> list[str]:
    notes = []
    for row in rows:
        for name in ("ranklet", "isso"):
            measured = results[(row.label, name)]
            if measured.unexpected:
                statuses: dict[str, int] = {}
                errors: dict[str, int] = {}
                for result in measured.runs:
                    for k, n in result.statuses.items():
                        statuses[k] = statuses.get(k, 0) + n
                    for k, n in result.errors.items():
                        errors[k] = errors.get(k, 0) + n
                notes.append(f"! {row.label}, {name}: statuses {statuses}, errors {errors}")
            if any(d is None for d in measured.drains):
                notes.append(
                    f"! {row.label}, {name}: still busy after the drain limit, so restarted"
                )
    return notes


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per run (15)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row; medians (3)")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="Isso's virtualenv")
    parser.add_argument(
        "--drain-limit",
        type=float,
        default=600.0,
        help="longest wait (s) for a server to go idle after a run, else it is restarted (600)",
    )
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page views")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--seed-ranklet", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_ranklet:
        return seed_ranklet_here(args.seed_ranklet)
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="ranklet-vs-isso-"))
    servers: list[Server] = []
    pages = PageServer()
    try:
        with serving(pages):
            return bench(args, work, servers, pages)
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            stop(server)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def make_rows(origin: str, plan: dict[str, Any]) -> list[Row]:
    """The routes, as each embed sends them, with a check of each answer.

    Both embeds send the page's Origin; Isso's XHRs always set Content-Type:
    application/json, which also makes every one of them preflighted in a browser.
    """
    browser = (("Origin", origin), ("Accept-Encoding", BROWSER_ENCODINGS))
    xhr = (*browser, ("Content-Type", "application/json"))
    count_articles, expected = counted_articles(plan)

    def total_is(size: int, ranklet: bool) -> Callable[[Any], str | None]:
        def verify(doc: Any) -> str | None:
            found = doc["comments"]["total"] if ranklet else doc["total_replies"]
            return None if found == size else f"total {found}, expected {size}"

        return verify

    def ranklet_counts(doc: Any) -> str | None:
        wanted = dict(zip(count_articles, expected, strict=True))
        return None if doc["counts"] == wanted else f"counts {doc['counts']} != {wanted}"

    def isso_counts(doc: Any) -> str | None:
        return None if doc == expected else f"counts {doc} != {expected}"

    rows = [
        Row(
            "baseline (/healthz, /info)",
            "baseline",
            Route("GET", "/healthz"),
            Route("GET", "/info"),
        )
    ]
    for size in THREAD_SIZES:
        article = f"/bench/thread-{size}"
        isso_query = {"uri": article, "sort": "oldest", "offset": 0, "nested_limit": 5}
        widget = f"/api/v1/sites/{SITE}/widget?{urlencode({'article': article})}"
        rows.append(
            Row(
                f"thread read, {size:,} comments",
                "read",
                Route("GET", widget, headers=browser, verify=total_is(size, ranklet=True)),
                Route(
                    "GET",
                    f"/?{urlencode(isso_query)}",
                    headers=xhr,
                    verify=total_is(size, ranklet=False),
                ),
                size,
            )
        )
    counts_query = urlencode([("article", a) for a in count_articles])
    rows.append(
        Row(
            f"counts, {COUNTED} articles",
            "counts",
            Route(
                "GET",
                f"/api/v1/sites/{SITE}/counts?{counts_query}",
                headers=browser,
                verify=ranklet_counts,
            ),
            Route(
                "POST",
                "/count",
                json.dumps(count_articles).encode(),
                xhr,
                verify=isso_counts,
            ),
        )
    )
    ranklet_post = {"article": POSTS_ARTICLE, "author": "Bench", "body": POST_BODY}
    isso_post = {
        "author": "Bench",
        "email": None,
        "website": None,
        "text": POST_BODY,
        "parent": None,
        "title": "Posts",
        "notification": 0,
    }
    rows.append(
        Row(
            "comment post",
            "post",
            Route(
                "POST",
                f"/api/v1/sites/{SITE}/comments",
                json.dumps(ranklet_post).encode(),
                (*browser, ("Content-Type", "application/json")),
                expect=201,
                timeout=10.0,
            ),
            Route(
                "POST",
                f"/new?{urlencode({'uri': POSTS_ARTICLE})}",
                json.dumps(isso_post).encode(),
                xhr,
                expect=201,
                timeout=10.0,
            ),
        )
    )
    return rows


def prepare(
    args: argparse.Namespace, work: Path, origin: str, plan_path: Path, total: int
) -> tuple[Server, Server]:
    """Seed both databases (at the same time) and describe both servers (not started yet).

    Ranklet: schema and site through its CLI, comments through ``post_comment``. Isso: its
    config from the template, its schema and comments through its own db classes.
    """
    instance = work / "ranklet"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANKLET_", "ISSO_"))}
    env.update(
        RANKLET_INSTANCE_PATH=str(instance), RANKLET_COMMENT_RATE_LIMIT="", PYTHONUNBUFFERED="1"
    )
    cli = [sys.executable, "-m", "service.cli"]
    run([*cli, "db", "upgrade"], env)
    run([*cli, "site", "create", SITE, "--origin", origin, "--lang", "en", "--json"], env)

    isso_dir = work / "isso"
    isso_dir.mkdir()
    isso_port, ranklet_port = free_port(), free_port()
    template = string.Template((ISSO_FILES / "isso.cfg.in").read_text(encoding="utf-8"))
    isso_cfg = isso_dir / "isso.cfg"
    isso_cfg.write_text(
        template.substitute(dbpath=isso_dir / "comments.db", page_origin=origin, port=isso_port),
        encoding="utf-8",
    )
    seeders = {
        "Ranklet": ([sys.executable, str(Path(__file__).resolve()), "--seed-ranklet"], env),
        "Isso": (
            [str(venv_python(args.venv)), str(ISSO_FILES / "seed_isso.py"), str(isso_cfg)],
            None,
        ),
    }
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(run, [*command, str(plan_path)], environment)
            for name, (command, environment) in seeders.items()
        }
        for name, future in futures.items():
            seeded = json.loads(future.result())
            print(f"seeded {name}: {seeded} ({time.perf_counter() - began:.0f} s)", flush=True)
            if seeded["comments"] != total:
                raise RuntimeError(f"{name} got {seeded['comments']} comments, not {total}")

    isso_env = {k: v for k, v in os.environ.items() if not k.startswith(("RANKLET_", "ISSO_"))}
    isso_env["ISSO_SETTINGS"] = str(isso_cfg)
    ranklet = Server(
        "ranklet",
        [*cli, "serve", "--port", str(ranklet_port), "--workers", str(WORKERS)],
        env,
        REPO,  # -m service.cli from the checkout, whatever is installed
        ranklet_port,
        probe="/healthz",
        ready="/readyz",
        log=work / "ranklet.log",
    )
    isso = Server(
        "isso",
        [
            str(args.venv / "bin" / "gunicorn"),
            *("-w", str(WORKERS), "-b", f"{HOST}:{isso_port}", "--no-control-socket"),
            *("--timeout", "120", "--error-logfile", "-", "isso.run"),
        ],
        isso_env,
        isso_dir,
        isso_port,
        probe="/info",
        ready="/info",
        log=work / "isso.log",
    )
    return ranklet, isso


def bench(args: argparse.Namespace, work: Path, servers: list[Server], pages: PageServer) -> int:
    isso_version, venv_note = ensure_isso(args.venv)
    isso_python = str(venv_python(args.venv))
    plan = make_plan()
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    total = sum(len(t["comments"]) for t in plan["threads"])
    print(f"Isso {isso_version} ({venv_note}); plan: {total} comments", flush=True)

    ranklet, isso = prepare(args, work, pages.origin, plan_path, total)
    servers += [ranklet, isso]
    for server in servers:
        server.start()
    for server in servers:
        wait_ready(server)
        print(f"{server.name}: pid {server.pid} on :{server.port}, workers {server.workers()}")
    instance, isso_db = work / "ranklet", isso.cwd / "comments.db"
    mem_start = {s.name: memory(s) for s in servers}
    context = {
        "ranklet": git_describe(),
        "ranklet gunicorn": pip_version(sys.executable, "gunicorn"),
        "isso": isso_version,
        "isso install": venv_note,
        "isso gunicorn": pip_version(isso_python, "gunicorn"),
        "load average at the start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }

    rows = make_rows(pages.origin, plan)
    results: dict[tuple[str, str], Measured] = {}
    print("checking every route once (Isso's 2,000-comment thread takes a while)", flush=True)
    for row in rows:
        for server, route in ((ranklet, row.ranklet), (isso, row.isso)):
            results[(row.label, server.name)] = Measured(answer_bytes=check(server, route))
    for server in servers:
        wait_idle(server, args.drain_limit)

    def phase(kinds: tuple[str, ...], after_each: Callable[[int], None] | None = None) -> None:
        for repeat in range(args.repeat):
            for row in rows:
                if row.kind not in kinds:
                    continue
                print(f"[{repeat + 1}/{args.repeat}] {row.label}", flush=True)
                for server, route in ((ranklet, row.ranklet), (isso, row.isso)):
                    load(server, route, args, results[(row.label, server.name)])
            if after_each is not None:
                after_each(repeat)

    phase(("baseline",))
    out = Outcome(rows=rows, results=results, context=context)
    out.memory["start"] = mem_start
    out.memory["before load"] = {s.name: memory(s) for s in servers}

    def snapshot(repeat: int) -> None:
        out.memory[f"after run {repeat + 1}"] = {s.name: memory(s) for s in servers}

    with MemorySampler(servers) as sampler:
        phase(("read", "counts"), snapshot)
    out.memory_peak = sampler.peak
    dbs = {"ranklet": instance / "ranklet.db", "isso": isso_db}
    out.posts_before = {name: stored_posts(name, path) for name, path in dbs.items()}
    phase(("post",))
    out.posts_after = {name: stored_posts(name, path) for name, path in dbs.items()}

    out.embed = {
        "ranklet": embed_bytes(ranklet, ["/embed.js"]),
        "isso": embed_bytes(isso, ["/js/embed.min.js", "/css/isso.css"]),
    }
    if args.no_browser:
        out.browser_note = "skipped (--no-browser)"
    elif not Path(CHROMIUM).exists():
        out.browser_note = f"skipped: {CHROMIUM} is not installed"
    else:
        proxies = {"ranklet": CountingProxy(ranklet.port), "isso": CountingProxy(isso.port)}
        with serving(proxies["ranklet"]), serving(proxies["isso"]):
            count_articles = counted_articles(plan)[0][:10]
            out.views = browse(pages, proxies, "/bench/thread-20", count_articles)
    out.context["load average at the end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    report(args, out)
    return 0


def git_describe() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return done.stdout.strip() or "?"
    return "?"


@dataclass
class Outcome:
    """Everything one run measured, for the report and --json."""

    rows: list[Row]
    results: dict[tuple[str, str], Measured]
    context: dict[str, str]
    memory: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)
    memory_peak: dict[str, float] = field(default_factory=dict)
    posts_before: dict[str, int] = field(default_factory=dict)
    posts_after: dict[str, int] = field(default_factory=dict)
    embed: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    views: list[PageView] = field(default_factory=list)
    browser_note: str = ""

    def measured(self, kind: str, name: str) -> Measured:
        """The one baseline, counts or post row of a service."""
        label = next(row.label for row in self.rows if row.kind == kind)
        return self.results[(label, name)]

    def lost(self, name: str) -> tuple[int, int, int]:
        """(2xx answers, rows stored, 2xx answers without a stored row) of the post runs."""
        acknowledged = two_xx(self.measured("post", name))
        stored = self.posts_after[name] - self.posts_before[name]
        return acknowledged, stored, max(0, acknowledged - stored)

    def growth(self, name: str) -> tuple[float, float, float | None]:
        """Summed over the workers: MiB before the read+count load, growth over all its runs,
        and growth from the end of its first run to the end of its last (None with one run)."""
        runs = [key for key in self.memory if key.startswith("after run")]
        before = sum(self.memory["before load"][name].values())
        first, last = (sum(self.memory[key][name].values()) for key in (runs[0], runs[-1]))
        return before, last - before, (last - first if len(runs) > 1 else None)

    def workers_replaced(self, name: str) -> bool:
        last = [key for key in self.memory if key.startswith("after run")][-1]
        return sorted(self.memory["before load"][name]) != sorted(self.memory[last][name])


def comparable(measured: Measured) -> bool:
    """A row to compare with: it got answers, and no client errors or unexpected statuses."""
    return bool(measured.runs) and measured.rps > 0 and not measured.unexpected


def targets(out: Outcome) -> list[tuple[bool | None, str]]:
    """The issue's targets: (met, or None when not measurable, and the figures)."""
    found: list[tuple[bool | None, str]] = []
    healthz = out.measured("baseline", "ranklet").rps
    reads = [row for row in out.rows if row.kind == "read"]
    for row in reads:
        mine, isso = out.results[(row.label, "ranklet")], out.results[(row.label, "isso")]
        found.append(
            (
                mine.rps >= healthz / 2 and comparable(mine),
                f"{row.label}: {mine.rps:,.0f} req/s, half of /healthz is {healthz / 2:,.0f}"
                f" ({ratio(mine.rps, isso.rps)}x Isso)",
            )
        )
    worst = max(out.results[(row.label, "ranklet")].median("p99_ms") for row in reads)
    found.append((0 < worst < 50, f"read p99 < 50 ms: worst {worst:.1f} ms"))
    for kind, factor in (("counts", 3.0), ("post", 1.5)):
        mine, isso = out.measured(kind, "ranklet"), out.measured(kind, "isso")
        text = (
            f"{kind} >= {factor:g}x Isso: {mine.rps:,.0f} vs {isso.rps:,.0f} req/s"
            f" = {ratio(mine.rps, isso.rps)}x"
        )
        met: bool | None = comparable(mine) and mine.rps >= factor * isso.rps
        if kind == "post":
            lost = {name: out.lost(name)[2] for name in ("ranklet", "isso")}
            text += f"; lost posts: Ranklet {lost['ranklet']}, Isso {lost['isso']}"
            met = met and lost["ranklet"] == 0
        if not comparable(isso):
            met, text = None, text + " (Isso's runs had errors or no answers: not comparable)"
        found.append((met, text))
    mine_gz = out.embed["ranklet"]["total"]["gzip"]
    isso_gz = out.embed["isso"]["total"]["gzip"]
    thread_only = [v for v in out.views if v.service == "ranklet" and v.page == "thread only"]
    calls = thread_only[0].data_requests + thread_only[0].preflights if thread_only else None
    found.append(
        (
            None if calls is None else (mine_gz * 3 <= isso_gz and calls == 1),
            f"embed <= 1/3 of Isso's gzipped bytes: {mine_gz:,} vs {isso_gz:,} B"
            f" = {mine_gz / isso_gz:.2f}; data requests to show a thread: "
            + ("not measured" if calls is None else str(calls)),
        )
    )
    # Flat: after the first run has warmed caches, pools and thread stacks, the later runs
    # add at most 5 % (or 5 MiB). With --repeat 1, the whole load may add 15 % (or 10 MiB).
    before, growth, later = out.growth("ranklet")
    isso_before, isso_growth, isso_later = out.growth("isso")
    if later is None:
        met = growth <= max(10.0, 0.15 * before) and not out.workers_replaced("ranklet")
        rule = "growth over the load <= max(10 MiB, 15 %)"
    else:
        met = later <= max(5.0, 0.05 * before) and not out.workers_replaced("ranklet")
        rule = "growth after the first run <= max(5 MiB, 5 %)"
    after_first = "" if later is None else f", {later:+.1f} after the first run"
    isso_after_first = "" if isso_later is None else f", {isso_later:+.1f} after the first run"
    found.append(
        (
            met,
            f"worker memory flat ({rule}): Ranklet {before:.1f} MiB {growth:+.1f}{after_first};"
            f" Isso {isso_before:.1f} MiB {isso_growth:+.1f}{isso_after_first}",
        )
    )
    return found


def report(args: argparse.Namespace, out: Outcome) -> None:
    ctx = out.context
    tools = sorted({m.tool for m in out.results.values()})
    print(
        f"\nRanklet {ctx['ranklet']} (gunicorn {ctx['ranklet gunicorn']}, {WORKERS} gthread"
        f" workers x 64 threads, SQLite) vs Isso {ctx['isso']} (gunicorn {ctx['isso gunicorn']},"
        f" {WORKERS} sync workers, SQLite); {args.connections} connections,"
        f" {args.duration:g} s x {args.repeat} (medians); tools: {', '.join(tools)};"
        f" {os.cpu_count()} CPUs shared by the client and both servers; load average at the"
        f" start {ctx['load average at the start']}, at the end {ctx['load average at the end']}"
        f"\n"
    )
    print(table(out.rows, out.results))
    for note in unexpected_note(out.rows, out.results):
        print(note)

    print("\nPosts (rate limits off on both), checked against the databases:")
    for name in ("ranklet", "isso"):
        acknowledged, stored, lost = out.lost(name)
        runs = out.measured("post", name).runs
        others = {k: n for r in runs for k, n in r.statuses.items() if not k.startswith("2")}
        errors = {k: n for r in runs for k, n in r.errors.items()}
        print(
            f"  {name:<7} {acknowledged:,} answered 2xx, {stored:,} rows stored, lost {lost};"
            f" other answers {others or 'none'}, client errors {errors or 'none'}"
        )

    print("\nWorker memory (RSS in MiB: the sum of the gunicorn workers, each in brackets):")
    for name in ("ranklet", "isso"):
        parts = []
        for moment, snapshot in out.memory.items():
            each = ", ".join(f"{v:.1f}" for v in snapshot[name].values())
            parts.append(f"{moment} {sum(snapshot[name].values()):.1f} [{each}]")
        parts.append(f"peak {out.memory_peak.get(name, 0.0):.1f}")
        if out.workers_replaced(name):
            parts.append("(workers were replaced during the load!)")
        print(f"  {name:<7} " + "; ".join(parts))

    print("\nEmbed (what each serves to render; gzip -9 and brotli q11 computed here):")
    for name in ("ranklet", "isso"):
        for path, figures in out.embed[name].items():
            served = figures.get("served_encoding")
            extra = f"; served as {figures['served']:,} B {served}" if served else ""
            print(
                f"  {name:<7} {path:<18} raw {figures['raw']:>7,}  gzip {figures['gzip']:>6,}"
                f"  brotli {figures['brotli']:>6,}{extra}"
            )
    if out.views:
        print("\nA first page view in headless Chromium (requests that reached each service):")
        for view in out.views:
            counts = f", counts filled {view.counts_filled}" if "counts" in view.page else ""
            print(
                f"  {view.service:<7} {view.page:<20} {view.assets} assets +"
                f" {view.data_requests} data requests + {view.preflights} CORS preflights;"
                f" {view.transferred_bytes:,} B; comments shown {view.comments_shown}{counts};"
                f" rendered in {view.rendered_ms:.0f} ms"
            )
            for line in view.requests:
                print(f"      {line}")
    else:
        print(f"\nBrowser page views: {out.browser_note}")

    found = targets(out)
    print("\nTargets (issue 6):")
    for met, text in found:
        print(f"  [{'not measured' if met is None else 'met' if met else 'NOT met'}] {text}")
    if args.json:
        write_json(args, out, found)


def write_json(
    args: argparse.Namespace, out: Outcome, found: list[tuple[bool | None, str]]
) -> None:
    document = {
        "context": out.context,
        "settings": {
            "duration": args.duration,
            "repeat": args.repeat,
            "connections": args.connections,
            "cpus": os.cpu_count(),
        },
        "rows": {
            f"{label} / {name}": {
                "runs": [asdict(result) for result in measured.runs],
                "drains": measured.drains,
                "answer_bytes": measured.answer_bytes,
            }
            for (label, name), measured in out.results.items()
        },
        "memory": out.memory,
        "memory_peak": out.memory_peak,
        "posts": {name: out.lost(name) for name in ("ranklet", "isso")},
        "embed": out.embed,
        "page_views": [asdict(view) for view in out.views],
        "targets": [{"met": met, "text": text} for met, text in found],
    }
    args.json.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    sys.exit(main())
