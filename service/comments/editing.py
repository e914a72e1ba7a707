"""A reader's own comment: editing or deleting it with its edit token, inside the edit window.

The site's author may delete any comment (see ``comments``); an edit goes through the same
spam guards as a new comment, so it cannot sneak a link flood past moderation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from service.comments import markup
from service.comments.guards import held_reason
from service.comments.threads import count_change, set_status
from service.core.crypto import token_matches
from service.core.extensions import db
from service.db.models import Comment, Site
from service.db.types import utcnow
from service.spam import model as spam_model


def edit_window_open(comment: Comment, edit_token: str | None) -> bool:
    """The reader's own comment, still inside the edit window, not deleted. A comment held
    as spam stays the reader's to fix or delete (it was answered ``pending`` like any held
    comment, so refusing here would tell a spammer what the filter decided)."""
    if not edit_token or comment.status == "deleted":
        return False
    if not token_matches(edit_token, comment.edit_token_hash):
        return False
    window = timedelta(seconds=current_app.config["EDIT_WINDOW"])
    return utcnow() < comment.created_at + window


def edit_comment(site: Site, comment: Comment, changes: dict[str, Any]) -> Comment:
    label = comment.spam_label
    spam_model.learn(comment, None)  # un-learn the old text; the new one is learned below
    if "body" in changes:
        comment.body_text = changes["body"].strip()
        comment.body_html = markup.render_comment(comment.body_text)
    if "author" in changes:
        comment.author = (changes["author"] or "").strip() or None
    if "website" in changes:
        comment.website = changes["website"] or None
    reason = None
    if not comment.is_author and comment.status == "approved":
        reason = held_reason(
            site, comment.body_text, comment.body_html, comment.author, comment.website
        )
    if reason:  # an edit may not sneak spam past the checks
        set_status(comment, "spam" if reason == "spam" else "pending")
    else:
        count_change(comment.thread_id, 0)
        # The author vouched for the old text, not this one: it counts as published ham.
        spam_model.learn(comment, "ham" if label == "good" else label)
    comment.edited_at = utcnow()
    db.session.commit()
    return comment


def delete_comment(comment: Comment) -> None:
    if comment.status != "deleted":
        set_status(comment, "deleted")
    db.session.commit()
