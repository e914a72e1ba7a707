"""Erasing one commenter's data from a site, on request (admin page and ``ranklet erase``).

The person's comments are found by the keyed hash of their address (``email_lookup``), so
the address is never stored in clear to make this possible. Each of their comments becomes
a deleted placeholder with everything personal wiped: name, website, address, text, edit
token, avatar seed (derived from the address) and likes. A placeholder, not a hard delete,
because other people's replies hang from it and stay where they were; the public API shows
a placeholder only while it has visible replies, as for any deleted comment.

Queued and delivered notification rows about those comments are deleted too (a webhook
payload holds the name and text), and so is the person's unsubscribe record: no comment
of theirs is left to reply to.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from service.comments.threads import site_comments_changed
from service.core.crypto import avatar_seed, email_lookup
from service.core.extensions import db
from service.db.models import (
    Comment,
    ConfirmedAddress,
    Like,
    Notification,
    Site,
    Thread,
    Unsubscribe,
)


def _mentions(payload: object, ids: set[int]) -> bool:
    if not isinstance(payload, dict):
        return False
    comment = payload.get("comment")
    candidates = [
        payload.get("comment_id"),
        payload.get("parent_id"),
        comment.get("id") if isinstance(comment, dict) else None,
    ]
    return any(type(c) is int and c in ids for c in candidates)


def erase_email(site: Site, address: str) -> int:
    """Erase every comment of ``address`` on ``site``; returns how many there were.

    One transaction: on failure nothing is erased.
    """
    lookup = email_lookup(address)
    if not lookup:
        return 0
    comments = list(
        db.session.scalars(
            select(Comment)
            .where(Comment.site_id == site.id, Comment.email_lookup == lookup)
            .order_by(Comment.id)
            .with_for_update()  # the counts below follow the statuses read here
        )
    )
    ids = {c.id for c in comments}
    approved_per_thread: dict[int, int] = {}
    for comment in comments:
        approved_per_thread.setdefault(comment.thread_id, 0)
        if comment.status == "approved":
            approved_per_thread[comment.thread_id] += 1
        comment.status = "deleted"
        comment.author = None
        comment.website = None
        comment.email_encrypted = None
        comment.email_lookup = None
        comment.body_text = ""
        comment.body_html = ""
        comment.notify = False
        comment.edit_token_hash = None
        comment.avatar = avatar_seed(site.id, None, None)  # random: unlinkable to the person
        comment.likes = 0
        comment.edited_at = None
    if ids:
        db.session.execute(delete(Like).where(Like.comment_id.in_(ids)))
        rows = db.session.execute(
            select(Notification.id, Notification.payload).where(Notification.site_id == site.id)
        ).all()
        doomed = [row_id for row_id, payload in rows if _mentions(payload, ids)]
        if doomed:
            db.session.execute(delete(Notification).where(Notification.id.in_(doomed)))
    if approved_per_thread:  # the site's row before the threads', as count_change does
        site_comments_changed(site.id)
    for thread_id, approved in approved_per_thread.items():
        db.session.execute(
            update(Thread)
            .where(Thread.id == thread_id)
            .values(approved_count=Thread.approved_count - approved, version=Thread.version + 1)
        )
    db.session.execute(
        delete(Unsubscribe).where(
            Unsubscribe.site_id == site.id, Unsubscribe.email_lookup == lookup
        )
    )
    db.session.execute(
        delete(ConfirmedAddress).where(
            ConfirmedAddress.site_id == site.id, ConfirmedAddress.email_lookup == lookup
        )
    )
    db.session.commit()
    return len(comments)
