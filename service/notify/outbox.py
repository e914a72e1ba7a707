"""The notification outbox: rows written in the comment's (or rank entries') own transaction.

Because the row commits with the comment or the positions, a crash between the two cannot lose a
notification; a sender delivers the rows later, with retries (see ``notifications``). The outbox
listens for the domains' events (:func:`init_app`): the comments and rankings code announces
what happened and never imports this module.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from service.comments.posting import CommentPosted
from service.comments.representation import public
from service.comments.schemas import PublicComment
from service.core import events
from service.core.extensions import db
from service.db.models import Comment, Notification, Site
from service.notify import chat, confirmation
from service.notify.email import address_confirmed
from service.rankings.history import RankEvent


def init_app(app: Flask) -> None:
    """New comments and rank events join the outbox, in the transaction that made them."""
    events.listen(app, CommentPosted, lambda e: enqueue_comment(e.site, e.comment, e.parent))
    events.listen(app, RankEvent, lambda e: enqueue_site_event(e.site, e.body, mail=e.mail))


def comment_event(site: Site, comment: Comment, article: str) -> dict[str, Any]:
    """The webhook body: public fields, status and article; never an e-mail or an IP."""
    data = PublicComment(exclude=("replies",)).dump(public(comment, site.lang))
    data.update(status=comment.status, article=article)
    event = "comment.created" if comment.status == "approved" else "comment.pending"
    return {"event": event, "site": site.slug, "comment": data}


def enqueue_comment(site: Site, comment: Comment, parent: Comment | None) -> None:
    if comment.status not in ("approved", "pending"):
        return  # spam is not worth waking anybody for
    pending_wanted = comment.status == "approved" or site.notify_pending
    if site.webhook_url and pending_wanted:
        db.session.add(
            Notification(
                site_id=site.id,
                kind="webhook",
                payload=comment_event(site, comment, comment.thread.article),
            )
        )
    if site.chat_encrypted and pending_wanted and not comment.is_author:
        chat.enqueue_comment(site, comment)
    if not current_app.config.get("SMTP_HOST"):
        return
    if site.notify_email_encrypted and pending_wanted and not comment.is_author:
        db.session.add(
            Notification(site_id=site.id, kind="email_author", payload={"comment_id": comment.id})
        )
    confirmation.ask_once(site, comment)  # the first "notify me" of an address asks it
    if (
        parent is not None
        and comment.status == "approved"
        and parent.notify
        and parent.email_encrypted
        and parent.email_lookup != comment.email_lookup
        and address_confirmed(site.id, parent.email_lookup)
    ):
        db.session.add(
            Notification(
                site_id=site.id,
                kind="email_reply",
                payload={"comment_id": comment.id, "parent_id": parent.id},
            )
        )


def enqueue_site_event(site: Site, event: dict[str, Any], *, mail: bool) -> None:
    """A site event that is no comment (``ranking.best``, ``ranking.recorded``).

    The announcer builds the whole webhook body (``ranking.RankEvent``), so this module needs
    nothing of the rankings domain but the event's class. The mail row holds the event, not
    the address: the address is read, decrypted, when the mail is sent.
    """
    if site.webhook_url:
        db.session.add(Notification(site_id=site.id, kind="webhook", payload=event))
    if site.chat_encrypted:
        chat.enqueue_rank(site, event)
    if mail and current_app.config.get("SMTP_HOST") and site.notify_email_encrypted:
        db.session.add(Notification(site_id=site.id, kind="email_rank", payload=event))
