"""Comment reads and writes under a bounded load on 127.0.0.1, by thread size.

Seeds threads of 20, 200 and 2,000 comments (a quarter of them replies) and 100 articles
with 0 to 5 comments each, straight through the service's own logic (the same validation
and rendering as the API, without the HTTP round trips), then serves the instance with
``ranklet serve --workers 2`` (rate limit off) and measures, at --connections for
--duration seconds each and at most --max-requests requests:

* ``GET widget`` and ``GET comments`` (first page, default limit 50) for each thread size;
* ``GET counts`` for 50 articles;
* ``POST comments`` (to a thread of its own);

next to ``GET /healthz`` as the baseline of this machine.

Reads are served from the per-process response cache once rendered (its key is the
thread's version), so a second table also times the uncached render of each thread's
first page in this process: that is what pagination keeps flat as a thread grows.

    python bench/bench_comments.py                 # 10 s per route
    python bench/bench_comments.py --duration 5
    python bench/bench_comments.py --tool wrk      # with wrk (no request cap)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from loadgen import DEFAULT_CONNECTIONS, MAX_DURATION, TOOLS, LoadResult, run_load

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SITE = "benchblog"
THREAD_SIZES = (20, 200, 2000)
REPLY_SHARE = 0.25
SMALL_ARTICLES = 100
COUNTS_ARTICLES = 50
WORDS = (
    *("ranking", "consulting", "marketing", "management", "blog", "reader", "answer"),
    *("thanks", "agree", "question", "article", "data", "privacy", "insurer", "card"),
    *("leak", "badge", "position", "best", "current", "week", "month"),
)


def thread_article(size: int) -> str:
    return f"/bench/thread-{size}"


def small_article(index: int) -> str:
    return f"/bench/article-{index}"


# --- seeding (in this process, through service.commenting) -----------------------------------


def comment_body(rng: random.Random, index: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 60)))
    extra = rng.choice(
        ["", " *indeed*", " **really**", " `code`", "\n\n> quoted", " https://example.com/x"]
    )
    return f"Comment {index}: {words}.{extra}"


def seed(instance: Path) -> tuple[str, float]:
    """Create the site and every comment; returns the site token and the seconds it took."""
    from service import commenting, create_app
    from service.extensions import db
    from service.schemas import CommentInput
    from service.sites import SiteSettings, create_site

    began = time.perf_counter()
    app = create_app({"COMMENT_RATE_LIMIT": "", "NOTIFY_WORKER": False})
    rng = random.Random(3)
    schema = CommentInput()
    with app.app_context():
        site, token = create_site(
            SITE, SiteSettings(name="Bench blog", origins=["https://b.example"], lang="en")
        )

        def post(article: str, index: int, parent: int | None) -> int:
            data = schema.load(
                {
                    "article": article,
                    "article_title": f"Article {article}",
                    "author": f"Reader {rng.randint(1, 300)}",
                    "body": comment_body(rng, index),
                    "parent_id": parent,
                }
            )
            posted, _ = commenting.post_comment(site, data, as_author=False)
            return posted.comment.id

        for size in THREAD_SIZES:
            made: list[int] = []
            for index in range(size):
                parent = rng.choice(made) if made and rng.random() < REPLY_SHARE else None
                made.append(post(thread_article(size), index, parent))
        for article in range(SMALL_ARTICLES):
            made = []
            for index in range(rng.randint(0, 5)):
                parent = rng.choice(made) if made and rng.random() < REPLY_SHARE else None
                made.append(post(small_article(article), index, parent))
        db.session.remove()
        db.engine.dispose()
    return token, time.perf_counter() - began


def render_times(repeats: int) -> dict[int, tuple[float, float, int]]:
    """Median and worst ms of an uncached first page (query + JSON), and its top-level count."""
    from service import commenting, create_app
    from service.caching import render_json
    from service.extensions import db
    from service.schemas import CommentsPage
    from service.sites import get_site

    app = create_app({"COMMENT_RATE_LIMIT": "", "NOTIFY_WORKER": False})
    found: dict[int, tuple[float, float, int]] = {}
    with app.app_context():
        site = get_site(SITE)
        assert site is not None
        for size in THREAD_SIZES:
            times = []
            shown = 0
            for _ in range(repeats):
                began = time.perf_counter()
                page = commenting.thread_page(site, thread_article(size))
                render_json(CommentsPage, page.as_dict())
                times.append((time.perf_counter() - began) * 1000)
                shown = len(page.comments)
                db.session.expire_all()
            found[size] = (statistics.median(times), max(times), shown)
        db.session.remove()
        db.engine.dispose()
    return found


# --- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def clean_env(instance: Path) -> dict[str, str]:
    """This environment without RANKLET_* settings, pointed at the temp instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RANKLET_")}
    env["RANKLET_INSTANCE_PATH"] = str(instance)
    env["RANKLET_COMMENT_RATE_LIMIT"] = ""
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ranklet {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def request(
    port: int, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_ready(port: int, server: subprocess.Popen[bytes], log: Path, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited ({server.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", "/readyz")[0] == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"/readyz not 200 within {limit:.0f} s:\n{tail(log)}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM the gunicorn master (our child), then SIGKILL its own process group."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


# --- measuring --------------------------------------------------------------------------------


def routes() -> list[tuple[str, str, str, Any, int]]:
    """(label, method, path, body, expected status)."""
    api = f"/api/v1/sites/{SITE}"
    found: list[tuple[str, str, str, Any, int]] = [
        ("GET /healthz (baseline)", "GET", "/healthz", None, 200)
    ]
    for size in THREAD_SIZES:
        query = urlencode({"article": thread_article(size)})
        found.append(
            (f"GET widget   ({size:>5,} comments)", "GET", f"{api}/widget?{query}", None, 200)
        )
    for size in THREAD_SIZES:
        query = urlencode({"article": thread_article(size)})
        found.append(
            (f"GET comments ({size:>5,} comments)", "GET", f"{api}/comments?{query}", None, 200)
        )
    counts = urlencode([("article", small_article(n)) for n in range(COUNTS_ARTICLES)])
    found.append(
        (f"GET counts   ({COUNTS_ARTICLES} articles)", "GET", f"{api}/counts?{counts}", None, 200)
    )
    body = {"article": "/bench/posts", "author": "Load", "body": "A *benchmark* comment."}
    found.append(("POST comments", "POST", f"{api}/comments", body, 201))
    return found


def check_once(port: int, method: str, path: str, body: Any, expected: int) -> None:
    status, _, content = request(port, method, path, body)
    if status != expected:
        raise RuntimeError(f"{method} {path} answered {status}: {content[:300]!r}")


def unexpected(expected: int, result: LoadResult) -> bool:
    ok = result.statuses.get(str(expected), result.statuses.get("2xx/3xx", 0))
    return bool(result.errors) or result.requests == 0 or ok != result.requests


def table(rows: list[tuple[str, int, LoadResult]]) -> str:
    head = f"{'route':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses"
    out = [head, "-" * len(head)]
    for label, expected, result in rows:
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(result.statuses.items()))
        if result.errors:
            statuses += " errors:" + ",".join(f"{k}={v}" for k, v in result.errors.items())
        flag = "  <- unexpected answers" if unexpected(expected, result) else ""
        out.append(
            f"{label:<34} {result.requests:>9} {result.rps:>8.1f} {result.p50_ms:>8.2f} "
            f"{result.p99_ms:>8.2f}  {statuses}{flag}"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per route")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="request cap per route (python tool)"
    )
    parser.add_argument(
        "--tool", choices=TOOLS, default="python", help="wrk: bounded by time, no request cap"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    if not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--duration must be in (0, {MAX_DURATION:g}]")
    if args.max_requests < 1:
        parser.error("--max-requests must be at least 1")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    instance = Path(tempfile.mkdtemp(prefix="ranklet-bench-comments-"))
    log = instance / "server.log"
    env = clean_env(instance)
    # The in-process seeding must see the same settings as the server.
    for key in [k for k in os.environ if k.startswith("RANKLET_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("RANKLET_")})
    server: subprocess.Popen[bytes] | None = None
    try:
        cli(env, "db", "upgrade")
        _, seconds = seed(instance)
        total = sum(THREAD_SIZES)
        print(
            f"seeded {total:,} comments in 3 threads + {SMALL_ARTICLES} articles in {seconds:.1f} s"
        )
        renders = render_times(repeats=15)
        port = free_port()
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "service.cli",
                    "serve",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],
                cwd=REPO,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"server pid {server.pid} on http://{HOST}:{port}, instance {instance}")
        wait_ready(port, server, log)
        plan = routes()
        for _, method, path, body, expected in plan:
            if method == "GET":
                check_once(port, method, path, body, expected)
        run_load(f"http://{HOST}:{port}/healthz", duration=1, tool="python", max_requests=2000)

        rows: list[tuple[str, int, LoadResult]] = []
        for label, method, path, body, expected in plan:
            tool = args.tool
            result = run_load(
                f"http://{HOST}:{port}{path}",
                method=method,
                body=None if body is None else json.dumps(body),
                connections=args.connections,
                duration=args.duration,
                max_requests=args.max_requests if tool == "python" else None,
                tool=tool,
            )
            print(f"  {label}: {result.rps:.1f} req/s", flush=True)
            rows.append((label, expected, result))

        print(
            f"\n{args.connections} connections, {args.duration:g} s per route (cap "
            f"{args.max_requests:,} requests), tool {args.tool}, "
            f"{args.workers} gunicorn workers, SQLite, rate limit off, "
            f"{os.cpu_count()} CPUs shared by client and server\n"
        )
        print(table(rows))
        print("\nuncached first page (thread_page + JSON, in-process, 15 runs):")
        print(f"{'thread':>8} {'top-level shown':>16} {'median ms':>10} {'max ms':>8}")
        for size, (median, worst, shown) in renders.items():
            print(f"{size:>8,} {shown:>16} {median:>10.2f} {worst:>8.2f}")
        return 1 if any(unexpected(expected, r) for _, expected, r in rows) else 0
    except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            stop(server)
        if args.keep:
            print(f"kept {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
