"""Posting a comment: the reply's place, the stored HTML, the status, and one short write.

Everything that only reads (the thread, the parent, the decision, the hashes) happens before
the statements that store the comment and what the listeners of :class:`CommentPosted` add
(the notification outbox), which commit with the comment or not at all. The API's post is
one transaction begun as a writer (on SQLite BEGIN IMMEDIATE, the write gate; the write
lane runs one post at a time per process anyway, see ``service.http.write_lane``), as on
PostgreSQL. A caller whose reads began a reading transaction on SQLite (an import, the
demo's seed) gets it ended before the writing one begins: SQLite cannot turn a reader into
the writer once another writer has committed since it began.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_request_context
from flask_smorest import abort
from sqlalchemy import Integer, bindparam, func, insert, select, update

from service.comments import markup
from service.comments.guards import Decision, new_status
from service.comments.threads import (
    MAX_DEPTH,
    count_change,
    ensure_thread,
    fill_thread,
    find_thread,
)
from service.core import events
from service.core.client import client_key
from service.core.crypto import avatar_seed, email_lookup, encrypt, new_token, token_hash
from service.core.extensions import db
from service.db import driver
from service.db.detached import detached_row
from service.db.models import Comment, Site, Thread
from service.db.types import transaction_intent, utcnow, writing_transaction
from service.spam import model as spam_model

EDIT_TOKEN_PREFIX = "et_"

_INSERT_COMMENT = insert(Comment.__table__)
# SQLite gives a new row the largest rowid plus one, inside the INSERT that holds the write
# lock, so a top-level comment can be its own root without a second statement.
_INSERT_COMMENT_SQLITE = (
    insert(Comment.__table__)
    .values(
        root_id=func.coalesce(
            bindparam("given_root", type_=Integer),
            select(func.coalesce(func.max(Comment.__table__.c.id), 0) + 1).scalar_subquery(),
        )
    )
    .returning(Comment.__table__.c.id, Comment.__table__.c.root_id)
)


# PostgreSQL: the new id is drawn from the sequence first (a CTE), so the same statement can
# make a top-level comment its own root. Built once per set of columns.
@functools.cache
def _insert_comment_pg(keys: tuple[str, ...]) -> Any:
    table = Comment.__table__
    new = select(func.nextval(func.pg_get_serial_sequence("comments", "id")).label("id")).cte(
        "new_comment"
    )
    others = [k for k in keys if k != "root_id"]
    chosen = select(
        new.c.id,
        func.coalesce(bindparam("root_id", type_=Integer), new.c.id),
        *[bindparam(k, type_=table.c[k].type) for k in others],
    )
    return (
        insert(table)
        .from_select(["id", "root_id", *others], chosen)
        .returning(table.c.id, table.c.root_id)
    )


_SET_ROOT = (
    update(Comment.__table__)
    .where(Comment.__table__.c.id == bindparam("comment_id"))
    .values(root_id=bindparam("root"))
)


@dataclass(frozen=True)
class Posted:
    comment: Comment
    edit_token: str
    editable_until: datetime


@dataclass(frozen=True)
class CommentPosted:
    """Announced inside the writing transaction of a new comment (spam included)."""

    site: Site
    comment: Comment  # with .thread set; the comment itself is not in the session
    parent: Comment | None


def post_comment(
    site: Site,
    data: dict[str, Any],
    *,
    as_author: bool,
    body_html: str | None = None,
    thread: Thread | None = None,
) -> tuple[Posted, str]:
    """Store a comment; returns it with the status the client is told.

    ``thread``: the article's thread when the caller already has it (``site_and_thread``).
    """
    with transaction_intent(False):
        thread = thread or find_thread(site, data["article"])
        if thread is None:
            thread = _create_thread(site, data)
        parent = _reply_parent(thread, data.get("parent_id"))
        values, edit_token, decision = _new_comment(
            site, thread, parent, data, as_author, body_html
        )
        session = db.session()
        if session.get_bind().dialect.name == "sqlite" and not writing_transaction(session):
            # SQLite: a reader cannot become the writer once another writer has committed,
            # and the write gate is taken at BEGIN; a transaction begun as a writer (the
            # API's post) goes on. PostgreSQL's READ COMMITTED reads each statement afresh,
            # so there the transaction goes on writing: a COMMIT, a BEGIN and a pooled
            # connection's check-out (its ping) fewer.
            _commit_keeping_objects(session)
    with transaction_intent(True):
        # Core statements: the ORM's unit of work would cost more than the SQL, under the lock.
        comment_id = _insert_comment(values)
        count_change(thread.id, 1 if values["status"] == "approved" else 0)
        if values["spam_label"]:
            spam_model.learn_new(
                site.id, decision.features, values["spam_label"], decision.score, decision.buckets
            )
        fill_thread(thread, data.get("article_title"), data.get("article_url"))
        # The row as inserted, for the listeners and the answer; in no session.
        comment = detached_row(Comment, {**values, "id": comment_id}, thread=thread)
        events.announce(CommentPosted(site, comment, parent))
        _commit_keeping_objects(db.session())  # the objects stay loaded for the answer
    window = timedelta(seconds=current_app.config["EDIT_WINDOW"])
    return Posted(comment, edit_token, comment.created_at + window), decision.told


def _insert_comment(values: dict[str, Any]) -> int:
    """Insert the comment; a top-level one becomes its own root. Returns its id."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        params = {k: v for k, v in values.items() if k != "root_id"}
        params["given_root"] = values["root_id"]
        ((comment_id, root_id),) = driver.rows(connection, _INSERT_COMMENT_SQLITE, params)
    elif connection.dialect.name == "postgresql":
        statement = _insert_comment_pg(tuple(values))
        comment_id, root_id = connection.execute(statement, values).one()
    else:
        comment_id = connection.execute(_INSERT_COMMENT, values).inserted_primary_key[0]
        root_id = values["root_id"]
    if root_id is None or (values["root_id"] is None and root_id != comment_id):
        root_id = comment_id  # not the rowid SQLite chose (the largest id was taken)
        connection.execute(_SET_ROOT, {"comment_id": comment_id, "root": root_id})
    values["root_id"] = root_id
    return int(comment_id)


def block_key(site_id: int) -> str | None:
    """The keyed hash of the poster's address that "block this commenter" matches: per site,
    never rotating, never the address (None outside a request: the demo's seed)."""
    if not has_request_context():
        return None
    return client_key(f"block:{site_id}", rotating=False)


def _commit_keeping_objects(session: Any) -> None:
    """Commit (a reading or a writing transaction) without expiring the loaded objects: what
    the caller reads afterwards is what it read or wrote itself."""
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def _create_thread(site: Site, data: dict[str, Any]) -> Thread:
    """The article's first comment: create its thread in a short transaction of its own
    (after ending the reading one: SQLite cannot turn a reader into a writer once another
    writer has committed since it began)."""
    _commit_keeping_objects(db.session())
    with transaction_intent(True):
        thread = ensure_thread(
            site, data["article"], data.get("article_title"), data.get("article_url")
        )
        _commit_keeping_objects(db.session())
    return thread


def _reply_parent(thread: Thread, parent_id: int | None) -> Comment | None:
    """The comment replied to (its parent when it is at the deepest level), or a 422."""
    if parent_id is None:
        return None
    parent = db.session.get(Comment, parent_id)
    if parent is None or parent.thread_id != thread.id or parent.status != "approved":
        db.session.rollback()
        abort(
            422,
            message="Invalid parent.",
            errors={"parent_id": ["Not a visible comment of this article."]},
        )
    assert parent is not None
    if parent.depth >= MAX_DEPTH:
        parent = db.session.get(Comment, parent.parent_id) or parent
    return parent


def _new_comment(
    site: Site,
    thread: Thread,
    parent: Comment | None,
    data: dict[str, Any],
    as_author: bool,
    body_html: str | None,
) -> tuple[dict[str, Any], str, Decision]:
    """The new comment's column values, its edit token and the spam guards' decision."""
    depth, root_id = (1, None) if parent is None else (parent.depth + 1, parent.root_id)
    body = data["body"].strip()
    if body_html is None:
        body_html = markup.render_comment(body)
    author = (data.get("author") or "").strip() or None
    email = (data.get("email") or "").strip() or None
    website = data.get("website") or None
    email_hash = email_lookup(email)
    client_hash = None if as_author else block_key(site.id)
    decision = new_status(
        site,
        as_author=as_author,
        honeypot=bool((data.get("homepage") or "").strip()),
        body_html=body_html,
        author=author,
        website=website,
        has_email=email is not None,
        client_lookup=client_hash,
        email_lookup=email_hash,
    )
    edit_token = new_token(EDIT_TOKEN_PREFIX)
    values: dict[str, Any] = dict(
        site_id=site.id,
        thread_id=thread.id,
        parent_id=parent.id if parent else None,
        root_id=root_id,
        depth=depth,
        author=author,
        website=website,
        email_encrypted=encrypt(email),
        email_lookup=email_hash,
        avatar=avatar_seed(site.id, author, email),
        body_text=body,
        body_html=body_html,
        status=decision.status,
        is_author=as_author,
        notify=bool(data.get("notify")) and email is not None,
        likes=0,
        edit_token_hash=token_hash(edit_token),
        created_at=utcnow(),
        spam_score=decision.score,
        # A published reader comment counts as ham (learned in the writing transaction).
        spam_label="ham" if decision.features else None,
        client_lookup=client_hash,
    )
    return values, edit_token, decision
