"""Three comment indexes hold only the rows whose column is set (migration 0013): a
top-level post without e-mail writes no entry in them, and the queries that read those
columns still find them through the indexes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from support import orm_statements

from service.comments import erasure
from service.core.extensions import db
from service.db.models import Comment, Site

BASE = "/api/v1/sites/blog"
ORIGIN = {"Origin": "https://blog.example.com"}
PARTIAL = {
    "ix_comments_parent": "parent_id",
    "ix_comments_email_lookup": "email_lookup",
    "ix_comments_source": "source_key",
}


def plan(statement: str, parameters: Any) -> str:
    """The database's plan for a statement, as one lower-case text."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
        found = " | ".join(str(row[-1]) for row in rows)
    else:
        # Asked not to scan the table, PostgreSQL shows whether an index can serve the
        # query at all (with a few thousand rows it may still rightly prefer a scan).
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        found = " | ".join(str(row[0]) for row in rows)
    db.session.rollback()
    return found.lower()


def post(client: Any, **fields: Any) -> dict[str, Any]:
    answer = client.post(
        f"{BASE}/comments", json={"article": "/post/1", "body": "Hello", **fields}, headers=ORIGIN
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["comment"]


def test_the_three_indexes_hold_only_rows_with_the_column_set(app, site):
    with app.app_context():
        connection = db.session.connection()
        if connection.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name = :name"
        else:
            query = (  # each test's own schema: others hold the same names
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE indexname = :name AND schemaname = current_schema()"
            )
        for name, column in PARTIAL.items():
            (_, definition) = db.session.execute(text(query), {"name": name}).one()
            words = " ".join(definition.lower().replace("(", " ").replace(")", " ").split())
            assert f"where {column} is not null" in words, definition


def test_a_plain_post_writes_no_entry_and_a_reply_one(app, client, site):
    top = post(client)
    reply = post(client, parent_id=top["id"], email="a@example.com")
    with app.app_context():
        counts = {}
        for name, column in PARTIAL.items():
            # Through the index itself: SQLite is told which to use, PostgreSQL can only
            # answer a count of rows with the column set from it or from the table alike.
            hint = f" INDEXED BY {name}" if db.session.connection().dialect.name == "sqlite" else ""
            query = f"SELECT id FROM comments{hint} WHERE {column} IS NOT NULL"
            counts[name] = [row[0] for row in db.session.execute(text(query))]
        db.session.rollback()
    assert counts == {
        "ix_comments_parent": [reply["id"]],
        "ix_comments_email_lookup": [reply["id"]],
        "ix_comments_source": [],
    }


def many_comments(app: Any, thread_of: int, count: int) -> None:
    """``count`` more comments copied from the thread's first one, a third of them replies,
    each with its own e-mail lookup and source key, then fresh statistics: the planner
    chooses among indexes as it would on a real site, not on three rows."""
    with app.app_context():
        columns = [c.name for c in Comment.__table__.columns if c.name != "id"]
        varied = {
            "parent_id": "CASE WHEN n % 3 = 0 THEN c.id END",
            "email_lookup": "'lookup-' || n",
            "source_key": "'wp:' || n",
        }
        chosen = ", ".join(varied.get(name, f"c.{name}") for name in columns)
        db.session.execute(
            text(
                "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers"
                f" WHERE n < :count) INSERT INTO comments ({', '.join(columns)}) "
                f"SELECT {chosen} FROM comments c, numbers WHERE c.id = :id"
            ),
            {"count": count, "id": thread_of},
        )
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def test_the_queries_on_those_columns_still_use_them(app, client, site):
    top = post(client, email="a@example.com")
    post(client, parent_id=top["id"])
    many_comments(app, top["id"], 3000)
    with app.app_context():
        # A deleted comment with a visible reply stays as a placeholder: the thread read
        # asks, per deleted comment, whether it has one (the reply's parent_id).
        db.session.execute(
            text("UPDATE comments SET status = 'deleted' WHERE id = :id"), {"id": top["id"]}
        )
        db.session.commit()
    with orm_statements(app) as seen:
        assert client.get(f"{BASE}/comments?article=/post/1").status_code == 200
        with app.app_context():
            target = db.session.scalars(select(Site)).one()
            assert erasure.erase_email(target, "a@example.com") == 1
            db.session.rollback()
            # The import's lookup of comments already imported (transfer.pipeline).
            db.session.execute(
                select(Comment.source_key, Comment.id).where(
                    Comment.site_id == target.id, Comment.source_key.in_(["wp:1", "wp:2"])
                )
            ).all()
            db.session.rollback()
    wanted = {
        "ix_comments_parent": "parent_id =",
        "ix_comments_email_lookup": "email_lookup =",
        "ix_comments_source": "source_key in",
    }
    with app.app_context():
        for name, clause in wanted.items():
            statements = [
                (sql, params)
                for sql, params in seen
                if clause in " ".join(sql.lower().split())
                and sql.lstrip().upper().startswith("SELECT")
            ]
            assert statements, f"no statement with {clause!r} ran"
            for sql, params in statements:
                found = plan(sql, params)
                if "hashed subplan" in found and name == "ix_comments_parent":
                    # PostgreSQL may hash the whole (tiny) set of replies once instead of
                    # looking each up: then the lookup it would make per deleted comment.
                    lookup = (
                        "SELECT 1 FROM comments WHERE parent_id = %(id)s"
                        " AND status IN ('approved', 'deleted')"
                    )
                    found = plan(lookup, {"id": top["id"]})
                if name not in found:
                    pytest.fail(f"{name} not in the plan of {sql}:\n{found}")


def test_source_keys_stay_unique_and_many_comments_have_none(app, client, site):
    post(client)
    post(client)  # two comments without a source key: NULLs never collide
    with app.app_context():
        one = db.session.scalars(select(Comment).order_by(Comment.id)).first()
        assert one is not None
        db.session.execute(
            text("UPDATE comments SET source_key = 'wp:1' WHERE id = :id"), {"id": one.id}
        )
        db.session.commit()
        with pytest.raises(IntegrityError):
            db.session.execute(
                text("UPDATE comments SET source_key = 'wp:1' WHERE id <> :id"), {"id": one.id}
            )
            db.session.flush()
        db.session.rollback()
