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
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from load_result import LoadResult, rate_columns, results_table
from loadgen import TOOLS, add_load_arguments, run_load
from serving import HOST, clean_env, cli, ranklet_server, request, run_in_scratch, running

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


# --- seeding (in this process, through service.comment_posting) -----------------------------------


def comment_body(rng: random.Random, index: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 60)))
    extra = rng.choice(
        ["", " *indeed*", " **really**", " `code`", "\n\n> quoted", " https://example.com/x"]
    )
    return f"Comment {index}: {words}.{extra}"


def seed(instance: Path) -> tuple[str, float]:
    """Create the site and every comment; returns the site token and the seconds it took."""
    from service import create_app
    from service.comments import posting
    from service.comments.schemas import CommentInput
    from service.core.extensions import db
    from service.sites.settings import SiteSettings, create_site

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
            posted, _ = posting.post_comment(site, data, as_author=False)
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
    from service import create_app
    from service.comments import reading
    from service.comments.schemas import CommentsPage
    from service.core.extensions import db
    from service.http.caching import render_json
    from service.sites.settings import get_site

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
                page = reading.thread_page(site, thread_article(size))
                render_json(CommentsPage, page.as_dict())
                times.append((time.perf_counter() - began) * 1000)
                shown = len(page.comments)
                db.session.expire_all()
            found[size] = (statistics.median(times), max(times), shown)
        db.session.remove()
        db.engine.dispose()
    return found


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


def check_once(port: int, method: str, path: str, expected: int) -> None:
    status, _, content = request(port, method, path)
    if status != expected:
        raise RuntimeError(f"{method} {path} answered {status}: {content[:300]!r}")


def table(rows: list[tuple[str, int, LoadResult]]) -> str:
    return results_table(rows, 34, [("requests", 9, lambda r: str(r.requests)), *rate_columns(8)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, duration=10.0, each="route")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="request cap per route (python tool)"
    )
    parser.add_argument(
        "--tool", choices=TOOLS, default="python", help="wrk: bounded by time, no request cap"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    if args.max_requests < 1:
        parser.error("--max-requests must be at least 1")

    return run_in_scratch(
        "ranklet-bench-comments-", args.keep, lambda instance: measure(args, instance)
    )


def measure(args: argparse.Namespace, instance: Path) -> int:
    env = clean_env(instance, RANKLET_COMMENT_RATE_LIMIT="")
    # The in-process seeding must see the same settings as the server.
    for key in [k for k in os.environ if k.startswith("RANKLET_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("RANKLET_")})
    cli(env, "db", "upgrade")
    _, seconds = seed(instance)
    total = sum(THREAD_SIZES)
    print(f"seeded {total:,} comments in 3 threads + {SMALL_ARTICLES} articles in {seconds:.1f} s")
    renders = render_times(repeats=15)
    with running(ranklet_server(env, instance / "server.log", workers=args.workers)) as server:
        print(f"server pid {server.pid} on {server.base}, instance {instance}")
        rows = load_routes(args, server.port)

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
    return 1 if any(r.unexpected(expected) for _, expected, r in rows) else 0


def load_routes(args: argparse.Namespace, port: int) -> list[tuple[str, int, LoadResult]]:
    plan = routes()
    for _, method, path, _, expected in plan:
        if method == "GET":
            check_once(port, method, path, expected)
    run_load(f"http://{HOST}:{port}/healthz", duration=1, tool="python", max_requests=2000)

    rows: list[tuple[str, int, LoadResult]] = []
    for label, method, path, body, expected in plan:
        result = run_load(
            f"http://{HOST}:{port}{path}",
            method=method,
            body=None if body is None else json.dumps(body),
            connections=args.connections,
            duration=args.duration,
            max_requests=args.max_requests if args.tool == "python" else None,
            tool=args.tool,
        )
        print(f"  {label}: {result.rps:.1f} req/s", flush=True)
        rows.append((label, expected, result))
    return rows


if __name__ == "__main__":
    sys.exit(main())
