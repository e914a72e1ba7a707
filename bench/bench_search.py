"""Moderation search (``GET .../moderation?q=``) at 100,000 comments, on SQLite and PostgreSQL.

Builds the schema with the migrations (the real indexes), seeds one site with --comments
comments (Japanese and English, 2,000 articles; 90 % approved, 5 % pending, 5 % spam) with
bulk inserts, then times ``moderation.moderation_page`` (the API's and the admin's search)
in this process: the median of --runs runs of each search, first page of 50 and a second
page through the cursor. Searches are substring matches (``LIKE``/``ILIKE '%word%'``), so
Japanese needs no word breaks; a rare or absent word is the worst case (the whole site's
comments of that status are read).

On PostgreSQL it then adds trigram GIN indexes (``pg_trgm``, when the extension can be
created in the bench's own schema) on the searched columns and times the same searches
again, to show what such an index would change.

    python bench/bench_search.py                      # 100,000 comments, both databases
    python bench/bench_search.py --comments 20000 --runs 3 --no-postgres
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PG_URL = os.environ.get("RANKLET_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ARTICLES = 2000
JA = (
    *("経営", "コンサルタント", "改善", "売上", "ブログ", "記事", "参考", "ランキング"),
    *("中小企業", "資金繰り", "人材", "採用", "マーケティング", "集客", "事例", "質問"),
)
EN = ("ranking", "consulting", "marketing", "growth", "cash", "hiring", "question", "thanks")
SEARCHES = (
    ("common Japanese word", "経営"),
    ("two Japanese words", "資金繰り 改善"),
    ("English word, any case", "HIRING"),
    ("author name", "読者777"),
    ("article key", "/posts/1234/"),
    ("rare word (12 comments)", "棚卸し"),
    ("absent word", "存在しない言葉"),
)


def body(rng: random.Random, index: int) -> str:
    words = [rng.choice(JA) for _ in range(rng.randint(8, 30))]
    words += [rng.choice(EN) for _ in range(rng.randint(0, 6))]
    rng.shuffle(words)
    if index % 8333 == 0:
        words.insert(3, "棚卸し")
    return "".join(w if w in JA else f" {w} " for w in words) + "。"


def seed(count: int) -> str:
    """The site and ``count`` comments, in bulk; returns the site's slug."""
    from sqlalchemy import insert

    from service.core.extensions import db
    from service.db.models import Comment, Thread
    from service.db.types import utcnow
    from service.sites.settings import SiteSettings, create_site

    site, _ = create_site("search", SiteSettings(origins=["https://blog.example.jp"]))
    now = utcnow()
    db.session.execute(
        insert(Thread),
        [
            {"site_id": site.id, "article": f"/posts/{n}/", "title": f"記事 {n}",
             "approved_count": 0, "version": 0, "created_at": now}
            for n in range(ARTICLES)
        ],
    )  # fmt: skip
    thread_ids = [t.id for t in db.session.query(Thread).order_by(Thread.id)]
    rng = random.Random(22)
    batch: list[dict[str, Any]] = []
    for index in range(count):
        text = body(rng, index)
        roll = rng.random()
        batch.append(
            {
                "site_id": site.id,
                "thread_id": thread_ids[index % ARTICLES],
                "depth": 1,
                "author": f"読者{index % 5000}",
                "website": f"https://reader{index % 900}.example/" if index % 3 else None,
                "avatar": f"{index:016x}",
                "body_text": text,
                "body_html": f"<p>{text}</p>",
                "status": "approved" if roll < 0.9 else ("pending" if roll < 0.95 else "spam"),
                "created_at": now,
            }
        )
        if len(batch) == 5000:
            db.session.connection().execute(insert(Comment.__table__), batch)
            batch.clear()
            if sys.stdout.isatty():
                print(f"  seeded {index + 1:,} comments", end="\r", flush=True)
    if batch:
        db.session.connection().execute(insert(Comment.__table__), batch)
    db.session.commit()
    print(f"  seeded {count:,} comments       ")
    return "search"


def median_ms(run: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def time_searches(slug: str, runs: int) -> dict[str, tuple[float, float | None, int]]:
    """Per search: (first page ms, second page ms or None, hits on the first page)."""
    from service.comments.moderation import moderation_page
    from service.core.extensions import db
    from service.sites.settings import get_site

    site = get_site(slug)
    assert site is not None
    found: dict[str, tuple[float, float | None, int]] = {}
    for label, q in SEARCHES:
        items, cursor = moderation_page(site, "approved", 50, None, q)
        first = median_ms(lambda q=q: moderation_page(site, "approved", 50, None, q), runs)
        second = None
        if cursor:
            before = int(cursor)
            second = median_ms(
                lambda q=q, b=before: moderation_page(site, "approved", 50, b, q), runs
            )
        found[label] = (first, second, len(items))
        db.session.rollback()
    return found


def add_trigram_indexes(schema: str) -> bool:
    """pg_trgm GIN indexes on the searched comment columns, in the bench's schema."""
    from sqlalchemy import text

    from service.core.extensions import db

    try:
        db.session.execute(text(f'CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA "{schema}"'))
        for column in ("body_text", "author", "website"):
            db.session.execute(
                text(
                    f"CREATE INDEX ix_bench_trgm_{column} ON comments "
                    f'USING gin ({column} "{schema}".gin_trgm_ops)'
                )
            )
        db.session.execute(text("ANALYZE comments"))
        db.session.commit()
        return True
    except Exception as error:  # no extension or no right to create it: say so
        db.session.rollback()
        print(f"  pg_trgm not measured: {str(error).splitlines()[0]}")
        return False


def run_database(name: str, url: str, count: int, runs: int, schema: str | None) -> dict:
    from service import create_app
    from service.cli.context import upgrade
    from service.core.extensions import db

    with tempfile.TemporaryDirectory() as folder:
        os.environ["RANKLET_INSTANCE_PATH"] = folder
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "NOTIFY_WORKER": False})
        results: dict[str, dict] = {}
        with app.app_context():
            upgrade()
            print(f"{name}:")
            began = time.perf_counter()
            slug = seed(count)
            print(f"  seeding took {time.perf_counter() - began:.1f} s")
            if schema is None:
                db.session.execute(db.text("ANALYZE"))
            else:
                db.session.execute(db.text("ANALYZE comments"))
            db.session.commit()
            results[name] = time_searches(slug, runs)
            if schema is not None and add_trigram_indexes(schema):
                results[f"{name} + pg_trgm"] = time_searches(slug, runs)
            db.session.remove()
            db.engine.dispose()
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    results: dict[str, dict] = {}
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            sqlite_url = f"sqlite:///{folder}/search.db"
            results.update(run_database("SQLite", sqlite_url, args.comments, args.runs, None))
    if not args.no_postgres:
        import psycopg

        schema = f"bench_search_{uuid.uuid4().hex[:8]}"
        plain = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            url = f"{PG_URL}?options=-csearch_path%3D{schema}"
            results.update(run_database("PostgreSQL", url, args.comments, args.runs, schema))
        finally:
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    names = list(results)
    print(
        f"\nmoderation search, status approved, {args.comments:,} comments, median of "
        f"{args.runs} runs, ms (first page / second page via the cursor; hits)"
    )
    print(f"  {'search':<28}" + "".join(f"{n:>26}" for n in names))
    for label, q in SEARCHES:
        cells = []
        for name in names:
            first, second, hits = results[name][label]
            later = f"{second:7.1f}" if second is not None else "      -"
            cells.append(f"{first:8.1f} /{later} ({hits:2d})")
        print(f"  {label + ' ' + repr(q):<28.28}" + "".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
