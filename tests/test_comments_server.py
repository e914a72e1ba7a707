"""Comments through a real ``ranklet serve`` (gunicorn, several workers), SQLite and PostgreSQL.

Concurrent posts must all land exactly once, and the comment rate limit must hold exactly
across the workers of one server and, with Redis, across two servers sharing a database.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from support import need, redis_available

pytestmark = pytest.mark.slow

NO_LIMIT = {"RANKLET_COMMENT_RATE_LIMIT": ""}
REDIS_DB = 7  # a database number these tests own; only keys under our prefix are touched


def fetch(
    url: str, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request to a loopback server; HTTP errors are answers, not exceptions."""
    assert url.startswith("http://127.0.0.1:")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # loopback only
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def post_comment(base: str, article: str, body: str, **fields: Any) -> tuple[int, dict, Any]:
    status, headers, content = fetch(
        f"{base}/api/v1/sites/blog/comments", "POST", {"article": article, "body": body, **fields}
    )
    return status, headers, json.loads(content)


def read_all(base: str, article: str, limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    """Walk every page of a thread; returns the total and every top-level comment."""
    seen: list[dict[str, Any]] = []
    cursor = None
    total = -1
    for _ in range(1000):
        query = {"article": article, "limit": limit} | ({"cursor": cursor} if cursor else {})
        status, _, content = fetch(f"{base}/api/v1/sites/blog/comments?{urlencode(query)}")
        assert status == 200, content[:300]
        document = json.loads(content)
        total = document["total"]
        seen.extend(document["comments"])
        cursor = document["next_cursor"]
        if cursor is None:
            return total, seen
    raise AssertionError("the cursor never ended")


def test_200_concurrent_posts_through_4_workers_all_land_once(start_server, server_database):
    server = start_server(workers=4, env={**server_database, **NO_LIMIT})
    server.create_site("blog")

    def post(index: int) -> tuple[int, dict[str, Any]]:
        status, _, data = post_comment(
            server.base, "/busy", f"comment {index}", author=f"reader {index % 16}"
        )
        return status, data

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(200)))
    failures = [(status, data) for status, data in results if status != 201]
    assert not failures, failures[:5]
    posted_ids = [data["comment"]["id"] for _, data in results]
    assert len(set(posted_ids)) == 200
    assert all(data["status"] == "approved" for _, data in results)

    total, comments = read_all(server.base, "/busy")
    assert total == 200
    assert sorted(c["id"] for c in comments) == sorted(posted_ids)
    assert sorted(c["body_html"] for c in comments) == sorted(
        f"<p>comment {n}</p>\n" for n in range(200)
    )
    status, _, content = fetch(f"{server.base}/api/v1/sites/blog/counts?article=/busy")
    assert status == 200
    assert json.loads(content) == {"counts": {"/busy": 200}}


def test_many_first_comments_on_a_new_article_at_once(start_server, server_database):
    server = start_server(workers=4, env={**server_database, **NO_LIMIT})
    server.create_site("blog")
    start = threading.Barrier(32)

    def post(index: int) -> tuple[int, dict[str, Any]]:
        start.wait(timeout=30)
        status, _, data = post_comment(
            server.base, "/brand-new", f"first {index}", article_title="Brand new"
        )
        return status, data

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(post, range(32)))
    assert [status for status, _ in results] == [201] * 32, results
    assert len({data["comment"]["id"] for _, data in results}) == 32
    total, comments = read_all(server.base, "/brand-new", limit=200)
    assert total == 32
    assert len(comments) == 32
    status, _, content = fetch(f"{server.base}/feeds/blog.atom?article=/brand-new")
    assert status == 200
    assert content.count(b"<entry>") == 32


def assert_exactly_five_accepted(results: list[tuple[int, dict[str, str], Any]]) -> None:
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] * 5 + [429] * 7, statuses
    for status, headers, data in results:
        if status == 429:
            assert 1 <= int(headers["Retry-After"]) <= 60, headers
            assert data["code"] == 429
            assert data["message"]
        else:
            assert data["status"] == "approved"


def test_the_rate_limit_holds_exactly_across_4_workers(start_server, server_database):
    server = start_server(
        workers=4, env={**server_database, "RANKLET_COMMENT_RATE_LIMIT": "5/minute"}
    )
    server.create_site("blog")
    start = threading.Barrier(12)

    def post(index: int) -> tuple[int, dict[str, str], Any]:
        start.wait(timeout=30)
        return post_comment(server.base, "/limited", f"try {index}")

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(post, range(12)))
    assert_exactly_five_accepted(results)
    total, comments = read_all(server.base, "/limited")
    assert total == 5
    assert len(comments) == 5


@pytest.mark.redis
def test_the_rate_limit_holds_across_two_servers_sharing_redis(
    start_server, server_database, tmp_path: Path
):
    need(redis_available(), "Redis on 127.0.0.1:6379")
    import redis

    prefix = f"ranklet-test-{uuid.uuid4().hex}"
    env = {
        **server_database,
        "RANKLET_COMMENT_RATE_LIMIT": "5/minute",
        "RANKLET_RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "RANKLET_RATELIMIT_STORAGE_OPTIONS": json.dumps({"key_prefix": prefix}),
    }
    # On SQLite the two servers share one instance folder, hence one database file; on
    # PostgreSQL they share the schema and keep separate instance folders, like two hosts.
    shared = tmp_path / "shared-instance" if not server_database else None
    store = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    try:
        first = start_server(workers=2, env=env, instance=shared)
        second = start_server(workers=2, env=env, instance=shared)
        first.create_site("blog")
        status, _, content = fetch(f"{second.base}/api/v1/sites/blog/rankings")
        assert status == 200, content[:200]

        results = [
            post_comment((first, second)[n % 2].base, "/shared", f"try {n}") for n in range(12)
        ]
        assert_exactly_five_accepted(results)
        accepted_by = {n % 2 for n, (status, _, _) in enumerate(results) if status == 201}
        assert accepted_by == {0, 1}  # both servers accepted some, and counted together
        assert list(store.scan_iter(match=f"{prefix}*")), "the limit was not counted in Redis"
        for server in (first, second):
            total, _ = read_all(server.base, "/shared")
            assert total == 5
    finally:
        keys = list(store.scan_iter(match=f"{prefix}*"))
        if keys:
            store.delete(*keys)
        store.close()
