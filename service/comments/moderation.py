"""Moderation by the site's author: approve, mark as spam, delete or restore, one comment or
many at once (all or none), and the moderation queue, newest first with private fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from service.comments.representation import private
from service.comments.threads import set_status
from service.core.extensions import db
from service.db.models import Comment, Site, Thread
from service.spam import model as spam_model

MODERATION_STATUS = {
    "approve": "approved",
    "spam": "spam",
    "delete": "deleted",
    "restore": "approved",
}


class ErasedComment(ValueError):
    """An erased comment has nothing left to publish."""


def moderate(comment: Comment, action: str) -> Comment:
    return moderate_many([comment], action)[0]


def moderate_many(comments: Sequence[Comment], action: str) -> Sequence[Comment]:
    """Apply one action to several comments in one transaction: all or none."""
    status = MODERATION_STATUS[action]
    if status == "approved" and any(not c.body_text for c in comments):
        db.session.rollback()
        raise ErasedComment("An erased comment cannot be approved or restored.")
    # Threads' rows are updated in one order, so two bulk actions never wait on each other.
    for comment in sorted(comments, key=lambda c: (c.thread_id, c.id)):
        label = spam_model.moderation_label(action, comment.status)
        set_status(comment, status)
        if label is not None and not comment.is_author and comment.body_text:
            spam_model.learn(comment, label)  # the filter learns in the same commit
    db.session.commit()
    return comments


def moderation_page(
    site: Site, status: str, limit: int, before: int | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, flat, with private fields."""
    query = (
        select(Comment, Thread.article)
        .join(Thread, Thread.id == Comment.thread_id)
        .where(Comment.site_id == site.id, Comment.status == status)
        .order_by(Comment.id.desc())
        .limit(limit + 1)
    )
    if before is not None:  # an id in range: ModerationQuery and the admin page check it
        query = query.where(Comment.id < before)
    rows = db.session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [private(comment, site.lang, article) for comment, article in rows]
    reasons = spam_model.explain(site.id, [comment for comment, _ in rows])
    for item in items:
        item["spam_features"] = [
            {"feature": name, "spam_probability": p} for name, p in reasons.get(item["id"], [])
        ]
    return items, (str(rows[-1][0].id) if more and rows else None)
