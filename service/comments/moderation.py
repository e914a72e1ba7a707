"""Moderation by the site's author: approve, mark as spam, delete or restore, one comment or
many at once (all or none); pinning; and the moderation queue, newest first with private
fields, searchable by words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.sql.elements import ColumnElement

from service.comments.representation import private
from service.comments.threads import count_change, set_status
from service.core.extensions import db
from service.core.text_rules import BIDI_RE, LINE_CONTROL_RE
from service.db.models import Comment, Site, Thread
from service.db.types import utcnow
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
    moves = []
    for comment in sorted(comments, key=lambda c: (c.thread_id, c.id)):
        label = spam_model.moderation_label(action, comment.status)
        set_status(comment, status)
        if label is not None and not comment.is_author and comment.body_text:
            moves.append((comment, label))
    for site_id in sorted({c.site_id for c in comments}):  # one site, from every caller
        acted = [c for c in comments if c.site_id == site_id]
        # The filter learns in the same commit, and confirms what stayed published.
        spam_model.moderate(site_id, [m for m in moves if m[0].site_id == site_id], acted)
    db.session.commit()
    return comments


SEARCH_CHARS_MAX = 200
SEARCH_WORDS_MAX = 10


def search_words(q: str | None) -> list[str]:
    """The words of a search: its first 200 characters split on white space (full-width
    included), at most 10 words. A longer search is cut, not refused: it is a search box;
    control and bidi characters, which no stored text has, separate words like spaces."""
    text = BIDI_RE.sub(" ", LINE_CONTROL_RE.sub(" ", (q or "")[:SEARCH_CHARS_MAX]))
    return text.split()[:SEARCH_WORDS_MAX]


def _matches(site: Site, word: str) -> ColumnElement[bool]:
    """One word found in the text, the author, the website, the article key or its title.

    Substring matching (``LIKE '%word%'``, its wildcards escaped), so Japanese, written
    without spaces between words, is found inside a sentence. Case-insensitive: SQLite's
    LIKE already is (for ASCII, like ILIKE on PostgreSQL's ASCII), so no ``lower()`` runs per
    row. The articles that match are found once, in the threads table, not per comment."""
    # PostgreSQL's ILIKE folds case character by character; a word without ASCII letters
    # (Japanese) has no case to fold, and its plain LIKE is several times faster.
    folded = db.session.get_bind().dialect.name == "postgresql" and bool(
        re.search(r"[A-Za-z]", word)
    )
    pattern = "%" + re.sub(r"([/%_])", r"/\1", word) + "%"

    def found(column: Any) -> ColumnElement[bool]:
        return column.ilike(pattern, escape="/") if folded else column.like(pattern, escape="/")

    articles = select(Thread.id).where(
        Thread.site_id == site.id, or_(found(Thread.article), found(Thread.title))
    )
    return or_(
        found(Comment.body_text),
        found(Comment.author),
        found(Comment.website),
        Comment.thread_id.in_(articles),
    )


def moderation_page(
    site: Site, status: str, limit: int, before: int | None, q: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, flat, with private fields; with ``q``, only comments that contain every
    word of it. Paged by id, so a search pages with the same cursor as the plain list."""
    query = (
        select(Comment, Thread.article)
        .join(Thread, Thread.id == Comment.thread_id)
        .where(Comment.site_id == site.id, Comment.status == status)
        .where(*(_matches(site, word) for word in search_words(q)))
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
            {"feature": r.feature, "spam_probability": r.spam_probability, "weight": r.weight}
            for r in reasons.get(item["id"], [])
        ]
    return items, (str(rows[-1][0].id) if more and rows else None)


class ReplyNotPinnable(ValueError):
    """Only a top-level comment leads its thread; a reply stays under its parent."""


def pin(comment: Comment, pinned: bool) -> Comment:
    """Pin or unpin a top-level comment. Pinning again keeps the first pin's time (a retry
    changes nothing); the thread's version moves, so cached pages follow at once."""
    if comment.parent_id is not None or comment.depth != 1:
        db.session.rollback()
        raise ReplyNotPinnable("A reply cannot be pinned.")
    if pinned and comment.pinned_at is None:
        comment.pinned_at = utcnow()
    elif not pinned:
        comment.pinned_at = None
    count_change(comment.thread_id, 0)
    db.session.commit()
    return comment
