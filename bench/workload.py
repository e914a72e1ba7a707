"""What bench_vs_isso gives both services: the same comments, and the same requests.

The plan is made once (seeded, so every run is alike) and written to a JSON file that each
side's seeder reads; the rows pair each Ranklet request with the Isso request its embed
sends for the same thing, with a check of the answer.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from serving import REPO, cli, run

BROWSER_ENCODINGS = "gzip, deflate, br, zstd"  # what Chromium sends with fetch()
SITE = "benchblog"
THREAD_SIZES = (20, 200, 2000)
REPLY_SHARE = 0.25
ARTICLES = 100
COUNTED = 50
POSTS_ARTICLE = "/bench/posts"
BLOG_ORIGIN = "https://blog.example"  # the site's origin in the Waline and latency benches
THREAD_200 = "/bench/thread-200"  # the page view those benches measure
POST_BODY = "Great post, *thanks*! One question: does this also work with `nginx` in front?"
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


def seed_ranklet_site(env: dict[str, str], plan_path: Path) -> None:
    """A fresh database for ``env``: migrated, the bench's site, and the plan's comments
    posted through the service in a process of its own (``python workload.py PLAN``)."""
    cli(env, "db", "upgrade")
    cli(env, "site", "create", SITE, "--origin", BLOG_ORIGIN, "--lang", "en", "--json")
    run([sys.executable, str(Path(__file__).resolve()), str(plan_path)], env)


def post_plan_comments(site: Any, plan: dict[str, Any]) -> int:
    """Post the plan's comments to ``site`` through ``post_comment`` (in an app context),
    replies to their parents; each must be published. Returns how many were posted."""
    from service.comments import posting

    posted_total = 0
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
            posted, told = posting.post_comment(site, data, as_author=False)
            if told != "approved":
                raise SystemExit(f"seed comment was {told}, not approved")
            ids[comment["key"]] = posted.comment.id
            posted_total += 1
    return posted_total


def seed_ranklet_here(plan_path: str) -> int:
    """Post the plan's comments through the service (``--seed-ranklet PLAN`` of
    bench_vs_isso, or ``python workload.py PLAN``)."""
    sys.path.insert(0, str(REPO))
    from service import create_app
    from service.sites.settings import get_site

    app = create_app({"COMMENT_RATE_LIMIT": ""})
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    with app.app_context():
        site = get_site(SITE)
        if site is None:
            raise SystemExit(f"no site {SITE!r}")
        posted_total = post_plan_comments(site, plan)
    print(json.dumps({"comments": posted_total}))
    return 0


# --- the requests -------------------------------------------------------------------------


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


if __name__ == "__main__":
    sys.exit(seed_ranklet_here(sys.argv[1]))
