"""What a comment shows: the public fields every reader sees, and the private ones the site's
author sees (moderation, export). A deleted comment is an empty placeholder to readers.
"""

from __future__ import annotations

from typing import Any

from service.core.crypto import decrypt
from service.db.models import Comment
from service.i18n.messages import LANGS, text

ANONYMOUS = {lang: text("comment.anonymous", lang) for lang in LANGS}


def public(
    comment: Comment, lang: str, replies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The public fields; a deleted comment is an empty placeholder that carries nothing of
    its author: no name, website or avatar seed (which would tie it to their other
    comments), no author mark and no likes, only its place in the tree."""
    deleted = comment.status == "deleted"
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "author": ANONYMOUS[lang] if deleted else (comment.author or ANONYMOUS[lang]),
        "website": None if deleted else comment.website,
        "avatar": "" if deleted else comment.avatar,
        "body_html": "" if deleted else comment.body_html,
        "created_at": comment.created_at,
        "edited_at": None if deleted else comment.edited_at,
        "likes": 0 if deleted else comment.likes,
        "is_author": False if deleted else comment.is_author,
        "pinned": False if deleted else comment.pinned_at is not None,
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
            avatar=comment.avatar,
            body_html=comment.body_html,
            edited_at=comment.edited_at,
            likes=comment.likes,
            is_author=comment.is_author,
        )
    data.update(
        email=decrypt(comment.email_encrypted),
        status=comment.status,
        article=article,
        notify=comment.notify,
        spam_score=None if comment.spam_score is None else round(comment.spam_score, 4),
    )
    return data
