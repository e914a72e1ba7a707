"""Comment threads: finding an article's thread, and keeping its approved count right.

An article's approved count lives on its thread row and changes in the same transaction as
the comment (:func:`count_change`); the thread's version moves with every change, so the
cached pages and the ETags of the thread (see ``caching``) follow.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import abort
from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from service.core.extensions import db
from service.db import driver
from service.db.detached import attribute_keys, detached
from service.db.models import Comment, Site, Thread
from service.db.types import utcnow
from service.sites.settings import SLUG_RE

MAX_DEPTH = 5


def dialect_insert(model: Any) -> Any:
    """An INSERT with ``on_conflict_do_nothing``, in the session's database's dialect."""
    dialect = db.session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(model)


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
_SET_STATUS = (
    update(Comment.__table__)
    .where(
        Comment.__table__.c.id == bindparam("comment_id"),
        Comment.__table__.c.status == bindparam("old"),
    )
    .values(status=bindparam("new"))
    .returning(Comment.__table__.c.id)
)
_SITES = Site.__table__.c
_SITE_COMMENTS_CHANGED = (
    update(Site.__table__)
    .where(
        _SITES.id
        == select(Thread.site_id).where(Thread.id == bindparam("thread_id")).scalar_subquery()
    )
    .values(comments_version=_SITES.comments_version + 1)
)
_THREADS = Thread.__table__.c
# A post's site and thread: every column of both, as one row of plain columns.
_SITE_AND_THREAD = (
    select(*_SITES, *_THREADS)
    .select_from(
        Site.__table__.outerjoin(
            Thread.__table__,
            and_(_THREADS.site_id == _SITES.id, _THREADS.article == bindparam("article")),
        )
    )
    .where(_SITES.slug == bindparam("slug"))
)


def site_and_thread(slug: str, article: str) -> tuple[Site | None, Thread | None]:
    """The site and its article's thread (None when it has no comment yet) in one query.

    They come back **detached**: objects with every column loaded, as the row had them,
    that no session tracks. The posting path only reads them and writes through SQL
    (``count_change``, ``fill_thread``); loading them through the ORM session (its
    statement compilation, loading, identity map) cost about 6 % of a post's
    instructions (``bench/bench_post_instr.py``)."""
    if not SLUG_RE.fullmatch(slug):
        return None, None
    values = {"slug": slug, "article": article}
    found = driver.rows(db.session.connection(), _SITE_AND_THREAD, values, typed=True)
    if not found:
        return None, None
    row = found[0]
    site_keys = attribute_keys(Site)
    middle = len(site_keys)
    site = detached(Site, site_keys, row[:middle])
    if row[middle] is None:
        return site, None
    return site, detached(Thread, attribute_keys(Thread), row[middle:])


def find_thread(site: Site, article: str) -> Thread | None:
    return db.session.scalar(_THREAD, {"site_id": site.id, "article": article})


def ensure_thread(site: Site, article: str, title: str | None, url: str | None) -> Thread:
    """Get or create the thread; safe when many first comments arrive at once."""
    statement = (
        dialect_insert(Thread)
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
    fill_thread(thread, title, url)
    return thread


def fill_thread(thread: Thread, title: str | None, url: str | None) -> None:
    """A title or URL sent with a later comment fills one the thread still lacks: an UPDATE
    in the caller's transaction (the thread may be detached, ``site_and_thread``), and the
    object says so too."""
    changes = {}
    if title and not thread.title:
        changes["title"] = title
    if url and not thread.url:
        changes["url"] = url
    if not changes:
        return
    db.session.execute(update(Thread.__table__).where(_THREADS.id == thread.id).values(changes))
    for key, value in changes.items():
        set_committed_value(thread, key, value)


def count_change(thread_id: int, delta: int, *, shown_in_recent: bool = True) -> None:
    """Adjust the approved count and bump the version, in SQL so concurrent writers add up.

    A Core statement: no ORM object holds the count for longer than a request. The site's
    comments version moves too (the recent-comments list is keyed by it), unless the change
    is one that list does not show (a like)."""
    connection = db.session.connection()
    if shown_in_recent:  # the site's row first, then the thread's: one lock order for all
        driver.rows(connection, _SITE_COMMENTS_CHANGED, {"thread_id": thread_id})
    driver.rows(connection, _COUNT_CHANGE, {"thread_id": thread_id, "delta": delta})


def site_comments_changed(site_id: int) -> None:
    """Bump the site's comments version where comments change outside ``count_change``
    (imports, erasure)."""
    db.session.connection().execute(
        update(Site.__table__)
        .where(_SITES.id == site_id)
        .values(comments_version=_SITES.comments_version + 1)
    )


def set_status(comment: Comment, status: str) -> None:
    """Change a comment's status; the thread's approved count follows, once per transition.

    One conditional UPDATE (``WHERE status = <the status read>``): when another writer
    changed the row since it was read (PostgreSQL under READ COMMITTED; SQLite's write gate
    serializes writers), nothing changes here, the row is read again under a lock and the
    count follows what was really there, so parallel requests never count one transition
    twice.
    """
    for _attempt in range(3):
        old = comment.status
        if old == status:
            count_change(comment.thread_id, 0)
            return
        changed = db.session.execute(
            _SET_STATUS, {"comment_id": comment.id, "old": old, "new": status}
        ).first()
        if changed is not None:
            set_committed_value(comment, "status", status)
            count_change(comment.thread_id, int(status == "approved") - int(old == "approved"))
            return
        db.session.refresh(comment, attribute_names=["status"], with_for_update=True)
    raise RuntimeError(f"comment {comment.id}: status kept changing under the update")


def get_comment_or_404(site: Site, comment_id: int, *, lock: bool = False) -> Comment:
    """The site's comment; ``lock`` reads it ``FOR UPDATE`` (PostgreSQL) for a request that
    decides on its status: parallel writers to one comment then decide one after another
    on what the one before them committed (the PATCH that loses to a DELETE sees it)."""
    comment = db.session.get(
        Comment, comment_id, with_for_update=True if lock else None, populate_existing=lock
    )
    if comment is None or comment.site_id != site.id:
        abort(404, message=f"No comment {comment_id} on this site.")
    assert comment is not None
    return comment
