"""The site's latest approved comments, for a blog's 「最近のコメント」 sidebar box.

One indexed query (``ix_comments_site_created``) joined to the threads for the article key
and title. The excerpt is plain text of the stored HTML, so the embed shows it with
``textContent`` and nothing a reader wrote can become markup on the blog's page.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.comments.markup import html_to_text
from service.comments.representation import ANONYMOUS
from service.core.extensions import db
from service.db.models import Comment, Site, Thread

EXCERPT_MAX = 100
RECENT_MAX = 50


def excerpt(body_html: str, limit: int = EXCERPT_MAX) -> str:
    """One line of plain text, at most ``limit`` characters (an ellipsis included)."""
    text = " ".join(html_to_text(body_html).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def recent_comments(site: Site, limit: int, lang: str) -> list[dict[str, Any]]:
    """Newest first; public fields only (no e-mail, no status, no website)."""
    rows = db.session.execute(
        select(Comment, Thread.article, Thread.title)
        .join(Thread, Thread.id == Comment.thread_id)
        .where(Comment.site_id == site.id, Comment.status == "approved")
        .order_by(Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": comment.id,
            "article": article,
            "article_title": title,
            "author": comment.author or ANONYMOUS[lang],
            "avatar": comment.avatar,
            "excerpt": excerpt(comment.body_html),
            "created_at": comment.created_at,
        }
        for comment, article, title in rows
    ]
