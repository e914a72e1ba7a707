"""Reading a thread: one page of top-level comments with all their replies, in two queries.

Pages are keyset-paged (``comment_cursors``), in the order the reader chose: oldest, newest
or top (most liked). A deleted comment stays as a placeholder while it has visible replies.
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
    key: list[Any] = [comment.created_at, comment.id]
    if sort == "top":
        key.insert(0, comment.likes)
    return encode_comments_cursor(sort, key)


def _decode_cursor(cursor: str, sort: str) -> list[Any]:
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
    query = (
        select(Comment)
        .where(Comment.thread_id == thread.id, Comment.depth == 1, _shown())
        .order_by(*_order(sort))
        .limit(limit + 1)
    )
    if cursor:
        query = query.where(_after(sort, _decode_cursor(cursor, sort)))
    tops = list(db.session.scalars(query))
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
