"""Comment threads: posting, reading, editing, likes and moderation (contract §4).

Every function that writes owns its commit, so a failed request leaves nothing half-written.
Approved counts live on the thread row and change in the same transaction as the comment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_smorest import abort
from marshmallow import ValidationError
from sqlalchemy import Integer, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from service import markup
from service.crypto import (
    avatar_seed,
    decrypt,
    email_lookup,
    encrypt,
    keyed_hash,
    new_token,
    token_hash,
    token_matches,
)
from service.db_types import transaction_intent, utcnow
from service.errors import describe
from service.extensions import db
from service.messages import LANGS, text
from service.models import Comment, Like, Site, Thread
from service.schemas import decode_comments_cursor, encode_comments_cursor
from service.sites import SLUG_RE

MAX_DEPTH = 5
MAX_LINKS = 3
ANONYMOUS = {lang: text("comment.anonymous", lang) for lang in LANGS}
VISIBLE = ("approved", "deleted")  # deleted ones only as placeholders with replies
EDIT_TOKEN_PREFIX = "et_"


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


# --- threads ------------------------------------------------------------------------------


# Statements on the posting path, built once: building one costs more than running it.
_THREAD = select(Thread).where(
    Thread.site_id == bindparam("site_id"), Thread.article == bindparam("article")
)
_COUNT_CHANGE = (
    update(Thread.__table__)
    .where(Thread.__table__.c.id == bindparam("thread_id"))
    .values(
        approved_count=Thread.__table__.c.approved_count + bindparam("delta"),
        version=Thread.__table__.c.version + 1,
    )
)
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
_SET_ROOT = (
    update(Comment.__table__)
    .where(Comment.__table__.c.id == bindparam("comment_id"))
    .values(root_id=bindparam("root"))
)


_SITE_AND_THREAD = (
    select(Site, Thread)
    .outerjoin(Thread, and_(Thread.site_id == Site.id, Thread.article == bindparam("article")))
    .where(Site.slug == bindparam("slug"))
)


def site_and_thread(slug: str, article: str) -> tuple[Site | None, Thread | None]:
    """The site and its article's thread (None when it has no comment yet) in one query."""
    if not SLUG_RE.fullmatch(slug):
        return None, None
    row = db.session.execute(_SITE_AND_THREAD, {"slug": slug, "article": article}).first()
    return (None, None) if row is None else (row[0], row[1])


def find_thread(site: Site, article: str) -> Thread | None:
    return db.session.scalar(_THREAD, {"site_id": site.id, "article": article})


def ensure_thread(site: Site, article: str, title: str | None, url: str | None) -> Thread:
    """Get or create the thread; safe when many first comments arrive at once."""
    statement = (
        _insert(Thread)
        .values(
            site_id=site.id,
            article=article,
            title=title,
            url=url,
            approved_count=0,
            version=0,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["site_id", "article"])
    )
    db.session.execute(statement)
    thread = find_thread(site, article)
    assert thread is not None
    if title and not thread.title:
        thread.title = title
    if url and not thread.url:
        thread.url = url
    return thread


def _count_change(thread_id: int, delta: int) -> None:
    """Adjust the approved count and bump the version, in SQL so concurrent writers add up.

    A Core statement: no ORM object holds the count for longer than a request."""
    db.session.connection().execute(_COUNT_CHANGE, {"thread_id": thread_id, "delta": delta})


def _set_status(comment: Comment, status: str) -> None:
    before = comment.status == "approved"
    after = status == "approved"
    comment.status = status
    _count_change(comment.thread_id, int(after) - int(before))


# --- representation -----------------------------------------------------------------------


def public(
    comment: Comment, lang: str, replies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The public fields; a deleted comment is an empty placeholder."""
    deleted = comment.status == "deleted"
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "author": ANONYMOUS[lang] if deleted else (comment.author or ANONYMOUS[lang]),
        "website": None if deleted else comment.website,
        "avatar": comment.avatar,
        "body_html": "" if deleted else comment.body_html,
        "created_at": comment.created_at,
        "edited_at": None if deleted else comment.edited_at,
        "likes": comment.likes,
        "is_author": comment.is_author,
        "deleted": deleted,
        "replies": replies or [],
    }


def private(comment: Comment, lang: str, article: str) -> dict[str, Any]:
    """Public fields plus what only the site's author may see (moderation, export)."""
    data = public(comment, lang)
    if comment.status == "deleted":  # the moderator sees what was deleted, to restore it
        data.update(
            author=comment.author or ANONYMOUS[lang],
            website=comment.website,
            body_html=comment.body_html,
            edited_at=comment.edited_at,
        )
    data.update(
        email=decrypt(comment.email_encrypted),
        status=comment.status,
        article=article,
        notify=comment.notify,
    )
    return data


# --- reading ------------------------------------------------------------------------------


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


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    comment: Comment
    edit_token: str
    editable_until: datetime


def _held_reason(
    site: Site, body: str, body_html: str, author: str | None, website: str | None
) -> str | None:
    if markup.count_html_links(body_html) > MAX_LINKS:
        return "links"
    text = " ".join(x for x in (body, author or "", website or "") if x).lower()
    if any(word in text for word in site.banned_words or []):
        return "banned word"
    return None


def post_comment(
    site: Site,
    data: dict[str, Any],
    *,
    as_author: bool,
    body_html: str | None = None,
    thread: Thread | None = None,
) -> tuple[Posted, str]:
    """Store a comment; returns it with the status the client is told.

    A filled honeypot is stored as spam but answered like a normal comment, so bots learn
    nothing; the told status then follows the site's moderation mode.

    Everything that only reads (the thread, the parent, the decision, the hashes) happens
    before the writing transaction, which then holds SQLite's one write lock for the two
    statements that store the comment and nothing else. ``thread``: the article's thread
    when the caller already has it (:func:`site_and_thread`).
    """
    with transaction_intent(False):
        thread = thread or find_thread(site, data["article"])
        if thread is None:
            thread = _create_thread(site, data)
        parent = _reply_parent(thread, data.get("parent_id"))
        values, edit_token, told = _new_comment(site, thread, parent, data, as_author, body_html)
        _commit_keeping_objects(db.session())
    with transaction_intent(True):
        # Core statements: the ORM's unit of work would cost more than the SQL, under the lock.
        comment_id = _insert_comment(values)
        _count_change(thread.id, 1 if values["status"] == "approved" else 0)
        _fill_thread(thread, data)
        comment = Comment(id=comment_id, **values)
        comment.thread = thread  # for the outbox; the comment itself is not in the session
        _after_post_hooks(site, comment, parent)
        _commit_keeping_objects(db.session())  # the objects stay loaded for the answer
    window = timedelta(seconds=current_app.config["EDIT_WINDOW"])
    return Posted(comment, edit_token, comment.created_at + window), told


def _insert_comment(values: dict[str, Any]) -> int:
    """Insert the comment; a top-level one becomes its own root. Returns its id."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        params = {k: v for k, v in values.items() if k != "root_id"}
        params["given_root"] = values["root_id"]
        comment_id, root_id = connection.execute(_INSERT_COMMENT_SQLITE, params).one()
    else:
        comment_id = connection.execute(_INSERT_COMMENT, values).inserted_primary_key[0]
        root_id = values["root_id"]
    if root_id is None or (values["root_id"] is None and root_id != comment_id):
        root_id = comment_id  # not the rowid SQLite chose (the largest id was taken)
        connection.execute(_SET_ROOT, {"comment_id": comment_id, "root": root_id})
    values["root_id"] = root_id
    return int(comment_id)


def _fill_thread(thread: Thread, data: dict[str, Any]) -> None:
    """A title or URL sent with a later comment fills one the thread still lacks."""
    title, url = data.get("article_title"), data.get("article_url")
    if title and not thread.title:
        thread.title = title
    if url and not thread.url:
        thread.url = url


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
) -> tuple[dict[str, Any], str, str]:
    """The new comment's column values, its edit token and the status the client is told."""
    depth, root_id = (1, None) if parent is None else (parent.depth + 1, parent.root_id)
    body = data["body"].strip()
    if body_html is None:
        body_html = markup.render_comment(body)
    author = (data.get("author") or "").strip() or None
    email = (data.get("email") or "").strip() or None
    website = data.get("website") or None
    honeypot = bool((data.get("homepage") or "").strip())
    if as_author:
        status = "approved"
    elif honeypot:
        status = "spam"
    elif site.moderation == "all" or _held_reason(site, body, body_html, author, website):
        status = "pending"
    else:
        status = "approved"
    held = status == "pending" or (honeypot and site.moderation == "all")
    told = "pending" if held else "approved"
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
        email_lookup=email_lookup(email),
        avatar=avatar_seed(site.id, author, email),
        body_text=body,
        body_html=body_html,
        status=status,
        is_author=as_author,
        notify=bool(data.get("notify")) and email is not None,
        likes=0,
        edit_token_hash=token_hash(edit_token),
        created_at=utcnow(),
    )
    return values, edit_token, told


def _after_post_hooks(site: Site, comment: Comment, parent: Comment | None) -> None:
    """Work that must commit with the comment: the notification outbox."""
    from service import outbox

    outbox.enqueue_comment(site, comment, parent)


def get_comment_or_404(site: Site, comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.site_id != site.id:
        abort(404, message=f"No comment {comment_id} on this site.")
    assert comment is not None
    return comment


def edit_window_open(comment: Comment, edit_token: str | None) -> bool:
    """The reader's own comment, still inside the edit window, not deleted."""
    if not edit_token or comment.status in ("deleted", "spam"):
        return False
    if not token_matches(edit_token, comment.edit_token_hash):
        return False
    window = timedelta(seconds=current_app.config["EDIT_WINDOW"])
    return utcnow() < comment.created_at + window


def edit_comment(site: Site, comment: Comment, changes: dict[str, Any]) -> Comment:
    if "body" in changes:
        comment.body_text = changes["body"].strip()
        comment.body_html = markup.render_comment(comment.body_text)
    if "author" in changes:
        comment.author = (changes["author"] or "").strip() or None
    if "website" in changes:
        comment.website = changes["website"] or None
    if (
        not comment.is_author
        and comment.status == "approved"
        and _held_reason(
            site, comment.body_text, comment.body_html, comment.author, comment.website
        )
    ):
        _set_status(comment, "pending")  # an edit may not sneak spam past the checks
    else:
        _count_change(comment.thread_id, 0)
    comment.edited_at = utcnow()
    db.session.commit()
    return comment


def delete_comment(comment: Comment) -> None:
    if comment.status != "deleted":
        _set_status(comment, "deleted")
    db.session.commit()


def like_comment(comment: Comment, client_address: str) -> int:
    """One like per client and comment; the key is a keyed hash, never the address."""
    if comment.status != "approved":
        abort(404, message="No such comment.")
    key = keyed_hash("like", f"{comment.id}:{client_address}")
    # RETURNING, not rowcount: SQLAlchemy reports -1 (truthy) for INSERTs on psycopg.
    inserted = db.session.execute(
        _insert(Like)
        .values(comment_id=comment.id, client_key=key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["comment_id", "client_key"])
        .returning(Like.comment_id)
    ).first()
    if inserted is not None:
        db.session.execute(
            update(Comment).where(Comment.id == comment.id).values(likes=Comment.likes + 1)
        )
        _count_change(comment.thread_id, 0)
    db.session.commit()
    db.session.refresh(comment)
    return comment.likes


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
    for comment in comments:
        _set_status(comment, status)
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
    return items, (str(rows[-1][0].id) if more and rows else None)
