"""Reading a thread: one page of top-level comments with all their replies, in two queries.

Pages are keyset-paged (``comment_cursors``), in the order the reader chose: oldest, newest
or top (most liked), after the comments the author pinned (newest pin first), whatever the
order. A deleted comment stays as a placeholder while it has visible replies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from flask_smorest import abort
from marshmallow import ValidationError
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from service.comments.cursors import decode_comments_cursor, encode_comments_cursor
from service.comments.representation import public
from service.comments.threads import find_thread
from service.core.errors import describe
from service.core.extensions import db
from service.db.models import Comment, Site

VISIBLE = ("approved", "deleted")  # deleted ones only as placeholders with replies


@dataclass(frozen=True)
class Page:
    article: str
    total: int
    comments: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "article": self.article,
            "total": self.total,
            "comments": self.comments,
            "next_cursor": self.next_cursor,
        }


def _encode_cursor(sort: str, comment: Comment) -> str:
    if comment.pinned_at is not None:
        return encode_comments_cursor(sort, [comment.pinned_at, comment.id], pinned=True)
    key: list[Any] = [comment.created_at, comment.id]
    if sort == "top":
        key.insert(0, comment.likes)
    return encode_comments_cursor(sort, key)


def _decode_cursor(cursor: str, sort: str) -> tuple[bool, list[Any]]:
    try:
        return decode_comments_cursor(cursor, sort)
    except ValidationError:
        message = describe("cursor_invalid")
        abort(422, message=message, errors={"cursor": [message]})
        raise  # unreachable: abort raises


def _after(sort: str, key: list[Any]) -> ColumnElement[bool]:
    """Keyset condition: strictly after the cursor in the page order."""
    c = Comment
    if sort == "newest":
        at, ident = key
        return or_(c.created_at < at, and_(c.created_at == at, c.id < ident))
    if sort == "top":
        likes, at, ident = key
        return or_(
            c.likes < likes,
            and_(c.likes == likes, c.created_at > at),
            and_(c.likes == likes, c.created_at == at, c.id > ident),
        )
    at, ident = key
    return or_(c.created_at > at, and_(c.created_at == at, c.id > ident))


def _order(sort: str) -> tuple[Any, ...]:
    if sort == "newest":
        return (Comment.created_at.desc(), Comment.id.desc())
    if sort == "top":
        return (Comment.likes.desc(), Comment.created_at.asc(), Comment.id.asc())
    return (Comment.created_at.asc(), Comment.id.asc())


def _shown() -> ColumnElement[bool]:
    """Approved, or deleted with a visible reply (a placeholder keeps the replies in place)."""
    child = aliased(Comment)
    return or_(
        Comment.status == "approved",
        and_(
            Comment.status == "deleted",
            exists().where(child.parent_id == Comment.id, child.status.in_(VISIBLE)),
        ),
    )


def thread_page(
    site: Site,
    article: str,
    *,
    sort: str = "oldest",
    limit: int = 50,
    cursor: str | None = None,
    lang: str | None = None,
) -> Page:
    """One page of top-level comments with all their replies: two indexed queries."""
    lang = lang or site.lang
    thread = find_thread(site, article)
    if thread is None:
        if cursor:
            _decode_cursor(cursor, sort)
        return Page(article, 0, [], None)
    tops = _top_level(thread.id, sort, limit, _decode_cursor(cursor, sort) if cursor else None)
    more = len(tops) > limit
    tops = tops[:limit]
    replies: Sequence[Comment] = []
    if tops:
        replies = db.session.scalars(
            select(Comment)
            .where(
                Comment.root_id.in_([t.id for t in tops]),
                Comment.depth > 1,
                Comment.status.in_(VISIBLE),
            )
            .order_by(Comment.created_at, Comment.id)
        ).all()
    trees = _build_trees(tops, replies, lang)
    next_cursor = _encode_cursor(sort, tops[-1]) if more and tops else None
    return Page(article, thread.approved_count, trees, next_cursor)


def _top_level(
    thread_id: int, sort: str, limit: int, cursor: tuple[bool, list[Any]] | None
) -> list[Comment]:
    """Up to ``limit + 1`` top-level comments after the cursor: the pinned ones first (newest
    pin first, by their own keyset), then the others in the reader's order."""
    shown = select(Comment).where(Comment.thread_id == thread_id, Comment.depth == 1, _shown())
    tops: list[Comment] = []
    if cursor is None or cursor[0]:
        pinned = (
            shown.where(Comment.pinned_at.is_not(None))
            .order_by(Comment.pinned_at.desc(), Comment.id.desc())
            .limit(limit + 1)
        )
        if cursor is not None:
            at, ident = cursor[1]
            pinned = pinned.where(
                or_(Comment.pinned_at < at, and_(Comment.pinned_at == at, Comment.id < ident))
            )
        tops = list(db.session.scalars(pinned))
    if len(tops) <= limit:
        rest = (
            shown.where(Comment.pinned_at.is_(None))
            .order_by(*_order(sort))
            .limit(limit + 1 - len(tops))
        )
        if cursor is not None and not cursor[0]:
            rest = rest.where(_after(sort, cursor[1]))
        tops.extend(db.session.scalars(rest))
    return tops


def _build_trees(
    tops: Iterable[Comment], replies: Iterable[Comment], lang: str
) -> list[dict[str, Any]]:
    children: dict[int, list[Comment]] = {}
    for reply in replies:
        if reply.parent_id is not None:
            children.setdefault(reply.parent_id, []).append(reply)

    def build(comment: Comment) -> dict[str, Any] | None:
        kids = [node for child in children.get(comment.id, []) if (node := build(child))]
        if comment.status == "deleted" and not kids:
            return None  # a deleted comment without visible replies disappears
        return public(comment, lang, kids)

    return [node for top in tops if (node := build(top))]
