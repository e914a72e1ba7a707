"""Moving a site out: the whole site, or one reader's comments, as one JSON document.

The document is version 1 of ``ranklet-export`` (``transfer_document``); ``ranklet import
json`` reads it back (``transfer_json``). Private fields are decrypted, secrets are never
written.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from service.core.crypto import decrypt, email_lookup
from service.core.extensions import db
from service.db.models import Comment, RankEntry, Site, Thread
from service.db.types import utcnow
from service.transfer.document import FORMAT, VERSION, ExportDocument


def _comment_doc(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "parent_id": comment.parent_id,
        "source": comment.source_key,
        "author": comment.author,
        "email": decrypt(comment.email_encrypted),
        "website": comment.website,
        "body": comment.body_text or None,
        "body_html": comment.body_html,
        "status": comment.status,
        "is_author": comment.is_author,
        "notify": comment.notify,
        "likes": comment.likes,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "pinned_at": comment.pinned_at,
    }


def _category_docs(site: Site) -> list[dict[str, Any]]:
    ids = [c.id for c in site.categories]
    history: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for entry in db.session.scalars(
            select(RankEntry)
            .where(RankEntry.category_id.in_(ids))
            .order_by(RankEntry.category_id, RankEntry.observed_at)
        ):
            history[entry.category_id].append(
                {"position": entry.position, "observed_at": entry.observed_at}
            )
    return [
        {
            "key": c.key,
            "labels": dict(c.labels),
            "url": c.url,
            "order": c.order,
            "history": history[c.id],
        }
        for c in site.categories
    ]


def export_site(site: Site, email: str | None = None) -> dict[str, Any]:
    """The whole site as one JSON-ready document, private fields decrypted.

    With ``email`` it is a data-subject export: only that address's comments (matched by
    keyed hash, so case and surrounding spaces do not matter) and none of the author's
    own data (rankings, settings, notification addresses). Secrets are never exported:
    no token or edit-token hashes, no like keys, no webhook secret.
    """
    query = select(Comment).where(Comment.site_id == site.id)
    if email is not None:
        query = query.where(Comment.email_lookup == email_lookup(email))
    comments: dict[int, list[Comment]] = {}
    for comment in db.session.scalars(query.order_by(Comment.created_at, Comment.id)):
        comments.setdefault(comment.thread_id, []).append(comment)
    threads = db.session.scalars(
        select(Thread).where(Thread.site_id == site.id).order_by(Thread.id)
    )
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow(),
        "site": {"slug": site.slug, "name": site.name},
        "categories": [],
        "threads": [
            {
                "article": t.article,
                "title": t.title,
                "url": t.url,
                "comments": [_comment_doc(c) for c in comments.get(t.id, [])],
            }
            for t in threads
            if email is None or t.id in comments
        ],
    }
    if email is not None:
        document["subject"] = {"email": email.strip()}
    else:
        document["site"].update(
            origins=list(site.origins or []),
            lang=site.lang,
            moderation=site.moderation,
            webhook_url=site.webhook_url,
            notify_email=decrypt(site.notify_email_encrypted),
            notify_pending=site.notify_pending,
            banned_words=list(site.banned_words or []),
        )
        document["categories"] = _category_docs(site)
    return ExportDocument().dump(document)


def export_text(document: dict[str, Any]) -> str:
    """The file's text: UTF-8 JSON, indented so it diffs and greps well."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
