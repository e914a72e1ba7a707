"""The posting path's fixed statements on SQLite's own connection (``service.db.driver``):
they must store exactly what SQLAlchemy's execution path stores, and fail as it fails."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import pytest
from sqlalchemy import Integer, bindparam, func, insert, select, text
from sqlalchemy.exc import OperationalError
from support import SAMPLE_HAM, SAMPLE_SPAM, engine_statements

from service.core.extensions import db
from service.db import driver
from service.db.models import Comment, Site, SpamCount, Thread
from service.db.types import utcnow

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}
# What differs between two posts whatever path stored them.
SAME = "Same words *each* time, with a [link](https://example.org/)."
OWN = {"id", "root_id", "created_at", "edit_token_hash", "email_encrypted"}  # per post


def through_sqlalchemy(app: Any) -> Any:
    """While a listener watches the engine's statements, ``driver.rows`` takes SQLAlchemy's
    path (so that the listener sees them): the reference to compare with."""
    return engine_statements(app)


def _post(client: Any, body: str, **fields: Any) -> dict[str, Any]:
    answer = client.post(
        f"{BASE}/comments", json={"article": "/post/1", "body": body, **fields}, headers=ORIGIN
    )
    assert answer.status_code in (201, 202), answer.get_data(as_text=True)
    return answer.get_json()


def _state(app: Any) -> dict[str, Any]:
    with app.app_context():
        comments = [
            {c.key: getattr(row, c.key) for c in Comment.__table__.columns}
            for row in db.session.scalars(select(Comment).order_by(Comment.id))
        ]
        thread = db.session.scalars(select(Thread)).one()
        thread_counts = (thread.approved_count, thread.version)
        site_version = db.session.scalars(select(Site)).one().comments_version
        counts = {
            (row.bucket): (row.ham, row.spam, row.weight)
            for row in db.session.scalars(select(SpamCount))
        }
        raw = db.session.execute(text("SELECT created_at FROM comments ORDER BY id")).all()
        db.session.rollback()
    return {
        "comments": comments,
        "thread": thread_counts,
        "site_version": site_version,
        "counts": counts,
        "stored_times": [row[0] for row in raw],
    }


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    new = after["comments"][len(before["comments"]) :]
    assert len(new) == 1
    changed = {
        bucket: tuple(a - b for a, b in zip(value, before["counts"].get(bucket, (0, 0, 0))))
        for bucket, value in after["counts"].items()
        if value != before["counts"].get(bucket)
    }
    return {
        "comment": {k: v for k, v in new[0].items() if k not in OWN},
        "root_is_own": new[0]["root_id"] == new[0]["id"],
        "thread": tuple(a - b for a, b in zip(after["thread"], before["thread"])),
        "site_version": after["site_version"] - before["site_version"],
        "counts": changed,
    }


@pytest.mark.parametrize("reply", [False, True])
def test_a_post_stores_the_same_rows_either_way(app, client, site, reply):
    """The same comment posted through the driver and through SQLAlchemy changes the same
    rows by the same amounts: the comment's columns (typed as the ORM reads them), the
    thread's count and version, the site's version, the spam counts."""
    parent = _post(client, "The first comment, to reply to.")["comment"]["id"]
    fields = {"parent_id": parent} if reply else {}
    deltas = []
    for path in ("driver", "sqlalchemy"):
        before = _state(app)
        with contextlib.ExitStack() as stack:
            if path == "sqlalchemy":
                seen = stack.enter_context(through_sqlalchemy(app))
            _post(client, SAME, author="Reader", email="r@example.org", **fields)
        if path == "sqlalchemy":
            assert any("INSERT INTO comments" in s for s in seen)
            assert any("spam_counts" in s for s in seen)
        deltas.append(_delta(before, _state(app)))
    driven, reference = (d["comment"] for d in deltas)
    assert {k: v for k, v in driven.items() if reference[k] != v} == {}
    assert deltas[0] == deltas[1]
    assert deltas[0]["thread"] == (1, 1) and deltas[0]["site_version"] == 1
    assert deltas[0]["root_is_own"] is not reply
    assert deltas[0]["counts"]  # the comment was learned as ham


def test_times_are_stored_as_sqlalchemy_stores_them(app, client, site):
    """The bind processors are SQLAlchemy's: a time stored through the driver is the same
    text as one stored through SQLAlchemy, and reads back as the same aware datetime."""
    _post(client, "Stored through the driver.")
    with through_sqlalchemy(app):
        _post(client, "Stored through SQLAlchemy.")
    state = _state(app)
    first, second = state["stored_times"]
    if isinstance(first, str):  # SQLite: the same format, to the microsecond
        assert len(first) == len(second) and first[:4] == second[:4]
    times = [c["created_at"] for c in state["comments"]]
    assert all(t.tzinfo is not None for t in times)
    assert times[0] <= times[1] <= utcnow()


def test_the_spam_model_scores_the_same_either_way(app, client, site):
    """A trained site scores a new comment the same through either path (the scoring read
    goes through the driver), and holds the same spam."""
    for n in range(22):
        _post(client, SAMPLE_HAM[n % len(SAMPLE_HAM)].format(n=n))
    with app.test_client() as author:
        for n in range(22):
            made = _post(client, SAMPLE_SPAM[n % len(SAMPLE_SPAM)].format(n=n))
            if made["comment"].get("status", made["status"]) == "approved":
                done = author.post(
                    f"{BASE}/comments/{made['comment']['id']}/moderate",
                    json={"action": "spam"},
                    headers={"Authorization": f"Bearer {site.token}"},
                )
                assert done.status_code == 200, done.get_data(as_text=True)
    spam = SAMPLE_SPAM[0].format(n=99)
    scores = []
    for path in ("driver", "sqlalchemy"):
        with contextlib.ExitStack() as stack:
            if path == "sqlalchemy":
                stack.enter_context(through_sqlalchemy(app))
            answer = _post(client, spam)
        scores.append(answer["status"])
        with app.app_context():
            scores.append(db.session.get(Comment, answer["comment"]["id"]).spam_score)
            db.session.rollback()
    assert scores[1] is not None and scores[1] == scores[3]
    assert scores[0] == scores[2]


@pytest.fixture
def sqlite_app(new_app: Any, tmp_path: Any) -> Any:
    """An app on a SQLite file whatever the database parameter (the driver's own path)."""
    application = new_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'driver.db'}",
            "SECRET_KEY": "test-secret-key",
            "RATELIMIT_STORAGE_URI": "memory://",
            "NOTIFY_WORKER": False,
        }
    )
    with application.app_context():
        db.create_all()
    return application


def test_a_locked_database_is_sqlalchemys_operational_error(sqlite_app):
    """A statement refused by SQLite ("database is locked") is raised as SQLAlchemy raises
    it, so the API answers 503 as before; the transaction can be rolled back."""
    with sqlite_app.app_context():
        path = db.engine.url.database
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with sqlite_app.app_context():
            connection = db.session.connection()
            assert connection.dialect.name == "sqlite"
            connection.connection.driver_connection.execute("PRAGMA busy_timeout = 1")
            values = {
                "site_id": 1,
                "article": "/locked",
                "approved_count": 0,
                "version": 0,
                "created_at": utcnow(),
            }
            with pytest.raises(OperationalError, match="locked"):
                driver.rows(connection, insert(Thread.__table__), values)
            db.session.rollback()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_statements_own_values_are_sent_as_given(app, site):
    """Parameters the statement carries (a default, None included) go with those the
    caller gives, on either database and through either path; the rows come back as
    tuples."""
    statement = text("SELECT :a + :b AS sum, :c IS NULL AS empty").bindparams(
        bindparam("b", value=1), bindparam("c", value=None, type_=Integer)
    )
    for path in ("driver", "sqlalchemy"):
        with contextlib.ExitStack() as stack:
            if path == "sqlalchemy":
                stack.enter_context(through_sqlalchemy(app))
            with app.app_context():
                got = driver.rows(db.session.connection(), statement, {"a": 41})
                db.session.rollback()
        assert [tuple(row) for row in got] == [(42, True)], path


def _columns(instance: Any) -> dict[str, Any]:
    return {c.key: getattr(instance, c.key) for c in type(instance).__table__.columns}


def test_the_posts_site_and_thread_are_the_rows_the_orm_loads(app, client, site):
    """``site_and_thread`` builds detached objects from one row of plain columns: every
    attribute must be what the ORM loads, of the same type (JSON lists, booleans, times),
    through the driver and through SQLAlchemy's path alike."""
    from sqlalchemy import inspect as sa_inspect

    from service.comments.threads import site_and_thread
    from service.sites.settings import SiteSettings, update_site

    with app.app_context():
        stored = db.session.scalars(select(Site)).one()
        update_site(stored, SiteSettings(banned_words=["広告"], spam_patterns=["^buy"]))
        db.session.commit()
    _post(client, "the thread's first comment", article_title="記事", article_url=None)
    for watched in (False, True):
        with contextlib.ExitStack() as stack:
            if watched:
                stack.enter_context(through_sqlalchemy(app))
            with app.app_context():
                got_site, got_thread = site_and_thread("blog", "/post/1")
                orm_site = db.session.scalars(select(Site)).one()
                orm_thread = db.session.scalars(select(Thread)).one()
                assert got_site is not None and got_thread is not None
                for got, loaded in ((got_site, orm_site), (got_thread, orm_thread)):
                    state = sa_inspect(got)
                    assert state.detached and state.key == sa_inspect(loaded).key
                    mine, theirs = _columns(got), _columns(loaded)
                    assert mine == theirs
                    assert {k: type(v) for k, v in mine.items()} == {
                        k: type(v) for k, v in theirs.items()
                    }
                assert got_site.banned_words == ["広告"] and got_site.spam_patterns == ["^buy"]
                assert site_and_thread("blog", "/no/comment/yet")[1] is None
                assert site_and_thread("nosuchsite", "/post/1") == (None, None)
                db.session.rollback()


def test_a_later_comment_fills_what_the_thread_lacks_and_nothing_else(app, client, site):
    """The thread is detached on the posting path: its title and URL are filled by SQL."""
    _post(client, "no title yet")
    _post(
        client, "now with one", article_title="記事の題", article_url="https://blog.example.com/p/1"
    )
    _post(client, "another title", article_title="Other", article_url="https://blog.example.com/x")
    with app.app_context():
        thread = db.session.scalars(select(Thread)).one()
        assert (thread.title, thread.url) == ("記事の題", "https://blog.example.com/p/1")
        assert thread.approved_count == 3
        db.session.rollback()


def test_the_posted_comment_is_the_row_the_orm_loads(app, client, site):
    """The comment handed to the listeners (the notification outbox) and to the answer is
    built detached from the values just inserted: every column what the ORM loads, its
    thread set, in no session, and never a second row when a session meets it."""
    from sqlalchemy import inspect as sa_inspect

    from service.comments.posting import CommentPosted
    from service.core import events

    seen: list[Any] = []
    events.listen(app, CommentPosted, lambda event: seen.append(event.comment))
    first = _post(client, "top level", author="Ann", email="ann@example.com", notify=True)
    _post(
        client,
        "a *reply* with a [link](https://example.org/)",
        parent_id=first["comment"]["id"],
        website="https://ann.example.com",
    )
    assert len(seen) == 2
    with app.app_context():
        for got in seen:
            loaded = db.session.get(Comment, got.id)
            state = sa_inspect(got)
            assert state.detached and state.key == sa_inspect(loaded).key
            mine, theirs = _columns(got), _columns(loaded)
            assert mine == theirs
            assert {k: type(v) for k, v in mine.items()} == {k: type(v) for k, v in theirs.items()}
            assert got.thread.id == loaded.thread_id == loaded.thread.id
        assert seen[1].parent_id == seen[0].id and seen[1].root_id == seen[0].id
        db.session.rollback()
        merged = db.session.merge(seen[0])
        db.session.flush()
        assert merged.id == seen[0].id
        assert db.session.scalar(select(func.count()).select_from(Comment)) == 2
        db.session.rollback()


def test_a_detached_row_refuses_what_is_not_a_column():
    from service.db.detached import detached_row

    with pytest.raises(ValueError, match="not columns of Comment"):
        detached_row(Comment, {"id": 1, "bodyy": "typo"})
