"""Likes: one per client and comment, counted on the comment row in the same transaction."""

from __future__ import annotations

from flask_smorest import abort
from sqlalchemy import update

from service.comments.threads import count_change, dialect_insert
from service.core.crypto import keyed_hash
from service.core.extensions import db
from service.db.models import Comment, Like
from service.db.types import utcnow


def like_comment(comment: Comment, client_address: str) -> int:
    """One like per client and comment; the key is a keyed hash, never the address."""
    if comment.status != "approved":
        abort(404, message="No such comment.")
    key = keyed_hash("like", f"{comment.id}:{client_address}")
    # RETURNING, not rowcount: SQLAlchemy reports -1 (truthy) for INSERTs on psycopg.
    inserted = db.session.execute(
        dialect_insert(Like)
        .values(comment_id=comment.id, client_key=key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["comment_id", "client_key"])
        .returning(Like.comment_id)
    ).first()
    if inserted is not None:
        db.session.execute(
            update(Comment).where(Comment.id == comment.id).values(likes=Comment.likes + 1)
        )
        count_change(comment.thread_id, 0, shown_in_recent=False)
    db.session.commit()
    db.session.refresh(comment)
    return comment.likes
