"""CPU time of one comment post, in process: the request bench_vs_waline sends, as a call of
the WSGI app (what a server's thread runs), on a fresh database seeded as
``workload.seed_ranklet_site`` seeds it.

A CPU-time figure (``time.process_time`` per post) rather than a throughput, so that two
versions can be compared on a busy machine: run each a few times, alternating, e.g.::

    PYTHONPATH=/work/main python bench/bench_post_cpu.py            # A: another checkout
    PYTHONPATH=$PWD python bench/bench_post_cpu.py                  # B: this one
    PYTHONPATH=$PWD python bench/bench_post_cpu.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test
    PYTHONPATH=$PWD python bench/bench_post_cpu.py --profile /tmp/posts.prof

On PostgreSQL the database URL names a server database; the run works in a schema of its
own (``bench_<random>``) and drops it at the end. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workload import (
    BLOG_ORIGIN,
    BROWSER_ENCODINGS,
    POST_BODY,
    POSTS_ARTICLE,
    SITE,
    make_plan,
    post_plan_comments,
)


@contextlib.contextmanager
def database(url: str | None, folder: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in ``folder``, or a new PostgreSQL schema."""
    if url is None:
        yield f"sqlite:///{folder / 'ranklet.db'}"
        return
    import sqlalchemy

    schema = "bench_" + uuid.uuid4().hex[:12]
    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


def seed(app: Any) -> int:
    """The bench's site and the plan's comments, posted through ``post_comment``."""
    from service.cli.context import upgrade
    from service.sites.settings import SiteSettings, create_site

    with app.app_context():
        upgrade()
        site, _token = create_site(SITE, SiteSettings(origins=[BLOG_ORIGIN], lang="en"))
        posted_total = post_plan_comments(site, make_plan())
    return posted_total


@contextlib.contextmanager
def seeded_app(url: str | None, prefix: str) -> Iterator[tuple[Any, int]]:
    """The bench's app on a fresh database (``database``), seeded (``seed``), and how many
    comments the seed posted; its pool is closed at the end."""
    from service import create_app
    from service.core.extensions import db

    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        folder = Path(scratch)
        os.environ["RANKLET_INSTANCE_PATH"] = str(folder / "instance")
        with database(url, folder) as database_url:
            config = {
                "DATABASE_URL": database_url,
                "SECRET_KEY": "bench-secret-key",
                "COMMENT_RATE_LIMIT": "",
                "NOTIFY_WORKER": False,
            }
            app = create_app(config)
            try:
                yield app, seed(app)
            finally:
                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()


def post_loop(app: Any, count: int, tag: str) -> None:
    """``count`` posts, each a call of the WSGI app with the environ a server would give it
    (built once by werkzeug, the body replaced): the app's own work, not a test client's."""
    from werkzeug.test import EnvironBuilder

    headers = {
        "Origin": BLOG_ORIGIN,
        "Accept-Encoding": BROWSER_ENCODINGS,
        "Host": "127.0.0.1:8000",
    }
    base = EnvironBuilder(
        path=f"/api/v1/sites/{SITE}/comments",
        method="POST",
        headers=headers,
        content_type="application/json",
        data=b"{}",
    ).get_environ()
    answered: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> Any:
        answered.append(status)
        return None

    for i in range(count):
        data = {"article": POSTS_ARTICLE, "author": "Bench", "body": f"{POST_BODY} {tag}-{i}"}
        body = json.dumps(data).encode()
        environ = dict(base, CONTENT_LENGTH=str(len(body)))
        environ["wsgi.input"] = io.BytesIO(body)
        answered.clear()
        chunks = app(environ, start_response)
        try:
            answer = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        if not answered or not answered[0].startswith("201"):
            raise SystemExit(f"post {i}: {answered} {answer[:300]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=2000, help="timed posts (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="untimed posts first")
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temp SQLite file)")
    parser.add_argument("--profile", help="write a cProfile of the timed posts here")
    args = parser.parse_args()

    import service

    with seeded_app(args.database, "postcpu") as (app, seeded):
        tag = uuid.uuid4().hex[:6]
        post_loop(app, args.warmup, f"w{tag}")
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        post_loop(app, args.posts, tag)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profile is not None:
            profile.dump_stats(args.profile)
    print(
        json.dumps(
            {
                "service": str(Path(service.__file__).parent.parent),
                "database": "postgresql" if args.database else "sqlite",
                "seeded": seeded,
                "posts": args.posts,
                "cpu_ms_per_post": round(cpu / args.posts * 1000, 3),
                "wall_ms_per_post": round(wall / args.posts * 1000, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
