"""The hot reads' check query runs on each thread's own connection (issue 20, item 3).

On PostgreSQL a pooled checkout cost a pre-ping round trip and a parse of the statement on
top of the check itself, and hot reads ran at 0.32x SQLite's. Each thread now keeps its
own connection, in autocommit, with the check prepared on first use; a write is still
seen by the very next check, and disposing of the engine closes those connections.
"""

from __future__ import annotations

import threading
from typing import Any

from test_caching import (
    ORIGIN,
    answered_hot,
    counts_url,
    hot,
    post_comment,
    raw_get,
    read_url,
)

from service.core.extensions import db


def own_connection(app: Any) -> Any:
    queries = hot(app)._queries
    assert queries is not None
    local = queries._local
    return getattr(local, "postgres", None) or getattr(local, "connection", None)


def test_checks_use_the_threads_own_connection_and_see_every_write(app, client, site):
    post_comment(client, "First")
    target = read_url("widget")
    headers = {"Origin": ORIGIN}
    assert not answered_hot(app, target, headers)  # filled by Flask
    assert answered_hot(app, target, headers)
    connection = own_connection(app)
    assert connection is not None
    for _ in range(3):
        assert answered_hot(app, target, headers)
    assert own_connection(app) is connection  # the same one each time, not a checkout
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert connection.autocommit is True
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
        assert any("versions" in text.lower() or "threads" in text.lower() for text in prepared)
    post_comment(client, "Second")
    answer = raw_get(app, target, headers)  # the check sees the new version: Flask renders
    assert b"Second" in answer.body
    assert answered_hot(app, target, headers)


def test_each_thread_has_its_own_and_dispose_closes_them(app, client, site):
    post_comment(client, "First")
    target = read_url("counts")
    headers = {"Origin": ORIGIN}
    raw_get(app, target, headers)
    assert answered_hot(app, target, headers)
    seen: list[Any] = []

    def read() -> None:
        assert answered_hot(app, target, headers)
        seen.append(own_connection(app))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=30)
    assert seen and seen[0] is not None and seen[0] is not own_connection(app)
    with app.app_context():
        db.engine.dispose()
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        assert seen[0].closed and own_connection(app).closed


# Article keys that a PostgreSQL array literal must escape, or that it could misread.
ODD_ARTICLES = (
    '/posts/"quoted"/',
    "/posts/back\\slash/",
    "/posts/{braces},comma/",
    "/posts/NULL",
    "/posts/ünïcode/日本/",
    "/posts/space d/",
)


def test_counts_of_odd_article_keys_are_confirmed_and_see_every_write(app, client, site):
    """On PostgreSQL the counts check sends the articles as one array: each of these keys
    must come back as itself (a hot hit), with an article without comments among them, and a
    new comment on any of them must make the next read render."""
    for article in ODD_ARTICLES:
        post_comment(client, f"On {article}", article=article)
    target = counts_url(*ODD_ARTICLES, "/posts/none/")
    headers = {"Origin": ORIGIN}
    first = raw_get(app, target, headers).json()
    assert first["counts"] == {**{a: 1 for a in ODD_ARTICLES}, "/posts/none/": 0}, first
    assert answered_hot(app, target, headers)
    assert answered_hot(app, target, headers)
    post_comment(client, "Another", article=ODD_ARTICLES[1])
    assert not answered_hot(app, target, headers)
    assert raw_get(app, target, headers).json()["counts"][ODD_ARTICLES[1]] == 2
    assert answered_hot(app, target, headers)
